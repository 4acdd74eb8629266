# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs generated cases against the rule, in a worker process, with the kernel's doors
replaced by recorders.

Cases run one after another in a forked worker whose address space is limited
(``RLIMIT_AS``, :data:`MEMORY_LIMIT` by default): an input that needs more fails
there with MemoryError and is reported.  The worker streams one result per input
back; an input that runs past an alarm (:data:`HANG_SECONDS` of CPU,
:data:`BLOCK_SECONDS` of waiting) is stopped there, and one stuck where no alarm
reaches (inside a C call, or with the signals blocked) is found by the parent,
which kills the worker after :data:`KILL_SECONDS`, reports that input and starts
a new worker at the next one.  A worker that dies (a signal, the OOM killer) is
reported the same way.

While :func:`recorders` is active, pykexec's ``libc()`` is a recorder whose
``syscall`` (kexec_load, kexec_file_load, reboot) and ``socket`` only note their
arguments, and ``posix.sync`` and ``posix.execv`` do nothing: no input can load, jump,
sync, take an interface down or start ``shutdown``.  The wrappers in
:mod:`pykexec.system.syscalls` still marshal their arguments for real.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import posix
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from types import FrameType

from pykexec.errors import KexecError
from tests.fuzz import archives, outputs, records
from tests.fuzz.families import (
    Case,
    cli_case,
    compressed_case,
    elf_case,
    fdt_case,
    snapshot_case,
)

#: The rule's time limit per input (CPU seconds), the CPU alarm that stops a hang,
#: and the wall alarm that stops an input waiting without working (a FIFO, a lock).
LIMIT_SECONDS = 2.0
HANG_SECONDS = 2.5
BLOCK_SECONDS = 5.0
#: How long the parent waits for the worker's next result before it kills it.
KILL_SECONDS = 30
#: The worker's address-space limit (the rule: no input over 256 MB).
MEMORY_LIMIT = 256 << 20

Maker = Callable[[random.Random, Path, Path], Case]
#: Every family and how it makes a case from (generator, its directory, the shared one).
MAKERS: dict[str, Maker] = {
    "elf": lambda rng, d, shared: elf_case(rng, d),
    "compressed": lambda rng, d, shared: compressed_case(rng, d),
    "fdt": lambda rng, d, shared: fdt_case(rng, d),
    "snapshot": snapshot_case,
    "cli": cli_case,
    "initramfs": lambda rng, d, shared: archives.initramfs_case(rng, d),  # type: ignore[no-untyped-call]
    "record": records.record_case,
    "kcore": records.kcore_case,
    "save": outputs.save_case,
    "json": outputs.json_case,
}
FAMILIES = tuple(MAKERS)


#: What the fake kernel answers with when a call fails (the fallback's and others).
ERRNOS = (errno.ENOSYS, errno.EINVAL, errno.EBUSY, errno.EPERM, errno.ENOEXEC, errno.ENOMEM)


class FakeLibc:
    """Stands in for libc: records system calls; some fail the way kernels do."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.calls: list[tuple[object, ...]] = []

    def syscall(self, *args: object) -> int:
        self.calls.append(args)
        if self.rng.random() < 0.3:
            ctypes.set_errno(self.rng.choice(ERRNOS))
            return -1
        return 0

    def socket(self, *args: object) -> int:
        self.calls.append(("socket", *args))
        ctypes.set_errno(errno.EACCES)
        return -1


class _Exec(BaseException):
    """posix.execv was reached: the program would have been replaced (a success)."""


def _no_exec(*args: object) -> None:
    raise _Exec(args)


class _Hang(BaseException):
    pass


_cpu_mark = [0.0]  # CPU time at the last wall alarm


def _alarm(signum: int, frame: FrameType | None) -> None:
    """SIGPROF: the input used HANG_SECONDS of CPU.  SIGALRM, every BLOCK_SECONDS: it is
    blocked if it used (almost) no CPU since the last one; a busy input that the
    machine starves is not blocked, and meets SIGPROF in its own time."""
    if signum == signal.SIGPROF:
        raise _Hang(f"hang: over {HANG_SECONDS} s of CPU")
    now = time.process_time()
    if now - _cpu_mark[0] < 0.02:
        raise _Hang(f"blocked: no result after {BLOCK_SECONDS} s")
    _cpu_mark[0] = now


@contextlib.contextmanager
def recorders(rng: random.Random) -> Iterator[FakeLibc]:
    import pykexec.system.syscalls as syscalls

    fake = FakeLibc(rng)
    # pykexec.system.control calls posix (not os) for these: the module is what it calls
    saved = (syscalls.libc, posix.sync, posix.execv)
    syscalls.libc = lambda: fake  # type: ignore[assignment,return-value]
    posix.sync = lambda: None
    posix.execv = _no_exec  # type: ignore[assignment]
    try:
        yield fake
    finally:
        syscalls.libc, posix.sync, posix.execv = saved  # type: ignore[assignment]


@dataclass
class Outcome:
    ok: bool
    seconds: float
    result: str  # "success", "KexecError: ...", "exit 2", or the failure
    detail: str = ""


def run_case(case: Case, rng: random.Random) -> Outcome:
    """Run one case under the recorders and judge it by the rule.  Time is the
    process's CPU time (user and system): on a shared machine wall time measures the
    neighbours; an input that waits without working is caught by the wall alarm."""
    saved = [signal.signal(sig, _alarm) for sig in (signal.SIGPROF, signal.SIGALRM)]
    start = _cpu_mark[0] = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, HANG_SECONDS)
    signal.setitimer(signal.ITIMER_REAL, BLOCK_SECONDS, BLOCK_SECONDS)
    try:
        with recorders(rng):
            outcome = _run_cli(case) if case.kind == "cli" else _run_api(case)
    except _Hang as hang:
        outcome = Outcome(False, 0.0, str(hang))
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, saved[0])
        signal.signal(signal.SIGALRM, saved[1])
    outcome.seconds = time.process_time() - start
    if outcome.ok and outcome.seconds > LIMIT_SECONDS:
        outcome = Outcome(False, outcome.seconds, f"slow: over {LIMIT_SECONDS} s of CPU")
    return outcome


def _run_api(case: Case) -> Outcome:
    assert case.call is not None
    try:
        case.call()
    except KexecError as err:
        text = str(err)
        if "\n" in text or not text:
            return Outcome(False, 0, "KexecError message not one line", text)
        return Outcome(True, 0, f"{type(err).__name__}")
    except _Exec:
        return Outcome(True, 0, "exec")
    except archives.Broken as err:
        return Outcome(False, 0, f"wrong answer: {err.args[0]}", str(err.args[1:]))
    except MemoryError as err:
        return Outcome(
            False, 0, f"memory: over the limit, {_signature(err)}", traceback.format_exc()
        )
    except Exception as err:  # the rule: only KexecError may escape the API
        return Outcome(False, 0, _signature(err), traceback.format_exc())
    return Outcome(True, 0, "success")


def _run_cli(case: Case) -> Outcome:
    from pykexec.commands.cli import main

    # UTF-8 streams as CPython sets them up with PYTHONIOENCODING=utf-8: stdout strict,
    # stderr with backslashreplace (its fixed error handler).
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    code: object
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(case.argv))
    except SystemExit as exc:
        code = exc.code
    except _Exec:
        code = 0
    except MemoryError as exc:
        return Outcome(
            False, 0, f"memory: over the limit, {_signature(exc)}", traceback.format_exc()
        )
    except Exception as exc:
        return Outcome(False, 0, _signature(exc), traceback.format_exc())
    err.flush()
    out.flush()
    text = err.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
    stdout = out.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
    lines = [line for line in text.splitlines() if line.strip()]
    if code not in (0, 1, 2, 253, 255):  # kexec-tools': 253 EFALLBACK, 255 no kernel or -S unread
        return Outcome(False, 0, f"exit {code!r}", text)
    if len(lines) > 1:
        return Outcome(False, 0, f"{len(lines)} lines on stderr: {lines[0][:60]}", text)
    if "Traceback" in text:
        return Outcome(False, 0, "traceback on stderr", text)
    broken = case.check(stdout, code) if case.check is not None else None  # type: ignore[arg-type]
    if broken is not None:
        kind, _, detail = broken.partition(" :: ")
        return Outcome(False, 0, kind, f"{detail}\nstdout: {stdout[:2000]}\nstderr: {text}")
    return Outcome(True, 0, f"exit {code}")


def _signature(err: BaseException) -> str:
    """The exception type and the innermost pykexec frame: one name per distinct cause."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/pykexec/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(err).__name__} at {where}"


@dataclass
class Stats:
    """Counts per family and result, failures by cause, and the slowest input."""

    counts: Counter[str] = field(default_factory=Counter)
    results: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)
    slowest: tuple[float, str] = (0.0, "")
    #: wall-clock seconds per family, from the parent's side (making the case included)
    wall: Counter[str] = field(default_factory=Counter)

    def add(self, family: str, label: str, ok: bool, seconds: float, result: str,
            what: str) -> None:  # fmt: skip
        self.counts[family] += 1
        self.results[(family, result if ok else "FAIL")] += 1
        if not ok:
            self.failures[(family, result)] += 1
            self.examples.setdefault((family, result), f"{label}: {what[:200]}")
        if seconds > self.slowest[0]:
            self.slowest = (seconds, f"{label}: {what[:120]}")


def make_case(family: str, rng: random.Random, directory: Path, shared: Path) -> Case:
    return MAKERS[family](rng, directory, shared)


def warm(families: tuple[str, ...], shared: Path) -> None:
    """Build what many cases share (the loaded world, bombs, tool-made samples) once,
    before the worker forks, so that no input pays for it and a new worker has it."""
    if {"record", "kcore", "save", "json"} & set(families):
        records.world(str(shared))
        outputs.saved_names(str(shared))
    if "initramfs" in families:
        for fmt in ("gzip", "bzip2", "xz", "lzma"):
            for mib in archives.BOMB_MIB:
                archives.bomb(fmt, mib)
        for fmt in archives.EXTERNAL:
            for sample in range(archives.SAMPLES):
                archives.external(fmt, sample)


def _one(family: str, label: str, work: Path, shared: Path, keep: Path | None,
         seen: set[tuple[str, str]], conn: Connection) -> tuple[object, ...] | None:  # fmt: skip
    """Make and run the case ``label`` in this (worker) process: the result message
    (None when it was sent already, before its reproducer was saved)."""
    rng = random.Random(label)
    directory = work / label
    directory.mkdir()
    try:
        try:
            case = make_case(family, rng, directory, shared)
        except Exception as err:  # the harness's own fault: reported, not hidden
            return (False, 0.0, f"generator: {_signature(err)}", traceback.format_exc(), "")
        outcome = run_case(case, rng)
        what = "; ".join(case.what)
        message = (outcome.ok, outcome.seconds, outcome.result, outcome.detail[:4000], what)
        if not outcome.ok and keep is not None and (family, outcome.result) not in seen:
            seen.add((family, outcome.result))
            conn.send(message)  # first: the copy below is the harness's time, not the input's
            _save(case, outcome, label, keep)
            return None
        return message
    finally:
        remove(directory)


def _serve(conn: Connection, work: Path, shared: Path, keep: Path | None, memory: int) -> None:
    """The worker: limit the address space, then answer each batch input by input."""
    if memory:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    records.restore(shared)
    seen: set[tuple[str, str]] = set()
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for family, label in batch:
            message = _one(family, label, work, shared, keep, seen, conn)
            if message is not None:
                conn.send(message)


class Worker:
    """A forked process that runs cases (see :func:`_serve`)."""

    def __init__(self, work: Path, shared: Path, keep: Path | None, memory: int) -> None:
        ours, theirs = Pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # the child never returns into the caller (pytest included)
            code = 0
            try:
                os.setpgid(0, 0)  # its own group: a kill takes the cp it may be running
                ours.close()
                _serve(theirs, work, shared, keep, memory)
            except BaseException:
                traceback.print_exc()
                code = 70
            finally:
                os._exit(code)
        theirs.close()
        self.conn = ours

    def result(self) -> tuple[object, ...] | str:
        """The next input's result, or why there is none (killed after a hang, died)."""
        try:
            if self.conn.poll(KILL_SECONDS):
                return self.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
            if os.WIFSIGNALED(status):
                return f"worker died: signal {os.WTERMSIG(status)}"
            return f"worker died: exit {os.WEXITSTATUS(status)}"
        self.stop(kill=True)
        return f"hang: no result after {KILL_SECONDS} s (killed)"

    def stop(self, kill: bool = False) -> None:
        if not self.pid:
            return
        if kill:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        os.waitpid(self.pid, 0)
        self.pid = 0
        self.conn.close()


def _labels(families: tuple[str, ...], count: int, seed: int,
            weights: dict[str, int]) -> Iterator[tuple[str, str]]:  # fmt: skip
    for index in range(count):
        for family in families:
            for turn in range(weights.get(family, 1)):
                yield family, f"{family}-{seed}-{index * weights.get(family, 1) + turn}"


def run(
    families: tuple[str, ...],
    count: int,
    seed: int,
    work: Path,
    keep: Path | None,
    *,
    seconds: float | None = None,
    progress: Callable[[Stats], None] | None = None,
    weights: dict[str, int] | None = None,
    memory: int = MEMORY_LIMIT,
    batch: int = 100,
) -> Stats:
    """``count`` rounds over the families (``weights[family]`` inputs of it per round,
    default 1) in worker processes limited to ``memory`` bytes of address space, or
    fewer if ``seconds`` run out; failures saved under ``keep``; ``progress`` called
    about once a minute."""
    stats = Stats()
    shared = work / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    warm(families, shared)
    start = last = previous = time.monotonic()
    labels = _labels(families, count, seed, weights or {})
    worker: Worker | None = None
    pending: list[tuple[str, str]] = []
    try:
        while True:
            if not pending:
                if seconds is not None and time.monotonic() - start > seconds:
                    break
                pending = [job for _, job in zip(range(batch), labels)]
                if not pending:
                    break
                worker = worker or Worker(work, shared, keep, memory)
                worker.conn.send(pending)
            assert worker is not None
            family, label = pending.pop(0)
            answer = worker.result()
            now = time.monotonic()
            stats.wall[family] += now - previous
            previous = now
            if isinstance(answer, str):  # that input killed or hung the worker
                stats.add(family, label, False, KILL_SECONDS, answer, label)
                _save_killed(label, answer, work, keep)
                worker = None
                if pending:
                    worker = Worker(work, shared, keep, memory)
                    worker.conn.send(pending)
                previous = time.monotonic()
                continue
            ok, took, result, _detail, what = answer
            stats.add(family, label, bool(ok), float(took), str(result), str(what))  # type: ignore[arg-type]
            if progress is not None and now - last > 60:
                progress(stats)
                last = now
    finally:
        if worker is not None:
            worker.stop()
    return stats


def remove(path: Path) -> None:
    """Delete a case's directory (with ``rm -rf`` when it is deeper than Python's
    recursion limit, which :func:`shutil.rmtree` cannot pass)."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(path)], check=False)


def _save(case: Case, outcome: Outcome, label: str, keep: Path) -> None:
    target = keep / label
    remove(target)
    keep.mkdir(parents=True, exist_ok=True)
    # cp -a keeps FIFOs, devices, sparse files and trees deeper than Python recurses.
    subprocess.run(["cp", "-a", "--sparse=always", "--", str(case.directory), str(target)],
                   check=False)  # fmt: skip
    target.mkdir(exist_ok=True)
    (target / "FAILURE.txt").write_text(
        f"{outcome.result}\ninput: {'; '.join(case.what)}\nargv: {case.argv!r}\n"
        f"rerun: python3 -m tests.fuzz --replay {label}\n\n{outcome.detail}",
        errors="surrogateescape",
    )


def _save_killed(label: str, why: str, work: Path, keep: Path | None) -> None:
    """Keep what a killed input left in its directory, then clear it away (a failure
    to keep it is told, and the run goes on)."""
    try:
        if keep is not None:
            target = keep / label
            remove(target)
            keep.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", "--sparse=always", "--", str(work / label), str(target)],
                           check=False)  # fmt: skip
            target.mkdir(exist_ok=True)
            (target / "FAILURE.txt").write_text(
                f"{why}\nrerun: python3 -m tests.fuzz --replay {label}\n"
            )
    except (OSError, subprocess.SubprocessError) as err:
        print(f"fuzz: cannot keep {label}: {err}", file=sys.stderr)
    remove(work / label)
    records.restore(work / "shared")


def replay(label: str, work: Path) -> Outcome:
    """Rebuild the case ``FAMILY-SEED-INDEX`` and run it again, in this process."""
    family = label.rsplit("-", 2)[0]
    assert family in FAMILIES, family
    rng = random.Random(label)
    directory = work / label
    shared = work / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    directory.mkdir(parents=True)
    case = make_case(family, rng, directory, shared)
    print("input:", "; ".join(case.what), case.argv, file=sys.stderr)
    return run_case(case, rng)
