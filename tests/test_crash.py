# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash-kernel pieces: dump ranges, ELF core header (against pyelftools), usable memory."""

import io

import pytest
from elftools.elf.elffile import ELFFile

from pykexec.core.crash.kdump import (
    BACKUP_SIZE,
    add_usable_memory,
    core_loads,
    crash_layout,
    elfcorehdr_param,
)
from pykexec.core.formats.elfcore import PAGE_OFFSET, CoreNote, core_header
from pykexec.core.machine import describe
from pykexec.core.memory import MemoryMap, Range
from tests.machines import GiB, MiB, pseries


def test_layout_excludes_crash_region() -> None:
    m = describe(pseries(lmbs=4))
    c = crash_layout(m)
    assert c.dumped == m.ram.minus([Range(512 * MiB, 768 * MiB)])
    assert c.usable.ranges[0] == Range(0, 768 * MiB)
    assert c.reserved == (Range(BACKUP_SIZE, 512 * MiB),)


def test_core_loads_split_backup() -> None:
    loads = core_loads(MemoryMap([Range(0, GiB)]), backup=0x20000000)
    assert loads[0].range == Range(0, BACKUP_SIZE) and loads[0].offset == 0x20000000
    assert loads[1].range == Range(BACKUP_SIZE, GiB) and loads[1].offset == BACKUP_SIZE


@pytest.mark.parametrize("endian", ["little", "big"])
def test_core_header_against_pyelftools(endian: str) -> None:
    notes = [CoreNote(0x7E000000, 936), CoreNote(0x7E000400, 936), CoreNote(0x2B1D000, 0x1000)]
    loads = core_loads(MemoryMap([Range(0, 512 * MiB), Range(768 * MiB, 2 * GiB)]), 0x20010000)
    blob = core_header(notes, loads, endian)  # type: ignore[arg-type]
    elf = ELFFile(io.BytesIO(blob))
    assert elf.header.e_type == "ET_CORE" and elf.header.e_machine == "EM_PPC64"
    assert elf.little_endian == (endian == "little") and elf.elfclass == 64
    phdrs = [elf.get_segment(i).header for i in range(elf.num_segments())]
    assert [p.p_type for p in phdrs] == ["PT_NOTE"] * 3 + ["PT_LOAD"] * 3
    assert [(p.p_offset, p.p_filesz) for p in phdrs[:3]] == [(n.address, n.size) for n in notes]
    assert len(phdrs[3:]) == len(loads)
    for p, ld in zip(phdrs[3:], loads):
        assert p.p_paddr == ld.range.start and p.p_vaddr == PAGE_OFFSET + ld.range.start
        assert p.p_offset == ld.offset and p.p_filesz == p.p_memsz == ld.range.size
    assert phdrs[3].p_offset == 0x20010000


@pytest.mark.parametrize("drmem", [1, 2])
def test_usable_memory_properties(drmem: int) -> None:
    tree = pseries(lmbs=3, drmem=drmem)
    m = describe(tree)
    c = crash_layout(m)
    add_usable_memory(tree, m, c.usable)
    mem = tree.child("memory@0")
    assert mem is not None
    rtas = next(r.range for r in m.firmware if r.name == "rtas")
    want = b"".join(
        r.start.to_bytes(8, "big") + r.size.to_bytes(8, "big")
        for r in MemoryMap([Range(0, 768 * MiB), rtas])
    )
    assert mem.props["linux,usable-memory"] == want
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    data = dr.props["linux,drconf-usable-memory"]
    # LMB 0 (at 0, 256 MiB) is usable inside [0, 768 MiB); LMBs above 1 GiB are not.
    counts = []
    pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 8], "big")
        counts.append(n)
        pos += 8 + 16 * n
    assert counts == [1, 0, 0, 0]


def test_elfcorehdr_param() -> None:
    assert elfcorehdr_param(0x20020000) == "elfcorehdr=524416K"
