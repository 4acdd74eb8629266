# SPDX-License-Identifier: GPL-2.0-or-later
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

from pykexec.errors import SyscallError
from pykexec.uapi import (  # re-exported: the loader and the control module use them here
    KEXEC_ARCH_PPC64,
    LINUX_REBOOT_CMD_KEXEC,
    LINUX_REBOOT_MAGIC1,
    LINUX_REBOOT_MAGIC2,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (-u's start-up)
if TYPE_CHECKING:
    from collections.abc import Sequence


# arch/powerpc/kernel/syscalls/syscall.tbl
SYSCALLS = {
    "ppc64": {"reboot": 88, "kexec_load": 268, "kexec_file_load": 382},
    "ppc64le": {"reboot": 88, "kexec_load": 268, "kexec_file_load": 382},
}

__all__ = ["KEXEC_ARCH_PPC64", "RawSegment", "explain", "kexec_file_load", "kexec_load"]


class KexecSegmentStruct(ctypes.Structure):
    """struct kexec_segment (include/uapi/linux/kexec.h)."""

    _fields_ = (
        ("buf", ctypes.c_void_p),
        ("bufsz", ctypes.c_size_t),
        ("mem", ctypes.c_void_p),
        ("memsz", ctypes.c_size_t),
    )


class RawSegment:
    """A segment as kexec_load(2) takes it: bytes, destination, size at destination.
    (A plain class: -u imports this module, and typing.NamedTuple costs typing.)"""

    __slots__ = ("buf", "mem", "memsz")

    def __init__(self, buf: bytes | memoryview, mem: int, memsz: int) -> None:
        self.buf, self.mem, self.memsz = buf, mem, memsz

    def __repr__(self) -> str:
        return f"RawSegment(<{len(self.buf)} bytes>, {self.mem:#x}, {self.memsz:#x})"


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
        raise SyscallError("wrong-machine", errno=errno.ENOSYS, call=name, machine=machine)
    return table[name]


_SIGNATURE = (
    "the kernel's signature check refused the image ({}): sign it with a key this kernel trusts"
)
# What each errno means for a kexec call and what to do: (errno, applies to, advice).
# "both", "load" (kexec_load) or "file" (kexec_file_load). Sources: kernel/kexec.c,
# kernel/kexec_file.c, kernel/kexec_core.c, arch/powerpc/kexec/{core_64,file_load_64,elf_64}.c.
ERRNO_ADVICE: tuple[tuple[int, str, str], ...] = (
    (
        errno.EPERM,
        "load",
        "not permitted: kexec_load is disabled (kernel.kexec_load_disabled), "
        "refused under lockdown, or its load limit (kernel.kexec_load_limit_*) is used up; "
        "with lockdown try -s with a signed kernel",
    ),
    (
        errno.EPERM,
        "file",
        "not permitted: kexec is disabled (kernel.kexec_load_disabled), its "
        "load limit is used up, or the image failed the IMA or lockdown policy",
    ),
    (
        errno.ENOSYS,
        "load",
        "this kernel has no kexec_load (built without CONFIG_KEXEC, as RHEL 10's are): "
        "drop -c, --dtb and --reuseinitrd and load with -s (kexec_file_load)",
    ),
    (errno.ENOSYS, "file", "this kernel was built without CONFIG_KEXEC_FILE: use -c"),
    (
        errno.EBUSY,
        "both",
        "kexec is busy: another load or unload is running (retry), or a crash is being handled",
    ),
    (
        errno.ENOMEM,
        "both",
        "the kernel ran out of memory for the image's pages (free memory, "
        "or for -p check that crashkernel= is large enough)",
    ),
    (
        errno.EADDRNOTAVAIL,
        "both",
        "a segment lies outside the memory the kernel allows (for -p: "
        "outside the crashkernel= region); check --mem-min/--mem-max",
    ),
    (
        errno.ETXTBSY,
        "load",
        "a segment overlaps the running kernel or a TCE table; pykexec "
        "avoids both, so report this with `pykexec --dry-run -d` output",
    ),
    (
        errno.EINVAL,
        "load",
        "the kernel rejected the segment list or flags (overlap, more than "
        "16 segments, more than half of RAM, or a flag this kernel does not know)",
    ),
    (
        errno.EINVAL,
        "file",
        "the kernel rejected the call: an unknown flag, a command line not "
        "NUL-terminated, or an image its ppc64 loader cannot place",
    ),
    (
        errno.ENOEXEC,
        "file",
        "the kernel does not recognise the image: kexec_file_load on ppc64 "
        "takes an uncompressed ELF vmlinux",
    ),
    (errno.ENOEXEC, "load", "the kernel refused the image format"),
    (errno.EKEYREJECTED, "file", _SIGNATURE.format("key rejected")),
    (errno.ENOKEY, "file", _SIGNATURE.format("no key")),
    (errno.EBADMSG, "file", _SIGNATURE.format("bad signature message")),
    (errno.EKEYEXPIRED, "file", _SIGNATURE.format("key expired")),
    (errno.EKEYREVOKED, "file", _SIGNATURE.format("key revoked")),
    (
        errno.ENODATA,
        "file",
        "the image carries no signature and this kernel requires one "
        "(KEXEC_SIG_FORCE or lockdown): sign the kernel",
    ),
    (
        errno.EACCES,
        "file",
        "the kernel or initrd was refused by the security policy (IMA "
        "appraisal or LSM): check the audit log",
    ),
    (errno.EBADF, "file", "a file descriptor was not valid: the kernel or initrd file went away"),
    (errno.EFBIG, "file", "the kernel or initrd file is larger than the kernel will read"),
    (errno.EINTR, "both", "interrupted by a signal: run pykexec again"),
    (errno.EFAULT, "both", "the kernel could not read pykexec's buffers: report this bug"),
    (
        errno.ENOENT,
        "load",
        "this platform cannot kexec (no way to clear the hash table, "
        "machine_kexec_prepare): the machine does not support kexec",
    ),
    (
        errno.EOPNOTSUPP,
        "file",
        "this kernel's kexec_file_load does not support this image or flag: use -c",
    ),
    (
        524,
        "file",
        "this kernel's kexec_file_load does not support crash images on ppc64 "
        "(before Linux 5.9): use -c",
    ),
)


def advice(err: int, *, file_load: bool = False) -> str:
    """What the errno means for a kexec call and what to do."""
    if err == errno.EPERM and os.geteuid() != 0:
        return "permission denied: run pykexec as root (CAP_SYS_BOOT)"
    which = "file" if file_load else "load"
    for number, applies, text in ERRNO_ADVICE:
        if number == err and applies in (which, "both"):
            return text
    return os.strerror(err)


def explain(call: str, err: int, *, file_load: bool = False) -> str:
    """One line: the call, then :func:`advice`."""
    return str(
        SyscallError("failed", errno=err, call=call, advice=advice(err, file_load=file_load))
    )


def _fail(call: str, *, file_load: bool = False) -> SyscallError:
    err = ctypes.get_errno()
    return SyscallError("failed", errno=err, call=call, advice=advice(err, file_load=file_load))


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


def kexec_file_load(kernel_fd: int, initrd_fd: int, text: bytes, flags: int) -> None:
    """kexec_file_load(2); ``initrd_fd`` is -1 when there is none; ``text`` is the command
    line with its NUL (:func:`pykexec.core.devicetree.chosen.encode_bootargs`), or b""."""
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
        number = ctypes.get_errno()
        raise SyscallError("failed", errno=number, call="socket(AF_INET, SOCK_DGRAM)",
                           advice=os.strerror(number))  # fmt: skip
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
