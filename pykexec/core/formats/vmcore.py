# SPDX-License-Identifier: GPL-2.0-or-later
"""A kernel core dump read for its VMCOREINFO: ELF header, notes, address translation. Pure.

``/proc/vmcore`` in a crash kernel, or a saved dump (``cp``, ``makedumpfile -E``),
is an ELF core: ``PT_NOTE`` segments (one of them holds the ``VMCOREINFO`` note,
text lines ``SYMBOL(x)=hex``, ``SIZE(x)=dec``, ``OFFSET(s.f)=dec``,
``NUMBER(x)=...``, written by the dead kernel's ``kernel/vmcore_info.c``) and
``PT_LOAD`` segments (its memory, ``p_vaddr`` its addresses, ``p_offset`` where
the bytes are in the file).  Reads go through a :class:`Source` (an open file in
the command, bytes in tests); every length is checked against the source's size
before it is read.  Where kexec-tools' vmcore-dmesg reports a fault, the error
carries its exit status (``util_lib/elf_info.c``: 3-7 header, 10-16 ELF, 22 notes,
30 address, 40/41 values); a fault it does not detect exits 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from pykexec.core.formats.elf import EI_NIDENT, ELF_MAGIC, ElfClass, ElfData, Endian, SegmentType
from pykexec.errors import VmcoreError

U64 = (1 << 64) - 1
EV_CURRENT = 1
EM_386 = 3  # the one machine whose pointers kexec-tools takes as 32-bit whatever the class
LINE_MAX = 1023  # a last VMCOREINFO line without its newline is cut to this many bytes
NOTE_NAME = b"VMCOREINFO\0"  # compared with the name field's first 11 bytes; n_type 0

#: Elf{32,64}_Ehdr after e_ident and Elf{32,64}_Phdr (System V gABI), by class, in
#: the order the fields are stored.
EHDR = {
    ElfClass.ELFCLASS32: "HHIIIIIHHHHHH",
    ElfClass.ELFCLASS64: "HHIQQQIHHHHHH",
}
PHDR = {ElfClass.ELFCLASS32: "IIIIIIII", ElfClass.ELFCLASS64: "IIQQQQQQ"}
NHDR = "III"  # n_namesz, n_descsz, n_type: the same in both classes


class Source(Protocol):
    """Bytes at offsets: ``pread`` returns what is there (fewer at the end)."""

    @property
    def size(self) -> int: ...

    def pread(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class Segment:
    """One program header of the core."""

    type: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int


# VMCOREINFO keys as kexec-tools reads them: key prefix -> (name, base, bits kept).
# Aliases share a name (the later line wins); SYMBOL values are addresses.
_SYMBOLS: tuple[str, ...] = ("prb", "log_buf", "log_end", "log_buf_len", "logged_chars")
_SYMBOLS += ("log_first_idx", "log_next_idx")
INFO_KEYS: dict[bytes, tuple[str, int, int]] = {
    **{f"SYMBOL({s})=".encode(): (s, 16, 64) for s in _SYMBOLS},
    b"SIZE(printk_ringbuffer)=": ("printk_ringbuffer", 10, 64),
    b"SIZE(prb_desc)=": ("prb_desc", 10, 64),
    b"SIZE(printk_info)=": ("printk_info", 10, 64),
    b"SIZE(log)=": ("printk_log", 10, 64),
    b"SIZE(printk_log)=": ("printk_log", 10, 64),
    b"OFFSET(log.ts_nsec)=": ("printk_log.ts_nsec", 10, 64),
    b"OFFSET(printk_log.ts_nsec)=": ("printk_log.ts_nsec", 10, 64),
    b"OFFSET(log.len)=": ("printk_log.len", 10, 16),
    b"OFFSET(printk_log.len)=": ("printk_log.len", 10, 16),
    b"OFFSET(log.text_len)=": ("printk_log.text_len", 10, 16),
    b"OFFSET(printk_log.text_len)=": ("printk_log.text_len", 10, 16),
    b"NUMBER(PAGE_OFFSET)=": ("PAGE_OFFSET", 16, 64),
}
# The lockless ring buffer's layout (kernel/printk/printk_ringbuffer.h), all decimal.
for _field in (
    "printk_ringbuffer.desc_ring",
    "printk_ringbuffer.text_data_ring",
    "prb_desc_ring.count_bits",
    "prb_desc_ring.descs",
    "prb_desc_ring.infos",
    "prb_desc_ring.head_id",
    "prb_desc_ring.tail_id",
    "prb_data_ring.size_bits",
    "prb_data_ring.data",
    "atomic_long_t.counter",
    "prb_desc.state_var",
    "prb_desc.info",
    "prb_desc.text_blk_lpos",
    "prb_data_blk_lpos.begin",
    "prb_data_blk_lpos.next",
    "printk_info.seq",
    "printk_info.caller_id",
    "printk_info.ts_nsec",
    "printk_info.level",
    "printk_info.text_len",
):
    INFO_KEYS[f"OFFSET({_field})=".encode()] = (_field, 10, 64)
# PHYS_OFFSET (phys_ram_base on some architectures): decimal, else hex, nothing after.
PHYS_OFFSET_KEYS = (b"NUMBER(PHYS_OFFSET)=", b"NUMBER(phys_ram_base)=")
LONG_MAX = (1 << 63) - 1


def c_strtoull(text: bytes, base: int) -> tuple[int, int]:
    """C's ``strtoull(text, &end, base)`` (base 10 or 16): the value and ``end``'s index."""
    i = 0
    while i < len(text) and text[i] in b" \t\n\v\f\r":
        i += 1
    negative = text[i : i + 1] == b"-"
    i += text[i : i + 1] in (b"-", b"+")
    digits = b"0123456789abcdefABCDEF" if base == 16 else b"0123456789"
    if base == 16 and text[i : i + 2] in (b"0x", b"0X") and text[i + 2 : i + 3].isalnum():
        i += 2 if text[i + 2] in digits else 0
    start = i
    while i < len(text) and text[i] in digits:
        i += 1
    if i == start:
        return 0, 0
    value = int(text[start:i], base)
    if value > U64:
        return U64, i
    return (-value) & U64 if negative else value, i


@dataclass(frozen=True)
class VmcoreInfo:
    """The values kexec-tools' vmcore-dmesg takes from VMCOREINFO (absent ones missing)."""

    values: dict[str, int]

    def get(self, name: str, default: int = 0) -> int:
        return self.values.get(name, default)


def parse_lines(desc: bytes, values: dict[str, int]) -> None:
    """Fold one VMCOREINFO note's lines into ``values`` (a later line wins)."""
    for line in _lines(desc):
        line = line.split(b"\0", 1)[0]
        if line.startswith(PHYS_OFFSET_KEYS):
            number = line.split(b"=", 1)[1]
            value, end = c_strtoull(number, 10)
            if end != len(number):
                value, end = c_strtoull(number, 16)
            if value == LONG_MAX or end != len(number):
                return  # kexec-tools stops reading the note at a bad PHYS_OFFSET
            values["PHYS_OFFSET"] = value
            continue
        for key, (name, base, bits) in INFO_KEYS.items():
            if line.startswith(key):
                values[name] = c_strtoull(line[len(key) :], base)[0] & ((1 << bits) - 1)


def _lines(desc: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(desc):
        eol = desc.find(b"\n", pos)
        if eol < 0:
            yield desc[pos : pos + LINE_MAX]
            return
        yield desc[pos:eol]
        pos = eol + 1


def vmcoreinfo_notes(notes: bytes, endian: Endian) -> Iterator[bytes]:
    """The descriptors of the VMCOREINFO notes in one PT_NOTE segment's bytes."""
    nhdr = struct.Struct(("<" if endian == "little" else ">") + NHDR)
    pos = 0
    while pos + nhdr.size < len(notes) - 1:
        namesz, descsz, ntype = nhdr.unpack_from(notes, pos)
        name = pos + nhdr.size
        desc = name + ((namesz + 3) & ~3)
        after = desc + ((descsz + 3) & ~3)
        if after > len(notes):
            return
        if notes[name : name + len(NOTE_NAME)] == NOTE_NAME and ntype == 0:
            yield notes[desc : desc + descsz]
        pos = after


@dataclass(frozen=True)
class Core:
    """An ELF core opened for reading: byte order, pointer size, segments, VMCOREINFO."""

    source: Source
    endian: Endian
    pointer_bits: int
    segments: tuple[Segment, ...]
    info: VmcoreInfo

    def read(self, offset: int, length: int, what: str, code: int) -> bytes:
        """``length`` bytes at file ``offset``, or the error ``code`` if the file is short."""
        if length == 0 and 0 <= offset < 1 << 63:  # as pread: nothing to read is no fault
            return b""
        if length < 0 or offset < 0 or offset + length > self.source.size:
            raise VmcoreError("read-past-end", what=what, size=length, offset=offset,
                              limit=self.source.size, exit_code=code)  # fmt: skip
        data = self.source.pread(offset, length)
        if len(data) != length:
            raise VmcoreError("short-read", what=what, offset=offset, exit_code=code)
        return data

    def unsigned(self, data: bytes, offset: int, size: int, what: str) -> int:
        """An unsigned ``size``-byte value at ``offset`` of ``data`` (a structure read)."""
        if offset < 0 or offset + size > len(data):
            raise VmcoreError("outside-structure", what=what, offset=offset, size=len(data))
        return int.from_bytes(data[offset : offset + size], self.endian)

    def ulong(self, data: bytes, offset: int, what: str) -> int:
        return self.unsigned(data, offset, self.pointer_bits // 8, what)

    def read_pointer(self, offset: int, what: str) -> int:
        data = self.read(offset, self.pointer_bits // 8, what, 40)
        return int.from_bytes(data, self.endian)

    def read_u32(self, offset: int, what: str) -> int:
        return int.from_bytes(self.read(offset, 4, what, 41), self.endian)

    def file_offset(self, vaddr: int, what: str) -> int:
        """Where the byte at kernel address ``vaddr`` is in the file (exit 30 if nowhere)."""
        for seg in self.segments:  # every header, in order; an end past 2**64 wraps
            if seg.vaddr <= vaddr < (seg.vaddr + seg.memsz) & U64:
                return (vaddr - seg.vaddr + seg.offset) & U64
        page, phys = self.info.get("PAGE_OFFSET", -1), self.info.get("PHYS_OFFSET", -1)
        if page >= 0 and phys >= 0 and vaddr >= page:  # the linear map: vaddr - PAGE_OFFSET
            paddr = (vaddr - (page - phys)) & U64
            for seg in self.segments:
                if seg.paddr <= paddr < (seg.paddr + seg.memsz) & U64:
                    return (paddr - seg.paddr + seg.offset) & U64
        raise VmcoreError("unmapped", what="address", name=what, address=vaddr, exit_code=30)


def _header(source: Source) -> tuple[ElfClass, Endian]:
    ident = source.pread(0, EI_NIDENT)
    if len(ident) != EI_NIDENT:
        raise VmcoreError("no-ident", what="elf", exit_code=3)
    if ident[:4] != ELF_MAGIC:
        raise VmcoreError(
            "not-elf",
            what="elf",
            exit_code=4,
        )
    if ident[6] != EV_CURRENT:
        raise VmcoreError("ident-version", what="elf", value=ident[6], exit_code=5)
    if ident[4] not in (ElfClass.ELFCLASS32, ElfClass.ELFCLASS64):
        raise VmcoreError("elf-class", what="elf", value=ident[4], exit_code=6)
    if ident[5] not in (ElfData.ELFDATA2LSB, ElfData.ELFDATA2MSB):
        raise VmcoreError("elf-data", what="elf", value=ident[5], exit_code=7)
    return ElfClass(ident[4]), "little" if ident[5] == ElfData.ELFDATA2LSB else "big"


def _segments(source: Source, cls: ElfClass, endian: Endian) -> tuple[int, tuple[Segment, ...]]:
    prefix = "<" if endian == "little" else ">"
    ehdr = struct.Struct(prefix + EHDR[cls])
    head = source.pread(EI_NIDENT, ehdr.size)
    if len(head) != ehdr.size:
        raise VmcoreError("truncated-header", what="elf", exit_code=10)
    _type, machine, version, _entry, phoff, _shoff, _flags, _eh, phentsize, phnum = ehdr.unpack(
        head
    )[:10]
    phdr = struct.Struct(prefix + PHDR[cls])
    if version != EV_CURRENT:
        raise VmcoreError("header-version", what="elf", value=version, exit_code=11)
    if phentsize != phdr.size:
        raise VmcoreError("phentsize", what="elf", size=phentsize, expected=phdr.size, exit_code=12)
    table = phnum * phdr.size
    if phoff + table > source.size:
        raise VmcoreError("phdrs-beyond", what="elf", count=phnum, offset=phoff,
                          limit=source.size, exit_code=16)  # fmt: skip
    raw = source.pread(phoff, table)
    if len(raw) != table:
        raise VmcoreError("phdrs-short-read", what="elf", offset=phoff, exit_code=16)
    segs = []
    for fields in phdr.iter_unpack(raw):
        if cls == ElfClass.ELFCLASS64:
            ptype, _pf, offset, vaddr, paddr, filesz, memsz, _al = fields
        else:
            ptype, offset, vaddr, paddr, filesz, memsz, _pf, _al = fields
        segs.append(Segment(ptype, offset, vaddr, paddr, filesz, memsz))
    return machine, tuple(segs)


def open_core(source: Source) -> Core:
    """Read the ELF header, program headers and VMCOREINFO notes of a core dump."""
    cls, endian = _header(source)
    machine, segments = _segments(source, cls, endian)
    bits = 32 if machine == EM_386 or cls == ElfClass.ELFCLASS32 else 64
    values: dict[str, int] = {}
    probe = Core(source, endian, bits, segments, VmcoreInfo(values))
    for seg in segments:
        if seg.type == SegmentType.PT_NOTE:
            notes = probe.read(seg.offset, seg.filesz, "the notes", 22)
            for desc in vmcoreinfo_notes(notes, endian):
                parse_lines(desc, values)
    return Core(source, endian, bits, segments, VmcoreInfo(dict(values)))
