# SPDX-License-Identifier: GPL-2.0-or-later
"""What an initrd unpacks to, remembered across loads: /run/pykexec/initramfs.json.

A crash load reads its initrd's contents to size the crash kernel
(:func:`pykexec.core.formats.initramfs.summarize`); kdump services reload the
same files on every CPU or memory hotplug event.  A live load (never a dry run)
keeps the summary here, keyed by the file's identity: device, inode, size,
modification and change times in nanoseconds (a rewrite in place changes the
change time, a replacement the inode).  The file lives beside the load records
(:mod:`pykexec.system.record`), is written the same way (atomically, under the
load lock, never through a symlink) and is read the same way (a regular file of
bounded size, not a symlink); anything in it that is not exactly what
:func:`store` writes (another format, a field of the wrong type, sizes the file
could not hold) makes the whole cache absent, never an error.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pykexec.core.formats.initramfs import MAX_RATIO, Initramfs, Part
from pykexec.errors import RecordError
from pykexec.system import record
from pykexec.system.sysinfo import SystemView

CACHE_NAME = "initramfs.json"
CACHE_FORMAT = 1
MAX_CACHE_SIZE = 4 << 20  # 8 summaries of initrds with tens of thousands of files
MAX_ENTRIES = 8  # the most recent: a kdump service alternates few initrds
FORMATS = frozenset(("cpio", "gzip", "bzip2", "xz", "lzma", "zstd", "lz4", "lzo", "image"))
Key = tuple[int, int, int, int, int]


def key_of(path: str | os.PathLike[str], size: int) -> Key | None:
    """The identity of the file at ``path`` if it still holds ``size`` bytes."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_size != size:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _path(view: SystemView) -> str:
    return view.path(f"{record.RECORD_DIR}/{CACHE_NAME}")


def _entries(view: SystemView) -> list[dict[str, Any]]:
    """The cache's entries, or none when it is absent or not to be trusted."""
    if not view.live or record._directory_is_link(view):
        return []
    try:
        data = record._read_bounded(_path(view), MAX_CACHE_SIZE)
        doc = json.loads(data) if data is not None else None
    except (RecordError, ValueError, RecursionError):
        return []
    if not isinstance(doc, dict) or doc.get("program") != "pykexec":
        return []
    entries = doc.get("entries")
    if doc.get("format") != CACHE_FORMAT or not isinstance(entries, list):
        return []
    if len(entries) > MAX_ENTRIES or not all(_parsed(e) is not None for e in entries):
        return []
    return entries


def _int(value: object, low: int = 0, high: int = (1 << 64) - 1) -> bool:
    return type(value) is int and low <= value <= high


def _part(raw: object, file_size: int) -> Part | None:
    if not isinstance(raw, list) or len(raw) != 8:
        return None
    fmt, offset, size, stream, exact, files, entries, stream_min = raw
    ok = (
        fmt in FORMATS
        and _int(offset, 0, file_size)
        and _int(size, 1, file_size - offset)
        and _int(stream, 0, MAX_RATIO * size)
        and _int(stream_min, 0, stream)
        and type(exact) is bool
        and _int(entries, 0, stream)
        and (files is None or (isinstance(files, list) and all(_int(f, 0, stream) for f in files)))
    )
    if not ok or (files is not None and (sum(files) > stream or len(files) > entries)):
        return None
    return Part(fmt, offset, size, stream, exact, None if files is None else tuple(files),
                entries, stream_min)  # fmt: skip


def _parsed(entry: object) -> tuple[Key, int | None, Initramfs] | None:
    """``(key, limit, summary)`` of a cache entry, or None if it is malformed."""
    if not isinstance(entry, dict) or set(entry) != {"key", "limit", "file_size", "parts"}:
        return None
    key, limit, file_size, raw = entry["key"], entry["limit"], entry["file_size"], entry["parts"]
    if not isinstance(key, list) or len(key) != 5 or not all(_int(k, -(1 << 63)) for k in key):
        return None
    if not (limit is None or _int(limit)) or not _int(file_size, 1) or key[2] != file_size:
        return None
    if not isinstance(raw, list):
        return None
    parts = [_part(p, file_size) for p in raw]
    end = 0
    for p in parts:
        if p is None or p.offset < end:
            return None
        end = p.offset + p.size
    ident = (key[0], key[1], key[2], key[3], key[4])
    return ident, limit, Initramfs(file_size, tuple(p for p in parts if p is not None))


def lookup(view: SystemView, key: Key | None, limit: int | None) -> Initramfs | None:
    """The remembered summary of the file ``key`` names, made with a limit at least
    ``limit`` (or none, or complete: the content fits under any limit)."""
    if key is None:
        return None
    for entry in _entries(view):
        found = _parsed(entry)
        if found is None or found[0] != key:
            continue
        stored, summary = found[1], found[2]
        complete = all(p.exact for p in summary.parts)
        if complete or stored is None or (limit is not None and limit <= stored):
            return summary
    return None


def _entry(key: Key, limit: int | None, summary: Initramfs) -> dict[str, Any]:
    parts = [[p.format, p.offset, p.size, p.stream, p.exact,
              None if p.files is None else list(p.files), p.entries, p.stream_min]
             for p in summary.parts]  # fmt: skip
    return {"key": list(key), "limit": limit, "file_size": summary.file_size, "parts": parts}


def store(view: SystemView, key: Key | None, limit: int | None, summary: Initramfs) -> None:
    """Remember ``summary`` (best effort: a cache that cannot be written is no error)."""
    if key is None or not view.live:
        return
    kept = [e for e in _entries(view) if tuple(e["key"]) != key][: MAX_ENTRIES - 1]
    entries = [_entry(key, limit, summary), *kept]
    while entries:
        doc = {"program": "pykexec", "format": CACHE_FORMAT, "entries": entries}
        data = json.dumps(doc, separators=(",", ":")).encode()
        if len(data) <= MAX_CACHE_SIZE:
            break
        entries = entries[:-1]
    else:
        return
    try:
        directory = record._open_directory(view)
        try:
            record._write_at(directory, CACHE_NAME, data)
        finally:
            os.close(directory)
    except OSError:
        pass
