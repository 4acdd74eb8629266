# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading one regular file, bounded, without ever blocking: the one primitive under
:mod:`pykexec.system.sysinfo` (/proc, /sys) and :mod:`pykexec.system.procfs` (/proc/device-tree).

Standard library only and nothing else of pykexec but its errors, so that both, and
the quick actions (-e, -S, -u) that start through sysinfo, import it cheaply.
"""

from __future__ import annotations

import os
import stat

from pykexec.errors import KexecError

#: The largest file pykexec reads from /proc, /sys or a snapshot of them.
MAX_FILE_SIZE = 256 << 20


def read_regular(
    path: str, what: str, error: type[KexecError], limit: int = MAX_FILE_SIZE
) -> bytes | None:
    """The bytes of the regular file at ``path`` (``None`` if it does not exist).

    Anything else (a FIFO, a device, a directory) raises ``error`` without being read,
    so a stray FIFO or device cannot hang or harm the caller: it is checked with stat
    before the open, opened non-blocking, and checked again on the open descriptor.
    Files larger than ``limit`` bytes raise ``error`` too.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise error("not-regular", what=what, path=path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise error("cannot-open", what=what, path=path, reason=err.strerror) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error("not-regular", what=what, path=path)
        if info.st_size > limit:  # /proc and /sys files say 0: the read below bounds them
            raise error("too-large", what=what, path=path, limit=limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise error("too-large", what=what, path=path, limit=limit)
    except OSError as err:
        raise error("cannot-read", what=what, path=path, reason=err.strerror) from None
    finally:
        os.close(fd)
