# SPDX-License-Identifier: GPL-2.0-or-later
"""Whole loads planned with --dry-run --json from snapshots (captured guests and synthetic).

Each plan is checked for what kexec_load and the ppc64 handshake need: at most 16
page-aligned segments, no overlaps, inside RAM (the RMA; for -p the crash region),
outside firmware regions and the running kernel, and a device tree that libfdt
reads back with the expected /chosen and reserve map. The expected RAM, windows and
firmware regions come from each snapshot's own files (tests/snapshot_oracle.py) or
from the synthetic machine's inputs, never from pykexec.core.machine.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pykexec.commands.cli import main
from pykexec.core.memory import Range
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import GiB, MiB, pseries, write_sysroot
from tests.snapshot_oracle import (
    Snapshot,
    Span,
    Tree,
    captured,
    inside,
    inside_any,
    iomem_spans,
    merge,
    overlaps,
    read_snapshot,
)
from tests.typed import cli_error

CAPTURED = captured()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("k") / "vmlinux"
    path.write_bytes(make_vmlinux("little", size=0x120000, memsz=0x200000))
    return path


@pytest.fixture(scope="module")
def initrd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i") / "initrd.img"
    path.write_bytes(b"070701" + bytes(range(256)) * 4000)
    return path


def dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--dry-run", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format"] == 1
    return document["kexec_load"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Expect:
    """Where a plan's segments may go, from the machine's own files or its builder's inputs."""

    ram: list[Span]
    window: Span  # the RMA for -l, the crash region for -p
    forbidden: list[tuple[str, Span]]  # firmware, the running kernel
    crash: bool


def snapshot_expect(snap: Snapshot, crash: bool) -> Expect:
    window = snap.crash if crash else snap.rma
    assert window is not None
    kernel = [("running kernel", (0, snap.kernel_end))] if snap.kernel_end else []
    # a plain load leaves the crash kernel's reservation alone (it may hold a crash kernel)
    reservation = [("crash region", snap.crash)] if snap.crash and not crash else []
    return Expect(snap.system_ram, window, snap.firmware + kernel + reservation, crash)


def check_plan(plan: dict[str, Any], expect: Expect) -> None:
    segs = [(s["mem"], s["mem"] + s["memsz"]) for s in plan["segments"]]
    assert 4 <= len(segs) <= 16
    for r in segs:
        assert r[0] % 0x10000 == 0 and r[1] % 0x10000 == 0, r
        assert inside_any(r, expect.ram), r
        assert inside(r, expect.window), (r, expect.window)
        for name, span in expect.forbidden:
            assert not overlaps(span, r), (name, span, r)
    for a, b in itertools.combinations(segs, 2):
        assert not overlaps(a, b), (a, b)
    kinds = [s["kind"] for s in plan["segments"]]
    purgatory = plan["segments"][kinds.index("purgatory")]
    assert plan["entry"] == purgatory["mem"]
    assert plan["flags"] == (1 if expect.crash else 0)  # KEXEC_ON_CRASH
    assert plan["run_at_load"] == (1 if expect.crash else 0x72756E30)  # head_64.S: "run0"


def dtb_of(sysroot: Path, kernel: Path, *argv: str) -> tuple[bytes, Any]:
    from pykexec.commands.cli import parse
    from pykexec.system.loader import plan_load

    cmd = parse(["-l", str(kernel), *argv])
    assert cmd.options is not None
    plan = plan_load(cmd.options, SystemView(sysroot))
    seg = plan.image.segment("device-tree")  # type: ignore[arg-type]
    return bytes(seg.buf), seg


@pytest.mark.parametrize("crash", [False, True])
def test_synthetic_pseries(
    tmp_path: Path, kernel: Path, initrd: Path, crash: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    rma, lmb, crash_region, kernel_end = GiB, 256 * MiB, (512 * MiB, 256 * MiB), 0x2A00000
    tree = pseries(rma=rma, lmb_size=lmb, lmbs=4, crash=crash_region, kernel_end=kernel_end, cpus=2)
    root = write_sysroot(tmp_path, tree, cpus=2)
    plan = dry_run(
        capsys,
        "-p" if crash else "-l",
        str(kernel),
        f"--initrd={initrd}",
        "--append",
        "console=hvc0 quiet",
        "--sysroot",
        str(root),
    )
    crash_span = (crash_region[0], crash_region[0] + crash_region[1])
    rtas = (rma - 0x2000000, rma - 0x2000000 + 0x10000)  # as tests.machines.pseries puts it
    expect = Expect(
        ram=[(0, rma + 4 * lmb)],
        window=crash_span if crash else (0, rma),
        forbidden=[("rtas", rtas), ("running kernel", (0, kernel_end))]
        + ([] if crash else [("crash region", crash_span)]),
        crash=crash,
    )
    check_plan(plan, expect)
    assert plan["command_line"].startswith("console=hvc0 quiet root=/dev/vda2")
    if crash:
        assert "elfcorehdr=" in plan["command_line"]
        assert {"backup", "elfcorehdr"} <= {s["kind"] for s in plan["segments"]}


def test_device_tree_through_libfdt(
    tmp_path: Path, kernel: Path, initrd: Path, libfdt: Any
) -> None:
    root = write_sysroot(tmp_path, pseries(lmbs=2))
    blob, seg = dtb_of(root, kernel, f"--initrd={initrd}", "--append=console=hvc0 x=1")
    fdt = libfdt.Fdt(blob)
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "bootargs").as_str() == "console=hvc0 x=1 root=/dev/vda2"
    start = fdt.getprop(chosen, "linux,initrd-start").as_uint64()
    end = fdt.getprop(chosen, "linux,initrd-end").as_uint64()
    assert end - start == initrd.stat().st_size
    for stale in ("linux,kernel-end", "linux,crashkernel-base", "name"):
        assert fdt.getprop(chosen, stale, libfdt.QUIET_NOTFOUND) == -libfdt.NOTFOUND
    fdt.getprop(chosen, "linux,booted-from-kexec")
    rsv = [tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())]
    assert (seg.mem.start, fdt.totalsize()) in rsv  # the blob reserves itself
    assert (start, end - start) in rsv


def test_crash_tree_usable_memory(tmp_path: Path, kernel: Path, libfdt: Any) -> None:
    root = write_sysroot(tmp_path, pseries(lmbs=2))
    blob, _ = dtb_of(root, kernel, "-p", "--append=console=hvc0")
    fdt = libfdt.Fdt(blob)
    usable = fdt.getprop(fdt.path_offset("/memory@0"), "linux,usable-memory")
    assert int.from_bytes(usable[:8], "big") == 0
    assert int.from_bytes(usable[8:16], "big") == 768 << 20
    dr = fdt.path_offset("/ibm,dynamic-reconfiguration-memory")
    assert len(fdt.getprop(dr, "linux,drconf-usable-memory")) == 8 * 3 + 16


def test_no_crash_region(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sysroot(tmp_path, pseries(crash=None))
    # kexec-tools: "Memory for crashkernel is not reserved", exit status 1
    assert main(["-p", str(kernel), "--sysroot", str(root), "--dry-run", "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"]) == ("NoCrashRegion", "no-crash-region")
    from pykexec.core.options import LoadOptions, SyscallChoice
    from pykexec.errors import NoCrashRegion
    from pykexec.system import loader

    opts = LoadOptions(kernel=kernel, crash=True, syscall=SyscallChoice.LOAD)
    with pytest.raises(NoCrashRegion):  # which step refused, by type
        loader.plan(opts, SystemView(root))


def test_not_relocatable_refused_for_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(run_at_load=0))
    root = write_sysroot(tmp_path / "sys", pseries())
    assert main(["-p", str(k), "--sysroot", str(root), "--dry-run", "--json"]) == 2
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["value"]) == ("UsageError", "not-relocatable", 0)


@pytest.mark.parametrize("snapshot", CAPTURED, ids=lambda p: p.name)
def test_captured_snapshots(
    snapshot: Path, kernel: Path, initrd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = dry_run(
        capsys,
        "-l",
        str(kernel),
        f"--initrd={initrd}",
        "--append=console=hvc0",
        "--sysroot",
        str(snapshot),
    )
    snap = read_snapshot(snapshot)
    check_plan(plan, snapshot_expect(snap, crash=False))
    if snap.crash is not None:
        plan = dry_run(
            capsys,
            "-p",
            str(kernel),
            f"--initrd={initrd}",
            "--append=console=hvc0",
            "--sysroot",
            str(snapshot),
        )
        check_plan(plan, snapshot_expect(snap, crash=True))


@pytest.mark.parametrize("snapshot", CAPTURED, ids=lambda p: p.name)
def test_snapshot_tree_through_libfdt(
    snapshot: Path, kernel: Path, initrd: Path, libfdt: Any
) -> None:
    """The next kernel's tree, built from a captured guest, read back by libfdt."""
    snap = read_snapshot(snapshot)
    blob, seg = dtb_of(snapshot, kernel, f"--initrd={initrd}", "--append=console=hvc0 y=2")
    fdt = libfdt.Fdt(blob)
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "bootargs").as_str() == "console=hvc0 y=2"
    start = fdt.getprop(chosen, "linux,initrd-start").as_uint64()
    assert fdt.getprop(chosen, "linux,initrd-end").as_uint64() - start == initrd.stat().st_size
    for stale in ("linux,kernel-end", "linux,crashkernel-base", "linux,crashkernel-size"):
        assert fdt.getprop(chosen, stale, libfdt.QUIET_NOTFOUND) == -libfdt.NOTFOUND
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert (seg.mem.start, fdt.totalsize()) in rsv
    for name, (first, end) in snap.firmware:
        assert (first, end - first) in rsv, name
    # every node of the running tree (as dtc reads the directory) is there, with its
    # properties; /chosen is rewritten for the next kernel
    ours = Tree(blob).nodes()
    for path, props in Tree(snap.blob).nodes().items():
        assert path in ours, path
        if path != "/chosen":
            assert {k: v for k, v in ours[path].items() if k != "name"} == props, path
    assert any(p.startswith("/cpus/") and v.get("device_type") == b"cpu\0" for p, v in ours.items())


def test_snapshot_files_agree() -> None:
    """The oracle's two paths agree: /proc/iomem's RAM is the memory nodes' reg, the crash
    region is as big as /sys/kernel/kexec_crash_size and lies inside RAM."""
    for snapshot in CAPTURED:
        snap = read_snapshot(snapshot)
        assert snap.system_ram == merge([s for v in snap.memory_nodes.values() for s in v])
        if snap.crash is None:
            assert snap.crash_size_sysfs == 0, snap.name
        else:
            assert snap.crash[1] - snap.crash[0] == snap.crash_size_sysfs, snap.name
            assert inside_any(snap.crash, snap.system_ram), snap.name
            assert snap.crash_iomem in ([], [snap.crash]), snap.name


def test_iomem_reader() -> None:
    text = (
        "00000000-3fffffff : System RAM\n  00000000-0fffffff : Kernel code\n"
        "40000000-7fffffff : System RAM\n200000000-2ffffffff : pci@1\n"
    )
    assert iomem_spans(text, "System RAM") == [(0, 0x80000000)]
    assert iomem_spans(text, "Kernel code") == []
    assert iomem_spans(text, "Kernel code", nested=True) == [(0, 0x10000000)]


def test_given_dtb_gets_command_line_initrd_and_reserve_map(
    tmp_path: Path, kernel: Path, initrd: Path, libfdt: Any
) -> None:
    """--dtb (petitboot): the given blob, with the asked-for bootargs and initrd."""
    from pykexec.core.devicetree.fdt import DeviceTree, build_fdt

    root = write_sysroot(tmp_path / "root", pseries())
    given = tmp_path / "given.dtb"
    given.write_bytes(build_fdt(DeviceTree(root=pseries(), reserve_map=[Range(0x7000, 0x8000)])))
    blob, seg = dtb_of(root, kernel, f"--dtb={given}", f"--initrd={initrd}", "--append=q")
    fdt = libfdt.Fdt(blob)
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "bootargs").as_str().startswith("q")
    start = fdt.getprop(chosen, "linux,initrd-start").as_uint64()
    assert fdt.getprop(chosen, "linux,initrd-end").as_uint64() - start == initrd.stat().st_size
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert {(0x7000, 0x1000), (start, initrd.stat().st_size), (seg.mem.start, len(blob))} <= rsv
