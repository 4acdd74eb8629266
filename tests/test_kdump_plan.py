# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash loads planned from the captured guests and from synthetic big machines,
checked field by field: the ELF core header (against pyelftools) and the crash
kernel's device tree (against libfdt). RAM, crash region, firmware regions, crash
notes and vmcoreinfo come from each snapshot's own files (tests/snapshot_oracle.py)."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from pykexec.commands.cli import parse
from pykexec.core.formats.elfcore import PAGE_OFFSET
from pykexec.core.memory import Range
from pykexec.system.loader import plan_load
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import GiB, MiB, pseries, write_sysroot
from tests.opcount import count_calls
from tests.snapshot_oracle import (
    SNAPSHOTS,
    Snapshot,
    Span,
    inside,
    inside_any,
    merge,
    overlaps,
    read_snapshot,
    subtract,
)
from tests.typed import raises

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


def dumped_ranges(snap: Snapshot) -> list[Span]:
    """What the first kernel's vmcore must cover: System RAM less the crash region, plus
    the firmware regions inside the crash region (the crash kernel must not lose them;
    kexec-tools' crashdump-ppc64.c adds RTAS and OPAL), ends rounded up to 64 KiB pages."""
    assert snap.crash is not None
    ram = subtract(snap.system_ram, snap.crash)
    kept = [
        (first, -(-end // 0x10000) * 0x10000)
        for _, (first, end) in snap.firmware
        if overlaps((first, end), snap.crash)
    ]
    return merge(ram + kept)


@pytest.mark.parametrize("snapshot", CRASH_SNAPSHOTS, ids=lambda p: p.name)
def test_core_header_from_snapshot(snapshot: Path, kernel: Path) -> None:
    snap = read_snapshot(snapshot)
    assert snap.crash is not None
    plan = crash_plan(snapshot, kernel)
    hdr = plan.image.segment("elfcorehdr")  # type: ignore[arg-type]
    backup = plan.image.segment("backup")  # type: ignore[arg-type]
    elf = ELFFile(io.BytesIO(bytes(hdr.buf)))
    assert elf.header.e_type == "ET_CORE" and elf.header.e_machine == "EM_PPC64"
    phdrs = [elf.get_segment(i).header for i in range(elf.num_segments())]
    notes = [(p.p_offset, p.p_filesz) for p in phdrs if p.p_type == "PT_NOTE"]
    loads = [p for p in phdrs if p.p_type == "PT_LOAD"]
    assert snap.vmcoreinfo is not None
    assert notes == [*snap.crash_notes, snap.vmcoreinfo]
    covered = merge([(p.p_paddr, p.p_paddr + p.p_memsz) for p in loads])
    assert covered == dumped_ranges(snap)
    for p in loads:
        assert p.p_vaddr == PAGE_OFFSET + p.p_paddr and p.p_filesz == p.p_memsz
        expected = backup.mem.start if p.p_paddr == 0 else p.p_paddr
        assert p.p_offset == expected
    assert loads[0].p_paddr == 0 and loads[0].p_memsz == 0x10000
    # arch/powerpc/kexec/crash.c sync_backup_region_phdr takes the FIRST header whose
    # p_paddr is 0 for the backup PT_LOAD (machine_kexec_post_load), and with crash
    # hotplug writes its p_offset into every core header the kernel rebuilds: a PT_NOTE
    # with p_paddr 0 made the dump's first 64 KiB CPU 0's crash notes after a memory
    # hotplug (lab: pseries-smt2-hotplug-nonmi).  p_paddr = p_offset, as kexec-tools.
    assert [p.p_paddr for p in phdrs if p.p_type == "PT_NOTE"] == [a for a, _ in notes]
    assert [p for p in phdrs if p.p_paddr == 0] == [loads[0]]
    assert f"elfcorehdr={hdr.mem.start >> 10}K" in plan.bootargs


@pytest.mark.parametrize("snapshot", CRASH_SNAPSHOTS, ids=lambda p: p.name)
def test_crash_tree_from_snapshot(snapshot: Path, kernel: Path, libfdt: Any) -> None:
    snap = read_snapshot(snapshot)
    assert snap.crash is not None
    crash_start, crash_end = snap.crash
    plan = crash_plan(snapshot, kernel)
    dtb = plan.image.segment("device-tree")  # type: ignore[arg-type]
    fdt = libfdt.Fdt(bytes(dtb.buf))
    above = (crash_end, snap.system_ram[-1][1])
    for path in snap.memory_nodes:
        usable = fdt.getprop(fdt.path_offset(path), "linux,usable-memory")
        pairs = [
            (
                int.from_bytes(usable[i : i + 8], "big"),
                int.from_bytes(usable[i + 8 : i + 16], "big"),
            )
            for i in range(0, len(usable), 16)
        ]
        ranges = merge([(a, a + s) for a, s in pairs])
        assert inside_any((0, crash_end), ranges)
        assert not any(overlaps(r, above) for r in ranges) or any(
            overlaps(span, above) for _, span in snap.firmware
        )
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert (0x10000, crash_start - 0x10000) in rsv
    for kind in ("backup", "elfcorehdr", "device-tree"):
        seg = plan.image.segment(kind)  # type: ignore[arg-type]
        assert any(a <= seg.mem.start < a + s for a, s in rsv), kind
    for seg in plan.image.segments:
        assert inside((seg.mem.start, seg.mem.end), snap.crash)
    assert plan.image.entry == plan.image.segment("purgatory").mem.start  # type: ignore[arg-type]
    assert int(plan.image.flags) == 1 and plan.run_at_load == 1


@pytest.mark.parametrize("drmem", [1, 2])
def test_thousands_of_lmbs(tmp_path: Path, kernel: Path, drmem: int, libfdt: Any) -> None:
    lmbs = 4000  # 1 TiB of 256 MiB LMBs
    root = write_sysroot(tmp_path, pseries(lmbs=lmbs, drmem=drmem, cpus=4), cpus=4)
    plan = crash_plan(root, kernel)
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


def test_crash_planning_grows_linearly_with_lmbs(tmp_path: Path, kernel: Path) -> None:
    """Four times the LMBs, under five times the work (a quadratic step would be ~16x).
    Work is counted in function calls, which do not depend on the machine's speed."""
    calls = {}
    for lmbs in (1000, 4000):
        root = write_sysroot(tmp_path / str(lmbs), pseries(lmbs=lmbs, cpus=4), cpus=4)
        crash_plan(root, kernel)  # the same caches warm for both counts
        _, calls[lmbs] = count_calls(functools.partial(crash_plan, root, kernel))
    assert calls[4000] < 5 * calls[1000], calls


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
    from pykexec.core.purgatory.ppc64 import generate

    program = generate("little", kernel_big_endian=False)
    slot = program.slot("sha256_regions")
    regions = bytes(purgatory.buf)[slot.offset : slot.offset + slot.size]
    starts = {int.from_bytes(regions[i : i + 8], "little") for i in range(0, len(regions), 16)}
    assert hdr.mem.start not in starts
    assert plan.image.segment("device-tree").mem.start not in starts  # type: ignore[arg-type]
    assert plan.image.segment("kernel").mem.start in starts  # type: ignore[arg-type]


def test_hotplug_needs_kernel_support(tmp_path: Path, kernel: Path) -> None:
    from pykexec.errors import SystemInfoError

    root = write_sysroot(tmp_path, pseries())
    with raises(SystemInfoError, "no-crash-hotplug"):
        crash_plan(root, kernel, "--hotplug")


def test_reuse_initrd(tmp_path: Path, kernel: Path, libfdt: Any) -> None:
    from pykexec.errors import SystemInfoError

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
    with raises(SystemInfoError, "no-retain-initrd"):
        plan_load(cmd.options, SystemView(tmp_path / "b"))
