"""The kernel calls, through ctypes: kexec_load, kexec_file_load and reboot.

Argument types are declared once; each call is a one-line wrapper that keeps
its buffers alive across the call and turns an errno into a
:class:`SyscallError` naming the call, its arguments and what to do.  This is
the only module that uses the machine's native structure layout.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from typing import NamedTuple

from pykexec.errors import SyscallError

# arch/powerpc/kernel/syscalls/syscall.tbl
SYSCALLS = {
    "ppc64": {"reboot": 88, "kexec_load": 268, "kexec_file_load": 382},
    "ppc64le": {"reboot": 88, "kexec_load": 268, "kexec_file_load": 382},
}

# include/uapi/linux/reboot.h
LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 672274793
LINUX_REBOOT_CMD_KEXEC = 0x45584543

# include/uapi/linux/kexec.h: kexec_file_load flags
KEXEC_FILE_UNLOAD = 0x1
KEXEC_FILE_ON_CRASH = 0x2
KEXEC_FILE_NO_INITRAMFS = 0x4
KEXEC_FILE_DEBUG = 0x8
KEXEC_FILE_NO_CMA = 0x10
KEXEC_FILE_FORCE_DTB = 0x20


class KexecSegmentStruct(ctypes.Structure):
    """struct kexec_segment (include/uapi/linux/kexec.h)."""

    _fields_ = (
        ("buf", ctypes.c_void_p),
        ("bufsz", ctypes.c_size_t),
        ("mem", ctypes.c_void_p),
        ("memsz", ctypes.c_size_t),
    )


class RawSegment(NamedTuple):
    """A segment as kexec_load(2) takes it: bytes, destination, size at destination."""

    buf: bytes | memoryview
    mem: int
    memsz: int


def _address_of(buf: bytes | memoryview) -> tuple[int, object]:
    """The address of a buffer's bytes and the object that keeps them alive, without a
    copy for ``bytes`` and writable buffers (private mmaps); read-only views are copied."""
    if isinstance(buf, bytes):
        pointer = ctypes.c_char_p(buf)
        return ctypes.cast(pointer, ctypes.c_void_p).value or 0, pointer
    view = memoryview(buf)
    if not view.nbytes:
        return 0, view
    array_type = ctypes.c_char * view.nbytes
    array = array_type.from_buffer_copy(view) if view.readonly else array_type.from_buffer(view)
    return ctypes.addressof(array), array


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        # ctypes.util.find_library("c") returns None in minimal Debian ppc64el systems.
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _number(name: str) -> int:
    machine = os.uname().machine
    table = SYSCALLS.get(machine)
    if table is None:
        raise SyscallError(
            f"{name}: this is a {machine} machine; pykexec loads ppc64 kernels on ppc64 "
            "only (use --dry-run to plan a load elsewhere)",
            errno.ENOSYS,
            name,
        )
    return table[name]


def explain(call: str, err: int, *, file_load: bool = False) -> str:
    """One line: what the errno means for a kexec call and what to do."""
    if err == errno.EPERM:
        if os.geteuid() != 0:
            return f"{call}: permission denied: run pykexec as root (CAP_SYS_BOOT)"
        if file_load:
            return (
                f"{call}: not permitted: the kernel refused the image (signature or "
                "IMA policy) or kexec is disabled (kernel.kexec_load_disabled)"
            )
        return (
            f"{call}: not permitted: the kernel is locked down or kexec_load is "
            "disabled (kernel.kexec_load_disabled); try -s (kexec_file_load)"
        )
    if err == errno.ENOSYS:
        what = "kexec_file_load (CONFIG_KEXEC_FILE)" if file_load else "kexec (CONFIG_KEXEC)"
        return f"{call}: this kernel was built without {what}"
    if err == errno.EBUSY:
        return f"{call}: kexec is busy: another load is in progress or a crash is being handled"
    if err in (errno.ENOMEM, errno.EADDRNOTAVAIL):
        return (
            f"{call}: no room: a segment lies outside the memory the kernel allows "
            "(for -p: outside the crashkernel= reservation); check --mem-min/--mem-max"
        )
    if err == errno.ETXTBSY:
        return f"{call}: a segment overlaps the running kernel or a TCE table"
    if err == errno.EINVAL:
        return (
            f"{call}: the kernel rejected the arguments (overlapping or oversized "
            "segments, or a flag this kernel does not know)"
        )
    if err == errno.ENOEXEC:
        return f"{call}: the kernel does not recognise the image format"
    if err in (errno.EKEYREJECTED, errno.ENOKEY, errno.EBADMSG):
        return f"{call}: the kernel's signature check failed ({os.strerror(err)})"
    return f"{call}: {os.strerror(err)}"


def _fail(call: str, *, file_load: bool = False) -> SyscallError:
    err = ctypes.get_errno()
    return SyscallError(explain(call, err, file_load=file_load), err, call)


def kexec_load(entry: int, segments: Sequence[RawSegment], flags: int) -> None:
    """kexec_load(2); with no segments, unloads the image of that kind."""
    array = (KexecSegmentStruct * max(len(segments), 1))()
    buffers = [_address_of(s.buf) for s in segments]
    for slot, seg, (address, _) in zip(array, segments, buffers):
        slot.buf = address
        slot.bufsz = memoryview(seg.buf).nbytes
        slot.mem = seg.mem
        slot.memsz = seg.memsz
    call = f"kexec_load(entry={entry:#x}, nr_segments={len(segments)}, flags={flags:#x})"
    rc = libc().syscall(
        ctypes.c_long(_number("kexec_load")),
        ctypes.c_ulong(entry),
        ctypes.c_ulong(len(segments)),
        array if segments else None,
        ctypes.c_ulong(flags),
    )
    del buffers
    if rc != 0:
        raise _fail(call)


def kexec_file_load(kernel_fd: int, initrd_fd: int, cmdline: str, flags: int) -> None:
    """kexec_file_load(2); ``initrd_fd`` is -1 when there is none."""
    text = cmdline.encode() + b"\0" if cmdline else b""
    buf = ctypes.create_string_buffer(text, len(text)) if text else None
    call = (
        f"kexec_file_load(kernel_fd={kernel_fd}, initrd_fd={initrd_fd}, "
        f"cmdline_len={len(text)}, flags={flags:#x})"
    )
    rc = libc().syscall(
        ctypes.c_long(_number("kexec_file_load")),
        ctypes.c_int(kernel_fd),
        ctypes.c_int(initrd_fd),
        ctypes.c_ulong(len(text)),
        buf,
        ctypes.c_ulong(flags),
    )
    if rc != 0:
        raise _fail(call, file_load=True)


def inet_dgram_socket() -> int:
    """A UDP socket's descriptor, for interface ioctls (libc socket(2); the ``socket``
    module costs a noticeable share of ``pykexec -e``'s start-up)."""
    fd = int(libc().socket(2, 2, 0))  # AF_INET, SOCK_DGRAM
    if fd < 0:
        raise SyscallError(
            "socket(AF_INET, SOCK_DGRAM): " + os.strerror(ctypes.get_errno()),
            ctypes.get_errno(),
            "socket",
        )
    return fd


def reboot_kexec() -> None:
    """reboot(LINUX_REBOOT_CMD_KEXEC): jump into the loaded kernel. Returns only on error."""
    rc = libc().syscall(
        ctypes.c_long(_number("reboot")),
        ctypes.c_uint(LINUX_REBOOT_MAGIC1),
        ctypes.c_uint(LINUX_REBOOT_MAGIC2),
        ctypes.c_uint(LINUX_REBOOT_CMD_KEXEC),
        None,
    )
    if rc != 0:
        raise _fail("reboot(LINUX_REBOOT_CMD_KEXEC)")
