"""Crash loads planned from the captured guests and from synthetic big machines,
checked field by field: the ELF core header (against pyelftools) and the crash
kernel's device tree (against libfdt)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pykexec.cli import parse
from pykexec.formats.elfcore import PAGE_OFFSET
from pykexec.loader import plan_load
from pykexec.machine import describe
from pykexec.memory import MemoryMap, Range
from pykexec.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import GiB, MiB, pseries, write_sysroot

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
CRASH_SNAPSHOTS = sorted(SNAPSHOTS.glob("*-crash"))


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("k") / "vmlinux"
    path.write_bytes(make_vmlinux("little", size=0x120000, memsz=0x200000))
    return path


def crash_plan(root: Path, kernel: Path, *extra: str):  # type: ignore[no-untyped-def]
    cmd = parse(["-p", str(kernel), "--append=console=hvc0", *extra])
    assert cmd.options is not None
    return plan_load(cmd.options, SystemView(root), purgatory_endian="little")


@pytest.mark.parametrize("snapshot", CRASH_SNAPSHOTS, ids=lambda p: p.name)
def test_core_header_from_snapshot(snapshot: Path, kernel: Path) -> None:
    view = SystemView(snapshot)
    machine = describe(view.device_tree())
    assert machine.crash is not None
    plan = crash_plan(snapshot, kernel)
    hdr = plan.image.segment("elfcorehdr")  # type: ignore[arg-type]
    backup = plan.image.segment("backup")  # type: ignore[arg-type]
    elf = ELFFile(io.BytesIO(bytes(hdr.buf)))
    assert elf.header.e_type == "ET_CORE" and elf.header.e_machine == "EM_PPC64"
    phdrs = [elf.get_segment(i).header for i in range(elf.num_segments())]
    notes = [p for p in phdrs if p.p_type == "PT_NOTE"]
    loads = [p for p in phdrs if p.p_type == "PT_LOAD"]
    cpus = view.crash_notes()
    assert len(notes) == len(cpus) + 1 == len(view.possible_cpus()) + 1
    for p, cpu in zip(notes, cpus):
        assert (p.p_offset, p.p_filesz) == (cpu.address, cpu.size)
    vmcoreinfo = view.vmcoreinfo()
    assert vmcoreinfo is not None and (notes[-1].p_offset, notes[-1].p_filesz) == vmcoreinfo
    covered = MemoryMap(Range.sized(p.p_paddr, p.p_memsz) for p in loads)
    firmware_in_crash = [
        Range(r.range.start, -(-r.range.end // 0x10000) * 0x10000)
        for r in machine.firmware
        if r.range.overlaps(machine.crash)
    ]
    assert covered == machine.ram.minus([machine.crash]).union(firmware_in_crash)
    for p in loads:
        assert p.p_vaddr == PAGE_OFFSET + p.p_paddr and p.p_filesz == p.p_memsz
        expected = backup.mem.start if p.p_paddr == 0 else p.p_paddr
        assert p.p_offset == expected
    assert loads[0].p_paddr == 0 and loads[0].p_memsz == 0x10000
    assert f"elfcorehdr={hdr.mem.start >> 10}K" in plan.bootargs


@pytest.mark.parametrize("snapshot", CRASH_SNAPSHOTS, ids=lambda p: p.name)
def test_crash_tree_from_snapshot(snapshot: Path, kernel: Path) -> None:
    libfdt = pytest.importorskip("libfdt")
    machine = describe(SystemView(snapshot).device_tree())
    assert machine.crash is not None
    plan = crash_plan(snapshot, kernel)
    dtb = plan.image.segment("device-tree")  # type: ignore[arg-type]
    fdt = libfdt.Fdt(bytes(dtb.buf))
    for node in machine.memory_nodes:
        usable = fdt.getprop(fdt.path_offset(node.path), "linux,usable-memory")
        pairs = [
            (
                int.from_bytes(usable[i : i + 8], "big"),
                int.from_bytes(usable[i + 8 : i + 16], "big"),
            )
            for i in range(0, len(usable), 16)
        ]
        ranges = MemoryMap(Range.sized(a, s) for a, s in pairs if s)
        assert ranges.contains(Range(0, machine.crash.end))
        assert not ranges.overlaps(Range(machine.crash.end, machine.ram.ranges[-1].end)) or any(
            r.range.overlaps(Range(machine.crash.end, machine.ram.ranges[-1].end))
            for r in machine.firmware
        )
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert (0x10000, machine.crash.start - 0x10000) in rsv
    for kind in ("backup", "elfcorehdr", "device-tree"):
        seg = plan.image.segment(kind)  # type: ignore[arg-type]
        assert any(a <= seg.mem.start < a + s for a, s in rsv), kind
    for seg in plan.image.segments:
        assert machine.crash.contains(seg.mem)
    assert plan.image.entry == plan.image.segment("purgatory").mem.start  # type: ignore[arg-type]
    assert int(plan.image.flags) == 1 and plan.run_at_load == 1


@pytest.mark.parametrize("drmem", [1, 2])
def test_thousands_of_lmbs(tmp_path: Path, kernel: Path, drmem: int) -> None:
    libfdt = pytest.importorskip("libfdt")
    lmbs = 4000  # 1 TiB of 256 MiB LMBs
    root = write_sysroot(tmp_path, pseries(lmbs=lmbs, drmem=drmem, cpus=4), cpus=4)
    start = time.perf_counter()
    plan = crash_plan(root, kernel)
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"planning a 4000-LMB crash load took {elapsed:.1f} s"
    fdt = libfdt.Fdt(bytes(plan.image.segment("device-tree").buf))  # type: ignore[arg-type]
    prop = fdt.getprop(
        fdt.path_offset("/ibm,dynamic-reconfiguration-memory"), "linux,drconf-usable-memory"
    )
    counts, pos = [], 0
    while pos < len(prop):
        n = int.from_bytes(prop[pos : pos + 8], "big")
        counts.append(n)
        pos += 8 + 16 * n
    assert len(counts) == lmbs + 1 and sum(counts) == 1  # only the LMB at 0 is usable
    hdr = ELFFile(io.BytesIO(bytes(plan.image.segment("elfcorehdr").buf)))  # type: ignore[arg-type]
    loads = [s.header for s in hdr.iter_segments() if s.header.p_type == "PT_LOAD"]
    # adjacent LMBs merge: [0,64K) backup, [64K, crash), [crash end, RAM end)
    assert len(loads) == 3
    assert loads[-1].p_paddr + loads[-1].p_memsz == GiB + lmbs * 256 * MiB


def test_hotplug_crash_load(tmp_path: Path, kernel: Path) -> None:
    """--hotplug: elfcorehdr sized by the kernel, room for CPUs, mutable segments unhashed."""
    root = write_sysroot(tmp_path, pseries(lmbs=2, cpus=2), cpus=8)
    (root / "sys/kernel/crash_elfcorehdr_size").write_text("135168\n")
    plan = crash_plan(root, kernel, "--hotplug")
    assert int(plan.image.flags) == 0x1 | 0x8  # KEXEC_ON_CRASH | KEXEC_CRASH_HOTPLUG_SUPPORT
    hdr = plan.image.segment("elfcorehdr")  # type: ignore[arg-type]
    assert hdr.mem.size >= 135168 > hdr.bufsz
    plain = crash_plan(root, kernel)
    grown = plan.image.segment("device-tree").bufsz  # type: ignore[arg-type]
    assert grown > plain.image.segment("device-tree").bufsz  # type: ignore[arg-type]
    purgatory = plan.image.segment("purgatory")  # type: ignore[arg-type]
    from pykexec.purgatory.ppc64 import generate

    program = generate("little", kernel_big_endian=False)
    slot = program.slot("sha256_regions")
    regions = bytes(purgatory.buf)[slot.offset : slot.offset + slot.size]
    starts = {int.from_bytes(regions[i : i + 8], "little") for i in range(0, len(regions), 16)}
    assert hdr.mem.start not in starts
    assert plan.image.segment("device-tree").mem.start not in starts  # type: ignore[arg-type]
    assert plan.image.segment("kernel").mem.start in starts  # type: ignore[arg-type]


def test_hotplug_needs_kernel_support(tmp_path: Path, kernel: Path) -> None:
    from pykexec.errors import UsageError

    root = write_sysroot(tmp_path, pseries())
    with pytest.raises(UsageError, match="crash_elfcorehdr_size"):
        crash_plan(root, kernel, "--hotplug")


def test_reuse_initrd(tmp_path: Path, kernel: Path) -> None:
    from pykexec.errors import UsageError

    libfdt = pytest.importorskip("libfdt")
    root = write_sysroot(tmp_path, pseries(), cmdline="console=hvc0 retain_initrd")
    cmd = parse(["-l", str(kernel), "--reuseinitrd", "--append=x"])
    assert cmd.options is not None
    plan = plan_load(cmd.options, SystemView(root))
    assert "initrd" not in {str(s.kind) for s in plan.image.segments}
    old = Range(0x3000000, 0x3800000)  # the synthetic machine's running initrd
    for s in plan.image.segments:
        assert not s.mem.overlaps(old)
    fdt = libfdt.Fdt(bytes(plan.image.segment("device-tree").buf))  # type: ignore[arg-type]
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "linux,initrd-start").as_uint64() == old.start
    assert fdt.getprop(chosen, "linux,initrd-end").as_uint64() == old.end
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert (old.start, old.size) in rsv
    write_sysroot(tmp_path / "b", pseries(), cmdline="console=hvc0")
    with pytest.raises(UsageError, match="retain_initrd"):
        plan_load(cmd.options, SystemView(tmp_path / "b"))
