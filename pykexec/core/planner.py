# SPDX-License-Identifier: GPL-2.0-or-later
"""From a load's options and the facts gathered for it to everything the kernel gets. Pure.

:class:`LoadFacts` is the one frozen record the loader fills from files and the
system (:func:`pykexec.system.loader.gather`); :func:`plan` derives the rest: which
syscall, what kexec_file_load would be given, and the kexec_load segments,
checked against the kernel's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pykexec import uapi
from pykexec.core.arch.ppc64 import Plan, PlanInput, cpu_node_room
from pykexec.core.arch.ppc64 import plan as plan_segments
from pykexec.core.devicetree import chosen
from pykexec.core.machine import Machine, describe
from pykexec.core.memory import Range
from pykexec.core.options import LoadOptions, check
from pykexec.core.policy import (
    KernelLimits,
    KexecSupport,
    PlannedSegment,
    Syscall,
    SyscallDecision,
    check_kernel_rules,
    decide_syscall,
)
from pykexec.errors import NoCrashRegion, SystemInfoError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from pykexec.core.crash.headroom import Headroom, HeadroomInput
    from pykexec.core.devicetree.fdt import DeviceTree
    from pykexec.core.devicetree.tree import Node
    from pykexec.core.formats.elf import Endian, KernelImage
    from pykexec.core.formats.elfcore import CoreNote
    from pykexec.core.formats.initramfs import Initramfs

PLAN_FORMAT_VERSION = 1  # the "format" of --json plans; raised on incompatible changes


@dataclass(frozen=True)
class LoadFacts:
    """Everything a load needs from files and the running system, read once.

    The fields after ``support`` are filled only when a kexec_load plan is needed
    (``tree`` is None otherwise).
    """

    cmdline: str  # the running kernel's /proc/cmdline
    support: KexecSupport
    kernel: KernelImage | None = None
    initrd: bytes | memoryview | None = None
    dtb: DeviceTree | None = None
    tree: Node | None = None  # the running kernel's device tree
    kernel_end_iomem: int | None = None  # from /proc/iomem, when the tree lacks it
    core_notes: tuple[CoreNote, ...] = ()
    possible_cpus: int = 0
    hotplug_elfcorehdr_size: int | None = None
    page_size: int = 0x10000
    total_ram: int = 0  # MemTotal, bytes
    running_endian: Endian = "little"
    vector_crypto: bool = False  # AT_HWCAP2 has PPC_FEATURE2_VEC_CRYPTO (POWER8 and later)
    rng_seed: bytes = b""  # random bytes for the next tree's /chosen/rng-seed
    notes: tuple[str, ...] = field(default=())
    # For a crash load's headroom (read whatever the syscall): the kernel's memsz,
    # the initrd's size and what it unpacks to, the crash region, the possible CPUs.
    kernel_memsz: int = 0
    initrd_size: int = 0
    initramfs: Initramfs | None = None
    crash_size: int | None = None
    cpu_count: int = 0
    # What the loaded kernel's own file says (pykexec.core.formats.elf.kernel_traits), and the
    # running tree's root= (what kexec_load's command line gets without --dt-no-old-root).
    crash_page_size: int = 0  # 0: the file (and /boot/config-*) did not say
    kernel_percpu: int | None = None
    kernel_release: tuple[int, int] | None = None
    old_root: str | None = None


@dataclass(frozen=True)
class FileCall:
    """What kexec_file_load(2) will be given."""

    kernel: Path
    initrd: Path | None
    command_line: str
    flags: int

    def describe(self) -> str:
        return (
            f"kexec_file_load(kernel={self.kernel}, initrd={self.initrd or '-'}, "
            f"flags={self.flags:#x} {uapi.file_flag_names(self.flags)}, "
            f"command line {self.command_line!r})"
        )


@dataclass(frozen=True)
class LoadPlan:
    """The whole answer to "what will the kernel get": the syscall and why, the
    kexec_file_load call, and the kexec_load segments (when that call may be made)."""

    options: LoadOptions
    decision: SyscallDecision
    file_call: FileCall | None
    segments: Plan | None
    notes: tuple[str, ...] = ()
    headroom: Headroom | None = None  # -p: what the crash kernel needs against its region
    warnings: tuple[str, ...] = ()


def file_call(opts: LoadOptions, facts: LoadFacts) -> FileCall:
    """kexec_file_load's arguments: the kernel adds ``elfcorehdr=`` itself for -p."""
    flags = uapi.KEXEC_FILE_ON_CRASH if opts.crash else 0
    flags |= 0 if opts.initrd else uapi.KEXEC_FILE_NO_INITRAMFS
    flags |= uapi.KEXEC_FILE_NO_CMA if opts.no_cma else 0
    flags |= uapi.KEXEC_FILE_FORCE_DTB if opts.force_dtb else 0
    # -d: kexec-tools 2.0.32 main() ORs it in always; left out where the kernel refuses it
    flags |= uapi.KEXEC_FILE_DEBUG if opts.debug and facts.support.file_debug is not False else 0
    command_line = chosen.command_line(opts, facts.cmdline)
    return FileCall(opts.kernel, opts.initrd, command_line, flags)


def plan(opts: LoadOptions, facts: LoadFacts, *, need_segments: bool | None = None) -> LoadPlan:
    """The syscall decision, its kexec_file_load call and, when kexec_load may be used
    (or ``need_segments``), the segments. Raises KexecError subclasses."""
    check(opts)
    decision = decide_syscall(opts, facts.support)
    fcall = file_call(opts, facts) if decision.first is Syscall.FILE else None
    wanted = decision.needs_segments if need_segments is None else need_segments
    segments = segment_plan(opts, facts) if wanted else None
    headroom, warnings = (
        crash_headroom(opts, facts, decision, segments) if opts.crash else (None, ())
    )
    notes = facts.notes
    attestation = attestation_line(decision, facts.support)
    if attestation is not None and decision.first is Syscall.LOAD and facts.support.ima:
        warnings = (*warnings, attestation)  # IMA is measuring: the load breaks quotes
    elif attestation is not None:
        notes = (*notes, attestation)
    return LoadPlan(opts, decision, fcall, segments, notes, headroom, warnings)


def attestation_line(decision: SyscallDecision, support: KexecSupport) -> str | None:
    """What a kexec_load costs remote attestation on a machine with a TPM, in one line.

    kexec_file_load hands the IMA measurement list to the next kernel
    (security/integrity/ima/ima_kexec.c, ``linux,ima-kexec-buffer`` in /chosen);
    after a kexec_load the next kernel starts a new list while the TPM's PCRs, which
    no kexec resets, keep the old extends: a quote no longer matches the list."""
    if not support.tpm or not decision.needs_segments:
        return None
    when = "if kexec_load is used, " if decision.first is Syscall.FILE else ""
    return (
        f"attestation: {when}the next kernel starts a new IMA measurement list while the "
        "TPM's PCRs keep their values, so TPM quotes will not match its log until a "
        "firmware reboot (kexec_file_load, -s, carries the list)"
    )


# Segments kexec_file_load adds besides the kernel and initrd (device tree, purgatory,
# core header, 64 KiB backup): an allowance, as their sizes are the kernel's business.
FILE_LOAD_EXTRA = 2 << 20


def crash_command_line(opts: LoadOptions, facts: LoadFacts) -> str:
    """The crash kernel's command line as far as the options tell it."""
    return chosen.command_line(opts, facts.cmdline, crash=True)


def headroom_input(
    facts: LoadFacts, region: int, line: str, footprint: int | None = None
) -> HeadroomInput:
    """What the headroom model is given for a crash kernel with command line ``line``:
    its possible and online CPUs, page size, per-CPU section and rootfs limits."""
    from pykexec.core.crash.headroom import HeadroomInput, crash_cpus, rootfs_limits

    possible, online = crash_cpus(line, facts.cpu_count)
    page = facts.crash_page_size or facts.page_size
    estimated = facts.kernel_memsz + facts.initrd_size + FILE_LOAD_EXTRA
    return HeadroomInput(
        region,
        footprint if footprint is not None else estimated,
        facts.kernel_memsz,
        facts.initramfs,
        page,
        possible,
        online,
        percpu_bytes=facts.kernel_percpu,
        page_size_known=facts.crash_page_size > 0,
        footprint_exact=footprint is not None,
        rootfs=rootfs_limits(line, facts.kernel_release),
    )


def judged_lines(
    opts: LoadOptions, facts: LoadFacts, decision: SyscallDecision, segments: Plan | None = None
) -> tuple[tuple[Syscall, str], ...]:
    """The crash kernel's command line for each syscall the load may make: the
    kexec_file_load call's, and kexec_load's (first or as -a's fallback), which carries
    the running tree's root= unless --dt-no-old-root: the one ``segments`` put in the
    tree when they were planned (its elfcorehdr= changes nothing here).  The same with
    or without segments, live or dry."""
    lines: list[tuple[Syscall, str]] = []
    if decision.first is Syscall.FILE:
        lines.append((Syscall.FILE, crash_command_line(opts, facts)))
    if decision.needs_segments and segments is not None:
        lines.append((Syscall.LOAD, segments.bootargs))
    elif decision.needs_segments:
        old_root = chosen.old_root_param(facts.tree) if facts.tree is not None else facts.old_root
        line = chosen.command_line(opts, facts.cmdline, old_root=old_root, given=facts.dtb)
        lines.append((Syscall.LOAD, line))
    return tuple(lines)


def crash_headroom(
    opts: LoadOptions, facts: LoadFacts, decision: SyscallDecision, segments: Plan | None
) -> tuple[Headroom, tuple[str, ...]]:
    """What the crash kernel needs against its region, judged on the command line of
    every syscall the load may make (:func:`judged_lines`), and the warnings to give;
    raises :class:`~pykexec.errors.CrashRegionTooSmall` when it provably cannot boot
    under one of them (unless --ignore-headroom)."""
    from pykexec.core.crash.headroom import estimate
    from pykexec.errors import CrashRegionTooSmall

    region = facts.crash_size
    if segments is not None and segments.machine.crash is not None:
        region = segments.machine.crash.size
    if not region:
        raise NoCrashRegion("no-crash-region-recommend")
    line_of = dict(judged_lines(opts, facts, decision, segments))
    judged = [(call, estimate(headroom_input(facts, region, line)))
              for call, line in line_of.items()]  # fmt: skip
    call, result = min(judged, key=lambda j: (j[1].fits, j[1].spare))
    if len(judged) > 1:
        note = f"judged on {call}'s command line, the worse of {len(judged)} the load may use"
        result = result._replace(notes=(*result.notes, note))
    if not result.fits and not opts.ignore_headroom:
        raise CrashRegionTooSmall(
            "cannot-boot",
            needed=result.needed,
            region=result.region,
            recommended=result.recommended,
            summary=result.summary(),
        )
    warnings: list[str] = []
    if not facts.crash_page_size and _page_size_matters(facts, result, line_of[call]):
        warnings.append(f"the page size of {opts.kernel} is not known (no empty_zero_page "
                        f"symbol, no config-* beside it): the headroom takes the running "
                        f"kernel's {facts.page_size // 1024} KiB; with the other it would "
                        f"not leave the margin")  # fmt: skip
    if not result.fits:
        warnings.append(f"the crash kernel cannot boot (--ignore-headroom): {result.summary()}")
    elif result.region < result.boot_needed:
        warnings.append(f"the crash kernel may not boot: {result.summary()}")
    elif result.tight:
        warnings.append(f"the crash region is nearly full: {result.summary()}")
    return result, tuple(warnings)


def _page_size_matters(facts: LoadFacts, result: Headroom, line: str) -> bool:
    """Whether the estimate with the other ppc64 page size (4 or 64 KiB) than the running
    kernel's, which stands in for the unknown one, would warn where this one does not."""
    from pykexec.core.crash.headroom import estimate

    other = 4096 if facts.page_size == 0x10000 else 0x10000
    alt = estimate(headroom_input(replace(facts, page_size=other), result.region, line))
    quiet = not result.tight and result.region >= result.boot_needed
    return quiet and (alt.tight or alt.region < alt.boot_needed)


def _kernel_limits(facts: LoadFacts, plan: Plan) -> KernelLimits:
    m = plan.machine
    end = m.kernel_end if m.kernel_end is not None else facts.kernel_end_iomem
    return KernelLimits(
        page_size=facts.page_size,
        total_ram=facts.total_ram,
        crash=m.crash,
        kernel_end=end or 0,
        tce=tuple(r.range for r in m.firmware if r.name.startswith("tce")),
    )


def segment_plan(opts: LoadOptions, facts: LoadFacts) -> Plan:
    """The kexec_load plan (segments, entry, flags), checked against the kernel's rules."""
    if facts.kernel is None or facts.tree is None:
        raise SystemInfoError("plan-needs-facts")
    machine = describe(facts.tree)
    result = plan_segments(_plan_input(opts, facts, machine))
    image = result.image
    check_kernel_rules(
        image.entry,
        tuple(PlannedSegment(s.mem, s.bufsz, f"{s.kind} segment") for s in image.segments),
        opts.crash,
        _kernel_limits(facts, result),
    )
    return result


def _running_kernel(machine: Machine, facts: LoadFacts) -> tuple[Range, ...]:
    """The running kernel's image, when the tree does not reserve it (linux,kernel-end)."""
    if machine.kernel_end is not None:
        return ()
    if facts.kernel_end_iomem is None:
        raise SystemInfoError("no-kernel-end")
    return (Range(0, facts.kernel_end_iomem),)


def _reused_initrd(opts: LoadOptions, facts: LoadFacts, machine: Machine) -> Range | None:
    if not opts.reuse_initrd:
        return None
    if "retain_initrd" not in facts.cmdline.split():  # kexec-tools: die(), exit status 1
        raise SystemInfoError("no-retain-initrd")
    if machine.old_initrd is None:
        raise UsageError("no-old-initrd")
    return machine.old_initrd


def _hotplug_room(opts: LoadOptions, facts: LoadFacts, tree: Node) -> tuple[int | None, int]:
    """(the core header's size the kernel asks for, bytes for absent CPUs' nodes)."""
    if not opts.hotplug:
        return None, 0
    if facts.hotplug_elfcorehdr_size is None:
        raise SystemInfoError("no-crash-hotplug")  # a fact of the kernel: exit 1
    return facts.hotplug_elfcorehdr_size, cpu_node_room(tree, facts.possible_cpus)


def _plan_input(opts: LoadOptions, facts: LoadFacts, machine: Machine) -> PlanInput:
    assert facts.kernel is not None and facts.tree is not None
    hotplug_size, cpu_room = _hotplug_room(opts, facts, facts.tree)
    return PlanInput(
        kernel=facts.kernel,
        machine=machine,
        running_tree=facts.tree,
        bootargs=chosen.command_line(
            opts, facts.cmdline, old_root=chosen.old_root_param(facts.tree), given=facts.dtb
        ),
        initrd=facts.initrd,
        dtb=facts.dtb,
        crash=opts.crash,
        mem_min=opts.mem_min,
        mem_max=opts.mem_max,
        debug=opts.debug,
        skip_checks=opts.skip_checks,
        purgatory_endian=facts.running_endian,
        extra_reserved=_running_kernel(machine, facts),
        core_notes=facts.core_notes,
        reuse_initrd=_reused_initrd(opts, facts, machine),
        hotplug=opts.hotplug,
        hotplug_elfcorehdr_size=hotplug_size,
        hotplug_cpu_room=cpu_room,
        page_size=facts.page_size,
        sha256_vector=facts.vector_crypto,
        rng_seed=facts.rng_seed,
    )
