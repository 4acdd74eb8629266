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
import struct
from collections.abc import Iterator, Sequence
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


# PAPR "ibm,dynamic-memory" (v1) and "ibm,dynamic-memory-v2" entries, 24 bytes each,
# after a big-endian u32 entry count (arch/powerpc/include/asm/drmem.h struct
# of_drconf_cell_v1 and of_drconf_cell_v2).
DRMEM_V1 = struct.Struct(">QIIII")  # base_addr, drc_index, reserved, aa_index, flags
DRMEM_V2 = struct.Struct(">IQIII")  # seq_lmbs, base_addr, drc_index, aa_index, flags
DRMEM_ENTRY_SIZE = 24
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
        """Assigned to the partition and not reserved (plain bit tests: called per LMB)."""
        value = int(self.flags)
        return bool(value & _ASSIGNED) and not value & _RESERVED

    @property
    def range(self) -> Range:
        return Range.sized(self.base, self.count * self.size)

    def lmb(self, index: int) -> Lmb:
        """The ``index``-th single LMB of this run."""
        return Lmb(self.base + index * self.size, self.size, self.flags)


_ASSIGNED, _RESERVED = int(LmbFlags.ASSIGNED), int(LmbFlags.RESERVED)


class LmbTable(Sequence[Lmb]):
    """Every LMB in device-tree order, expanded from runs only when indexed."""

    def __init__(self, runs: tuple[Lmb, ...] = ()) -> None:
        self.runs = runs
        self._starts = list(itertools.accumulate((r.count for r in runs), initial=0))

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
        return self.runs[run].lmb(index - self._starts[run])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LmbTable) and self.runs == other.runs

    def __hash__(self) -> int:
        return hash(self.runs)


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
        runs = _drmem_v2(node.get("ibm,dynamic-memory-v2"), lmb_size)
        return LmbTable(runs), lmb_size, 2
    if node.has("ibm,dynamic-memory"):
        return LmbTable(_drmem_v1(node.get("ibm,dynamic-memory"), lmb_size)), lmb_size, 1
    return LmbTable(), lmb_size, 0


def _entries(data: bytes, layout: struct.Struct, what: str) -> Iterator[tuple[int, ...]]:
    """The entries after the u32 count, each unpacked by ``layout``."""
    if len(data) < 4:
        raise SystemInfoError("truncated-drmem", what=what, size=len(data))
    count = be(data[:4])
    held = (len(data) - 4) // DRMEM_ENTRY_SIZE
    if count > held:
        raise SystemInfoError("short-drmem", what=what, count=count, held=held)
    return layout.iter_unpack(data[4 : 4 + count * DRMEM_ENTRY_SIZE])


@functools.lru_cache(maxsize=256)
def _lmb_flags(value: int) -> LmbFlags:
    """LmbFlags(value), made once per distinct value (a machine has a handful, and
    building an IntFlag member costs more than the rest of an LMB's parsing)."""
    return LmbFlags(value)


def _check_runs(runs: list[Lmb], what: str) -> tuple[Lmb, ...]:
    """Refuse LMBs past the 64-bit address space or more of them than any machine has."""
    total = 0
    for run in runs:
        total += run.count
        if run.base + run.count * run.size > ADDRESS_LIMIT:
            raise SystemInfoError(
                "lmbs-beyond-64-bit", what=what, count=run.count, size=run.size, address=run.base
            )
    if total > MAX_LMBS:
        raise SystemInfoError("too-many-lmbs", what=what, count=total, limit=MAX_LMBS)
    return tuple(runs)


def _drmem_v1(data: bytes, lmb_size: int) -> tuple[Lmb, ...]:
    # consecutive LMBs with the same flags, as (base, count, flags), merged first
    merged: list[list[int]] = []
    for base, _, _, _, flags in _entries(data, DRMEM_V1, "ibm,dynamic-memory"):
        last = merged[-1] if merged else None
        if last is not None and last[2] == flags and last[0] + last[1] * lmb_size == base:
            last[1] += 1
        else:
            merged.append([base, 1, flags])
    runs = [Lmb(base, lmb_size, _lmb_flags(flags), count) for base, count, flags in merged]
    return _check_runs(runs, "ibm,dynamic-memory")


def _drmem_v2(data: bytes, lmb_size: int) -> tuple[Lmb, ...]:
    runs = [
        Lmb(base, lmb_size, _lmb_flags(flags), count)
        for count, base, _, _, flags in _entries(data, DRMEM_V2, "ibm,dynamic-memory-v2")
    ]
    return _check_runs([r for r in runs if r.count], "ibm,dynamic-memory-v2")


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
    ram = MemoryMap(
        [r for n in nodes for r in n.ranges] + [run.range for run in lmbs.runs if run.usable]
    )
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
