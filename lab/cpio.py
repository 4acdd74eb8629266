# SPDX-License-Identifier: GPL-2.0-or-later
"""A writer for the SVR4 "newc" cpio format that the kernel's initramfs unpacker reads.

Format source: Linux ``Documentation/driver-api/early-userspace/buffer-format.rst``
(magic "070701", thirteen 8-digit hex fields, name NUL-terminated, header+name
and data each padded to 4 bytes, archive ends with "TRAILER!!!").
Entries are deterministic: uid/gid 0, mtime 0, inode numbers counted up.
"""

from __future__ import annotations

import stat
from typing import BinaryIO

from lab.errors import ScenarioError

NEWC_MAGIC = b"070701"
# Header fields in order (buffer-format.rst), each 8 ASCII hex digits.
NEWC_FIELDS: tuple[str, ...] = (
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
)
TRAILER = "TRAILER!!!"
ALIGN = 4


def _pad(length: int) -> bytes:
    return b"\0" * (-length % ALIGN)


class NewcWriter:
    """Appends entries to a binary stream; call :meth:`finish` once at the end."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._ino = 1
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/") or "."
        if name in self._names and name != TRAILER:
            raise ScenarioError(f"cpio: duplicate entry {name!r}", problem="duplicate-entry")
        self._names.add(name)
        encoded = name.encode() + b"\0"
        values = {
            "ino": self._ino,
            "mode": mode,
            "nlink": 2 if stat.S_ISDIR(mode) else 1,
            "filesize": len(data),
            "rdevmajor": rdev[0],
            "rdevminor": rdev[1],
            "namesize": len(encoded),
        }
        self._ino += 1
        header = NEWC_MAGIC + b"".join(b"%08X" % values.get(f, 0) for f in NEWC_FIELDS)
        self._out.write(header + encoded + _pad(len(header) + len(encoded)))
        self._out.write(data + _pad(len(data)))

    def has(self, name: str) -> bool:
        return name.strip("/") in self._names

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode, b"")

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, b"", (major, minor))

    def finish(self) -> None:
        self._entry(TRAILER, 0, b"")
