# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``save`` and ``json`` families: what pykexec writes and prints.

* ``save``: a dry run with ``--save DIR`` where DIR (or its place) holds
  symlinks out of it under the names the plan writes, FIFOs, devices, sockets,
  non-empty directories, read-only files, or is not a directory at all.  Beside
  the rule, nothing outside DIR may change (a canary tree beside it is compared
  before and after) and nothing may block (the hang alarm);
* ``json``: every action (-l, -p, -u, -p -u, -e, -S, -S -d, --verify,
  --recommend-crashkernel, -f, a bare KERNEL, --print-ckr-size) with ``--json``
  and random valid and invalid options, dry or live (with the kernel's doors
  replaced by recorders), on the loaded snapshot of :mod:`tests.fuzz.records`:
  stdout is empty or one JSON document.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import socket
import stat
from pathlib import Path

from tests.fuzz.records import world

PLAUSIBLE_OPTIONS = ("-c", "-s", "--hotplug", "--reuse-cmdline", "--dt-no-old-root",
                     "--debug", "-d", "--append=nr_cpus=1", "--command-line=x",
                     "--ignore-headroom", "-x", "-y", "--json", "--dry-run")  # fmt: skip


def _tree_state(top: Path, skip: Path | None = None) -> dict[str, tuple[object, ...]]:
    """Every entry under ``top`` (not following symlinks, ``skip`` left out): its kind,
    size, mtime and, for a regular file, a digest of its bytes."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            st = path.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(path)
            state[str(path.relative_to(top))] = (stat.S_IFMT(st.st_mode), st.st_size,
                                                 st.st_mtime_ns, digest)  # fmt: skip
    return state


@functools.lru_cache(maxsize=2)
def saved_names(shared: str) -> tuple[str, ...]:
    """The names a plain ``-p --dry-run --save`` writes (from pykexec, once)."""
    import contextlib
    import io

    from pykexec.commands.cli import main

    target = Path(shared) / "names"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main([*_load_argv(shared, "-p"), "--save", str(target)])
    names = tuple(sorted(os.listdir(target))) if target.is_dir() else ()
    return names or ("plan.json", "00-kernel.bin")


def _load_argv(shared: str, action: str) -> list[str]:
    w = world(shared)
    kernel, initrd = Path(shared) / "loaded-vmlinux", Path(shared) / "loaded-initrd"
    return [action, str(kernel), f"--initrd={initrd}", "--append=nr_cpus=1",
            "--dry-run", "--sysroot", str(w.root)]  # fmt: skip


def _plant(rng: random.Random, path: Path, outside: Path) -> str:
    """Something hostile at ``path`` (a name the plan writes)."""
    kind = rng.randrange(9)
    if kind == 0:
        os.symlink(outside / "victim", path)
        return f"{path.name} -> outside file"
    if kind == 1:
        os.symlink(outside / "victimdir", path)
        return f"{path.name} -> outside directory"
    if kind == 2:
        os.symlink(outside / "new", path)
        return f"{path.name} -> a new file outside"
    if kind == 3:
        os.mkfifo(path)
        return f"{path.name} FIFO"
    if kind == 4 and os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, rng.choice((3, 5))))
        return f"{path.name} character device"
    if kind == 5:
        path.mkdir()
        (path / "inside").write_text("x")
        return f"{path.name} non-empty directory"
    if kind == 6:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(path))
        return f"{path.name} socket"
    if kind == 7:
        path.write_text("old\n")
        path.chmod(0o444)
        return f"{path.name} read-only file"
    path.write_text("old\n")
    return f"{path.name} old file"


def save_case(rng: random.Random, directory: Path, shared: Path):  # type: ignore[no-untyped-def]
    from tests.fuzz.families import Case

    outside = directory / "outside"
    (outside / "victimdir").mkdir(parents=True)
    (outside / "victim").write_text("victim\n")
    target = directory / "save"
    what = []
    kind = rng.randrange(10)
    if kind < 6:
        target.mkdir()
        names = saved_names(str(shared))
        for name in rng.sample(names, rng.randint(1, len(names))):
            what.append(_plant(rng, target / name, outside))
        if rng.random() < 0.2:
            (target / "unrelated").write_text("keep me\n")
            what.append("an unrelated file")
    elif kind == 6:
        target.write_text("a file\n")
        what.append("DIR is a file")
    elif kind == 7:
        os.mkfifo(target)
        what.append("DIR is a FIFO")
    elif kind == 8:
        target = directory / "missing" / "deeper"
        what.append("DIR's parent missing")
    else:
        target.mkdir()
        what.append("DIR empty")
    argv = _load_argv(str(shared), rng.choice(("-p", "-l", "-f")))
    argv += ["--save", str(target)] if rng.random() < 0.5 else [f"--save={target}"]
    argv += rng.sample(PLAUSIBLE_OPTIONS, rng.choice((0, 0, 1, 2)))
    before = _tree_state(directory, skip=target)
    check = functools.partial(_nothing_outside, directory, target, before)
    return Case("save", [" ".join(argv[-4:]), *what], directory, kind="cli", argv=argv,
                check=check)  # fmt: skip


def _nothing_outside(directory: Path, target: Path, before: dict[str, tuple[object, ...]],
                     stdout: str, code: int) -> str | None:  # fmt: skip
    after = _tree_state(directory, skip=target)
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))
        return f"written outside DIR :: {changed[0][0]}"
    return None


# -- --json ----------------------------------------------------------------------

ACTIONS = (("-l", "K"), ("-p", "K"), ("-u",), ("-p", "-u"), ("-e",), ("-S",), ("-S", "-d"),
           ("--verify",), ("--verify", "-l"),
           ("-S", "-l"),
           ("--recommend-crashkernel", "K"), ("-f", "K"), ("K",), ("--print-ckr-size",),
           ("-l", "-e", "K"), ("inspect", "K"))  # fmt: skip


def json_case(rng: random.Random, directory: Path, shared: Path):  # type: ignore[no-untyped-def]
    from pykexec.commands.cli import OPTIONS
    from tests.fuzz.families import Case, _option_value

    w = world(str(shared))
    kernel = str(Path(shared) / "loaded-vmlinux")
    action = rng.choice(ACTIONS)
    # Words that belong together (an option and its value) move together when shuffled:
    # getopt gives an option that takes a value the next word, "--json" included.
    units = [[kernel if a == "K" else a] for a in action]
    units.append(["--json"])
    if rng.random() < 0.5:
        units.append([f"--initrd={Path(shared) / 'loaded-initrd'}"])
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        if rng.random() < 0.6:
            units.append([rng.choice(PLAUSIBLE_OPTIONS)])
            continue
        opt = rng.choice(OPTIONS)
        name = rng.choice(opt.names)
        units.append([name, _option_value(rng, opt.arg, directory, shared)] if opt.arg else [name])
    if action[0] != "inspect":
        rng.shuffle(units)
    argv = [word for unit in units for word in unit]
    if rng.random() < 0.9:
        argv += ["--dry-run"] * (rng.random() < 0.7) + ["--sysroot", str(w.root)]
    elif not any(a in argv for a in ("-S", "-u", "-e", "--print-ckr-size")):
        argv += ["--dry-run", "--sysroot", str(w.root)]  # live only for the harmless actions
    check = functools.partial(_one_document, " ".join(action).replace("K", "KERNEL"))
    return Case("json", [" ".join(argv)], directory, kind="cli", argv=argv, check=check)


def _one_document(action: str, stdout: str, code: int) -> str | None:
    if not stdout.strip():
        return None
    try:
        json.loads(stdout)
    except ValueError:
        return f"{action} --json, exit {code}: stdout is not JSON :: {stdout.strip()[:60]!r}"
    return None
