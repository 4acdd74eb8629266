# SPDX-License-Identifier: GPL-2.0-or-later
"""Does pykexec's record describe the image the kernel holds?  Pure.

Another loader (kdumpctl, kexec-tools) or a reload since leaves pykexec's record in
/run/pykexec describing a kernel that is no longer the loaded one.  Two checks tell:

* the kernel's own ``struct kimage`` behind ``kexec_crash_image`` (or ``kexec_image``
  for -l), found through /proc/kallsyms and read through /proc/kcore: its entry and
  segment table (address, memory size, buffer size) against the record's;
* for a crash image, the bytes of its small segments (purgatory, device tree, core
  header, backup) where the record says they were loaded (kernel/kexec_core.c
  kimage_load_crash_segment copies each segment into the crash region at load time;
  only a --hotplug image's tree and header are rewritten after that).

A differing kimage or small segment proves another image, or overwritten memory
(:attr:`Verdict.OTHER`).  The same kimage and the same small segments prove the
record's (:attr:`Verdict.SAME`): the segment table says the loaded image's
segments lie where the record's do, so the bytes there are the loaded image's.
Anything less is :attr:`Verdict.UNKNOWN`, with the reason, never "matches".
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
SMALL_SEGMENT = 1 << 20  # read back for -S -d; the kernel and initrd are --verify's work
KIMAGE_PROOF = "kimage"
IND_DONE = 0x4  # include/linux/kexec.h: kimage_terminate() ends the entry list with it
# kernel/kexec_core.c: the loaded images
IMAGE_SYMBOL = {True: "kexec_crash_image", False: "kexec_image"}


class Verdict(str, Enum):
    SAME = "describes what is loaded"
    OTHER = "does NOT describe what is loaded"
    UNKNOWN = "may or may not describe what is loaded"


@dataclass(frozen=True)
class Identity:
    verdict: Verdict
    reason: str
    proof: str = ""  # KIMAGE_PROOF: the kernel's own segment table told

    def line(self) -> str:
        if self.verdict is Verdict.UNKNOWN:
            return f"cannot tell whether pykexec's record describes what is loaded: {self.reason}"
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


def small_segments(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's segments cheap to read back and compare: those with a checksum, of
    at most :data:`SMALL_SEGMENT` bytes, that the kernel does not rewrite itself (the
    purgatory, the device tree and core header of an image without --hotplug, the
    backup)."""
    rewrites = set(rec.get("kernel_rewrites") or ())
    return [
        s
        for s in rec.get("segments") or ()
        if "crc32" in s and s["bufsz"] <= SMALL_SEGMENT and s["kind"] not in rewrites
    ]


def differing(segments: list[dict[str, Any]], contents: list[bytes]) -> list[str]:
    """``kind at address`` of each segment whose bytes in memory are not the recorded."""
    return [
        f"{seg['kind']} at {seg['mem_start']:#x}"
        for seg, data in zip(segments, contents)
        if zlib.crc32(data) != seg["crc32"]
    ]


def judge(
    rec: dict[str, Any], held: Kimage | str, differ: list[str] | None, crash: bool
) -> Identity:
    """The verdict from the kernel's kimage (or why it could not be read) and which of
    :func:`small_segments` differ in memory (``None``: not read)."""
    mine = recorded(rec)
    if not isinstance(held, str) and mine is not None and held != mine:
        return Identity(
            Verdict.OTHER,
            f"the kernel holds {_describe(held)}, the record {_describe(mine)} (another "
            "program loaded a kernel since, or pykexec without a record)",
            KIMAGE_PROOF,
        )
    if differ:
        return Identity(
            Verdict.OTHER,
            f"the bytes of its {', '.join(differ)} are not the recorded ones (another "
            "program loaded a kernel since, or the memory was overwritten)",
        )
    if isinstance(held, str):
        return Identity(Verdict.UNKNOWN, held)
    if mine is None:
        return Identity(
            Verdict.UNKNOWN,
            f"the kernel holds {_describe(held)}; a kexec_file_load record holds no segment "
            "table to compare (the kernel chose it)",
        )
    if crash and differ is not None and rec.get("purgatory"):
        where = rec["purgatory"]["mem_start"]
        return Identity(
            Verdict.SAME, f"{_describe(held)} and the purgatory at {where:#x}, as recorded"
        )
    return Identity(
        Verdict.UNKNOWN,
        f"the kernel holds {_describe(held)}, as recorded; the contents of a -l image "
        "cannot be read back before -e",
    )
