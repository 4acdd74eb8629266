# SPDX-License-Identifier: GPL-2.0-or-later
"""What a crash kernel needs beyond a normal load. Pure.

* which of the dead kernel's memory the dump covers (all RAM but the crash
  region, the first 64 KiB read back from the backup region);
* which memory the crash kernel itself may use (``linux,usable-memory`` on
  memory nodes, ``linux,drconf-usable-memory`` for LMBs, v1 and v2 alike);
* the reserve-map ranges that keep it off the dead kernel's memory below the
  crash region;
* the ``elfcorehdr=`` command-line word.

The ppc64 kdump kernel runs at its load address but still uses the first
64 KiB for its exception vectors (arch/powerpc/kernel/head_64.S), hence the
backup.  Its first memory block must reach its own end, since the kernel
sizes the real-mode area from it, so the usable range is ``[0, crash end)``
with ``[64 KiB, crash start)`` kept out through the reserve map (kexec-tools'
crashdump-ppc64.c does the same).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from pykexec.abi import BACKUP_SIZE as BACKUP_SIZE
from pykexec.core.devicetree.props import encode_reg, ints_to_cells
from pykexec.core.devicetree.tree import Node
from pykexec.core.formats.elfcore import CoreLoad
from pykexec.core.machine import Lmb, Machine
from pykexec.core.memory import MemoryMap, Range, align_up

BACKUP_SOURCE = Range(0, BACKUP_SIZE)


class CrashLayout(NamedTuple):
    """The memory picture of a crash load (a NamedTuple: see crash.headroom.Headroom)."""

    crash: Range
    dumped: MemoryMap  # dead kernel's RAM that /proc/vmcore shows
    usable: MemoryMap  # what the crash kernel may treat as RAM
    reserved: tuple[Range, ...]  # kept out of the crash kernel's allocator


def crash_layout(machine: Machine, page_size: int = 0x10000) -> CrashLayout:
    """The crash load's memory picture; ``page_size`` is the running kernel's."""
    crash = machine.crash
    assert crash is not None
    firmware = [r.range for r in machine.firmware]
    dumped = machine.ram.minus([crash])
    if machine.memory_limit:
        dumped = dumped.clamp(0, machine.memory_limit)
    # Firmware areas inside the crash region (RTAS) still hold the dead kernel's
    # state: dump them too, whole pages so makedumpfile reads them safely (as
    # kexec-tools' crashdump-ppc64.c does).
    dumped = dumped.union(
        Range(f.start, min(align_up(f.end, page_size), crash.end))
        for f in firmware
        if f.overlaps(crash)
    )
    usable = machine.ram.intersect([Range(0, crash.end)]).union(firmware)
    hidden = Range(BACKUP_SIZE, crash.start) if crash.start > BACKUP_SIZE else None
    return CrashLayout(crash, dumped, usable, (hidden,) if hidden else ())


def core_loads(dumped: MemoryMap, backup: int) -> list[CoreLoad]:
    """The dump's PT_LOADs: the first 64 KiB (from the backup) apart, then the rest."""
    loads = []
    for r in dumped:
        if r.overlaps(BACKUP_SOURCE):
            low = r.intersect(BACKUP_SOURCE)
            assert low is not None
            loads.append(CoreLoad(low, backup + low.start))
            if r.end <= BACKUP_SIZE:
                continue
            r = Range(max(r.start, BACKUP_SIZE), r.end)
        loads.append(CoreLoad(r, r.start))
    return loads


def add_usable_memory(root: Node, machine: Machine, usable: MemoryMap) -> None:
    """Add ``linux,usable-memory`` and ``linux,drconf-usable-memory`` to the crash tree.

    The memory nodes take their parts of ``usable`` (a binary search each).  Of the LMB
    runs, only those that are usable and meet ``usable`` (:meth:`LmbTable.meeting`, a few
    below the crash region's end) are encoded one by one; the LMBs between them, however
    many, are one repeated empty entry.
    """
    ac, sc = root.cell_sizes()
    by_path = {n.path: n for n in machine.memory_nodes}
    for node in root.children:
        mem = by_path.get("/" + node.name)
        if mem is None:
            continue
        parts = [p for r in mem.ranges for p in usable.within(r)] or [Range(0, 0)]
        node.set_ranges("linux,usable-memory", parts, ac, sc)
    drconf = root.child("ibm,dynamic-reconfiguration-memory")
    lmbs = machine.lmbs
    if drconf is None or not lmbs:
        return
    none = _count_cells(0, sc)
    out = bytearray()
    done = 0  # LMBs written
    for run in lmbs.meeting(usable):
        first = lmbs.first_lmb(run)
        out += none * (first - done)
        out += _drconf_run(lmbs.run(run), usable, ac, sc)
        done = first + lmbs.counts[run]
    out += none * (len(lmbs) - done)
    drconf.set("linux,drconf-usable-memory", bytes(out))


@functools.lru_cache(maxsize=64)
def _count_cells(count: int, sc: int) -> bytes:
    """A range count as drconf-usable-memory writes it: in the size cells."""
    return ints_to_cells([count], sc)


def _drconf_run(run: Lmb, usable: MemoryMap, ac: int, sc: int) -> bytes:
    """The ``linux,drconf-usable-memory`` entries of one usable LMB run (arch/powerpc/mm/numa.c
    and drmem.c read, per LMB in tree order, a count of ranges and then the ranges)."""
    none = _count_cells(0, sc)
    parts = usable.within(run.range)
    if run.count == 1:  # the common case of fragmented memory: one LMB, its parts
        return _count_cells(len(parts), sc) + encode_reg(parts, ac, sc)
    # The usable parts of the run, grouped by the LMB they fall in (ascending).
    by_lmb: dict[int, list[Range]] = {}
    for part in parts:
        first = (part.start - run.base) // run.size
        last = (part.end - 1 - run.base) // run.size
        for index in range(first, last + 1):
            piece = part.intersect(run.lmb(index).range)
            if piece is not None:
                by_lmb.setdefault(index, []).append(piece)
    out = bytearray()
    done = 0
    for index, pieces in by_lmb.items():
        out += none * (index - done)
        out += ints_to_cells([len(pieces)], sc) + encode_reg(pieces, ac, sc)
        done = index + 1
    out += none * (run.count - done)
    return bytes(out)


def elfcorehdr_param(address: int) -> str:
    """The command-line word that tells the crash kernel where the header is."""
    return f"elfcorehdr={address >> 10}K"
