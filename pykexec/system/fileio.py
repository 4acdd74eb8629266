# SPDX-License-Identifier: GPL-2.0-or-later
"""Opening and reading one regular file, bounded, without ever blocking: the one primitive
under every file pykexec reads (/proc, /sys and /proc/device-tree through
:mod:`pykexec.system.sysinfo` and :mod:`pykexec.system.procfs`, /proc/kcore at an offset,
the kernel, initrd and device tree given on the command line, the load record).

:func:`open_regular` checks the path with stat before opening it, so a FIFO, a device, a
socket or a directory is refused without being opened (opening a device can act: a
watchdog arms, a tape rewinds); it then opens non-blocking (``O_NONBLOCK``, ``O_NOCTTY``,
and ``O_NOFOLLOW`` for a caller that must not follow a symlink) and checks the descriptor
again, in case the name changed in between.  :func:`read_regular` reads at most ``limit``
bytes, the size refused before the first read when the file says it is larger;
:func:`read_at` reads a range at an offset.

Each caller names what the file is (``what``, for the message) and the error class it
raises (``error``: a :class:`~pykexec.errors.KexecError` whose messages include
:data:`pykexec.errortext.FILE_MESSAGES`), called with one of :data:`PROBLEMS` and the
fields (``what``, ``path``, and ``filetype``, ``reason``, ``limit``, ``offset``, ``size``).

Standard library only and nothing else of pykexec but its errors, so that the quick
actions (-e, -S, -u) that start through sysinfo import it cheaply.  The quick actions'
modules call :mod:`posix`, not :mod:`os`: ``import os`` builds ``os.environ`` as a
``collections.abc`` mapping and imports ``posixpath``, 5 M instructions of a 42 M
start-up (bench/README.md, "Start-ups"); a test keeps ``os`` out of them.
"""

from __future__ import annotations

import errno
import posix
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable

    from pykexec.errors import KexecError

    #: The caller's error class (or a function like it): a problem and its fields.
    ErrorFactory = Callable[..., KexecError]

#: The largest file pykexec reads from /proc, /sys or a snapshot of them.
MAX_FILE_SIZE = 256 << 20
#: What can be wrong: nothing at the path (only from :func:`read_at`; the others return
#: None), a NUL in the name, not a regular file (a symlink where none is followed
#: included), larger than the bound, the system refused the open or the read, or
#: nothing at the offset (pykexec.errortext.FILE_MESSAGES holds their messages).
PROBLEMS = ("missing", "nul-in-path", "not-regular", "too-large", "cannot-open",
            "cannot-read", "no-data")  # fmt: skip
#: Flags of every open: read-only, never blocking, never the controlling terminal.
_FLAGS = posix.O_RDONLY | posix.O_NONBLOCK | posix.O_NOCTTY | posix.O_CLOEXEC
#: The longest single read(): /proc/sys handlers allocate a kernel buffer of the count
#: asked for (proc_sys_call_handler), and 16 MiB fails there with ENOMEM.
_CHUNK = 1 << 20
#: The longest single pread() at an offset (/proc/kcore reads whole buffers).
_PREAD_CHUNK = 1 << 24
#: File types by stat's S_IFMT, for the message refusing them.
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symlink",
}


def _not_regular(path: str, what: str, mode: int, error: ErrorFactory) -> KexecError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
    return error("not-regular", what=what, path=path, filetype=kind)


def open_regular(
    path: str, what: str, error: ErrorFactory, *, follow: bool = True
) -> tuple[int, int] | None:
    """``(descriptor, size)`` of the regular file at ``path``, opened read-only and
    non-blocking; ``None`` when nothing is there.  With ``follow=False`` a symlink at
    ``path`` (its last component) is refused, not followed.  The caller closes the
    descriptor."""
    if "\0" in path:  # no file can be named so: refused before open()'s ValueError
        raise error("nul-in-path", what=what, path=path)
    try:
        before = posix.stat(path, follow_symlinks=follow)
        if not stat.S_ISREG(before.st_mode):
            raise _not_regular(path, what, before.st_mode, error)
        fd = posix.open(path, _FLAGS | (0 if follow else posix.O_NOFOLLOW))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ELOOP and not follow:  # made a symlink since the stat
            raise _not_regular(path, what, stat.S_IFLNK, error) from None
        raise error("cannot-open", what=what, path=path, reason=err.strerror) from None
    info = posix.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # replaced since the stat
        posix.close(fd)
        raise _not_regular(path, what, info.st_mode, error)
    return fd, info.st_size


def read_fd(fd: int, path: str, what: str, error: ErrorFactory, limit: int) -> bytes:
    """All the bytes of the open file ``fd`` from its current position, at most
    ``limit`` of them (one more byte is asked for, to tell a larger file)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = posix.read(fd, min(limit + 1 - size, _CHUNK))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise error("cannot-read", what=what, path=path, reason=err.strerror) from None
    raise error("too-large", what=what, path=path, size=size, limit=limit)


def read_regular(
    path: str, what: str, error: ErrorFactory, limit: int = MAX_FILE_SIZE, *, follow: bool = True
) -> bytes | None:
    """The bytes of the regular file at ``path`` (``None`` if it does not exist), at most
    ``limit``: a file whose size says more is refused before it is read (/proc and /sys
    files say 0: the read itself stops one byte past ``limit``)."""
    opened = open_regular(path, what, error, follow=follow)
    if opened is None:
        return None
    fd, size = opened
    try:
        if size > limit:
            raise error("too-large", what=what, path=path, size=size, limit=limit)
        return read_fd(fd, path, what, error, limit)
    finally:
        posix.close(fd)


def read_at(path: str, what: str, error: ErrorFactory, offset: int, size: int) -> bytes:
    """``size`` bytes of the regular file at ``path`` from ``offset`` (e.g. /proc/kcore,
    whose size says nothing); a short read is an error, and so is an offset or size
    beyond what a file offset can be (2**63), refused before the open."""
    if not (0 <= offset < 1 << 63 and 0 <= size < (1 << 63) - offset):
        raise error("no-data", what=what, path=path, offset=offset, size=size)
    opened = open_regular(path, what, error)
    if opened is None:
        raise error("missing", what=what, path=path)
    fd = opened[0]
    chunks = []
    try:
        while size > 0:
            data = posix.pread(fd, min(size, _PREAD_CHUNK), offset)
            if not data:
                raise error("no-data", what=what, path=path, offset=offset, size=size)
            chunks.append(data)
            offset, size = offset + len(data), size - len(data)
        return b"".join(chunks)
    except OSError as err:
        raise error("cannot-read", what=what, path=path, reason=err.strerror) from None
    finally:
        posix.close(fd)
