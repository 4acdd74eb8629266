# SPDX-License-Identifier: GPL-2.0-or-later
"""Planning a ppc64 load: kernel, initrd, device tree and purgatory. Pure.

:func:`plan` takes everything already read (the kernel image, the initrd's
bytes, the running device tree, the machine's memory picture, the running
command line) and returns the :class:`~pykexec.core.layout.KexecImage` to hand to
kexec_load, without any I/O, so a whole load can be planned from a snapshot.

Placement follows the ppc64 rules (kexec-tools' elf_ppc64_load does the
same): every segment inside the real-mode area (the first memory block),
outside firmware regions and the running kernel; the kernel, purgatory and
initrd bottom-up, the device tree top-down.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pykexec.abi import run_at_load_for_crash
from pykexec.core.devicetree.chosen import encode_bootargs
from pykexec.core.devicetree.fdt import DeviceTree, flat_size
from pykexec.core.devicetree.nexttree import DT_PAD, finish, next_tree
from pykexec.core.devicetree.tree import Node
from pykexec.core.formats.elf import Endian, KernelImage
from pykexec.core.layout import (
    SEGMENT_ALIGN,
    KexecFlags,
    KexecImage,
    Placer,
    Segment,
    SegmentKind,
)
from pykexec.core.machine import Machine
from pykexec.core.memory import MemoryMap, Range, align_up
from pykexec.core.purgatory.ppc64 import PurgatoryParams, console_for, region_digest
from pykexec.core.purgatory.ppc64 import image_size as purgatory_size
from pykexec.core.purgatory.ppc64 import render as render_purgatory
from pykexec.errors import NoCrashRegion, UsageError

if TYPE_CHECKING:  # the crash modules are imported by crash loads only
    from pykexec.core.crash.kdump import CrashLayout
    from pykexec.core.formats.elfcore import CoreNote

COMMAND_LINE_SIZE = 2048  # arch/powerpc/include/uapi/asm/setup.h (since 2016: 2048)
KERNEL_ALIGN = 0x10000

# The segments the kernel itself rewrites in a loaded --hotplug crash image, on each
# memory or CPU hotplug event (arch/powerpc/kexec/crash.c arch_crash_handle_hotplug_event:
# update_crash_elfcorehdr, update_crash_fdt); no digest or record can hold their bytes.
HOTPLUG_REWRITTEN = frozenset({SegmentKind.DEVICE_TREE, SegmentKind.ELFCOREHDR})


@dataclass(frozen=True)
class PlanInput:
    """Everything a plan needs, already read from files and the system."""

    kernel: KernelImage
    machine: Machine
    running_tree: Node | None
    bootargs: str
    initrd: bytes | memoryview | None = None
    dtb: DeviceTree | None = None
    crash: bool = False
    mem_min: int = 0
    mem_max: int | None = None
    debug: bool = False
    skip_checks: bool = False
    purgatory_endian: Endian = "little"
    extra_reserved: tuple[Range, ...] = field(default=())
    core_notes: tuple[CoreNote, ...] = field(default=())
    reuse_initrd: Range | None = None
    hotplug: bool = False
    hotplug_elfcorehdr_size: int | None = None
    hotplug_cpu_room: int = 0
    page_size: int = 0x10000
    sha256_vector: bool = False  # the purgatory hashes with vshasigmaw (the CPU has it)
    rng_seed: bytes = b""  # /chosen/rng-seed of a tree built from the running one


@dataclass(frozen=True)
class Plan:
    image: KexecImage
    bootargs: str
    run_at_load: int
    free: MemoryMap
    machine: Machine
    notes: tuple[str, ...] = ()
    # The purgatory's digest pass: the SHA-256 of its regions (purgatory sha256_regions,
    # in that order) up to and including each one (purgatory.ppc64.region_digest).
    running_digests: tuple[bytes, ...] = ()


def usable_memory(inp: PlanInput) -> tuple[MemoryMap, str]:
    """Where the segments may go, and a phrase naming it for errors."""
    m = inp.machine
    high = inp.mem_max if inp.mem_max is not None else 1 << 64
    if inp.crash:
        if m.crash is None:
            raise NoCrashRegion("no-crash-region")
        free = MemoryMap([m.crash])
        where = f"the crash region {m.crash}"
    else:
        free = MemoryMap([m.rma]).intersect(m.ram)
        where = f"the real-mode area {m.rma}"
        if m.crash is not None:
            free = free.minus([m.crash])
    free = free.clamp(inp.mem_min, high).minus(r.range for r in m.reserved)
    free = free.minus(inp.extra_reserved)
    return free, where


@dataclass(frozen=True)
class _CrashParts:
    """The extra segments of a crash load and what they imply."""

    layout: CrashLayout
    backup: Segment
    elfcorehdr: Segment

    @property
    def reserved(self) -> list[Range]:
        return [*self.layout.reserved, self.backup.mem, self.elfcorehdr.mem]


def _free_memory(inp: PlanInput) -> Placer:
    free, where = usable_memory(inp)
    if not inp.crash:
        # A relocatable kernel copies itself down to 0 (head_64.S __after_prom_start):
        # nothing it needs may sit below its own end.
        free = free.minus([Range(0, inp.kernel.memsz)])
    if inp.reuse_initrd is not None:
        free = free.minus([inp.reuse_initrd])
    return Placer(free, where)


def _crash_parts(inp: PlanInput, placer: Placer) -> _CrashParts:
    """Backup and ELF core header segments (after the kernel, bottom-up)."""
    if not inp.kernel.relocatable:
        raise UsageError("not-relocatable", value=inp.kernel.run_at_load)
    if inp.kernel.endian != inp.purgatory_endian:
        # The crash kernel reads the ELF core header and the dead kernel's per-CPU
        # notes and vmcoreinfo in its own byte order (fs/proc/vmcore.c): measured in
        # the lab, a big-endian crash kernel after a little-endian one says "Kdump:
        # vmcore not initialized" and has no /proc/vmcore (kexec-tools the same).
        raise UsageError("crash-endian", endian=inp.kernel.endian, dump_endian=inp.purgatory_endian)
    from pykexec.core.crash.kdump import BACKUP_SIZE, core_loads, crash_layout
    from pykexec.core.formats.elfcore import core_header

    layout = crash_layout(inp.machine, inp.page_size)
    backup = placer.place(
        SegmentKind.BACKUP, b"", memsz=BACKUP_SIZE, note="backup of the first 64 KiB"
    )
    header = core_header(
        list(inp.core_notes), core_loads(layout.dumped, backup.mem.start), inp.purgatory_endian
    )
    # With --hotplug the kernel rewrites the header in place as memory comes and
    # goes: size it as the kernel asks (/sys/kernel/crash_elfcorehdr_size).
    elfcorehdr = placer.place(
        SegmentKind.ELFCOREHDR,
        header,
        memsz=max(len(header), inp.hotplug_elfcorehdr_size or 0),
        note=f"ELF core header, {len(header)} bytes",
    )
    return _CrashParts(layout, backup, elfcorehdr)


def _place_tree(tree: DeviceTree, placer: Placer, pad: int) -> Segment:
    """Flatten the tree (it reserves itself) and place it top-down."""
    sized = finish(tree, None, pad)
    hole = placer.free.find_hole(align_up(len(sized), SEGMENT_ALIGN), SEGMENT_ALIGN, top_down=True)
    return placer.put(
        SegmentKind.DEVICE_TREE, finish(tree, hole.start, pad), hole, note="flattened device tree"
    )


def plan(inp: PlanInput) -> Plan:
    """Compute the segments and entry of a load. Raises KexecError subclasses.

    Order: the kernel and (for -p) backup and core header bottom-up, the initrd, a
    hole for the purgatory (its size does not depend on its values), the tree
    top-down, then the purgatory with the digest of everything else.
    """
    placer = _free_memory(inp)
    notes: list[str] = []
    ksec = placer.place(
        SegmentKind.KERNEL,
        inp.kernel.image(),
        memsz=inp.kernel.memsz,
        align=KERNEL_ALIGN,
        note=f"vmlinux ({inp.kernel.endian}-endian)",
    )
    run_at_load, bootargs, crash = inp.kernel.run_at_load, inp.bootargs, None
    if inp.crash:
        crash = _crash_parts(inp, placer)
        run_at_load = run_at_load_for_crash(run_at_load) or run_at_load  # "run0" -> 1
        notes.append("run_at_load set to 1: the crash kernel runs where it is loaded")
        from pykexec.core.crash.kdump import elfcorehdr_param

        bootargs = f"{bootargs} {elfcorehdr_param(crash.elfcorehdr.mem.start)}".strip()
    if len(encode_bootargs(bootargs)) > COMMAND_LINE_SIZE:
        size = len(encode_bootargs(bootargs)) - 1
        raise UsageError("command-line-too-long", size=size, limit=COMMAND_LINE_SIZE - 1)
    initrd_range = inp.reuse_initrd
    if inp.initrd is not None:
        seg = placer.place(SegmentKind.INITRD, inp.initrd, note="initrd")
        initrd_range = Range.sized(seg.mem.start, seg.bufsz)
    elif initrd_range is not None:
        notes.append(f"reusing the running kernel's initrd at {initrd_range}")
    pparams = _purgatory_params(inp, ksec.mem.start, run_at_load, crash)
    purgatory_hole = placer.take(purgatory_size(pparams))
    reserved = [r.range for r in inp.machine.firmware] + (crash.reserved if crash else [])
    tree = next_tree(inp.running_tree, bootargs=bootargs, initrd=initrd_range,
                     reserved=reserved, dtb=inp.dtb, rng_seed=inp.rng_seed)  # fmt: skip
    if crash is not None:
        from pykexec.core.crash.kdump import add_usable_memory

        add_usable_memory(tree.root, inp.machine, crash.layout.usable)
    dsec = _place_tree(tree, placer, DT_PAD + inp.hotplug_cpu_room)
    running: list[bytes] = []
    psec = _place_purgatory(
        inp, placer, replace(pparams, dt_offset=dsec.mem.start), purgatory_hole, running
    )
    flags = KexecFlags.ON_CRASH if inp.crash else KexecFlags(0)
    if inp.hotplug:
        flags |= KexecFlags.CRASH_HOTPLUG_SUPPORT
    image = KexecImage(
        entry=psec.mem.start,
        flags=flags,
        segments=tuple(sorted(placer.segments, key=lambda s: s.mem.start)),
    )
    return Plan(image, bootargs, run_at_load, placer.free, inp.machine, tuple(notes),
                tuple(running))  # fmt: skip


def _purgatory_params(
    inp: PlanInput, kernel_start: int, run_at_load: int, crash: _CrashParts | None
) -> PurgatoryParams:
    """Everything the purgatory needs but the tree's address and the digest."""
    m = inp.machine
    return PurgatoryParams(
        endian=inp.purgatory_endian,
        kernel_big_endian=inp.kernel.endian == "big",
        kernel=kernel_start,
        dt_offset=0,
        kernel_head=inp.kernel.head(),
        run_at_load=run_at_load,
        debug=inp.debug,
        skip_checks=inp.skip_checks,
        panic_kernel=inp.crash,
        backup_start=crash.backup.mem.start if crash else 0,
        opal_base=m.opal_base,
        opal_entry=m.opal_entry,
        opal_terminal=m.opal_console or 0,
        console=console_for(
            hvterm=m.hvterm_console, opal_terminal=m.opal_console, opal_entry=m.opal_entry
        ),
        sha256_vector=inp.sha256_vector,
    )


def _place_purgatory(
    inp: PlanInput, placer: Placer, pparams: PurgatoryParams, hole: Range, running: list[bytes]
) -> Segment:
    """The purgatory, with the SHA-256 of every other segment it checks, in ``hole``.

    With --hotplug the kernel edits the tree and the core header after the load:
    they cannot be part of the digest (kexec-tools' arch_do_exclude_segment()).
    """
    mutable = HOTPLUG_REWRITTEN if inp.hotplug else frozenset()
    hashed = [s for s in placer.segments if s.bufsz and s.kind not in mutable]
    digest = region_digest((s.buf for s in hashed), running)  # type: ignore[misc]
    pparams = replace(
        pparams,
        sha256_regions=tuple(Range.sized(s.mem.start, s.bufsz) for s in hashed),
        sha256_digest=digest,
    )
    placer.release(hole)
    return placer.put(SegmentKind.PURGATORY, render_purgatory(pparams), hole, note="purgatory")


def cpu_node_room(running: Node, possible_cpus: int) -> int:
    """Bytes to leave free in a crash kernel's tree so that the kernel can add the CPU
    nodes of every possible but absent CPU on hotplug (kexec-tools --hotplug does too)."""
    cpus = running.child("cpus")
    nodes = [c for c in cpus.children if c.string("device_type") == "cpu"] if cpus else []
    if not nodes:
        return 0
    # one node per core; its ibm,ppc-interrupt-server#s lists one u32 per thread
    servers = nodes[0].optional("ibm,ppc-interrupt-server#s") or b""
    threads = max(len(servers) // 4, 1)
    absent = max(-(-possible_cpus // threads) - len(nodes), 0)
    return absent * flat_size(nodes[0])
