# SPDX-License-Identifier: GPL-2.0-or-later
"""Typed errors. Library code raises them; only :mod:`pykexec.commands.cli` turns them
into exits.

An error is a ``problem`` (a short kebab-case name) and named fields (the path, the
size, the limit, the offset, the option...): ``raise ImageError("too-large",
what="kernel", path=path, limit=limit)``. Its one-line message (what was wrong, what to
do) is formatted here, from the fields, by the template its class declares for that
problem in ``messages``: raise sites pass fields, not text, and tests assert on the type
and the fields. The fields a class carries are its annotations; the lint test checks
every raise site against them and against the templates, and
tests/test_error_messages.py formats every template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import ClassVar


class KexecError(Exception):
    """Base class: ``str(err)`` is one line saying what was wrong and what to do."""

    exit_code: int = 1
    #: problem -> message template, formatted with the error's fields (``str.format``).
    messages: ClassVar[Mapping[str, str]] = {}
    problem: str
    #: a lower-level error this one reports (its message completes this one's)
    cause: object

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem)
        self.problem = problem
        self.__dict__.update(fields)

    def __str__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        for cls in type(self).__mro__:
            template = cls.__dict__.get("messages", {}).get(self.problem)
            if template is not None:
                return str(template.format_map(fields))
        return self.problem  # an untyped raise: the problem is the message

    def __reduce__(self) -> tuple[object, ...]:  # pickling keeps the fields
        return (_rebuild, (type(self), self.problem, dict(vars(self))))


def _rebuild(cls: type[KexecError], problem: str, fields: dict[str, object]) -> KexecError:
    err = cls.__new__(cls)
    Exception.__init__(err, problem)
    err.__dict__.update(fields)
    return err


#: The messages of :func:`pykexec.system.fileio.read_regular`, shared by the classes
#: it raises (``what`` names the file's role, ``reason`` is the OS's strerror).
FILE_MESSAGES = {
    "not-regular": "{what} {path} is not a regular file",
    "cannot-open": "cannot open {what} {path}: {reason}",
    "cannot-read": "cannot read {what} {path}: {reason}",
    "too-large": "{what} {path} is larger than {limit:#x} bytes",
}


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

    option: str

    def __init__(self, message: str, option: str, problem: str) -> None:
        super().__init__(problem, option=option, _message=message)

    def __str__(self) -> str:
        return str(self.__dict__.get("_message") or super().__str__())


class NoCrashRegion(UsageError):
    """A crash load on a kernel booted without crashkernel= (no region to load into).

    Exit status 1, as kexec-tools 2.0.32's "Memory for crashkernel is not reserved"."""

    exit_code = 1


class ImageError(KexecError):
    """A kernel, initrd or device-tree file cannot be used."""

    what: str  # the file's role: kernel, initrd, device tree blob...
    path: str
    limit: int
    reason: str  # the OS's strerror
    messages: ClassVar[Mapping[str, str]] = {**FILE_MESSAGES}


_STRUCT = "bad device tree structure block: "


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
    messages: ClassVar[Mapping[str, str]] = {
        **FILE_MESSAGES,
        "ambiguous": "{path!r} is ambiguous: {name!r} matches {matches}",
        "duplicate-child": "node {node!r} already has a child {name!r}",
        "no-property": "node {node!r} has no property {prop!r}",
        "bad-property": "property {prop!r} of node {node!r}: {cause}",
        "no-node": "device tree has no node {path!r}",
        "header-truncated": "device tree blob truncated: {size} bytes, the header alone "
        "needs {limit}",
        "bad-magic": "not a flattened device tree: magic {value:#010x}, expected {expected:#010x}",
        "bad-version": "unsupported device tree version {version} (last compatible "
        "{last_compatible}); readable: {oldest} to {newest}",
        "blob-truncated": "device tree blob truncated: header says {limit} bytes, got {size}",
        "block-outside": "{name} at {offset:#x} (+{size:#x}) lies outside the blob of "
        "{limit:#x} bytes",
        "misaligned-structure": "structure block at {offset:#x} is not 4-byte aligned",
        "reservation-wraps": "reservation {address:#x}+{size:#x} at {offset:#x} wraps past 2^64",
        "reservations-unterminated": "memory reservation block at {offset:#x} is not "
        "terminated before the end of the blob",
        "second-root": _STRUCT + "a second root node at offset {offset:#x}",
        "property-outside-node": _STRUCT + "a property outside any node at offset {offset:#x}",
        "unopened-end-node": _STRUCT + "FDT_END_NODE without FDT_BEGIN_NODE at offset {offset:#x}",
        "misplaced-end": _STRUCT + "FDT_END inside a node or before the root at offset {offset:#x}",
        "unknown-token": _STRUCT + "unknown token {value:#x} at offset {offset:#x}",
        "no-end-token": _STRUCT + "truncated (no FDT_END token) at offset {offset:#x}",
        "unterminated-node-name": _STRUCT + "unterminated node name at offset {offset:#x}",
        "truncated-property-header": _STRUCT + "truncated property header at offset {offset:#x}",
        "value-past-end": _STRUCT + "property value of {size} bytes runs past the end at "
        "offset {offset:#x}",
        "name-offset-outside": _STRUCT + "property name offset {value:#x} outside the strings "
        "block at offset {offset:#x}",
        "name-too-long": _STRUCT + "property name at {value:#x} longer than {limit} at offset "
        "{offset:#x}",
        "negative-padding": "negative device tree padding {value}",
        "boot-cpuid-too-large": "boot_cpuid_phys {value:#x} does not fit in u32",
        "blob-too-large": "device tree of {size} bytes is too large for its header",
        "empty-reservation": "empty memory reservation at {address:#x} would end the list",
        "reservation-too-large": "memory reservation {address:#x}+{size:#x} does not fit in "
        "64 bits",
        "bad-root-name": "the root node must be named '', not {name!r}",
        "bad-node-name": "bad node name {name!r} under {path!r}",
        "bad-property-name": "bad property name {prop!r} in node {path!r}",
        "bad-split-cells": "cannot split a property into values of {cells} cells",
        "ragged-cells": "property of {size} bytes is not a whole number of {cells}-cell values",
        "bad-encode-cells": "cannot encode values in {cells} cells",
        "value-too-wide": "value {value:#x} does not fit in {cells} cell(s)",
        "bad-u32": "expected a 4-byte <u32>, got {size} bytes",
        "bad-u64": "expected an 8-byte <u64>, got {size} bytes",
        "bad-number": "expected a 4- or 8-byte number, got {size} bytes",
        "nul-in-string": "string {text!r} contains a NUL byte",
        "unterminated-string": "string property {text!r} is not NUL-terminated",
        "bad-ncells": "node {node!r} has #address-cells {address_cells} and #size-cells "
        "{size_cells}; valid are 1 to {limit} and 0 to {limit}: the tree is damaged",
        "bad-entries": "{name} ({size} bytes) is not a list of {address_cells}+{size_cells}-cell "
        "entries",
        "no-directory": "no device tree directory at {path}",
        "bad-path": "bad device tree path {path!r} / property {prop!r}",
        "cannot-stat": "cannot stat device tree property {path}: {cause}",
        "cannot-list": "cannot list device tree node {path}: {cause}",
        "vanished": "device tree property {path} vanished while being read",
    }


class SystemInfoError(KexecError):
    """The running system (or snapshot) lacks information pykexec needs."""

    what: str
    path: str
    limit: int
    reason: str
    messages: ClassVar[Mapping[str, str]] = {**FILE_MESSAGES}


class PlacementError(KexecError):
    """Segments cannot be placed in the available memory."""


class CrashRegionTooSmall(PlacementError):
    """The crash kernel would not fit its crashkernel= region; ``needed`` in bytes."""

    needed: int

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message, needed=needed)


class SyscallError(KexecError):
    """A system call failed; carries the errno and the call with its arguments."""

    errno: int
    call: str

    def __init__(self, message: str, errno: int, call: str = "") -> None:
        super().__init__(message, errno=errno, call=call)


class NothingLoaded(KexecError):
    """``-e`` with no kernel loaded for it (kexec-tools: "Nothing has been loaded!", 1)."""


class SaveError(KexecError):
    """``--save DIR`` cannot be written as asked.

    ``directory`` is DIR; ``problem`` one of ``not-empty``, ``symlink``,
    ``not-a-directory``, ``exists``, ``nul-byte`` (the command line's fault: exit 2) or
    ``io`` (exit 1).
    """

    directory: str

    def __init__(self, message: str, directory: str, problem: str) -> None:
        super().__init__(problem, directory=directory, _message=message)
        self.exit_code = 1 if problem == "io" else 2

    def __str__(self) -> str:
        return str(self.__dict__.get("_message") or super().__str__())


class VmcoreError(KexecError):
    """A kernel core dump (``/proc/vmcore``, a saved ELF dump) cannot be read for its log.

    ``exit_code`` is the status kexec-tools' vmcore-dmesg exits with for the same fault
    (1 where it has none), ``what`` names the part at fault (``elf``, ``notes``,
    ``address``, ``prb``, ``log_buf``...).
    """

    what: str

    def __init__(self, message: str, what: str, exit_code: int = 1) -> None:
        super().__init__(message, what=what)
        self.exit_code = exit_code


class RecordError(KexecError):
    """A load record (/run/pykexec) that cannot be trusted, written or locked.

    ``path`` is the record (or lock) file; ``problem`` one of ``unreadable``,
    ``too-large``, ``corrupt``, ``too-deep``, ``foreign``, ``older``, ``newer``,
    ``invalid``, ``other-boot``, ``symlink``, ``write-failed``, ``busy``.
    """

    path: str

    def __init__(self, message: str, path: str, problem: str) -> None:
        super().__init__(problem, path=path, _message=message)

    def __str__(self) -> str:
        return str(self.__dict__.get("_message") or super().__str__())


class AssemblyError(KexecError):
    """An operand does not fit its field, a label is unknown, or a slot is misused
    (the purgatory's assembler, :mod:`pykexec.core.purgatory.asm`)."""

    mnemonic: str
    operand: str  # the operand as written (its repr)
    field: str  # the instruction field (SI, BD, RA...)
    kind: str  # what the field takes, or signed/unsigned
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
    messages: ClassVar[Mapping[str, str]] = {
        "unknown-mnemonic": "unknown mnemonic {mnemonic!r}",
        "no-register": "no {what} {name}",
        "operand-count": "{mnemonic} takes {expected} operands, got {count}",
        "operand-kind": "{mnemonic}: {operand} cannot be operand {field} (it takes a {kind})",
        "misfit": "{mnemonic}: value {value} does not fit field {field} ({width}-bit {kind})",
        "misfit-aligned": "{mnemonic}: value {value} does not fit field {field} ({width}-bit "
        "{kind}, multiple of {multiple})",
        "bad-endian": "byte order {name!r}: 'little' or 'big'",
        "duplicate-label": "label {name!r} defined twice",
        "duplicate-slot": "slot {name!r} defined twice",
        "undefined-label": "{mnemonic} at {offset:#x}: undefined label {name!r}",
        "at-offset": "at offset {offset:#x}: {cause}",
        "no-slot": "no data slot named {name!r} (slots: {slots})",
        "slot-size": "slot {name!r} holds {size} bytes, got {count}",
        "slot-overflow": "slot {name!r} ({size} bytes) cannot hold {value:#x}",
        "no-word": "no 4-byte word at offset {offset:#x} of {size} bytes",
    }
