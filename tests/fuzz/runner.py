# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs generated cases against the rule, with the kernel's doors replaced by recorders.

While :func:`recorders` is active, pykexec's ``libc()`` is a recorder whose
``syscall`` (kexec_load, kexec_file_load, reboot) and ``socket`` only note their
arguments, and ``os.sync`` and ``os.execv`` do nothing: no input can load, jump,
sync, take an interface down or start ``shutdown``.  The wrappers in
:mod:`pykexec.syscalls` still marshal their arguments for real.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from pykexec.errors import KexecError
from tests.fuzz.families import (
    FAMILIES,
    Case,
    cli_case,
    compressed_case,
    elf_case,
    fdt_case,
    snapshot_case,
)

#: The rule's time limit per input, and the alarm that catches a hang outright.
LIMIT_SECONDS = 2.0
HANG_SECONDS = 3


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
    """os.execv was reached: the program would have been replaced (a success)."""


def _no_exec(*args: object) -> None:
    raise _Exec(args)


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang


@contextlib.contextmanager
def recorders(rng: random.Random) -> Iterator[FakeLibc]:
    import pykexec.syscalls as syscalls

    fake = FakeLibc(rng)
    saved = (syscalls.libc, os.sync, os.execv)
    syscalls.libc = lambda: fake  # type: ignore[assignment,return-value]
    os.sync = lambda: None
    os.execv = _no_exec  # type: ignore[assignment]
    try:
        yield fake
    finally:
        syscalls.libc, os.sync, os.execv = saved  # type: ignore[assignment]


@dataclass
class Outcome:
    ok: bool
    seconds: float
    result: str  # "success", "KexecError: ...", "exit 2", or the failure
    detail: str = ""


def run_case(case: Case, rng: random.Random) -> Outcome:
    """Run one case under the recorders and judge it by the rule."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    start = time.perf_counter()
    try:
        with recorders(rng):
            outcome = _run_cli(case) if case.kind == "cli" else _run_api(case)
    except _Hang:
        outcome = Outcome(False, 0.0, f"hang: no result after {HANG_SECONDS} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    outcome.seconds = time.perf_counter() - start
    if outcome.ok and outcome.seconds > LIMIT_SECONDS:
        outcome = Outcome(False, outcome.seconds, f"slow: {outcome.seconds:.2f} s")
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
    except Exception as err:  # the rule: only KexecError may escape the API
        return Outcome(False, 0, _signature(err), traceback.format_exc())
    return Outcome(True, 0, "success")


def _run_cli(case: Case) -> Outcome:
    from pykexec.cli import main

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
    except Exception as exc:
        return Outcome(False, 0, _signature(exc), traceback.format_exc())
    err.flush()
    text = err.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
    lines = [line for line in text.splitlines() if line.strip()]
    if code not in (0, 1, 2, 253, 255):  # kexec-tools': 253 EFALLBACK, 255 no kernel or -S unread
        return Outcome(False, 0, f"exit {code!r}", text)
    if len(lines) > 1:
        return Outcome(False, 0, f"{len(lines)} lines on stderr: {lines[0][:60]}", text)
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
    slowest: tuple[float, str] = (0.0, "")

    def add(self, case: Case, outcome: Outcome, label: str) -> None:
        self.counts[case.family] += 1
        self.results[(case.family, outcome.result if outcome.ok else "FAIL")] += 1
        if not outcome.ok:
            self.failures[(case.family, outcome.result)] += 1
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, f"{label}: {'; '.join(case.what)[:120]}")


def make_case(family: str, rng: random.Random, directory: Path, shared: Path) -> Case:
    if family == "elf":
        return elf_case(rng, directory)
    if family == "compressed":
        return compressed_case(rng, directory)
    if family == "fdt":
        return fdt_case(rng, directory)
    if family == "snapshot":
        return snapshot_case(rng, directory, shared)
    return cli_case(rng, directory, shared)


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
) -> Stats:
    """``count`` rounds over the families (``weights[family]`` inputs of it per round,
    default 1), or fewer if ``seconds`` run out; failures saved under ``keep``;
    ``progress`` called about once a minute."""
    stats = Stats()
    shared = work / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, str]] = set()
    start = last = time.monotonic()
    weight = weights or {}
    for index in range(count):
        for family, turn in ((f, t) for f in families for t in range(weight.get(f, 1))):
            label = f"{family}-{seed}-{index * weight.get(family, 1) + turn}"
            rng = random.Random(label)
            directory = work / label
            directory.mkdir()
            case = make_case(family, rng, directory, shared)
            outcome = run_case(case, rng)
            stats.add(case, outcome, label)
            if not outcome.ok and keep is not None and (family, outcome.result) not in seen:
                seen.add((family, outcome.result))
                _save(case, outcome, label, keep)
            remove(directory)
        now = time.monotonic()
        if progress is not None and now - last > 60:
            progress(stats)
            last = now
        if seconds is not None and now - start > seconds:
            break
    return stats


def remove(path: Path) -> None:
    """Delete a case's directory (with ``rm -rf`` when it is deeper than Python's
    recursion limit, which :func:`shutil.rmtree` cannot pass)."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(path)], check=True)


def _save(case: Case, outcome: Outcome, label: str, keep: Path) -> None:
    target = keep / label
    remove(target)
    keep.mkdir(parents=True, exist_ok=True)
    # cp -a keeps FIFOs, devices, sparse files and trees deeper than Python recurses.
    subprocess.run(["cp", "-a", "--", str(case.directory), str(target)], check=False)
    target.mkdir(exist_ok=True)
    (target / "FAILURE.txt").write_text(
        f"{outcome.result}\ninput: {'; '.join(case.what)}\nargv: {case.argv!r}\n"
        f"rerun: python3 -m tests.fuzz --replay {label}\n\n{outcome.detail}",
        errors="surrogateescape",
    )


def replay(label: str, work: Path) -> Outcome:
    """Rebuild the case ``FAMILY-SEED-INDEX`` and run it again."""
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
