# SPDX-License-Identifier: GPL-2.0-or-later
"""The quick actions: ``-e`` (exec), ``-S`` (status), ``-u`` (unload), ``--print-ckr-size``.

The start-up rule, written once: these actions run at every shutdown and boot (kdump
services call ``-S`` and ``-u``; ``-e`` is the last step of a kexec reboot), so they
take a fast path that imports only :data:`FAST_PATH` of pykexec (cli and its option
table, this module, sysinfo, fileio, uapi, errors) and no dataclasses, enums, pathlib
or typing, which cost a third of their start-up in an emulated guest; tests/test_lint.py
checks it.
Everywhere else pykexec is ordinary Python: enums, dataclasses, top-level imports.

Each action has a ``describe_*`` twin that says what it would do and touches nothing:
that is what ``--dry-run`` runs.
"""

from __future__ import annotations

import posix  # not os: see pykexec.system.fileio (start-up)
import stat
import sys

from pykexec import uapi
from pykexec.errors import NothingLoaded, SyscallError, UsageError
from pykexec.system.sysinfo import SystemView

#: The pykexec modules the quick actions may import (the start-up rule above).
FAST_PATH = frozenset(
    {"pykexec", "pykexec.errors", "pykexec.errortext", "pykexec.uapi",
     "pykexec.commands", "pykexec.commands.cli", "pykexec.commands.optable",
     "pykexec.system", "pykexec.system.control", "pykexec.system.fileio",
     "pykexec.system.sysinfo", "pykexec.system.syscalls"}
)  # fmt: skip
# SyscallChoice values (pykexec.core.options), compared as strings here.
FILE, LOAD, AUTO = "file", "load", "auto"
SHUTDOWN_PROGRAMS = ("/sbin/shutdown", "/etc/shutdown", "/bin/shutdown", "/usr/sbin/shutdown")


#: Where pykexec keeps its records (pykexec.system.record): declared here, where -u, a
#: quick action, removes the record without importing the record module.
RECORD_DIR = "run/pykexec"


def record_file(view: SystemView, crash: bool) -> str:
    """The record of the image loaded for exec or (``crash``) for a panic."""
    return view.path(f"{RECORD_DIR}/{'crash' if crash else 'exec'}.json")


def record_directory_is_link(view: SystemView) -> bool:
    try:
        return stat.S_ISLNK(posix.lstat(view.path(RECORD_DIR)).st_mode)
    except OSError:
        return False


def forget_record(view: SystemView, crash: bool) -> bool:
    """Remove the record of an image no longer loaded (live systems only; never through a
    symlinked record directory); True if none remains."""
    if not view.live or record_directory_is_link(view):
        return not view.live
    try:
        posix.unlink(record_file(view, crash))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def status(crash: bool = True, view: SystemView | None = None) -> bool:
    """Whether a crash kernel (or, with ``crash=False``, an exec kernel) is loaded."""
    view = view or SystemView()
    return view.kexec_crash_loaded() if crash else view.kexec_loaded()


def status_code(crash: bool = True, view: SystemView | None = None) -> int:
    """``-S``'s exit status, as kexec-tools 2.0.32's ``k_status()`` returns it: the number
    in the sysfs file (1: loaded, 0: not), or 255 (-1) when the file cannot be read."""
    view = view or SystemView()
    name, old = ("crash_loaded", "kexec_crash_loaded") if crash else ("loaded", "kexec_loaded")
    value = view.kexec_int(name, old)
    return 255 if value is None else value & 0xFF


def crash_reservation_size(view: SystemView | None = None) -> int:
    """The size of the crashkernel= reservation (kexec --print-ckr-size)."""
    view = view or SystemView()
    data = view.dt_prop("chosen", "linux,crashkernel-size")  # kexec-tools reads the same
    if data and len(data) <= 8:
        return int.from_bytes(data, "big")
    return view.kexec_crash_size() or 0


def _kind(crash: bool) -> str:
    return "crash kernel" if crash else "kernel loaded for -e"


_UNLOAD_CALLS = {
    FILE: ["kexec_file_load(KEXEC_FILE_UNLOAD)"],
    LOAD: ["kexec_load with no segments"],
    AUTO: ["kexec_file_load(KEXEC_FILE_UNLOAD)", "kexec_load with no segments, if that "
           "fails with ENOSYS, EINVAL, ENOEXEC or ENOTSUP"],
}  # fmt: skip


def unload_facts(crash: bool, syscall: str, view: SystemView) -> dict[str, object]:
    """What ``-u`` would do, as data (``--dry-run --json``), without doing it."""
    return {
        "action": "unload",
        "dry_run": True,
        "kind": "crash" if crash else "exec",
        "loaded": status(crash, view),
        "calls": _UNLOAD_CALLS[syscall],
    }


def describe_unload(crash: bool, syscall: str, view: SystemView) -> str:
    """What ``-u`` would do, without doing it."""
    facts = unload_facts(crash, syscall, view)
    now = "loaded now" if facts["loaded"] else "none is loaded now, so nothing would change"
    calls = ", then ".join(_UNLOAD_CALLS[syscall])
    return f"dry run: would unload the {_kind(crash)} ({now}) with {calls}"


def unload(crash: bool = False, syscall: str = AUTO) -> str:
    """Unload the kernel loaded for exec (or the crash kernel); returns the syscall
    that did it (``file`` or ``load``).

    With -s or -a the file syscall's unload is tried first (it frees an image loaded
    either way), then, with -a or -c, kexec_load with no segments, as kexec-tools does.
    """
    from pykexec.system import syscalls

    if syscall != LOAD:
        try:
            flags = uapi.KEXEC_FILE_UNLOAD | (uapi.KEXEC_FILE_ON_CRASH if crash else 0)
            syscalls.kexec_file_load(-1, -1, b"", flags)
            return FILE
        except SyscallError as err:
            if syscall == FILE or err.errno not in uapi.FILE_LOAD_FALLBACK:
                raise
    flags = uapi.KEXEC_ARCH_PPC64 | (uapi.KEXEC_ON_CRASH if crash else 0)
    syscalls.kexec_load(0, [], flags)
    return LOAD


def execute_facts(view: SystemView, sync: bool = True, ifdown: bool = True) -> dict[str, object]:
    """What ``-e`` would do, as data, without doing it; raises as :func:`execute` would."""
    if not view.kexec_loaded():
        raise NothingLoaded("nothing-loaded")
    names = [n for n in view.network_interfaces() if n != "lo"] if ifdown else []
    return {
        "action": "exec",
        "dry_run": True,
        "sync": sync,
        "ifdown": ifdown,
        "interfaces_down": names,
        "call": "reboot(LINUX_REBOOT_CMD_KEXEC)",
    }


def describe_execute(view: SystemView, sync: bool = True, ifdown: bool = True) -> str:
    """What ``-e`` would do, without doing it; raises as :func:`execute` would."""
    facts = execute_facts(view, sync, ifdown)
    steps = ["sync file systems" if sync else "not sync file systems (-y)"]
    if ifdown:
        names = facts["interfaces_down"]
        assert isinstance(names, list)
        steps.append(f"take down {', '.join(names)}" if names else "find no interface to take down")
    else:
        steps.append("leave network interfaces up (-x)")
    steps.append("jump into the loaded kernel with reboot(LINUX_REBOOT_CMD_KEXEC)")
    return "dry run: a kernel is loaded for -e; pykexec -e would " + ", ".join(steps)


def take_interfaces_down(view: SystemView) -> None:
    """Take every network interface but loopback down before jumping, as kexec-tools'
    -e does (kexec/ifdown.c), with SIOCGIFFLAGS/SIOCSIFFLAGS (linux/sockios.h)."""
    import fcntl
    import struct

    from pykexec.system import syscalls

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
            raw = name.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())[:15]
            try:
                req = struct.pack("16sH14x", raw, 0)
                flags = struct.unpack_from("16sH", fcntl.ioctl(fd, siocgifflags, req))[1]
                if flags & iff_up:
                    down = struct.pack("16sH14x", raw, flags & ~iff_up)
                    fcntl.ioctl(fd, siocsifflags, down)
            except OSError:
                continue
    finally:
        posix.close(fd)


def execute(view: SystemView | None = None, sync: bool = True, ifdown: bool = True) -> None:
    """Jump into the loaded kernel (``kexec -e``). Returns only on failure."""
    view = view or SystemView()
    if not view.live:
        raise UsageError("sysroot-jump", path=str(view.root))
    if not view.kexec_loaded():
        raise NothingLoaded("nothing-loaded")
    from pykexec.system import syscalls  # ctypes: only once there is a kernel to jump to

    if sync:
        posix.sync()
    if ifdown:
        take_interfaces_down(view)
    syscalls.reboot_kexec()


def shutdown_reboot() -> None:
    """After a load without -l: hand over to the init system (``shutdown -r now``),
    which ends with kexec, as kexec-tools does. Does not return on success."""
    for program in SHUTDOWN_PROGRAMS:
        if posix.access(program, posix.X_OK):
            posix.execv(program, [program, "-r", "now"])
    raise UsageError("no-shutdown-program")
