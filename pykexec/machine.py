"""What a POWER machine's memory looks like, from its device tree. Pure.

From the running kernel's device tree (the model of
:mod:`pykexec.devicetree.fdt`) this module derives the RAM, the real-mode
area (RMA), the regions that must not be touched (RTAS, OPAL, TCE tables,
``reserved-ranges``, the running kernel), the crash-kernel reservation and the
firmware kind (pseries or powernv).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum, IntFlag

from pykexec.devicetree.fdt import Node
from pykexec.devicetree.props import cell_sizes
from pykexec.errors import SystemInfoError
from pykexec.memory import MemoryMap, Range


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
# after a big-endian u32 entry count: field -> (offset, size)
DRMEM_V1 = {"base": (0, 8), "drc_index": (8, 4), "aa_index": (16, 4), "flags": (20, 4)}
DRMEM_V2 = {
    "count": (0, 4),
    "base": (4, 8),
    "drc_index": (12, 4),
    "aa_index": (16, 4),
    "flags": (20, 4),
}
DRMEM_ENTRY_SIZE = 24


@dataclass(frozen=True)
class Lmb:
    """A logical memory block of dynamic reconfiguration memory."""

    base: int
    size: int
    flags: LmbFlags

    @property
    def usable(self) -> bool:
        return LmbFlags.ASSIGNED in self.flags and LmbFlags.RESERVED not in self.flags

    @property
    def range(self) -> Range:
        return Range.sized(self.base, self.size)


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
    lmbs: tuple[Lmb, ...]
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


def cells(data: bytes, count: int) -> Iterator[int]:
    """Big-endian numbers of ``count`` 32-bit cells each."""
    step = 4 * count
    for i in range(0, len(data) - step + 1, step):
        yield be(data[i : i + step])


def prop(root: Node, path: str, name: str) -> bytes | None:
    node = root.find(path)
    return None if node is None else node.props.get(name)


def prop_int(root: Node, path: str, name: str) -> int | None:
    data = prop(root, path, name)
    return None if data is None or not data else be(data)


def sized_range(root: Node, path: str, base: str, size: str) -> Range | None:
    """The range a pair of base and size properties of one node describe, if both exist."""
    start, length = prop_int(root, path, base), prop_int(root, path, size)
    return Range.sized(start, length) if start is not None and length else None


def decode_reg(data: bytes, address_cells: int, size_cells: int) -> list[Range]:
    step = 4 * (address_cells + size_cells)
    out = []
    for i in range(0, len(data) - step + 1, step):
        base = be(data[i : i + 4 * address_cells])
        size = be(data[i + 4 * address_cells : i + step])
        if size:
            out.append(Range.sized(base, size))
    return out


def is_memory_node(node: Node) -> bool:
    return node.name == "memory" or node.name.startswith("memory@")


def memory_nodes(root: Node) -> list[MemoryNode]:
    """Every ``memory@`` node with all of its ``reg`` ranges (not only the first)."""
    ac, sc = cell_sizes(root)
    out = []
    for node in root.children:
        if not is_memory_node(node):
            continue
        if node.props.get("compatible", b"").startswith(b"ibm,coherent-device-memory"):
            continue
        out.append(
            MemoryNode("/" + node.name, tuple(decode_reg(node.props.get("reg", b""), ac, sc)))
        )
    return out


def dynamic_memory(root: Node) -> tuple[list[Lmb], int, int]:
    """The LMBs of ``ibm,dynamic-reconfiguration-memory``, its LMB size and format (1/2)."""
    node = root.child("ibm,dynamic-reconfiguration-memory")
    if node is None:
        return [], 0, 0
    size_prop = node.props.get("ibm,lmb-size")
    if not size_prop:
        raise SystemInfoError("ibm,dynamic-reconfiguration-memory has no ibm,lmb-size")
    lmb_size = be(size_prop)
    if "ibm,dynamic-memory-v2" in node.props:
        return _drmem_v2(node.props["ibm,dynamic-memory-v2"], lmb_size), lmb_size, 2
    if "ibm,dynamic-memory" in node.props:
        return _drmem_v1(node.props["ibm,dynamic-memory"], lmb_size), lmb_size, 1
    return [], lmb_size, 0


def _field(entry: bytes, layout: dict[str, tuple[int, int]], name: str) -> int:
    offset, size = layout[name]
    return be(entry[offset : offset + size])


def _entries(data: bytes, what: str) -> Iterator[bytes]:
    if len(data) < 4:
        raise SystemInfoError(f"{what} is truncated ({len(data)} bytes)")
    count = be(data[:4])
    if 4 + count * DRMEM_ENTRY_SIZE > len(data):
        raise SystemInfoError(f"{what} announces {count} entries but holds {(len(data) - 4) // 24}")
    for i in range(count):
        yield data[4 + i * DRMEM_ENTRY_SIZE : 4 + (i + 1) * DRMEM_ENTRY_SIZE]


def _drmem_v1(data: bytes, lmb_size: int) -> list[Lmb]:
    return [
        Lmb(_field(e, DRMEM_V1, "base"), lmb_size, LmbFlags(_field(e, DRMEM_V1, "flags")))
        for e in _entries(data, "ibm,dynamic-memory")
    ]


def _drmem_v2(data: bytes, lmb_size: int) -> list[Lmb]:
    out: list[Lmb] = []
    for e in _entries(data, "ibm,dynamic-memory-v2"):
        base = _field(e, DRMEM_V2, "base")
        flags = LmbFlags(_field(e, DRMEM_V2, "flags"))
        out.extend(
            Lmb(base + i * lmb_size, lmb_size, flags) for i in range(_field(e, DRMEM_V2, "count"))
        )
    return out


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
    for r in decode_reg(root.props.get("reserved-ranges", b""), 2, 2):
        out.append(Region("reserved-ranges", r))
    reserved_memory = root.child("reserved-memory")
    if reserved_memory is not None:
        # DTSpec 3.5: static reservations (OPAL's hostboot images on powernv, ...).
        ac = reserved_memory.props.get("#address-cells")
        sc = reserved_memory.props.get("#size-cells")
        for node in reserved_memory.children:
            for r in decode_reg(
                node.props.get("reg", b""), be(ac) if ac else 2, be(sc) if sc else 2
            ):
                out.append(Region(f"reserved-memory {node.name}", r))
    for node in root.children:
        tce_base, tce_size = node.props.get("linux,tce-base"), node.props.get("linux,tce-size")
        if node.name.startswith("pci") and tce_base and tce_size:
            out.append(Region(f"tce {node.name}", Range.sized(be(tce_base), be(tce_size))))
    return out


def _hvterm_console(root: Node) -> bool:
    """Whether /chosen's stdout is the pSeries hypervisor terminal (H_PUT_TERM_CHAR works)."""
    node = _stdout_node(root)
    compat = b"" if node is None else node.props.get("compatible", b"")
    return any(c in (b"hvterm1", b"hvterm-protocol") for c in compat.split(b"\0"))


def _stdout_node(root: Node) -> Node | None:
    """The node /chosen's (linux,)stdout-path names (DTSpec 3.6), if any."""
    chosen = root.child("chosen")
    if chosen is None:
        return None
    path = chosen.props.get("linux,stdout-path") or chosen.props.get("stdout-path")
    if not path:
        return None
    return root.find(path.rstrip(b"\0").decode(errors="replace").split(":")[0])


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
    compat = node.props.get("compatible", b"").split(b"\0")
    reg = node.props.get("reg", b"")
    if b"ibm,opal-console-raw" not in compat or len(reg) != 4:
        return None
    return be(reg)


def describe(root: Node) -> Machine:
    """Derive the :class:`Machine` from the root of a device tree."""
    nodes = memory_nodes(root)
    lmbs, lmb_size, version = dynamic_memory(root)
    ram = MemoryMap(
        [r for n in nodes for r in n.ranges] + [lmb.range for lmb in lmbs if lmb.usable]
    )
    if not ram:
        raise SystemInfoError("the device tree describes no memory (no memory@ node, no LMB)")
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
        lmbs=tuple(lmbs),
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
