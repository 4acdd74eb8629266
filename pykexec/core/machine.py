# SPDX-License-Identifier: GPL-2.0-or-later
"""What a POWER machine's memory looks like, from its device tree. Pure.

From the running kernel's device tree (the model of
:mod:`pykexec.core.devicetree.fdt`) this module derives the RAM, the real-mode
area (RMA), the regions that must not be touched (RTAS, OPAL, TCE tables,
``reserved-ranges``, the running kernel), the crash-kernel reservation and the
firmware kind (pseries or powernv).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntFlag
from typing import overload

from pykexec.core.devicetree.tree import Node
from pykexec.core.memory import MemoryMap, Range
from pykexec.errors import SystemInfoError


class Platform(str, Enum):
    PSERIES = "pseries"
    POWERNV = "powernv"

    def __str__(self) -> str:
        return self.value


class LmbFlags(IntFlag):
    """Flags of an LMB in ibm,dynamic-memory (PAPR; arch/powerpc/include/asm/drmem.h)."""

    ASSIGNED = 0x8
    DRC_INVALID = 0x20
    AI_INVALID = 0x40
    RESERVED = 0x80
    HOTREMOVABLE = 0x100


# PAPR "ibm,dynamic-memory" (v1) and "ibm,dynamic-memory-v2" entries, 6 cells (24 bytes)
# each, after a u32 entry count: each field's name and size in big-endian 32-bit cells, in
# order (arch/powerpc/include/asm/drmem.h struct of_drconf_cell_v1 and of_drconf_cell_v2;
# drmem.c reads them with of_read_number).
DRMEM_V1_CELL = (("base_addr", 2), ("drc_index", 1), ("reserved", 1), ("aa_index", 1), ("flags", 1))
DRMEM_V2_CELL = (("seq_lmbs", 1), ("base_addr", 2), ("drc_index", 1), ("aa_index", 1), ("flags", 1))
DRMEM_ENTRY_CELLS = 6
DRMEM_ENTRY_SIZE = DRMEM_ENTRY_CELLS * 4
#: The most LMBs pykexec accepts: 64 TiB (PowerVM's largest partition) in 16 MiB blocks
#: (the smallest memory block, SECTION_SIZE_BITS = 24 in arch/powerpc/include/asm/sparsemem.h).
#: A count beyond it comes from a damaged tree, not a machine.
MAX_LMBS = (64 << 40) // (16 << 20)
#: Physical addresses are 64 bits wide (PAPR ibm,dynamic-memory base: 2 cells).
ADDRESS_LIMIT = 1 << 64


@dataclass(frozen=True)
class Lmb:
    """``count`` logical memory blocks of dynamic reconfiguration memory, ``size`` bytes
    each, back to back from ``base`` and sharing their flags: one LMB (``count`` 1), an
    ``ibm,dynamic-memory-v2`` set, or consecutive ``ibm,dynamic-memory`` entries."""

    base: int
    size: int
    flags: LmbFlags
    count: int = 1

    @property
    def usable(self) -> bool:
        """Assigned to the partition and not reserved."""
        return _usable(int(self.flags))

    @property
    def range(self) -> Range:
        return Range.sized(self.base, self.count * self.size)

    def lmb(self, index: int) -> Lmb:
        """The ``index``-th single LMB of this run."""
        return Lmb(self.base + index * self.size, self.size, self.flags)


_ASSIGNED, _RESERVED = int(LmbFlags.ASSIGNED), int(LmbFlags.RESERVED)


def _usable(flags: int) -> bool:
    """An LMB with these flags is assigned to the partition and not reserved (plain int
    masks: IntFlag membership costs a Python call)."""
    return bool(flags & _ASSIGNED) and not flags & _RESERVED


class LmbTable(Sequence[Lmb]):
    """Every LMB in device-tree order, held as runs (:class:`Lmb` with a count) in three
    columns of plain ints, the runs' bases, counts and flags: a table of 65536 single LMBs
    is three tuples, not 65536 objects.  An :class:`Lmb` is made only when asked for, and
    the per-run questions of a plan (:meth:`usable_ranges`, :meth:`meeting`) are answered
    by C-level ``map``s over the columns, with plain int masks for the flags."""

    def __init__(
        self,
        size: int = 0,
        bases: Iterable[int] = (),
        counts: Iterable[int] = (),
        flags: Iterable[int] = (),
    ) -> None:
        self.size = size
        self.bases, self.counts, self.flags = tuple(bases), tuple(counts), tuple(flags)
        sizes = map(operator.mul, self.counts, itertools.repeat(size))
        self.ends = tuple(map(operator.add, self.bases, sizes))
        self._starts = list(itertools.accumulate(self.counts, initial=0))

    def run(self, index: int) -> Lmb:
        """The ``index``-th run."""
        return Lmb(self.bases[index], self.size, _lmb_flags(self.flags[index]), self.counts[index])

    def first_lmb(self, run: int) -> int:
        """The index in the table of run ``run``'s first LMB."""
        return self._starts[run]

    def runs_usable(self) -> Iterator[bool]:
        """Per run, whether it is assigned and not reserved (one mask test per flags value)."""
        usable = {f: _usable(f) for f in set(self.flags)}
        return map(usable.__getitem__, self.flags)

    def usable_ranges(self) -> list[Range]:
        """The ranges of the usable runs, in tree order."""
        keep = list(self.runs_usable())
        starts, ends = itertools.compress(self.bases, keep), itertools.compress(self.ends, keep)
        return list(map(Range, starts, ends))

    def meeting(self, memory: MemoryMap) -> list[int]:
        """The indices of the usable runs that overlap ``memory``, ascending.

        Per run, a binary search for the first range of ``memory`` that ends above the
        run's base; the run meets ``memory`` if that range starts below the run's end."""
        ends = [r.end for r in memory]
        starts = [r.start for r in memory] + [ADDRESS_LIMIT]  # none found: starts too high
        found = map(bisect.bisect_right, itertools.repeat(ends), self.bases)
        meets = map(operator.lt, map(starts.__getitem__, found), self.ends)
        hits = map(operator.and_, meets, self.runs_usable())
        return list(itertools.compress(range(len(self.bases)), hits))

    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, index: int) -> Lmb: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Lmb]: ...

    def __getitem__(self, index: int | slice) -> Lmb | Sequence[Lmb]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        run = bisect.bisect_right(self._starts, index) - 1
        return self.run(run).lmb(index - self._starts[run])

    def _key(self) -> tuple[object, ...]:
        return (self.size if self.bases else 0, self.bases, self.counts, self.flags)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LmbTable) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class Region:
    """A named physical range (firmware area, crash region, ...)."""

    name: str
    range: Range


@dataclass(frozen=True)
class MemoryNode:
    """A ``memory@`` node: its path and the ranges of its ``reg``."""

    path: str
    ranges: tuple[Range, ...]


@dataclass(frozen=True)
class Machine:
    """The memory picture of a machine, as its device tree describes it."""

    platform: Platform
    ram: MemoryMap
    memory_nodes: tuple[MemoryNode, ...]
    lmbs: LmbTable
    lmb_size: int
    drmem_version: int
    rma: Range
    reserved: tuple[Region, ...]
    kernel_end: int | None
    crash: Range | None
    memory_limit: int | None
    opal_base: int = 0
    opal_entry: int = 0
    hvterm_console: bool = False
    opal_console: int | None = None  # OPAL terminal number of /chosen's stdout, if raw
    firmware: tuple[Region, ...] = field(default=())
    old_initrd: Range | None = None

    @property
    def reserved_map(self) -> MemoryMap:
        return MemoryMap(r.range for r in self.reserved)


def be(data: bytes) -> int:
    return int.from_bytes(data, "big")


def prop_int(root: Node, path: str, name: str) -> int | None:
    """The ``<u32>``/``<u64>`` property ``name`` of the node at ``path``, if both exist."""
    node = root.find(path)
    return None if node is None else node.number(name)


def sized_range(root: Node, path: str, base: str, size: str) -> Range | None:
    """The range a pair of base and size properties of one node describe, if both exist."""
    start, length = prop_int(root, path, base), prop_int(root, path, size)
    return Range.sized(start, length) if start is not None and length else None


def nonempty(ranges: list[Range]) -> list[Range]:
    """The ranges that hold something: a ``reg`` entry of size 0 describes nothing."""
    return [r for r in ranges if r.size]


def is_memory_node(node: Node) -> bool:
    return node.name == "memory" or node.name.startswith("memory@")


def memory_nodes(root: Node) -> list[MemoryNode]:
    """Every ``memory@`` node with all of its ``reg`` ranges (not only the first)."""
    out = []
    for node in root.children:
        if not is_memory_node(node):
            continue
        if any(c.startswith("ibm,coherent-device-memory") for c in node.compatible()):
            continue
        out.append(MemoryNode("/" + node.name, tuple(nonempty(node.reg(root)))))
    return out


def dynamic_memory(root: Node) -> tuple[LmbTable, int, int]:
    """The LMBs of ``ibm,dynamic-reconfiguration-memory``, its LMB size and format (1/2)."""
    node = root.child("ibm,dynamic-reconfiguration-memory")
    if node is None:
        return LmbTable(), 0, 0
    size_prop = node.optional("ibm,lmb-size")
    if size_prop is None or len(size_prop) not in (4, 8) or not be(size_prop):
        raise SystemInfoError(
            "bad-lmb-size", text="missing" if size_prop is None else size_prop.hex() or "empty"
        )
    lmb_size = be(size_prop)
    if node.has("ibm,dynamic-memory-v2"):
        return _drmem_v2(node.get("ibm,dynamic-memory-v2"), lmb_size), lmb_size, 2
    if node.has("ibm,dynamic-memory"):
        return _drmem_v1(node.get("ibm,dynamic-memory"), lmb_size), lmb_size, 1
    return LmbTable(), lmb_size, 0


#: Entries per struct call in :func:`_columns` (a format of 4096 entries compiles to ~12k
#: codes; the whole of a 4 Mi-LMB table at once would be ~12 M).
_DRMEM_CHUNK = 4096


def _columns(
    data: bytes, cell: tuple[tuple[str, int], ...], names: tuple[str, ...], what: str
) -> list[Sequence[int]]:
    """The fields ``names`` of every entry after the u32 count, one column each, in the
    order of ``names``: struct calls over :data:`_DRMEM_CHUNK` entries at a time, the
    cell's layout repeated per entry with the other fields skipped as pad bytes, so no
    Python code runs per entry, only the fields asked for become ints, and the compiled
    format stays small whatever the count."""
    if len(data) < 4:
        raise SystemInfoError("truncated-drmem", what=what, size=len(data))
    count = be(data[:4])
    held = (len(data) - 4) // DRMEM_ENTRY_SIZE
    if count > held:
        raise SystemInfoError("short-drmem", what=what, count=count, held=held)
    if count == 0:
        return [() for _ in names]
    codes = {1: "I", 2: "Q"}  # big-endian u32, u64 (of_read_number of 1 and 2 cells)
    entry = "".join(codes[c] if n in names else f"{4 * c}x" for n, c in cell)
    values: list[int] = []
    chunk = struct.Struct(">" + entry * min(count, _DRMEM_CHUNK))
    whole = count - count % _DRMEM_CHUNK if count > _DRMEM_CHUNK else count
    for offset in range(4, 4 + whole * DRMEM_ENTRY_SIZE, chunk.size):
        values += chunk.unpack_from(data, offset)
    if whole < count:
        values += struct.unpack_from(
            ">" + entry * (count - whole), data, 4 + whole * DRMEM_ENTRY_SIZE
        )
    picked = [n for n, _ in cell if n in names]
    return [values[picked.index(name) :: len(picked)] for name in names]


@functools.lru_cache(maxsize=256)
def _lmb_flags(value: int) -> LmbFlags:
    """LmbFlags(value), made once per distinct value (a machine has a handful, and
    building an IntFlag member costs more than the rest of an LMB's parsing)."""
    return LmbFlags(value)


def _checked(table: LmbTable, what: str) -> LmbTable:
    """Refuse LMBs past the 64-bit address space or more of them than any machine has."""
    beyond = map(operator.gt, table.ends, itertools.repeat(ADDRESS_LIMIT))
    run = next(itertools.compress(range(len(table.ends)), beyond), None)
    if run is not None:
        count, address = table.counts[run], table.bases[run]
        raise SystemInfoError(
            "lmbs-beyond-64-bit", what=what, count=count, size=table.size, address=address
        )
    if len(table) > MAX_LMBS:
        raise SystemInfoError("too-many-lmbs", what=what, count=len(table), limit=MAX_LMBS)
    return table


def _drmem_v1(data: bytes, lmb_size: int) -> LmbTable:
    """One run per stretch of consecutive entries, each LMB following the last with the
    same flags: the breaks are found by C-level comparisons of the columns."""
    what = "ibm,dynamic-memory"
    bases, flags = _columns(data, DRMEM_V1_CELL, ("base_addr", "flags"), what)
    if not bases:
        return LmbTable()
    follows = map(operator.eq, bases[1:], map(operator.add, bases, itertools.repeat(lmb_size)))
    joined = map(operator.and_, follows, map(operator.eq, flags[1:], flags))
    firsts = [0, *itertools.compress(range(1, len(bases)), map(operator.not_, joined))]
    counts = map(operator.sub, [*firsts[1:], len(bases)], firsts)
    run_bases, run_flags = map(bases.__getitem__, firsts), map(flags.__getitem__, firsts)
    return _checked(LmbTable(lmb_size, run_bases, counts, run_flags), what)


def _drmem_v2(data: bytes, lmb_size: int) -> LmbTable:
    """One run per set; a set of no LMBs describes nothing."""
    what = "ibm,dynamic-memory-v2"
    counts, bases, flags = _columns(data, DRMEM_V2_CELL, ("seq_lmbs", "base_addr", "flags"), what)
    kept = [itertools.compress(column, counts) for column in (bases, counts, flags)]
    return _checked(LmbTable(lmb_size, *kept), what)


def _firmware_regions(root: Node) -> list[Region]:
    """RTAS, OPAL, TCE tables and reserved-ranges: never touched, never dumped away."""
    out: list[Region] = []
    # arch/powerpc/kernel/rtas.c and opal.c export where the firmware lives
    for name, path, base, size in (
        ("rtas", "/rtas", "linux,rtas-base", "rtas-size"),
        ("opal", "/ibm,opal", "opal-base-address", "opal-runtime-size"),
    ):
        r = sized_range(root, path, base, size)
        if r is not None:
            out.append(Region(name, r))
    # skiboot's reserved-ranges: (address, size) pairs of 2 cells each
    for r in nonempty(root.get_ranges("reserved-ranges", 2, 2)):
        out.append(Region("reserved-ranges", r))
    reserved_memory = root.child("reserved-memory")
    if reserved_memory is not None:
        # DTSpec 3.5: static reservations (OPAL's hostboot images on powernv, ...).
        ac, sc = reserved_memory.cell_sizes(defaults=(2, 2))
        for node in reserved_memory.children:
            for r in nonempty(node.get_ranges("reg", ac, sc)):
                out.append(Region(f"reserved-memory {node.name}", r))
    for node in root.children:
        tce_base, tce_size = node.number("linux,tce-base"), node.number("linux,tce-size")
        if node.name.startswith("pci") and tce_base is not None and tce_size:
            out.append(Region(f"tce {node.name}", Range.sized(tce_base, tce_size)))
    return out


def _hvterm_console(root: Node) -> bool:
    """Whether /chosen's stdout is the pSeries hypervisor terminal (H_PUT_TERM_CHAR works)."""
    node = _stdout_node(root)
    compat = [] if node is None else node.compatible()
    return any(c in ("hvterm1", "hvterm-protocol") for c in compat)


def _stdout_node(root: Node) -> Node | None:
    """The node /chosen's (linux,)stdout-path names (DTSpec 3.6), if any."""
    chosen = root.child("chosen")
    if chosen is None:
        return None
    path = chosen.string("linux,stdout-path") or chosen.string("stdout-path")
    if not path:
        return None
    return root.find(path.split(":")[0])


def _opal_console(root: Node) -> int | None:
    """The OPAL terminal number of /chosen's stdout when it is a raw OPAL console.

    skiboot puts its consoles under /ibm,opal/consoles with ``reg`` = the terminal number
    OPAL_CONSOLE_WRITE takes (core/console.c ``dummy_console_add_nodes``, hw/fsp/fsp-console.c);
    "ibm,opal-console-raw" takes bytes as they are, "ibm,opal-console-hvsi" wants the HVSI
    protocol (Linux drivers/tty/hvc/hvc_opal.c), which the purgatory does not speak.
    """
    node = _stdout_node(root)
    consoles = root.find("/ibm,opal/consoles")
    if node is None or consoles is None or not any(c is node for c in consoles.children):
        return None
    reg = node.optional("reg")
    if "ibm,opal-console-raw" not in node.compatible() or reg is None or len(reg) != 4:
        return None
    return be(reg)


def describe(root: Node) -> Machine:
    """Derive the :class:`Machine` from the root of a device tree."""
    nodes = memory_nodes(root)
    lmbs, lmb_size, version = dynamic_memory(root)
    ram = MemoryMap([r for n in nodes for r in n.ranges] + lmbs.usable_ranges())
    if not ram:
        raise SystemInfoError("no-memory")
    lowest = min((n for n in nodes if n.ranges), key=lambda n: n.ranges[0].start, default=None)
    rma = lowest.ranges[0] if lowest else ram.ranges[0]
    firmware = _firmware_regions(root)
    reserved = list(firmware)
    kernel_end = prop_int(root, "/chosen", "linux,kernel-end")
    if kernel_end:
        reserved.append(Region("running kernel", Range(0, kernel_end)))
    htab = sized_range(root, "/chosen", "linux,htab-base", "linux,htab-size")
    if htab is not None:
        reserved.append(Region("hash table", htab))
    # arch/powerpc/kexec/core.c export_crashk_values()
    crash = sized_range(root, "/chosen", "linux,crashkernel-base", "linux,crashkernel-size")
    platform = Platform.POWERNV if root.child("ibm,opal") else Platform.PSERIES
    initrd_start = prop_int(root, "/chosen", "linux,initrd-start")
    initrd_end = prop_int(root, "/chosen", "linux,initrd-end")
    old_initrd = (
        Range(initrd_start, initrd_end)
        if initrd_start is not None and initrd_end and initrd_end > initrd_start
        else None
    )
    return Machine(
        platform=platform,
        ram=ram,
        memory_nodes=tuple(nodes),
        lmbs=lmbs,
        lmb_size=lmb_size,
        drmem_version=version,
        rma=rma,
        reserved=tuple(reserved),
        kernel_end=kernel_end,
        crash=crash,
        memory_limit=prop_int(root, "/chosen", "linux,memory-limit"),
        opal_base=prop_int(root, "/ibm,opal", "opal-base-address") or 0,
        opal_entry=prop_int(root, "/ibm,opal", "opal-entry-address") or 0,
        hvterm_console=_hvterm_console(root),
        opal_console=_opal_console(root),
        firmware=tuple(firmware),
        old_initrd=old_initrd,
    )
