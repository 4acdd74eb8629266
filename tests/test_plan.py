"""Whole loads planned with --dry-run --json from snapshots (captured guests and synthetic).

Each plan is checked for what kexec_load and the ppc64 handshake need: at most 16
page-aligned segments, no overlaps, inside RAM (the RMA; for -p the crash region),
outside firmware regions and the running kernel, and a device tree that libfdt
reads back with the expected /chosen and reserve map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pykexec.cli import main
from pykexec.machine import describe
from pykexec.memory import Range
from pykexec.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
CAPTURED = sorted(p for p in SNAPSHOTS.glob("*") if (p / "proc/device-tree").is_dir())


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


def check_plan(plan: dict[str, Any], sysroot: Path, crash: bool) -> None:
    machine = describe(SystemView(sysroot).device_tree())
    segs = [Range(s["mem"], s["mem"] + s["memsz"]) for s in plan["segments"]]
    assert 4 <= len(segs) <= 16
    for r in segs:
        assert r.start % 0x10000 == 0 and r.end % 0x10000 == 0
        assert machine.ram.contains(r), r
        if crash:
            assert machine.crash is not None and machine.crash.contains(r), r
        else:
            assert machine.rma.contains(r), r
        for reserved in machine.reserved:
            assert not reserved.range.overlaps(r), (reserved, r)
    for a, b in zip(sorted(segs), sorted(segs)[1:], strict=False):
        assert not a.overlaps(b)
    kinds = [s["kind"] for s in plan["segments"]]
    purgatory = plan["segments"][kinds.index("purgatory")]
    assert plan["entry"] == purgatory["mem"]
    assert plan["flags"] == (1 if crash else 0)
    assert plan["run_at_load"] == (1 if crash else 0x72756E30)


def dtb_of(sysroot: Path, kernel: Path, *argv: str) -> tuple[bytes, Any]:
    from pykexec.cli import parse
    from pykexec.loader import plan_load

    cmd = parse(["-l", str(kernel), *argv])
    assert cmd.options is not None
    plan = plan_load(cmd.options, SystemView(sysroot))
    seg = plan.image.segment("device-tree")  # type: ignore[arg-type]
    return bytes(seg.buf), seg


@pytest.mark.parametrize("crash", [False, True])
def test_synthetic_pseries(
    tmp_path: Path, kernel: Path, initrd: Path, crash: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_sysroot(tmp_path, pseries(lmbs=4, cpus=2), cpus=2)
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
    check_plan(plan, root, crash)
    assert plan["command_line"].startswith("console=hvc0 quiet root=/dev/vda2")
    if crash:
        assert "elfcorehdr=" in plan["command_line"]
        assert {"backup", "elfcorehdr"} <= {s["kind"] for s in plan["segments"]}


def test_device_tree_through_libfdt(tmp_path: Path, kernel: Path, initrd: Path) -> None:
    libfdt = pytest.importorskip("libfdt")
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


def test_crash_tree_usable_memory(tmp_path: Path, kernel: Path) -> None:
    libfdt = pytest.importorskip("libfdt")
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
    assert main(["-p", str(kernel), "--sysroot", str(root), "--dry-run"]) == 2
    assert "crashkernel=" in capsys.readouterr().err


def test_not_relocatable_refused_for_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(run_at_load=0))
    root = write_sysroot(tmp_path / "sys", pseries())
    assert main(["-p", str(k), "--sysroot", str(root), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "run0" in err and "Traceback" not in err


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
    check_plan(plan, snapshot, crash=False)
    if describe(SystemView(snapshot).device_tree()).crash is not None:
        plan = dry_run(
            capsys,
            "-p",
            str(kernel),
            f"--initrd={initrd}",
            "--append=console=hvc0",
            "--sysroot",
            str(snapshot),
        )
        check_plan(plan, snapshot, crash=True)


@pytest.mark.parametrize("snapshot", CAPTURED, ids=lambda p: p.name)
def test_snapshot_tree_through_libfdt(snapshot: Path, kernel: Path, initrd: Path) -> None:
    """The next kernel's tree, built from a captured guest, read back by libfdt."""
    libfdt = pytest.importorskip("libfdt")
    running = SystemView(snapshot).device_tree()
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
    machine = describe(running)
    for region in machine.firmware:
        assert (region.range.start, region.range.size) in rsv, region
    # every node of the running tree is there, with its properties (less "name")
    for path, node in running.walk():
        offset = fdt.path_offset(path)
        for name, value in node.props.items():
            if name == "name" or path == "/chosen":
                continue
            assert bytes(fdt.getprop(offset, name)) == value, (path, name)
    cpus = [c for c in running.child("cpus").children if c.props.get("device_type") == b"cpu\0"]
    assert len(cpus) >= 1


def test_given_dtb_gets_command_line_initrd_and_reserve_map(
    tmp_path: Path, kernel: Path, initrd: Path
) -> None:
    """--dtb (petitboot): the given blob, with the asked-for bootargs and initrd."""
    libfdt = pytest.importorskip("libfdt")
    from pykexec.devicetree.fdt import DeviceTree, build_fdt

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
