# SPDX-License-Identifier: GPL-2.0-or-later
"""Typed errors. Library code raises them; only :mod:`pykexec.commands.cli` turns them
into exits."""

from __future__ import annotations


class KexecError(Exception):
    """Base class: ``str(err)`` is one line saying what was wrong and what to do."""

    exit_code: int = 1


class UsageError(KexecError):
    """The command line or API arguments make no sense together."""

    exit_code = 2


class OptionError(UsageError):
    """A command line or option set the program cannot act on.

    ``option`` is the option at fault as the user spelled it (``""`` when none is),
    ``problem`` what is wrong with it: one of ``unknown``, ``ambiguous``,
    ``missing-argument``, ``unexpected-argument``, ``unsupported``, ``bad-value``,
    ``conflict``, ``no-kernel``, ``extra-kernel``, ``nothing-to-do``, ``needs-dry-run``,
    ``nul-byte``.
    """

    def __init__(self, message: str, option: str, problem: str) -> None:
        super().__init__(message)
        self.option = option
        self.problem = problem


class MissingSyscall(UsageError):
    """The load needs a syscall the running kernel was built without.

    ``syscall`` is the missing one (``kexec_load`` on kernels built without
    CONFIG_KEXEC, as RHEL 10's), ``option`` the option that asked for it (``-c``,
    ``--dtb``, ``--reuseinitrd``; ``""`` when none did).
    """

    def __init__(self, message: str, syscall: str, option: str) -> None:
        super().__init__(message)
        self.syscall = syscall
        self.option = option


class NoCrashRegion(UsageError):
    """A crash load on a kernel booted without crashkernel= (no region to load into).

    Exit status 1, as kexec-tools 2.0.32's "Memory for crashkernel is not reserved"."""

    exit_code = 1


class ImageError(KexecError):
    """A kernel, initrd or device-tree file cannot be used."""


class DeviceTreeError(KexecError):
    """A flattened device tree or /proc/device-tree cannot be parsed or built."""


class SystemInfoError(KexecError):
    """The running system (or snapshot) lacks information pykexec needs."""


class PlacementError(KexecError):
    """Segments cannot be placed in the available memory."""


class CrashRegionTooSmall(PlacementError):
    """The crash kernel would not fit its crashkernel= region; ``needed`` in bytes."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


class SyscallError(KexecError):
    """A system call failed; carries the errno and the call with its arguments."""

    def __init__(self, message: str, errno: int, call: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.call = call


class NothingLoaded(KexecError):
    """``-e`` with no kernel loaded for it (kexec-tools: "Nothing has been loaded!", 1)."""


class SaveError(KexecError):
    """``--save DIR`` cannot be written as asked.

    ``directory`` is DIR; ``problem`` one of ``not-empty``, ``symlink``,
    ``not-a-directory``, ``exists``, ``nul-byte`` (the command line's fault: exit 2) or
    ``io`` (exit 1).
    """

    def __init__(self, message: str, directory: str, problem: str) -> None:
        super().__init__(message)
        self.directory = directory
        self.problem = problem
        self.exit_code = 1 if problem == "io" else 2


class VmcoreError(KexecError):
    """A kernel core dump (``/proc/vmcore``, a saved ELF dump) cannot be read for its log.

    ``exit_code`` is the status kexec-tools' vmcore-dmesg exits with for the same fault
    (1 where it has none), ``what`` names the part at fault (``elf``, ``notes``,
    ``address``, ``prb``, ``log_buf``...).
    """

    def __init__(self, message: str, what: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.what = what
        self.exit_code = exit_code


class RecordError(KexecError):
    """A load record (/run/pykexec) that cannot be trusted, written or locked.

    ``path`` is the record (or lock) file; ``problem`` one of ``unreadable``,
    ``too-large``, ``corrupt``, ``too-deep``, ``foreign``, ``older``, ``newer``,
    ``invalid``, ``other-boot``, ``symlink``, ``write-failed``, ``busy``.
    """

    def __init__(self, message: str, path: str, problem: str) -> None:
        super().__init__(message)
        self.path = path
        self.problem = problem
