"""The one place that reads files and the system, plans, and calls the kernel.

This is also pykexec's small public API: :func:`plan_load`, :func:`load`,
:func:`load_crash`, :func:`unload`, :func:`execute`, :func:`status` and
:func:`inspect`.  Every function raises :class:`~pykexec.errors.KexecError`
subclasses; none exits.
"""

from __future__ import annotations

import mmap
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pykexec.errors import ImageError, SystemInfoError, UsageError
from pykexec.memory import Range
from pykexec.options import LoadOptions
from pykexec.sysinfo import SystemView

if TYPE_CHECKING:
    from pykexec.arch.ppc64 import Plan
    from pykexec.formats.elf import Endian, KernelImage


def read_file(path: Path, what: str) -> bytes | memoryview:
    """The file's bytes, mapped rather than copied where possible.

    The mapping is private and writable (ACCESS_COPY) so that ctypes can hand its
    address to the kernel without a copy; nothing ever writes to it.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ImageError(f"{what} {path} is empty")
            try:
                return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
            except (OSError, ValueError):
                return f.read()
    except FileNotFoundError:
        raise ImageError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ImageError(f"{what} {path} is a directory, not a file") from None
    except PermissionError:
        raise ImageError(f"{what} {path} cannot be read: permission denied") from None


def read_kernel(path: Path) -> KernelImage:
    from pykexec.formats.elf import parse_kernel

    return parse_kernel(read_file(path, "kernel"), str(path))


def kernel_end_from_iomem(iomem: str) -> int | None:
    """The end of the running kernel's image, from /proc/iomem's "Kernel ..." lines."""
    end = None
    for line in iomem.splitlines():
        span, _, name = line.strip().partition(" : ")
        if name.startswith("Kernel ") and "-" in span:
            last = int(span.split("-")[1], 16)
            end = max(end or 0, last + 1)
    return end


def plan_load(
    opts: LoadOptions, view: SystemView | None = None, purgatory_endian: Endian | None = None
) -> Plan:
    """Read everything a load needs and plan it, without touching the kernel."""
    from pykexec.arch.ppc64 import PlanInput, build_bootargs, plan
    from pykexec.devicetree.nexttree import old_root_param
    from pykexec.machine import describe

    view = view or SystemView()
    if opts.reuse_initrd:
        raise UsageError("--reuseinitrd is not supported yet by pykexec; pass --initrd")
    kernel = read_kernel(opts.kernel)
    tree = view.device_tree()
    machine = describe(tree)
    extra: tuple[Range, ...] = ()
    if machine.kernel_end is None:
        end = kernel_end_from_iomem(view.iomem())
        if end is None:
            raise SystemInfoError(
                "cannot tell where the running kernel ends: neither "
                "/proc/device-tree/chosen/linux,kernel-end nor Kernel lines in /proc/iomem"
            )
        extra = (Range(0, end),)
    dtb = None
    if opts.dtb is not None:
        from pykexec.devicetree.fdt import parse_fdt

        if opts.crash and opts.initrd is not None:
            raise UsageError(
                "--dtb with --initrd is not supported for -p: the crash "
                "kernel's tree must be built from the running system"
            )
        dtb = parse_fdt(bytes(read_file(opts.dtb, "device tree blob")))
    initrd = read_file(opts.initrd, "initrd") if opts.initrd is not None else None
    bootargs = build_bootargs(
        opts.command_line,
        reuse=view.cmdline() if opts.reuse_cmdline else None,
        crash=opts.crash,
        old_root=old_root_param(tree),
        dt_no_old_root=opts.dt_no_old_root,
    )
    core_notes = []
    if opts.crash:
        from pykexec.formats.elfcore import CoreNote

        core_notes = [CoreNote(n.address, n.size) for n in view.crash_notes()]
        vmcoreinfo = view.vmcoreinfo()
        if vmcoreinfo is not None:
            core_notes.append(CoreNote(*vmcoreinfo))
    if purgatory_endian is None:
        purgatory_endian = "little" if sys.byteorder == "little" or not view.live else "big"
    return plan(
        PlanInput(
            kernel=kernel,
            machine=machine,
            running_tree=tree,
            bootargs=bootargs,
            initrd=initrd,
            dtb=dtb,
            crash=opts.crash,
            mem_min=opts.mem_min,
            mem_max=opts.mem_max,
            debug=opts.debug,
            skip_checks=opts.skip_checks,
            purgatory_endian=purgatory_endian,
            corrupt_digest=opts.corrupt_digest,
            extra_reserved=extra,
            core_notes=tuple(core_notes),
        )
    )


def load(opts: LoadOptions, view: SystemView | None = None) -> Plan:
    """Plan and load a kernel for ``kexec -e`` (or, with ``opts.crash``, for a panic)."""
    from pykexec import syscalls
    from pykexec.layout import KEXEC_ARCH_PPC64, KexecFlags

    result = plan_load(opts, view)
    image = result.image
    flags = int(image.flags) | KEXEC_ARCH_PPC64
    if opts.debug and os.environ.get("PYKEXEC_KEXEC_DEBUG_FLAG") == "1":
        flags |= KexecFlags.DEBUG
    syscalls.kexec_load(
        image.entry,
        [syscalls.RawSegment(s.buf, s.mem.start, s.mem.size) for s in image.segments],
        flags,
    )
    return result


def load_crash(opts: LoadOptions, view: SystemView | None = None) -> Plan:
    """Load a crash kernel (``kexec -p``)."""
    return load(replace(opts, crash=True), view)


def unload(crash: bool = False) -> None:
    """Unload the kernel loaded for exec (or the crash kernel)."""
    from pykexec import syscalls
    from pykexec.layout import KEXEC_ARCH_PPC64, KexecFlags

    flags = KEXEC_ARCH_PPC64 | (KexecFlags.ON_CRASH if crash else 0)
    syscalls.kexec_load(0, [], flags)


def status(crash: bool = True, view: SystemView | None = None) -> bool:
    """Whether a crash kernel (or, with ``crash=False``, an exec kernel) is loaded."""
    view = view or SystemView()
    return view.kexec_crash_loaded() if crash else view.kexec_loaded()


def execute(view: SystemView | None = None, sync: bool = True) -> None:
    """Jump into the loaded kernel (``kexec -e``). Returns only on failure."""
    from pykexec import syscalls

    view = view or SystemView()
    if not view.kexec_loaded():
        raise UsageError("nothing has been loaded: run pykexec -l KERNEL first")
    if sync:
        os.sync()
    syscalls.reboot_kexec()
