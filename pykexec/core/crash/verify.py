# SPDX-License-Identifier: GPL-2.0-or-later
"""Is the loaded image still what was loaded? Checks memory against the load record. Pure.

The running kernel's memory is read through /proc/kcore, an ELF core file whose
PT_LOAD headers map kernel virtual addresses to file offsets; for the linear
map they also carry the physical address (fs/proc/kcore.c
``elf_kcore_store_hdr``: ``p_paddr = __pa(addr)`` for KCORE_RAM and KCORE_TEXT
entries, -1 for the others).  On ppc64 the crash region stays mapped and
readable (the architecture has no ``arch_kexec_protect_crashkres``).

:func:`verify` reads, through the function it is given, each recorded segment
and the purgatory's ``sha256_regions`` and ``sha256_digest`` slots, then
reports: intact (the regions hash to the digest the purgatory holds, which is
the recorded one), or which segment differs from its recorded CRC-32, or that
the purgatory's digest does not match its segments (the purgatory would stop).
Segments the kernel itself rewrites after the load (a ``--hotplug`` image's device
tree and core header, the record's ``kernel_rewrites``) are named as such, not
compared.  The record has passed :mod:`pykexec.core.recordschema` (no sum past 64 bits);
no file offset handed to the reader lies past what pread() takes.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pykexec.abi import SHA256_DIGEST_SIZE
from pykexec.core.formats.elf import (
    EHDR_FIELDS,
    EI_NIDENT,
    ELF_MAGIC,
    PHDR_FIELDS,
    ProgramHeader,
    SegmentType,
    layout,
)
from pykexec.errors import VerifyError as VerifyError  # re-exported: its old home

NO_PADDR = (1 << 64) - 1  # fs/proc/kcore.c: p_paddr = (elf_addr_t)-1 outside the linear map
Reader = Callable[[int, int], bytes]  # (physical address, size) -> bytes
FILE_OFFSET_MAX = (1 << 63) - 1  # off_t: what pread() takes
KCORE_HEADER_MAX = 1 << 20  # fs/proc/kcore.c puts the program headers right after the ELF header


@dataclass(frozen=True)
class KcoreMap:
    """Physical and kernel virtual ranges of /proc/kcore and where they sit in the file."""

    loads: tuple[ProgramHeader, ...]
    endian: str = "little"  # the running kernel's, which its words in memory follow

    def offset(self, phys: int, size: int) -> int:
        """The file offset of physical ``phys`` (``size`` bytes), through the linear map."""
        for ph in self.loads:
            if (
                ph.p_paddr != NO_PADDR
                and ph.p_paddr <= phys
                and phys + size <= (ph.p_paddr + ph.p_filesz)
            ):
                return _file_offset(ph.p_offset + phys - ph.p_paddr, size)
        raise VerifyError("unmapped", address=phys, size=size)

    def virtual_offset(self, vaddr: int, size: int) -> int:
        """The file offset of kernel virtual address ``vaddr`` (``size`` bytes)."""
        for ph in self.loads:
            if ph.p_vaddr <= vaddr and vaddr + size <= ph.p_vaddr + ph.p_filesz:
                return _file_offset(ph.p_offset + vaddr - ph.p_vaddr, size)
        raise VerifyError("unmapped", address=vaddr, size=size)


def _file_offset(offset: int, size: int) -> int:
    if offset + size > FILE_OFFSET_MAX:
        raise VerifyError("offset-too-large", offset=offset)
    return offset


def kcore_header_size(head: bytes) -> int:
    """How many bytes of /proc/kcore hold its ELF and program headers."""
    endian, ehdr = _ehdr(head)
    entry = layout(PHDR_FIELDS, endian).size  # type: ignore[arg-type]
    if ehdr["e_phentsize"] != entry or ehdr["e_phoff"] > KCORE_HEADER_MAX:
        raise VerifyError("odd-program-headers")
    return int(ehdr["e_phoff"] + ehdr["e_phnum"] * entry)


def _ehdr(head: bytes) -> tuple[str, dict[str, int]]:
    if head[:4] != ELF_MAGIC or len(head) < EI_NIDENT + layout(EHDR_FIELDS, "little").size:
        raise VerifyError("not-elf-core")
    endian = "little" if head[5] == 1 else "big"
    values = layout(EHDR_FIELDS, endian).unpack_from(head, EI_NIDENT)  # type: ignore[arg-type]
    return endian, dict(zip((n for n, _ in EHDR_FIELDS), values))


def kcore_map(head: bytes) -> KcoreMap:
    """The PT_LOAD headers of /proc/kcore, from its first :func:`kcore_header_size` bytes."""
    endian, ehdr = _ehdr(head)
    phdr = layout(PHDR_FIELDS, endian)  # type: ignore[arg-type]
    loads = []
    for i in range(ehdr["e_phnum"]):
        at = ehdr["e_phoff"] + i * ehdr["e_phentsize"]
        if at + phdr.size > len(head):
            raise VerifyError("truncated-program-headers")
        ph = ProgramHeader(*phdr.unpack_from(head, at))
        if ph.p_type == SegmentType.PT_LOAD:
            loads.append(ph)
    return KcoreMap(tuple(loads), endian)


def slot_regions(raw: bytes, order: str) -> list[list[int]]:
    """The [start, size] pairs of a purgatory ``sha256_regions`` slot (16 bytes each,
    two 64-bit words in the purgatory's byte order), unused entries left out."""
    pairs = []
    for at in range(0, len(raw) - 15, 16):
        start = int.from_bytes(raw[at : at + 8], order)  # type: ignore[arg-type]
        size = int.from_bytes(raw[at + 8 : at + 16], order)  # type: ignore[arg-type]
        if size:
            pairs.append([start, size])
    return pairs


def verify(record: dict[str, Any], read: Reader) -> tuple[bool, list[str]]:
    """Check the loaded image against ``record``; returns (intact, report lines)."""
    segments = record.get("segments")
    purgatory = record.get("purgatory")
    if not segments or not purgatory:
        raise VerifyError("no-segments")
    lines: list[str] = []
    differ: list[str] = []
    rewrites = set(record.get("kernel_rewrites") or ())
    base, order = purgatory["mem_start"], purgatory["endian"]
    held_digest = read(base + purgatory["digest_offset"], SHA256_DIGEST_SIZE).hex()
    held_regions = slot_regions(
        read(base + purgatory["regions_offset"], purgatory["regions_size"]), order
    )
    recorded = [list(r) for r in purgatory["regions"]]
    ours = held_regions == recorded  # else what they list is not hashed (any size)
    running = _running(recorded, read) if ours else {}
    for seg in segments:
        lines.append(_segment_line(seg, rewrites, read, running, differ))
    if not ours:
        lines.append(
            "purgatory: its sha256_regions differ from the recorded ones: its digest is not checked"
        )
        differ.append("purgatory regions")
        return _verdict(record, differ, lines)
    computed = running[tuple(recorded[-1])] if recorded else hashlib.sha256().hexdigest()
    if held_digest != computed:
        lines.append(
            f"purgatory: holds digest {held_digest} but its regions hash to "
            f"{computed}: the purgatory will stop instead of booting"
        )
        differ.append("purgatory digest")
    else:
        lines.append(f"purgatory: regions hash to its digest {held_digest}")
    return _verdict(record, differ, lines)


def _running(recorded: list[list[int]], read: Reader) -> dict[tuple[int, ...], str]:
    """The SHA-256 of the regions read in order, up to and including each one (the
    last is what the purgatory computes): one pass over each region."""
    h, out = hashlib.sha256(), dict[tuple[int, ...], str]()
    for start, size in recorded:  # inside recorded segments (recordschema)
        h.update(read(start, size))
        out[(start, size)] = h.hexdigest()
    return out


def _segment_line(seg: dict[str, Any], rewrites: set[str], read: Reader,
                  running: dict[tuple[int, ...], str], differ: list[str]) -> str:  # fmt: skip
    """What ``--verify`` says of one segment (its kind appended to ``differ`` when it
    differs): by its own CRC-32, else by the running digest of the purgatory's regions
    up to it (which a change in an earlier region changes too)."""
    where = f"segment {seg['kind']} {seg['mem_start']:#x}+{seg['bufsz']:#x}"
    if seg["kind"] in rewrites:
        return (f"{where}: the kernel rewrites it on CPU and memory hotplug (--hotplug): "
                "not compared, and outside the purgatory's digest")  # fmt: skip
    if "crc32" in seg:
        crc = zlib.crc32(read(seg["mem_start"], seg["bufsz"]))
        same = crc == seg["crc32"]
        if not same:
            differ.append(seg["kind"])
        return (f"{where}: {'same' if same else 'DIFFERS'} (crc32 {crc:08x}, "
                f"loaded {seg['crc32']:08x})")  # fmt: skip
    if "sha256_through" not in seg:  # a -l load records none: the digest below still checks
        return f"{where}: no checksum of its own recorded (-l)"
    got = running.get((seg["mem_start"], seg["bufsz"]))
    if got is None:
        return f"{where}: not compared (the purgatory's regions are not the recorded ones)"
    if got == seg["sha256_through"]:
        return f"{where}: same (SHA-256 of the purgatory's regions up to it)"
    differ.append(seg["kind"])
    return (
        f"{where}: DIFFERS, or a region before it does (SHA-256 of the purgatory's "
        f"regions up to it {got[:16]}..., loaded {seg['sha256_through'][:16]}...)"
    )


def _verdict(record: dict[str, Any], differ: list[str], lines: list[str]) -> tuple[bool, list[str]]:
    intact = not differ
    verdict = "intact" if intact else "NOT intact: " + ", ".join(differ) + " differ"
    return intact, [f"loaded {record.get('kind', '?')} image {verdict}", *lines]
