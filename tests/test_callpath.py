# SPDX-License-Identifier: GPL-2.0-or-later
"""How far a value travels: --append and the crash region, from the command line to the
bytes the kernel gets, counted in modules and calls (issue 20's "Done when").

A whole dry-run load (``pykexec -c|-s -l|-p KERNEL --append=... --dry-run --sysroot SNAP``,
through :func:`pykexec.commands.cli.main`, on a committed snapshot) runs under
``sys.setprofile``.  The *path* of a value is the union of pykexec's call stacks at the
moments the value takes a new form on its way to the kernel:

--append
  1. the options record is made holding it (``LoadOptions.__init__`` called with it);
  2. the next kernel's command line is made from it (``chosen.command_line`` returns it);
  3. that line becomes the bytes the kernel reads (``chosen.encode_bootargs`` returns
     bytes holding it);
  4. those bytes are stored in the next kernel's /chosen (``Node.set("bootargs", ...)``).

--append, for kexec_file_load (-s)
  1. and 2. as above, then 3. the kexec_file_load call is made holding the line
  (``FileCall.__init__``; the loader encodes it with ``encode_bootargs`` at the call).

the crash region (``crashkernel=``: the running kernel exports it in /chosen)
  1. it is read from the running tree (``machine.sized_range`` called for
     ``linux,crashkernel-base``);
  2. the machine record is made holding it (``Machine.__init__`` with ``crash``);
  3. the crash load's memory picture is made from it (``CrashLayout.__init__``);
  4. the ELF core header's bytes are made (``elfcore.core_header`` returns);
  5. the usable-memory properties are stored in the next kernel's tree
     (``Node.set_ranges("linux,usable-memory", ...)``, ``Node.set(
     "linux,drconf-usable-memory", ...)``).

Only pykexec's own frames count (the standard library's and generated dataclass
``__init__`` frames do not).  Flattening the tree (``build_fdt`` copies property values
verbatim) and handing the segments to the syscall are transport, not counted; the test
checks instead that the device-tree segment the plan hands the kernel holds the bytes
(read back with libfdt).  Functions that only read the value (``options.check`` looks
for a NUL) are not on the path.

Counted: *modules* (distinct modules on the path), *calls* (distinct caller -> callee
steps between pykexec functions on the path; ``main`` is where the reader starts).
Asserted: at most 8 modules and 15 calls, and no call back up a layer (on every stack,
commands -> system -> core, never the reverse).
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import pykexec
from pykexec.commands.cli import main
from pykexec.core import machine
from pykexec.core.crash.kdump import CrashLayout
from pykexec.core.devicetree import chosen
from pykexec.core.devicetree.tree import Node
from pykexec.core.formats import elfcore
from pykexec.core.machine import Machine
from pykexec.core.options import LoadOptions
from pykexec.core.planner import FileCall
from tests import oracles
from tests.golden import KERNEL_MEMSZ, KERNEL_SIZE, SNAPSHOTS
from tests.kernels import make_vmlinux

PACKAGE = str(Path(pykexec.__file__).parent)
MAX_MODULES = 8
MAX_CALLS = 15
#: The --append text followed: no snapshot's command line holds it.
MARK = "callpath.mark=4242"
USABLE = ("linux,usable-memory", "linux,drconf-usable-memory")
#: The layers, top down: a module may call only its own layer or one below.
LAYERS = ("pykexec.commands.", "pykexec.system.", "pykexec.core.")

Frame = types.FrameType
Match = Callable[[str, Frame, Any], bool]


def _args(frame: Frame) -> dict[str, Any]:
    return dict(frame.f_locals)


def _called(code: types.CodeType, test: Callable[[dict[str, Any]], bool]) -> Match:
    return lambda event, frame, _: event == "call" and frame.f_code is code and test(_args(frame))


def _returned(code: types.CodeType, test: Callable[[Any], bool]) -> Match:
    return lambda event, frame, value: event == "return" and frame.f_code is code and test(value)


def _holds(value: object) -> bool:
    if isinstance(value, str):
        return MARK in value
    return isinstance(value, (bytes, bytearray)) and MARK.encode() in value


APPEND_MOMENTS: dict[str, Match] = {
    "options record": _called(LoadOptions.__init__.__code__,
                              lambda a: _holds(a.get("command_line"))),
    "command line": _returned(chosen.command_line.__code__, _holds),
    "bootargs bytes": _returned(chosen.encode_bootargs.__code__, _holds),
    "stored in /chosen": _called(Node.set.__code__,
                                 lambda a: a["name"] == "bootargs" and _holds(a["value"])),
}  # fmt: skip
FILE_MOMENTS: dict[str, Match] = {
    "options record": APPEND_MOMENTS["options record"],
    "command line": APPEND_MOMENTS["command line"],
    "kexec_file_load call": _called(FileCall.__init__.__code__,
                                    lambda a: _holds(a.get("command_line"))),
}  # fmt: skip
CRASH_MOMENTS: dict[str, Match] = {
    "read from /chosen": _called(
        machine.sized_range.__code__, lambda a: a["base"] == "linux,crashkernel-base"
    ),
    "machine record": _called(Machine.__init__.__code__, lambda a: a.get("crash") is not None),
    "crash layout": _called(CrashLayout.__new__.__code__, lambda a: True),  # a NamedTuple
    "elfcorehdr bytes": _returned(elfcore.core_header.__code__, lambda v: isinstance(v, bytes)),
    "usable-memory stored": lambda event, frame, _: (
        event == "call"
        and frame.f_code in (Node.set.__code__, Node.set_ranges.__code__)
        and _args(frame)["name"] in USABLE
    ),
}


@dataclass
class Trail:
    """The stacks seen at each moment (pykexec frames, outermost first; kept alive so
    that no two calls share an id)."""

    stacks: dict[str, list[list[Frame]]] = field(default_factory=dict)

    def functions(self) -> set[tuple[str, str]]:
        return {_name(f) for st in self._all() for f in st}

    def modules(self) -> set[str]:
        return {module for module, _ in self.functions()}

    def calls(self) -> set[tuple[tuple[str, str], tuple[str, str]]]:
        return {(_name(a), _name(b)) for st in self._all() for a, b in zip(st, st[1:])}

    def climbs(self) -> list[str]:
        """Each step on a stack from a lower layer up to a higher one."""
        return [f"{_name(a)} -> {_name(b)}" for st in self._all() for a, b in zip(st, st[1:])
                if _layer(b) < _layer(a)]  # fmt: skip

    def _all(self) -> Iterator[list[Frame]]:
        for stacks in self.stacks.values():
            yield from stacks


def _name(frame: Frame) -> tuple[str, str]:
    return frame.f_globals["__name__"], frame.f_code.co_name


def _layer(frame: Frame) -> int:
    module = frame.f_globals["__name__"] + "."
    # abi, uapi and errors sit at the top of the package but are core-level data
    return next((i for i, p in enumerate(LAYERS) if module.startswith(p)), len(LAYERS) - 1)


def _stack(frame: Frame | None) -> list[Frame]:
    out = []
    while frame is not None:
        if frame.f_code.co_filename.startswith(PACKAGE):
            out.append(frame)
        frame = frame.f_back
    return out[::-1]


def follow(argv: list[str], moments: dict[str, Match]) -> Trail:
    """Run ``pykexec argv`` and record the stacks at each of ``moments``."""
    path = Trail({name: [] for name in moments})

    def profile(frame: Frame, event: str, value: Any) -> None:
        if event not in ("call", "return"):
            return
        for name, match in moments.items():
            if match(event, frame, value):
                own = frame.f_code.co_filename.startswith(PACKAGE)
                path.stacks[name].append(_stack(frame if own else frame.f_back))

    out = io.StringIO()
    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(out):
            code = main(argv)
    finally:
        sys.setprofile(None)
    assert code == 0, out.getvalue()
    return path


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("callpath") / "vmlinux"
    path.write_bytes(make_vmlinux("little", size=KERNEL_SIZE, memsz=KERNEL_MEMSZ))
    return path


def _argv(load: str, kernel: Path, snapshot: str, *more: str, syscall: str = "-c") -> list[str]:
    return [syscall, load, str(kernel), f"--append={MARK}", "--dry-run",
            f"--sysroot={SNAPSHOTS / snapshot}", *more]  # fmt: skip


def _report(path: Trail) -> str:
    lines = [f"{len(path.modules())} modules, {len(path.calls())} calls:"]
    for name, stacks in path.stacks.items():
        for st in stacks:
            lines.append(f"  {name}: " + " > ".join(".".join(_name(f)[1:]) for f in st))
    return "\n".join(lines)


def _check(path: Trail) -> None:
    assert all(path.stacks.values()), f"a moment never came: {_report(path)}"
    assert path.climbs() == [], _report(path)
    assert len(path.modules()) <= MAX_MODULES, _report(path)
    assert len(path.calls()) <= MAX_CALLS, _report(path)


@pytest.mark.parametrize("load,snapshot", [("-l", "pseries-4cpu"), ("-p", "pseries-4cpu-crash"),
                                           ("-l", "powernv-1cpu")])  # fmt: skip
def test_append_reaches_the_kernel_in_few_steps(kernel: Path, load: str, snapshot: str) -> None:
    path = follow(_argv(load, kernel, snapshot), APPEND_MOMENTS)
    _check(path)


@pytest.mark.parametrize("load", ["-l", "-p"])
def test_append_reaches_kexec_file_load_in_few_steps(kernel: Path, load: str) -> None:
    path = follow(_argv(load, kernel, "pseries-4cpu-crash", syscall="-s"), FILE_MOMENTS)
    _check(path)


@pytest.mark.parametrize("snapshot", ["pseries-4cpu-crash", "powernv-1cpu-crash"])
def test_crash_region_reaches_the_kernel_in_few_steps(kernel: Path, snapshot: str) -> None:
    path = follow(_argv("-p", kernel, snapshot), CRASH_MOMENTS)
    _check(path)


def test_the_followed_bytes_are_in_the_segment_handed_to_the_kernel(
    kernel: Path, tmp_path: Path
) -> None:
    """The bytes the moments follow are what the plan's device-tree segment carries."""
    libfdt = oracles.libfdt()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(_argv("-p", kernel, "pseries-4cpu-crash", f"--save={tmp_path / 'plan'}")) == 0
    (dtb,) = (tmp_path / "plan").glob("*.dtb")
    fdt = libfdt.Fdt(dtb.read_bytes())
    bootargs = bytes(fdt.getprop(fdt.path_offset("/chosen"), "bootargs"))
    assert MARK.encode() in bootargs and bootargs.endswith(b"\0")
    memory = fdt.path_offset("/memory@0")
    assert len(fdt.getprop(memory, "linux,usable-memory")) > 0


def test_the_measure_sees_a_climb_and_a_long_path() -> None:
    """The test of the measure: a stack that goes back up a layer, and more steps than
    allowed, are both reported."""

    def frame_in(module: str) -> Frame:
        namespace = {"__name__": module}
        exec("import sys\ndef f():\n    return sys._getframe()\n", namespace)
        frame: Frame = namespace["f"]()
        return frame

    down = [frame_in("pykexec.commands.cli"), frame_in("pykexec.core.planner")]
    up = [*down, frame_in("pykexec.system.loader")]
    assert Trail({"x": [down]}).climbs() == []
    assert Trail({"x": [up]}).climbs() == ["('pykexec.core.planner', 'f') -> "
                                           "('pykexec.system.loader', 'f')"]  # fmt: skip
    long = [frame_in(f"pykexec.core.m{i}") for i in range(MAX_CALLS + 2)]
    assert len(Trail({"x": [long]}).calls()) > MAX_CALLS
