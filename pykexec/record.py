# SPDX-License-Identifier: GPL-2.0-or-later
"""The record of what is loaded: /run/pykexec/{exec,crash}.json.

After each successful load (never a dry run) the loader writes what it handed
the kernel: the options, the files' identities (path, size, mtime, inode,
device), the syscall, the entry, flags and segments (address, sizes, a CRC-32
of each buffer), the regions and digest the purgatory will check, the plan's
digest, and the machine's facts at that moment (System RAM, present CPUs,
memory blocks) so that ``-S -d`` can say whether the machine changed since.
/run is a tmpfs: a record never outlives the boot it describes, and its
``boot_id`` says which boot wrote it.  Writes are atomic (a temporary file
renamed over the old one).  An unload removes the record.

Plain dicts of JSON values, not dataclasses: ``-S`` imports this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from pykexec.errors import KexecError
from pykexec.sysinfo import SystemView

RECORD_DIR = "run/pykexec"
RECORD_FORMAT = 1
Record = dict[str, Any]


def record_path(view: SystemView, crash: bool) -> str:
    return view.path(f"{RECORD_DIR}/{'crash' if crash else 'exec'}.json")


def file_identity(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """What tells a file apart from its replacement: size, mtime, inode, device."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError as err:
        return {"path": os.fspath(path), "error": err.strerror}
    return {
        "path": os.fspath(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
    }


def machine_facts(view: SystemView) -> dict[str, Any]:
    """The facts a crash image depends on: System RAM, present CPUs, memory blocks."""
    ram = 0
    for line in view.iomem().splitlines():
        if line[:1] == " " or not line.rstrip().endswith(": System RAM"):
            continue
        span = line.split(" : ")[0]
        lo, _, hi = span.partition("-")
        try:
            ram += int(hi, 16) + 1 - int(lo, 16)
        except ValueError:
            continue
    return {
        "system_ram": ram,
        "cpus_present": (view.read_text("sys/devices/system/cpu/present") or "").strip(),
        "cpus_possible": (view.read_text("sys/devices/system/cpu/possible") or "").strip(),
        "memory_blocks": view.count_entries("sys/devices/system/memory", "memory"),
    }


def read(view: SystemView, crash: bool) -> Record | None:
    """The record of the loaded image, or None (none written, or unreadable)."""
    text = view.read_text(f"{RECORD_DIR}/{'crash' if crash else 'exec'}.json")
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def write(view: SystemView, crash: bool, record: Record) -> str:
    """Write ``record`` atomically; returns its path. Live systems only."""
    if not view.live:
        raise KexecError(f"refusing to write a load record under {view.root}")
    path = record_path(view, crash)
    directory = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "w") as f:
            f.write(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise KexecError(f"cannot write the load record {path}: {err.strerror}") from None
    return path


def remove(view: SystemView, crash: bool) -> None:
    """Forget the record (after an unload)."""
    if view.live:
        with contextlib.suppress(OSError):
            os.unlink(record_path(view, crash))


def new_record(view: SystemView, crash: bool, fields: dict[str, Any]) -> Record:
    """A record stamped with the time, the boot and the machine's facts."""
    now = time.time()
    return {
        "format": RECORD_FORMAT,
        "kind": "crash" if crash else "exec",
        "loaded_at": now,
        "loaded_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "boot_id": (view.read_text("proc/sys/kernel/random/boot_id") or "").strip(),
        "machine": machine_facts(view),
        **fields,
    }
