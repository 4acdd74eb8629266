# SPDX-License-Identifier: GPL-2.0-or-later
"""The ELF core header (elfcorehdr) a crash kernel reads to build /proc/vmcore. Pure.

An ``ET_CORE`` ELF64 header for ``EM_PPC64`` in the running kernel's byte
order, then program headers: one ``PT_NOTE`` per CPU's crash notes, one for
vmcoreinfo, and one ``PT_LOAD`` per range of the dead kernel's memory.  For a
``PT_LOAD``, ``p_offset`` is the physical address where the crash kernel
finds the bytes (the backup region for the first 64 KiB), ``p_paddr`` the
address they had, ``p_vaddr`` their linear-map address.  Layouts are the gABI's.
"""

from __future__ import annotations

from typing import NamedTuple

from pykexec.core.formats.elf import (
    EHDR_FIELDS,
    EI_NIDENT,
    ELF_MAGIC,
    PHDR_FIELDS,
    ElfClass,
    ElfData,
    ElfType,
    Endian,
    Machine,
    SegmentType,
    layout,
)
from pykexec.core.memory import Range
from pykexec.errors import SystemInfoError

EV_CURRENT = 1
PF_RWX = 0x7  # PF_X | PF_W | PF_R
# arch/powerpc/include/asm/page.h: the linear map starts here on 64-bit Book3S.
PAGE_OFFSET = 0xC000000000000000
EHDR_SIZE = EI_NIDENT + 48
PHDR_SIZE = 56
MAX_PHNUM = 0xFFFE  # e_phnum is 16 bits; PN_XNUM (0xffff) means "see section 0"
_U64_LIMIT = 1 << 64


class CoreLoad(NamedTuple):
    """A range of the dead kernel's memory and where its bytes are after the crash."""

    range: Range
    offset: int  # physical address holding the bytes (== range.start unless relocated)


class CoreNote(NamedTuple):
    """A note buffer in the dead kernel's memory (crash notes or vmcoreinfo)."""

    address: int
    size: int


def core_header(
    notes: list[CoreNote],
    loads: list[CoreLoad],
    endian: Endian,
    *,
    e_flags: int = 0,
) -> bytes:
    """The ELF core header bytes, notes first, then loads in the given order."""
    phnum = len(notes) + len(loads)
    if phnum > MAX_PHNUM:
        # fs/proc/vmcore.c reads e_phnum as it is (no PN_XNUM extended numbering), and
        # kexec-tools merges adjacent LMBs for the same limit (commit f63d853).
        raise SystemInfoError(
            "too-many-program-headers", count=len(loads), notes=len(notes), limit=MAX_PHNUM
        )
    _check_fits(notes, loads)
    ident = ELF_MAGIC + bytes(
        [
            ElfClass.ELFCLASS64,
            ElfData.ELFDATA2LSB if endian == "little" else ElfData.ELFDATA2MSB,
            EV_CURRENT,
        ]
    )
    ident = ident.ljust(EI_NIDENT, b"\0")
    ehdr = layout(EHDR_FIELDS, endian).pack(
        ElfType.ET_CORE,
        Machine.EM_PPC64,
        EV_CURRENT,
        0,
        EHDR_SIZE,
        0,
        e_flags,
        EHDR_SIZE,
        PHDR_SIZE,
        phnum,
        0,
        0,
        0,
    )
    phdr = layout(PHDR_FIELDS, endian)
    out = [ident, ehdr]
    for n in notes:
        # p_paddr = p_offset, as kexec-tools' crashdump-elf.c and the kernel's own
        # crash_prepare_elf64_headers (kernel/crash_core.c) write it: powerpc's
        # sync_backup_region_phdr (arch/powerpc/kexec/crash.c) takes the first program
        # header whose p_paddr is 0 for the backup PT_LOAD, and with crash hotplug copies
        # its p_offset into every header the kernel rebuilds.
        addr = n.address
        out.append(phdr.pack(SegmentType.PT_NOTE, 0, addr, 0, addr, n.size, n.size, 0))
    for ld in loads:
        r = ld.range
        out.append(
            phdr.pack(
                SegmentType.PT_LOAD,
                PF_RWX,
                ld.offset,
                PAGE_OFFSET + r.start,
                r.start,
                r.size,
                r.size,
                0,
            )
        )
    return b"".join(out)


def _check_fits(notes: list[CoreNote], loads: list[CoreLoad]) -> None:
    """Every address and size fits its 64-bit field; RAM lies where the linear map at
    :data:`PAGE_OFFSET` reaches (below 2^62), so its ``p_vaddr`` fits too."""
    for n in notes:
        if not (0 <= n.address < _U64_LIMIT and 0 <= n.size < _U64_LIMIT):
            raise SystemInfoError("note-too-large", address=n.address, size=n.size)
    for ld in loads:
        if ld.range.end > _U64_LIMIT - PAGE_OFFSET or not 0 <= ld.offset < _U64_LIMIT:
            raise SystemInfoError("beyond-linear-map", address=ld.range.start,
                                  size=ld.range.size, limit=_U64_LIMIT - PAGE_OFFSET)  # fmt: skip


def header_size(phnum: int) -> int:
    return EHDR_SIZE + phnum * PHDR_SIZE
