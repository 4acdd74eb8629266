# SPDX-License-Identifier: GPL-2.0-or-later
"""The load record's schema, declared once as data, and the check that applies it.

A record is JSON written by :mod:`pykexec.system.record`; what reads it back (``-S -d``,
``--verify``, the restore after a rejected ``-p`` reload) trusts only what passed
:func:`check`: every field of the declared type and within its bounds, no field
that is not declared, nesting no deeper than the schema's own, and the segment and
purgatory figures consistent with one another (no sum past 64 bits).  Pure.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Union

from pykexec.core.options import LoadOptions, SyscallChoice

# 1: pykexec before the schema (no "program", unchecked fields); 2: a CRC-32 of every
# crash segment; 3: of the small ones, and the purgatory's running digest at each.
RECORD_FORMAT = 3
PROGRAM = "pykexec"
U64_MAX = (1 << 64) - 1
PATH_MAX = 4096  # include/uapi/linux/limits.h
TEXT_MAX = 1 << 16  # a command line, a note: far above COMMAND_LINE_SIZE (2048 on ppc64)
KEXEC_SEGMENT_MAX = 16  # include/linux/kexec.h
SLOT_MAX = 1 << 20  # an offset or size inside the purgatory (a few KiB)


class Int:
    """An integer (never a bool) in [lo, hi]."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi


class Num:
    """A number (int or float, never a bool) in [lo, hi]."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi


class Str:
    """A string of at most ``size`` characters, one of ``choices`` when given."""

    def __init__(self, size: int, choices: tuple[str, ...] = ()) -> None:
        self.size, self.choices = size, choices


class Hex:
    """A lower-case hexadecimal string of exactly ``size`` digits."""

    def __init__(self, size: int) -> None:
        self.size = size


class Bool:
    """true or false."""


class Opt:
    """``inner`` or null."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner


class Arr:
    """A list of ``lo`` to ``hi`` items, each ``item``."""

    def __init__(self, item: Spec, hi: int, lo: int = 0) -> None:
        self.item, self.lo, self.hi = item, lo, hi


class Obj:
    """An object with exactly the declared keys (those in ``optional`` may be missing)."""

    def __init__(self, spec: dict[str, Spec], optional: tuple[str, ...] = ()) -> None:
        self.spec, self.optional = spec, frozenset(optional)


Spec = Union[Int, Num, Str, Hex, Bool, Opt, Arr, Obj]

U64 = Int(0, U64_MAX)
PATH = Str(PATH_MAX)
TEXT = Str(TEXT_MAX)

# The type of each LoadOptions field as the record holds it (loadrecord.options_dict):
# paths and choices as strings.  A new option type must be added here.
_OPTION_TYPES: dict[str, Spec] = {
    "Path": PATH,
    "str": TEXT,
    "bool": Bool(),
    "int": U64,
    "SyscallChoice": Str(16, tuple(c.value for c in SyscallChoice)),
}


def _option_spec(annotation: str) -> Spec:
    name, _, none = annotation.partition(" | ")
    inner = _OPTION_TYPES[name]
    return Opt(inner) if none == "None" else inner


OPTIONS = Obj({f.name: _option_spec(str(f.type)) for f in fields(LoadOptions)})

FILE_IDENTITY = Obj(
    {
        "path": PATH,
        "size": U64,
        "mtime_ns": Int(-(1 << 63), (1 << 63) - 1),
        "inode": U64,
        "device": U64,
        "error": Str(256),
    },
    optional=("size", "mtime_ns", "inode", "device", "error"),
)

SEGMENT = Obj(
    {
        "kind": Str(32),
        "mem_start": U64,
        "mem_size": U64,
        "bufsz": U64,
        "crc32": Int(0, (1 << 32) - 1),
        "sha256_through": Hex(64),  # the purgatory's regions hashed up to this segment
    },
    optional=("crc32", "sha256_through"),
)

PURGATORY = Obj(
    {
        "mem_start": U64,
        "endian": Str(8, ("little", "big")),
        "regions_offset": Int(0, SLOT_MAX),
        "regions_size": Int(0, SLOT_MAX),
        "digest_offset": Int(0, SLOT_MAX),
        "regions": Arr(Arr(U64, 2, 2), KEXEC_SEGMENT_MAX),
        "digest": Hex(64),
    }
)

RECORD = Obj(
    {
        "format": Int(RECORD_FORMAT, RECORD_FORMAT),
        "program": Str(16, (PROGRAM,)),
        "kind": Str(8, ("crash", "exec")),
        "loaded_at": Num(0, 1e11),
        "loaded_at_utc": Str(32),
        "boot_id": Str(64),
        "machine": Obj(
            {
                "system_ram": U64,
                "cpus_present": Str(PATH_MAX),
                "cpus_possible": Str(PATH_MAX),
                "memory_blocks": Int(0, 1 << 32),
            }
        ),
        "options": OPTIONS,
        "files": Obj({n: FILE_IDENTITY for n in ("kernel", "initrd", "dtb")}, ("initrd", "dtb")),
        "hotplug": Bool(),
        "notes": Arr(TEXT, 256),
        "headroom": Obj({"region": U64, "needed": U64, "summary": TEXT}),
        "syscall": Str(16, ("kexec_load", "kexec_file_load")),
        "command_line": TEXT,
        "plan_digest": Hex(64),
        "entry": U64,
        "flags": U64,
        "segments": Arr(SEGMENT, KEXEC_SEGMENT_MAX, 1),
        "purgatory": Opt(PURGATORY),
        "kernel_rewrites": Arr(Str(32), KEXEC_SEGMENT_MAX),
    },
    optional=("headroom", "entry", "flags", "segments", "purgatory", "kernel_rewrites"),
)


def depth(spec: Spec) -> int:
    """How deep a value of ``spec`` nests (a scalar: 0)."""
    if isinstance(spec, Opt):
        return depth(spec.inner)
    if isinstance(spec, Arr):
        return 1 + depth(spec.item)
    if isinstance(spec, Obj):
        return 1 + max((depth(s) for s in spec.spec.values()), default=0)
    return 0


MAX_DEPTH = depth(RECORD)


def check_value(value: Any, spec: Spec, where: str) -> str | None:
    """What is wrong with ``value`` against ``spec`` (``None``: nothing)."""
    if isinstance(spec, Opt):
        return None if value is None else check_value(value, spec.inner, where)
    if isinstance(spec, (Int, Num)):
        kinds = (int,) if isinstance(spec, Int) else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"{where} is not a number"
        return None if spec.lo <= value <= spec.hi else f"{where} is out of range"
    if isinstance(spec, Bool):
        return None if isinstance(value, bool) else f"{where} is not true or false"
    if isinstance(spec, (Str, Hex)):
        return _check_text(value, spec, where)
    if isinstance(spec, Arr):
        if not isinstance(value, list) or not spec.lo <= len(value) <= spec.hi:
            return f"{where} is not a list of {spec.lo} to {spec.hi} items"
        for i, item in enumerate(value):
            problem = check_value(item, spec.item, f"{where}[{i}]")
            if problem:
                return problem
        return None
    return _check_object(value, spec, where)


def _check_text(value: Any, spec: Str | Hex, where: str) -> str | None:
    if not isinstance(value, str):
        return f"{where} is not a string"
    if isinstance(spec, Hex):
        if len(value) != spec.size or value.strip("0123456789abcdef"):
            return f"{where} is not {spec.size} hexadecimal digits"
        return None
    if len(value) > spec.size:
        return f"{where} is longer than {spec.size} characters"
    if spec.choices and value not in spec.choices:
        return f"{where} is not one of {', '.join(spec.choices)}"
    return None


def _check_object(value: Any, spec: Obj, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} is not an object"
    unknown = sorted(set(value) - set(spec.spec))
    if unknown:
        return f"{where} has an undeclared field {unknown[0][:40]!r}"
    missing = sorted(set(spec.spec) - spec.optional - set(value))
    if missing:
        return f"{where} lacks the field {missing[0]!r}"
    for key, item in value.items():
        problem = check_value(item, spec.spec[key], f"{where}.{key}")
        if problem:
            return problem
    return None


def _check_segments(rec: dict[str, Any]) -> str | None:
    """No segment past 64 bits or with more bytes than memory; the purgatory's slots
    inside its segment and its regions past no 64-bit end."""
    segments = rec.get("segments") or []
    for i, seg in enumerate(segments):
        if seg["mem_start"] + seg["mem_size"] > U64_MAX or seg["bufsz"] > seg["mem_size"]:
            return f"segments[{i}] ends past 64 bits or holds more than its memory"
    purg = rec.get("purgatory")
    if purg is None:
        return None
    home = [s for s in segments if s["kind"] == "purgatory" and s["mem_start"] == purg["mem_start"]]
    if not home:
        return "purgatory names no purgatory segment"
    size = home[0]["bufsz"]
    if max(purg["regions_offset"] + purg["regions_size"], purg["digest_offset"] + 32) > size:
        return "purgatory slots lie outside its segment"
    spans = [(s["mem_start"], s["mem_start"] + s["bufsz"]) for s in segments]
    for start, n in purg["regions"]:
        if not any(lo <= start and start + n <= hi for lo, hi in spans):
            return "purgatory.regions lie outside the recorded segments"
    return None


def check(rec: Any) -> str | None:
    """What is wrong with a parsed record (``None``: it is a valid format-2 record)."""
    return check_value(rec, RECORD, "record") or _check_segments(rec)
