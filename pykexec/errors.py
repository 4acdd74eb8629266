# SPDX-License-Identifier: GPL-2.0-or-later
"""Typed errors. Library code raises them; only :mod:`pykexec.commands.cli` turns them
into exits.

An error is a ``problem`` (a short kebab-case name) and named fields (the path, the
size, the limit, the offset, the option...): ``raise ImageError("too-large",
what="kernel", path=path, limit=limit)``. Its one-line message (what was wrong, what to
do) is formatted here, from the fields, by the template its class declares for that
problem in ``messages`` (the tables of :mod:`pykexec.errortext`): raise sites pass
fields, not text, and tests assert on the type and the fields. The fields a class
carries are its annotations; tests/test_error_messages.py checks every raise site
against them and against the templates, and formats every template.
"""

from __future__ import annotations

from pykexec import errortext as _text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the start-up rule)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import ClassVar


class KexecError(Exception):
    """Base class: ``str(err)`` is one line saying what was wrong and what to do."""

    exit_code: int = 1
    #: the field whose value selects the message (the problem, for most classes)
    key: ClassVar[str] = "problem"
    #: fields __init__ computes from others (raise sites do not pass them)
    derived: ClassVar[frozenset[str]] = frozenset()
    problem: str
    #: a lower-level error this one reports (its message completes this one's)
    cause: object
    path: str
    #: problem -> message template, formatted with the error's fields (``str.format``).
    messages: ClassVar[Mapping[str, str]] = _text.KEXEC_ERROR

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem)
        self.problem = problem
        self.__dict__.update(fields)

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        for cls in type(self).__mro__:
            template = cls.__dict__.get("messages", {}).get(fields.get(self.key))
            if template is not None:
                try:
                    return str(template.format_map(fields))
                except (KeyError, ValueError, IndexError):  # the lint test rules this out
                    # never a traceback for want of a field: the fields as they are
                    return "; ".join(f"{k}={v}" for k, v in fields.items())
        return self.problem  # an untyped raise (a message, not a problem): the message

    def __reduce__(self) -> tuple[object, ...]:  # pickling keeps the fields
        return (_rebuild, (type(self), self.problem, dict(vars(self))))


def _rebuild(cls: type[KexecError], problem: str, fields: dict[str, object]) -> KexecError:
    err = cls.__new__(cls)
    Exception.__init__(err, problem)
    err.__dict__.update(fields)
    return err


class UsageError(KexecError):
    """The command line or API arguments make no sense together."""

    exit_code = 2
    what: str
    name: str
    path: str  # the --sysroot a live action was refused for
    lockdown: str  # the kernel's lockdown mode
    source: str  # how kexec_file_load support was learnt
    reason: str
    option: str
    usage: str
    endian: str
    dump_endian: str
    value: int
    size: int
    limit: int
    count: int
    expected: int
    messages: ClassVar[Mapping[str, str]] = _text.USAGE_ERROR


class OptionError(UsageError):
    """A command line or option set the program cannot act on.

    ``option`` is the option at fault as the user spelled it (``""`` when none is),
    ``problem`` what is wrong with it: one of ``unknown``, ``ambiguous``,
    ``missing-argument``, ``unexpected-argument``, ``unsupported``, ``bad-value``,
    ``conflict``, ``no-kernel``, ``extra-kernel``, ``nothing-to-do``, ``needs-dry-run``,
    ``nul-byte``.

    The first argument names the case (its message); ``problem`` is the case's kind
    (:data:`OptionError.kinds`, the case itself when it is not listed there).
    """

    key = "case"
    case: str
    option: str
    name: str  # how the message names the option (KERNEL for the kernel's path)
    reason: str
    path: str
    text: str  # the argument as given
    words: str  # the extra words
    prog: str
    value: int
    low: int
    #: case -> problem, for the cases that are not a problem of their own
    kinds: ClassVar[Mapping[str, str]] = {
        "file-load-obstacle": "conflict",
        "reuseinitrd-with-initrd": "conflict",
        "hotplug-needs-crash": "conflict",
        "mem-max-not-above-min": "conflict",
        "syscall-choice": "conflict",
        "exec-with-load": "conflict",
        "overwrite-needs-save": "conflict",
        "not-physical": "bad-value",
        "not-an-address": "bad-value",
        "bad-type": "bad-value",
        "nul-in-option-path": "nul-byte",
        "no-kernel-to-reload": "no-kernel",
        "sysroot-needs-dry-run": "needs-dry-run",
        "save-needs-dry-run": "needs-dry-run",
        "json-needs-dry-run": "needs-dry-run",
    }
    messages: ClassVar[Mapping[str, str]] = _text.OPTION_ERROR

    def __init__(self, case: str, **fields: object) -> None:
        super().__init__(self.kinds.get(case, case), case=case, **fields)


class MissingSyscall(UsageError):
    """The load needs a syscall the running kernel was built without.

    ``syscall`` is the missing one (``kexec_load`` on kernels built without
    CONFIG_KEXEC, as RHEL 10's), ``option`` the option that asked for it (``-c``,
    ``--dtb``, ``--reuseinitrd``; ``""`` when none did).
    """

    syscall: str
    option: str
    source: str  # how its absence was learnt (the kernel config, kallsyms)
    reason: str  # what needs kexec_load (a --dtb, --reuseinitrd)
    messages: ClassVar[Mapping[str, str]] = _text.MISSING_SYSCALL


class NoCrashRegion(UsageError):
    """A crash load on a kernel booted without crashkernel= (no region to load into).

    Exit status 1, as kexec-tools 2.0.32's "Memory for crashkernel is not reserved"."""

    exit_code = 1
    messages: ClassVar[Mapping[str, str]] = _text.NO_CRASH_REGION


class ImageError(KexecError):
    """A kernel, initrd or device-tree file cannot be used.

    ``what`` is the file's role (kernel, initrd...), ``path`` the file as given, ``name``
    how the image is named in a message (its path), ``compression`` gzip, xz or zstd.
    """

    what: str
    path: str
    name: str
    compression: str
    reason: str  # the OS's strerror
    limit: int
    size: int
    offset: int
    index: int  # a program header's
    value: int
    low: int  # bounds: what a stream's blocks can hold, or the bytes it came from
    high: int
    filetype: str  # what the file is instead (pykexec.system.fileio)
    messages: ClassVar[Mapping[str, str]] = _text.IMAGE_ERROR


class DeviceTreeError(KexecError):
    """A flattened device tree or /proc/device-tree cannot be parsed or built.

    ``offset`` is where in the blob, ``address``/``size`` a range's, ``limit`` the
    bound that was crossed, ``value`` the number at fault.
    """

    path: str  # a node path, or a file under /proc/device-tree
    node: str
    prop: str  # a property name
    name: str  # a node, block or string at fault
    matches: str  # the candidates of an ambiguous path, comma-separated
    text: str
    offset: int
    address: int
    size: int
    limit: int
    value: int
    expected: int
    cells: int
    address_cells: int
    size_cells: int
    version: int
    last_compatible: int
    oldest: int
    newest: int
    what: str
    reason: str
    filetype: str  # what the file is instead (pykexec.system.fileio)
    messages: ClassVar[Mapping[str, str]] = _text.DEVICE_TREE_ERROR


class SystemInfoError(KexecError):
    """The running system (or snapshot) lacks information pykexec needs.

    ``path`` is the file read (or the list's source), ``text`` the words at fault,
    ``what`` the device-tree property at fault.
    """

    what: str
    path: str
    text: str
    reason: str
    limit: int
    offset: int
    address: int
    size: int
    count: int
    notes: int
    held: int
    filetype: str  # what the file is instead (pykexec.system.fileio)
    messages: ClassVar[Mapping[str, str]] = _text.SYSTEM_INFO_ERROR


class PlacementError(KexecError):
    """Segments cannot be placed in the available memory.

    ``segment`` is the segment's kind, ``start``/``end`` its memory, ``where`` the memory
    searched (its name), ``free`` the free ranges there.  (No field is named ``kind``:
    that key of the --json error document is the class's name.)
    """

    segment: str
    other: str
    where: str
    free: str
    size: int
    align: int
    count: int
    limit: int
    start: int
    end: int
    other_start: int
    other_end: int
    messages: ClassVar[Mapping[str, str]] = _text.PLACEMENT_ERROR


class CrashRegionTooSmall(PlacementError):
    """The crash kernel would not fit its crashkernel= region; ``needed`` in bytes."""

    needed: int
    region: int  # the crash region's size
    recommended: int  # the crashkernel= size that would do, in bytes
    summary: str  # the estimate, term by term (HeadroomResult.summary)
    messages: ClassVar[Mapping[str, str]] = _text.CRASH_REGION_TOO_SMALL


class SyscallError(KexecError):
    """A system call failed; carries the errno and the call with its arguments.

    ``advice`` is what the errno means for that call and what to do
    (:data:`pykexec.system.syscalls.ERRNO_ADVICE`); after a failed crash load, ``cause``
    is the failure and ``again`` the reload's, ``kernel``/``loaded_at`` the reloaded
    kernel's record.
    """

    errno: int
    call: str
    advice: str
    machine: str
    kernel: str
    loaded_at: str
    again: object
    messages: ClassVar[Mapping[str, str]] = _text.SYSCALL_ERROR


class NothingLoaded(KexecError):
    """``-e`` with no kernel loaded for it (kexec-tools: "Nothing has been loaded!", 1)."""

    messages: ClassVar[Mapping[str, str]] = _text.NOTHING_LOADED


class SaveError(KexecError):
    """``--save DIR`` cannot be written as asked.

    ``directory`` is DIR; ``problem`` one of ``not-empty``, ``symlink``,
    ``not-a-directory``, ``exists``, ``nul-byte`` (the command line's fault: exit 2) or
    ``io`` (exit 1).
    """

    directory: str
    name: str  # the file at fault inside it
    target: str  # the path an I/O call failed on
    action: str  # that call: create, open, write
    reason: str  # the OS's strerror
    count: int
    messages: ClassVar[Mapping[str, str]] = _text.SAVE_ERROR

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem, **fields)
        self.exit_code = 1 if problem == "io" else 2


class VmcoreError(KexecError):
    """A kernel core dump (``/proc/vmcore``, a saved ELF dump) cannot be read for its log.

    ``exit_code`` is the status kexec-tools' vmcore-dmesg exits with for the same fault
    (1 where it has none), ``what`` names the part at fault (``elf``, ``notes``,
    ``address``, ``prb``, ``log_buf``...).
    """

    what: str
    name: str  # the symbol, structure member or value at fault
    path: str
    reason: str  # the OS's strerror
    index: int
    offset: int
    address: int
    size: int
    limit: int
    value: int
    count: int
    expected: int
    messages: ClassVar[Mapping[str, str]] = _text.VMCORE_ERROR

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem, **fields)
        code = fields.get("exit_code", 1)
        self.exit_code = code if isinstance(code, int) else 1


class RecordError(KexecError):
    """A load record (/run/pykexec) that cannot be trusted, written or locked.

    ``path`` is the record (or lock) file; ``problem`` one of ``unreadable``,
    ``too-large``, ``corrupt``, ``too-deep``, ``foreign``, ``older``, ``newer``,
    ``invalid``, ``other-boot``, ``symlink``, ``write-failed``, ``busy``.
    """

    path: str
    directory: str  # the record directory (a symlink)
    reason: str
    pid: str  # the lock holder's, as its lock file says ("?" if it does not)
    removed: bool  # whether the previous record could be removed (write-failed)
    size: int
    limit: int
    version: int
    expected: int
    messages: ClassVar[Mapping[str, str]] = _text.RECORD_ERROR

    previous: str  # derived from ``removed``: what became of the record it replaces
    derived: ClassVar[frozenset[str]] = frozenset({"previous"})

    def __init__(self, problem: str, **fields: object) -> None:
        if "removed" in fields:
            fields["previous"] = _text.RECORD_PREVIOUS[bool(fields["removed"])]
        super().__init__(problem, **fields)


class AssemblyError(KexecError):
    """An operand does not fit its field, a label is unknown, or a slot is misused
    (the purgatory's assembler, :mod:`pykexec.core.purgatory.asm`)."""

    mnemonic: str
    operand: str  # the operand as written (its repr)
    field: str  # the instruction field (SI, BD, RA...)
    takes: str  # what the field takes, or signed/unsigned
    name: str  # a label, slot or register
    slots: str  # the slots there are, comma-separated
    what: str
    value: int
    width: int
    multiple: int
    expected: int
    count: int
    offset: int
    size: int
    messages: ClassVar[Mapping[str, str]] = _text.ASSEMBLY_ERROR


class VerifyError(KexecError):
    """The loaded image cannot be checked (no record, no kcore, a range not mapped)."""

    what: str  # the kind of image: crash kernel, kernel for -e
    address: int
    size: int
    offset: int
    messages: ClassVar[Mapping[str, str]] = _text.VERIFY_ERROR


class KernelRuleError(KexecError):
    """A planned segment list the kernel would refuse (:func:`pykexec.core.policy.
    check_kernel_rules`); ``errno`` is what it would return, ``rule`` (the problem) the
    kernel's rule, ``what``/``start``/``end`` the segment at fault, ``other*`` the
    segment, region or table it collides with."""

    errno: int
    rule: str  # the problem: the name tests and reports use
    what: str
    other: str
    start: int
    end: int
    other_start: int
    other_end: int
    size: int
    count: int
    limit: int
    derived: ClassVar[frozenset[str]] = frozenset({"rule"})
    messages: ClassVar[Mapping[str, str]] = _text.KERNEL_RULE_ERROR

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem, rule=problem, **fields)


class BuildError(KexecError):
    """The tree cannot be packaged (:mod:`pykexec.build`: a missing file, a
    pyproject.toml or .gitignore outside the subset it reads)."""

    path: str
    text: str  # the value or line outside the subset
    messages: ClassVar[Mapping[str, str]] = _text.BUILD_ERROR
