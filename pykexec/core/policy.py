# SPDX-License-Identifier: GPL-2.0-or-later
"""What the running kernel will accept, decided before any call. Pure.

* :func:`decide_syscall`: kexec_file_load or kexec_load, and why, from the options
  and what the running kernel offers (:class:`KexecSupport`, read by
  :mod:`pykexec.system.sysinfo` without loading anything);
* :func:`check_kernel_rules`: the checks the kernel makes on a kexec_load segment
  list, so that a plan pykexec accepts is never refused with EINVAL,
  EADDRNOTAVAIL or ETXTBSY.  Each rule names its kernel source.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import Enum

from pykexec.core.memory import Range
from pykexec.core.options import LoadOptions, SyscallChoice, file_syscall_obstacle
from pykexec.errors import KernelRuleError as KernelRuleError  # re-exported: its old home
from pykexec.errors import MissingSyscall, UsageError
from pykexec.uapi import KEXEC_SEGMENT_MAX

# arch/powerpc/include/asm/kexec.h: KEXEC_DESTINATION_MEMORY_LIMIT (-1UL)
KEXEC_DESTINATION_MEMORY_LIMIT = (1 << 64) - 1
LOCKDOWN_LEVELS = ("none", "integrity", "confidentiality")  # security/lockdown/lockdown.c


class Syscall(str, Enum):
    FILE = "kexec_file_load"
    LOAD = "kexec_load"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class KexecSupport:
    """What the running kernel offers, read without loading anything.

    ``file_load`` is None when it cannot be told (a snapshot without the facts, a
    kernel without kallsyms or config): the file syscall is then tried, as kexec-tools
    does.
    """

    file_load: bool | None = None
    file_load_source: str = "unknown"
    load_disabled: bool = False  # /proc/sys/kernel/kexec_load_disabled
    lockdown: str | None = None  # /sys/kernel/security/lockdown, the bracketed level
    loads_left: int | None = None  # kexec_load_limit_{reboot,panic} (Linux 6.6), -1 = any
    # The kernel takes KEXEC_FILE_DEBUG (Linux 6.8 added it to KEXEC_FILE_FLAGS,
    # include/linux/kexec.h; older kernels refuse the flag with EINVAL); None: not told.
    file_debug: bool | None = None
    # kexec_load exists (CONFIG_KEXEC; RHEL 10 kernels have kexec_file_load only);
    # None when it cannot be told.
    load: bool | None = None
    load_source: str = "unknown"
    # IMA is measuring (a non-empty measurement list or policy), and how that was told:
    # only kexec_file_load carries the list to the next kernel (CONFIG_IMA_KEXEC).
    ima: str | None = None
    tpm: bool = False  # a TPM is present (/sys/class/tpm): its PCRs survive a kexec

    @property
    def locked_down(self) -> bool:
        return self.lockdown in ("integrity", "confidentiality")


@dataclass(frozen=True)
class SyscallDecision:
    """The call that will load the image; with ``fallback``, kexec_load follows a
    kexec_file_load that fails with one of :data:`FILE_LOAD_FALLBACK`."""

    first: Syscall
    fallback: bool
    why: str

    @property
    def needs_segments(self) -> bool:
        """Whether a kexec_load plan (segments) may be handed to the kernel."""
        return self.first is Syscall.LOAD or self.fallback

    def describe(self) -> str:
        text = str(self.first)
        if self.fallback:
            text += " (then kexec_load if it fails with ENOSYS, EINVAL, ENOEXEC or ENOTSUP)"
        return f"{text}: {self.why}"


def _refusal(opts: LoadOptions, support: KexecSupport) -> UsageError | None:
    if support.load_disabled:
        return UsageError("kexec-disabled")
    if support.loads_left == 0:
        kind, limit = ("crash kernel", "panic") if opts.crash else ("kernel", "reboot")
        return UsageError("no-loads-left", what=kind, name=f"kernel.kexec_load_limit_{limit}")
    return None


def _without_kexec_load(
    opts: LoadOptions, support: KexecSupport, obstacle: str | None
) -> SyscallDecision | None:
    """On a kernel known to lack kexec_load (CONFIG_KEXEC unset, as RHEL 10 builds them):
    kexec_file_load, or a refusal naming the option that needs kexec_load; None on any
    other kernel, and for -s (which the rules after this decide)."""
    if support.load is not False or opts.syscall is SyscallChoice.FILE:
        return None
    if support.file_load is False:
        return None  # neither: planned as before (a dry run plans for any machine)
    no_load = f"this kernel has no kexec_load ({support.load_source})"
    if opts.syscall is SyscallChoice.LOAD:
        raise MissingSyscall(
            "load-asked", syscall="kexec_load", option="-c", source=support.load_source
        )
    if obstacle is not None:
        culprit = "--dtb" if opts.dtb is not None else "--reuseinitrd"
        raise MissingSyscall("load-needed", syscall="kexec_load", option=culprit,
                             reason=obstacle, source=support.load_source)  # fmt: skip
    return SyscallDecision(Syscall.FILE, False, f"{no_load}; kexec_file_load is its only way")


def decide_syscall(opts: LoadOptions, support: KexecSupport) -> SyscallDecision:
    """kexec_file_load or kexec_load for ``opts`` on a kernel offering ``support``.

    Raises :class:`UsageError` when the kernel is known to refuse every way.
    """
    refusal = _refusal(opts, support)
    if refusal is not None:
        raise refusal
    obstacle = file_syscall_obstacle(opts)
    locked = support.locked_down
    without_load = _without_kexec_load(opts, support, obstacle)
    if without_load is not None:
        return without_load
    if opts.syscall is SyscallChoice.LOAD:
        if locked:
            raise UsageError("locked-down-load", lockdown=support.lockdown)
        return SyscallDecision(Syscall.LOAD, False, "-c asks for kexec_load")
    if opts.syscall is SyscallChoice.FILE:
        if support.file_load is False:
            raise UsageError("no-file-load", source=support.file_load_source)
        return SyscallDecision(Syscall.FILE, False, "-s asks for kexec_file_load")
    if obstacle is not None:
        if locked:
            raise UsageError("locked-down-obstacle", reason=obstacle, lockdown=support.lockdown)
        return SyscallDecision(Syscall.LOAD, False, obstacle)
    if support.file_load is False:
        if locked:
            raise UsageError(
                "locked-down-no-file-load",
                lockdown=support.lockdown,
                source=support.file_load_source,
            )
        return SyscallDecision(
            Syscall.LOAD, False, f"this kernel has no kexec_file_load ({support.file_load_source})"
        )
    if locked:
        return SyscallDecision(
            Syscall.FILE, False, f"lockdown={support.lockdown} refuses kexec_load"
        )
    if support.ima is not None:
        return SyscallDecision(
            Syscall.FILE, True, f"IMA is measuring ({support.ima}): kexec_file_load carries "
            "its measurement list to the next kernel, kexec_load does not",
        )  # fmt: skip
    have = "present" if support.file_load else "presence unknown"
    return SyscallDecision(
        Syscall.FILE, True, f"-a (the default); kexec_file_load {have} ({support.file_load_source})"
    )


@dataclass(frozen=True)
class KernelLimits:
    """The running kernel's facts its segment checks use."""

    page_size: int
    total_ram: int  # bytes: MemTotal of /proc/meminfo (totalram_pages)
    crash: Range | None  # crashk_res, for ON_CRASH loads
    kernel_end: int  # __pa(_end)
    tce: tuple[Range, ...] = ()  # TCE tables (linux,tce-base/-size)


@dataclass(frozen=True)
class PlannedSegment:
    mem: Range
    bufsz: int
    what: str


def check_kernel_rules(
    entry: int, segments: tuple[PlannedSegment, ...], crash: bool, limits: KernelLimits
) -> None:
    """The checks kexec_load makes before it touches anything; raises
    :class:`KernelRuleError` with the errno the kernel would return."""
    if len(segments) > KEXEC_SEGMENT_MAX:  # kernel/kexec.c kexec_load_check()
        raise KernelRuleError(
            "nr_segments", errno=errno.EINVAL, count=len(segments), limit=KEXEC_SEGMENT_MAX
        )
    page = limits.page_size
    for s in segments:  # kernel/kexec_core.c sanity_check_segment_list()
        if s.mem.start % page or s.mem.end % page:
            raise KernelRuleError("page-aligned", errno=errno.EADDRNOTAVAIL, what=s.what,
                                  start=s.mem.start, end=s.mem.end, size=page)  # fmt: skip
        if s.mem.end >= KEXEC_DESTINATION_MEMORY_LIMIT:
            raise KernelRuleError("destination-limit", errno=errno.EADDRNOTAVAIL, what=s.what,
                                  start=s.mem.start, end=s.mem.end)  # fmt: skip
        if s.bufsz > s.mem.size:
            raise KernelRuleError("bufsz-le-memsz", errno=errno.EINVAL, what=s.what,
                                  count=s.bufsz, size=s.mem.size)  # fmt: skip
    ordered = sorted(segments, key=lambda s: s.mem.start)
    for a, b in zip(ordered, ordered[1:]):
        if a.mem.overlaps(b.mem):
            raise KernelRuleError("no-overlap", errno=errno.EINVAL, what=a.what,
                                  start=a.mem.start, end=a.mem.end, other=b.what,
                                  other_start=b.mem.start, other_end=b.mem.end)  # fmt: skip
    pages = sum(s.mem.size for s in segments) // page
    if limits.total_ram and pages > limits.total_ram // page // 2:
        raise KernelRuleError(
            "half-of-ram", errno=errno.EINVAL, size=pages * page, limit=limits.total_ram
        )
    if crash:
        _check_crash(entry, segments, limits.crash)
    _check_ppc64(segments, limits)


def _check_crash(entry: int, segments: tuple[PlannedSegment, ...], region: Range | None) -> None:
    if region is None:
        raise KernelRuleError("crash-region", errno=errno.EADDRNOTAVAIL)
    for s in segments:  # sanity_check_segment_list(): KEXEC_TYPE_CRASH
        if not region.contains(s.mem):
            raise KernelRuleError("inside-crash-region", errno=errno.EADDRNOTAVAIL, what=s.what,
                                  start=s.mem.start, end=s.mem.end, other_start=region.start,
                                  other_end=region.end)  # fmt: skip
    if not region.start <= entry < region.end:  # kimage_alloc_init()
        raise KernelRuleError("entry-in-crash-region", errno=errno.EADDRNOTAVAIL, start=entry,
                              other_start=region.start, other_end=region.end)  # fmt: skip


def _check_ppc64(segments: tuple[PlannedSegment, ...], limits: KernelLimits) -> None:
    # arch/powerpc/kexec/core_64.c default_machine_kexec_prepare()
    for s in segments:
        if s.mem.start < limits.kernel_end:
            raise KernelRuleError(
                "above-kernel",
                errno=errno.ETXTBSY,
                what=s.what,
                start=s.mem.start,
                end=s.mem.end,
                limit=limits.kernel_end,
            )
        for tce in limits.tce:
            if s.mem.overlaps(tce):
                raise KernelRuleError(
                    "tce",
                    errno=errno.ETXTBSY,
                    what=s.what,
                    start=s.mem.start,
                    end=s.mem.end,
                    other_start=tce.start,
                    other_end=tce.end,
                )
