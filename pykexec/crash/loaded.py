# SPDX-License-Identifier: GPL-2.0-or-later
"""Does pykexec's record describe the image the kernel holds?  Pure.

Another loader (kdumpctl, kexec-tools) or a reload since leaves pykexec's record in
/run/pykexec describing a kernel that is no longer the loaded one.  Two checks tell:

* the kernel's own ``struct kimage`` behind ``kexec_crash_image`` (or ``kexec_image``
  for -l), found through /proc/kallsyms and read through /proc/kcore: its entry and
  segment table (address, memory size, buffer size) against the record's;
* for a crash image, the purgatory segment's bytes where the record says it was
  loaded (kernel/kexec_core.c kimage_load_crash_segment copies each segment into
  the crash region at load time; nothing rewrites the purgatory after that).

A differing kimage or purgatory proves another image (:attr:`Verdict.OTHER`).  The
same kimage and the same purgatory prove the record's (:attr:`Verdict.SAME`): the
segment table says the loaded image's purgatory lies where the record's does, so
its bytes there are the loaded image's.  Anything less is :attr:`Verdict.UNKNOWN`,
with the reason, never "matches".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

# include/linux/kexec.h struct kimage (Linux 4.13 to 6.12 at least): head, entry,
# last_entry, start, control_code_page, swap_page, vmcoreinfo_data_copy, nr_segments,
# then segment[KEXEC_SEGMENT_MAX] of struct kexec_segment {buf, bufsz, mem, memsz}.
KIMAGE_WORDS = ("head", "entry", "last_entry", "start")
KIMAGE_NR_SEGMENTS = 56
KIMAGE_SEGMENTS = 64
SEGMENT_WORDS = ("buf", "bufsz", "mem", "memsz")
SEGMENT_SIZE = 8 * len(SEGMENT_WORDS)
KEXEC_SEGMENT_MAX = 16
KIMAGE_READ = KIMAGE_SEGMENTS + KEXEC_SEGMENT_MAX * SEGMENT_SIZE
IND_DONE = 0x4  # include/linux/kexec.h: kimage_terminate() ends the entry list with it
# kernel/kexec_core.c: the loaded images
IMAGE_SYMBOL = {True: "kexec_crash_image", False: "kexec_image"}


class Verdict(str, Enum):
    SAME = "describes what is loaded"
    OTHER = "does NOT describe what is loaded"
    UNKNOWN = "cannot tell whether it describes what is loaded"


@dataclass(frozen=True)
class Identity:
    verdict: Verdict
    reason: str

    def line(self) -> str:
        return f"pykexec's record {self.verdict.value}: {self.reason}"


# (mem, memsz, bufsz) of each segment
Table = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class Kimage:
    """What the kernel holds: its entry and segment table."""

    start: int
    segments: Table


def symbol_address(kallsyms: bytes, name: str) -> int | None:
    """The address /proc/kallsyms gives ``name`` (``None``: absent, or hidden as 0 by
    kptr_restrict)."""
    needle = f" {name}\n".encode()
    at = kallsyms.find(needle)
    while at >= 0:
        line = kallsyms[kallsyms.rfind(b"\n", 0, at) + 1 : at]
        words = line.split()
        if len(words) == 2 and len(words[1]) == 1:  # "ADDRESS TYPE NAME"
            try:
                address = int(words[0], 16)
            except ValueError:
                return None
            return address or None
        at = kallsyms.find(needle, at + 1)
    return None


def parse_kimage(raw: bytes, address: int, endian: str, crash: bool) -> Kimage | str:
    """The kimage at kernel address ``address`` from its first :data:`KIMAGE_READ` bytes,
    or why these bytes are not one laid out as declared above."""
    if len(raw) < KIMAGE_READ:
        return "the kimage could not be read whole"

    def word(at: int) -> int:
        return int.from_bytes(raw[at : at + 8], endian)  # type: ignore[arg-type]

    head, entry, last_entry, start = (word(8 * i) for i in range(4))
    # A crash image's entry list is empty: kimage_terminate() leaves entry and
    # last_entry at &image->head and puts IND_DONE there.
    if crash and (head != IND_DONE or entry != address or last_entry != address):
        return "the kernel's struct kimage is not laid out as pykexec knows it"
    count = word(KIMAGE_NR_SEGMENTS)
    if not 1 <= count <= KEXEC_SEGMENT_MAX:
        return "the kernel's struct kimage is not laid out as pykexec knows it"
    table = []
    for i in range(count):
        at = KIMAGE_SEGMENTS + i * SEGMENT_SIZE
        _, bufsz, mem, memsz = (word(at + 8 * j) for j in range(4))
        if bufsz > memsz:
            return "the kernel's struct kimage is not laid out as pykexec knows it"
        table.append((mem, memsz, bufsz))
    return Kimage(start, tuple(table))


def recorded(rec: dict[str, Any]) -> Kimage | None:
    """The kimage a kexec_load record implies (``None`` for kexec_file_load: the kernel
    chose its segments)."""
    if rec.get("segments") is None or rec.get("entry") is None:
        return None
    table = tuple((s["mem_start"], s["mem_size"], s["bufsz"]) for s in rec["segments"])
    return Kimage(rec["entry"], table)


def _describe(image: Kimage) -> str:
    return f"entry {image.start:#x}, {len(image.segments)} segments"


def purgatory_segment(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The record's purgatory segment, when it has a checksum to compare."""
    purg = rec.get("purgatory")
    for seg in rec.get("segments") or ():
        if purg and seg["mem_start"] == purg["mem_start"] and "crc32" in seg:
            return seg  # type: ignore[no-any-return]
    return None


def purgatory_same(rec: dict[str, Any], data: bytes) -> bool:
    """Whether ``data`` (read where :func:`purgatory_segment` lies) is the recorded one."""
    seg = purgatory_segment(rec)
    return seg is not None and zlib.crc32(data) == seg["crc32"]


def judge(rec: dict[str, Any], held: Kimage | str, purgatory: bool | None, crash: bool) -> Identity:
    """The verdict from the kernel's kimage (or why it could not be read) and whether the
    purgatory in memory is the recorded one (``None``: not checked)."""
    where = f"{rec['purgatory']['mem_start']:#x}" if rec.get("purgatory") else "?"
    if purgatory is False:
        return Identity(
            Verdict.OTHER,
            f"the purgatory at {where} is not the one pykexec loaded (another program "
            "loaded a kernel since, or the memory was overwritten)",
        )
    if isinstance(held, str):
        return Identity(Verdict.UNKNOWN, held)
    mine = recorded(rec)
    if mine is None:
        return Identity(
            Verdict.UNKNOWN,
            f"the kernel holds {_describe(held)}; a kexec_file_load record holds no segment "
            "table to compare (the kernel chose it)",
        )
    if held != mine:
        return Identity(
            Verdict.OTHER,
            f"the kernel holds {_describe(held)}, the record {_describe(mine)} (another "
            "program loaded a kernel since, or pykexec without a record)",
        )
    if crash and purgatory:
        return Identity(
            Verdict.SAME, f"{_describe(held)} and the purgatory at {where}, as recorded"
        )
    return Identity(
        Verdict.UNKNOWN,
        f"the kernel holds {_describe(held)}, as recorded; the contents of a -l image "
        "cannot be read back before -e",
    )
