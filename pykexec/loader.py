"""The one place that reads files and the system, plans, and calls the kernel.

This is also pykexec's small public API: :func:`plan_load`, :func:`load`,
:func:`load_crash`, :func:`unload`, :func:`execute`, :func:`status` and
:func:`inspect`.  Every function raises :class:`~pykexec.errors.KexecError`
subclasses; none exits.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING

from pykexec.errors import ImageError, SystemInfoError, UsageError
from pykexec.sysinfo import SystemView

# Modules only loads need are imported by the functions that load: `pykexec -e`, `-S`
# and `-u` start faster without dataclasses, pathlib and the planning core.
if TYPE_CHECKING:
    from pathlib import Path

    from pykexec.arch.ppc64 import Plan
    from pykexec.formats.elf import Endian, KernelImage
    from pykexec.options import LoadOptions

# SyscallChoice values (pykexec.options), compared as strings here.
FILE, LOAD, AUTO = "file", "load", "auto"


def read_file(path: Path, what: str) -> bytes | memoryview:
    """The file's bytes, mapped rather than copied where possible.

    The mapping is private and writable (ACCESS_COPY) so that ctypes can hand its
    address to the kernel without a copy; nothing ever writes to it.
    """
    import mmap

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
    from pykexec.memory import Range

    view = view or SystemView()
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
    reuse_initrd = None
    if opts.reuse_initrd:
        if not view.cmdline_has("retain_initrd"):
            raise UsageError(
                "--reuseinitrd needs the running kernel booted with retain_initrd "
                "(otherwise its initrd memory has been freed)"
            )
        if machine.old_initrd is None:
            raise UsageError("--reuseinitrd: the running kernel was booted without an initrd")
        reuse_initrd = machine.old_initrd
    hotplug_size, cpu_room = None, 0
    if opts.hotplug:
        from pykexec.arch.ppc64 import cpu_node_room

        hotplug_size = view.crash_elfcorehdr_size()
        if hotplug_size is None:
            raise UsageError(
                "--hotplug: this kernel has no crash hotplug support "
                "(no /sys/kernel/crash_elfcorehdr_size; Linux 6.10 or later)"
            )
        cpu_room = cpu_node_room(tree, len(view.possible_cpus()))
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
            reuse_initrd=reuse_initrd,
            hotplug=opts.hotplug,
            hotplug_elfcorehdr_size=hotplug_size,
            hotplug_cpu_room=cpu_room,
            page_size=view.page_size(),
        )
    )


# kexec-tools' do_kexec_file_load(): with -a, only these errors mean "try kexec_load".
# 524 is the kernel-internal ENOTSUPP that ppc64 kexec_file_load returned for crash
# images before Linux 5.9 (include/linux/errno.h).
ENOTSUPP_KERNEL = 524
FILE_LOAD_FALLBACK = frozenset(
    {errno.ENOSYS, errno.EINVAL, errno.ENOEXEC, errno.ENOTSUP, ENOTSUPP_KERNEL}
)


def load(opts: LoadOptions, view: SystemView | None = None) -> Plan | None:
    """Load a kernel for ``kexec -e`` (or, with ``opts.crash``, for a panic).

    With ``opts.syscall`` FILE or AUTO, kexec_file_load is tried first (the kernel then
    builds every segment and ``None`` is returned); AUTO falls back to a planned
    kexec_load only on the errors kexec-tools falls back on.  Nothing is handed to the
    kernel before the whole plan is built, so a failed load leaves the loaded kernel be.
    """
    from pykexec.errors import SyscallError

    view = view or SystemView()
    fallback = None
    if opts.syscall != LOAD:
        try:
            file_load(opts, view)
            return None
        except SyscallError as err:
            if opts.syscall == FILE or err.errno not in FILE_LOAD_FALLBACK:
                raise
            fallback = (
                f"kexec_file_load failed ({errno.errorcode.get(err.errno, err.errno)}):"
                " fell back to kexec_load"
            )
    result = _kexec_load(opts, view)
    if fallback is None:
        return result
    from dataclasses import replace

    return replace(result, notes=(*result.notes, fallback))


def _kexec_load(opts: LoadOptions, view: SystemView) -> Plan:
    from pykexec import syscalls
    from pykexec.layout import KEXEC_ARCH_PPC64

    result = plan_load(opts, view)
    image = result.image
    syscalls.kexec_load(
        image.entry,
        [syscalls.RawSegment(s.buf, s.mem.start, s.mem.size) for s in image.segments],
        int(image.flags) | KEXEC_ARCH_PPC64,
    )
    return result


def file_load_command_line(opts: LoadOptions, view: SystemView) -> str:
    """The command line given to kexec_file_load (the kernel adds elfcorehdr= itself)."""
    from pykexec.arch.ppc64 import build_bootargs

    return build_bootargs(
        opts.command_line,
        reuse=view.cmdline() if opts.reuse_cmdline else None,
        crash=opts.crash,
        old_root=None,
        dt_no_old_root=True,
    )


def file_load(opts: LoadOptions, view: SystemView) -> None:
    """kexec_file_load(2): the kernel reads, verifies and places the image itself."""
    from pykexec import syscalls

    if opts.dtb is not None or opts.reuse_initrd:
        raise UsageError("--dtb and --reuseinitrd need kexec_load: use -c")
    flags = syscalls.KEXEC_FILE_ON_CRASH if opts.crash else 0
    flags |= 0 if opts.initrd else syscalls.KEXEC_FILE_NO_INITRAMFS
    flags |= syscalls.KEXEC_FILE_NO_CMA if opts.no_cma else 0
    flags |= syscalls.KEXEC_FILE_FORCE_DTB if opts.force_dtb else 0
    kernel_fd = _kernel_fd(opts.kernel)
    initrd_fd = -1
    try:
        if opts.initrd is not None:
            initrd_fd = _open(opts.initrd, "initrd")
        syscalls.kexec_file_load(kernel_fd, initrd_fd, file_load_command_line(opts, view), flags)
    finally:
        os.close(kernel_fd)
        if initrd_fd >= 0:
            os.close(initrd_fd)


def _open(path: Path, what: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ImageError(f"{what} {path} does not exist") from None
    except OSError as err:
        raise ImageError(f"{what} {path} cannot be opened: {err.strerror}") from None


def _kernel_fd(path: Path) -> int:
    """A descriptor of the kernel; a compressed one is inflated into a memfd first
    (the ppc64 kernel's file loader takes plain ELF only), as kexec-tools does."""
    from pykexec.formats.elf import parse_kernel

    fd = _open(path, "kernel")
    head = os.pread(fd, 6, 0)
    if head.startswith(b"\x7fELF"):
        return fd
    os.close(fd)
    kernel = parse_kernel(read_file(path, "kernel"), str(path))
    memfd = os.memfd_create("pykexec-kernel", os.MFD_CLOEXEC)
    view = memoryview(kernel.data)
    while view:
        view = view[os.write(memfd, view) :]
    os.lseek(memfd, 0, os.SEEK_SET)
    return memfd


def load_crash(opts: LoadOptions, view: SystemView | None = None) -> Plan | None:
    """Load a crash kernel (``kexec -p``)."""
    from dataclasses import replace

    return load(replace(opts, crash=True), view)


def unload(crash: bool = False, syscall: str = AUTO) -> None:
    """Unload the kernel loaded for exec (or the crash kernel).

    With -s or -a the file syscall's unload is tried first (it frees an image loaded
    either way), then, with -a or -c, kexec_load with no segments, as kexec-tools does.
    """
    from pykexec import syscalls
    from pykexec.errors import SyscallError
    from pykexec.layout import KEXEC_ARCH_PPC64, KexecFlags

    if syscall != LOAD:
        try:
            flags = syscalls.KEXEC_FILE_UNLOAD | (syscalls.KEXEC_FILE_ON_CRASH if crash else 0)
            syscalls.kexec_file_load(-1, -1, "", flags)
            return
        except SyscallError as err:
            if syscall == FILE or err.errno not in FILE_LOAD_FALLBACK:
                raise
    syscalls.kexec_load(0, [], KEXEC_ARCH_PPC64 | (KexecFlags.ON_CRASH if crash else 0))


def status(crash: bool = True, view: SystemView | None = None) -> bool:
    """Whether a crash kernel (or, with ``crash=False``, an exec kernel) is loaded."""
    view = view or SystemView()
    return view.kexec_crash_loaded() if crash else view.kexec_loaded()


def crash_reservation_size(view: SystemView | None = None) -> int:
    """The size of the crashkernel= reservation (kexec --print-ckr-size)."""
    view = view or SystemView()
    size = view.dt_prop("chosen", "linux,crashkernel-size")
    return int.from_bytes(size, "big") if size else 0


def take_interfaces_down(view: SystemView) -> None:
    """Take every network interface but loopback down before jumping, as kexec-tools'
    -e does (kexec/ifdown.c), with SIOCGIFFLAGS/SIOCSIFFLAGS (linux/sockios.h)."""
    import fcntl
    import struct

    from pykexec import syscalls
    from pykexec.errors import SyscallError

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    names = [n for n in view.network_interfaces() if n != "lo"]
    if not names:
        return
    try:
        fd = syscalls.inet_dgram_socket()
    except SyscallError:
        return
    try:
        for name in names:
            req = struct.pack("16sH14x", name.encode()[:15], 0)
            try:
                flags = struct.unpack_from("16sH", fcntl.ioctl(fd, siocgifflags, req))[1]
                if flags & iff_up:
                    down = struct.pack("16sH14x", name.encode()[:15], flags & ~iff_up)
                    fcntl.ioctl(fd, siocsifflags, down)
            except OSError:
                continue
    finally:
        os.close(fd)


def execute(view: SystemView | None = None, sync: bool = True, ifdown: bool = True) -> None:
    """Jump into the loaded kernel (``kexec -e``). Returns only on failure."""
    from pykexec import syscalls

    view = view or SystemView()
    if not view.kexec_loaded():
        raise UsageError("nothing has been loaded: run pykexec -l KERNEL first")
    if sync:
        os.sync()
    if ifdown:
        take_interfaces_down(view)
    syscalls.reboot_kexec()


SHUTDOWN_PROGRAMS = ("/sbin/shutdown", "/etc/shutdown", "/bin/shutdown", "/usr/sbin/shutdown")


def shutdown_reboot() -> None:
    """After a load without -l: hand over to the init system (``shutdown -r now``),
    which ends with kexec, as kexec-tools does. Does not return on success."""
    for program in SHUTDOWN_PROGRAMS:
        if os.access(program, os.X_OK):
            os.execv(program, [program, "-r", "now"])
    raise UsageError("loaded; no shutdown program found to reboot into it: run pykexec -e")
