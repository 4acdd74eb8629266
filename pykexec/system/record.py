# SPDX-License-Identifier: GPL-2.0-or-later
"""The record of what is loaded: /run/pykexec/{exec,crash}.json.

After each successful load (never a dry run) the loader writes what it handed
the kernel: the options, the files' identities (path, size, mtime, inode,
device), the syscall, the entry, flags and segments (address, sizes, a CRC-32
of each buffer), the regions and digest the purgatory will check, the plan's
digest, and the machine's facts at that moment (System RAM, present CPUs,
memory blocks) so that ``-S -d`` can say whether the machine changed since.
/run is a tmpfs: a record never outlives the boot it describes, and its
``boot_id`` says which boot wrote it.  An unload removes the record.

What may be trusted is declared in :mod:`pykexec.core.recordschema`; :func:`read_checked`
bounds the file's size and nesting before parsing it and reports a corrupt, foreign,
older or newer record as one :class:`~pykexec.errors.RecordError` (the record is then
absent).  :func:`write` is atomic (a temporary file made with O_EXCL|O_NOFOLLOW in the
record directory, renamed over the old record; a symlinked directory is refused) and,
when it fails, removes the old record: no record ever describes another kernel.
:class:`Lock` serialises pykexec's live loads (an flock on /run/pykexec/lock held
across the load and its record write).

Records are plain dicts of JSON values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from typing import Any

from pykexec.core import recordschema as schema
from pykexec.errors import KexecError, RecordError
from pykexec.system import control, fileio
from pykexec.system.sysinfo import SystemView

RECORD_DIR = control.RECORD_DIR
RECORD_FORMAT = schema.RECORD_FORMAT
MAX_RECORD_SIZE = 64 << 10  # a crash record with 16 segments is under 8 KiB
LOCK_NAME = "lock"
LOCK_TRIES = 100  # 10 s in steps of 0.1 s: a load on a slow machine takes seconds
Record = dict[str, Any]
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def record_path(view: SystemView, crash: bool) -> str:
    return control.record_file(view, crash)


def file_identity(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """What tells a file apart from its replacement: size, mtime, inode, device."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError as err:
        return {"path": os.fspath(path), "error": err.strerror or str(err)}
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


def _nesting(text: str) -> int:
    """How deep ``text``'s JSON arrays and objects nest (brackets inside strings aside)."""
    depth = top = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        top = max(top, depth)
    return top


def _parse(text: str, path: str) -> Record:
    """The record in ``text``, or the RecordError saying why it cannot be trusted."""
    if _nesting(text) > schema.MAX_DEPTH:
        raise RecordError("too-deep", path=path, limit=schema.MAX_DEPTH)
    try:
        rec = json.loads(text)
    except (ValueError, RecursionError):
        raise RecordError("corrupt", path=path) from None
    if not isinstance(rec, dict) or rec.get("program", schema.PROGRAM) != schema.PROGRAM:
        raise RecordError("foreign", path=path)
    version = rec.get("format")
    if isinstance(version, bool) or not isinstance(version, int):
        raise RecordError("foreign", path=path)
    if version != RECORD_FORMAT:
        raise RecordError("older" if version < RECORD_FORMAT else "newer", path=path,
                          version=version, expected=RECORD_FORMAT)  # fmt: skip
    wrong = schema.check(rec)
    if wrong:
        raise RecordError("invalid", path=path, reason=wrong)
    return rec


def _directory_is_link(view: SystemView) -> bool:
    return control.record_directory_is_link(view)


def _read_bounded(path: str, limit: int = MAX_RECORD_SIZE) -> bytes | None:
    """The record file's bytes (``None``: there is none): a regular file, not a symlink,
    of at most ``limit`` bytes, its size checked before it is read."""

    def error(problem: str, **fields: object) -> RecordError:
        if problem == "too-large":
            return RecordError("too-large", path=path, size=fields["size"], limit=limit)
        kind = fields.get("filetype")
        reason = fields.get("reason") or (f"it is {kind}, not a regular file" if kind else problem)
        return RecordError("unreadable", path=path, reason=reason)

    return fileio.read_regular(path, "load record", error, limit, follow=False)


def read_checked(view: SystemView, crash: bool) -> tuple[Record | None, RecordError | None]:
    """The record of the loaded image and, when one is there but cannot be trusted
    (unreadable, over :data:`MAX_RECORD_SIZE`, nested too deep, not JSON, another
    program's, another format, a field out of its declared bounds, another boot's),
    ``(None, the error)``; ``(None, None)`` when there is none."""
    path = record_path(view, crash)
    try:
        if _directory_is_link(view):
            raise RecordError("symlink", path=path, directory=view.path(RECORD_DIR))
        data = _read_bounded(path)
        if data is None:
            return None, None
        rec = _parse(data.decode("utf-8", "replace"), path)
        boot_id = (view.read_text("proc/sys/kernel/random/boot_id") or "").strip()
        if boot_id and rec["boot_id"] not in ("", boot_id):  # a /run that is not a tmpfs
            raise RecordError("other-boot", path=path)
    except RecordError as err:
        return None, err
    return rec, None


def read(view: SystemView, crash: bool) -> Record | None:
    """The record of the loaded image, or None (none written, or not to be trusted)."""
    return read_checked(view, crash)[0]


def _open_directory(view: SystemView) -> int:
    """A descriptor of the record directory, made (mode 0700) if absent; a symlink
    there is refused (O_NOFOLLOW), whoever made it."""
    path = view.path(RECORD_DIR)
    os.makedirs(os.path.dirname(path), exist_ok=True)  # /run: there on any live system
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def _write_at(directory: int, name: str, data: bytes) -> None:
    tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=directory)
        raise


def write(view: SystemView, crash: bool, record: Record) -> str:
    """Write ``record`` atomically; returns its path. Live systems only.

    When it cannot be written the old record is removed (it describes a kernel no
    longer loaded) and a RecordError says so."""
    if not view.live:
        raise KexecError("record-under-sysroot", path=str(view.root))
    path = record_path(view, crash)
    problem = schema.check(record)
    try:
        if problem:  # never write what read_checked would refuse
            raise OSError(0, f"the record is not valid ({problem})")
        data = (json.dumps(record, indent=1) + "\n").encode()
        directory = _open_directory(view)
        try:
            _write_at(directory, os.path.basename(path), data)
        finally:
            os.close(directory)
    except OSError as err:
        why = err.strerror or str(err)
        if _directory_is_link(view):
            why = f"{view.path(RECORD_DIR)} is a symlink"
        gone = control.forget_record(view, crash)
        raise RecordError("write-failed", path=path, reason=why, removed=gone) from None
    return path


def remove(view: SystemView, crash: bool) -> None:
    """Forget the record (after an unload)."""
    control.forget_record(view, crash)


class Lock:
    """An exclusive flock on /run/pykexec/lock, for a live load and its record write.

    Another pykexec load holding it is waited for (up to :data:`LOCK_TRIES` tenths of a
    second), then reported (RecordError ``busy``, naming its pid).  A lock that cannot
    be made (a read-only /run) is no reason to refuse the load: ``note`` says so."""

    def __init__(self, view: SystemView) -> None:
        self.view, self.fd, self.note = view, -1, ""
        self.path = view.path(f"{RECORD_DIR}/{LOCK_NAME}")

    def __enter__(self) -> Lock:
        if not self.view.live:
            return self
        try:
            directory = _open_directory(self.view)
            try:
                flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                self.fd = os.open(LOCK_NAME, flags, 0o600, dir_fd=directory)
            finally:
                os.close(directory)
        except OSError as err:
            self.note = (
                f"cannot lock {self.path} ({err.strerror}): a concurrent pykexec load "
                "would not be waited for"
            )
            return self
        self._acquire()
        return self

    def _acquire(self) -> None:
        for attempt in range(LOCK_TRIES + 1):
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < LOCK_TRIES:
                    time.sleep(0.1)
        else:
            holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
            os.close(self.fd)
            self.fd = -1
            raise RecordError("busy", path=self.path, pid=holder or "?")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = -1


def new_record(view: SystemView, crash: bool, fields: dict[str, Any]) -> Record:
    """A record stamped with the time, the boot and the machine's facts."""
    now = time.time()
    return {
        "format": RECORD_FORMAT,
        "program": schema.PROGRAM,
        "kind": "crash" if crash else "exec",
        "loaded_at": now,
        "loaded_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "boot_id": (view.read_text("proc/sys/kernel/random/boot_id") or "").strip(),
        "machine": machine_facts(view),
        **fields,
    }
