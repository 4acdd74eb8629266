# SPDX-License-Identifier: GPL-2.0-or-later
"""What a captured snapshot says about its machine, read without pykexec's readers.

The plan tests take their expectations from here instead of from pykexec.core.machine,
pykexec.core.memory or pykexec.system.sysinfo:

- RAM from the snapshot's /proc/iomem ("System RAM"; "Crash kernel" where present);
- from its /proc/device-tree, compiled by dtc (``dtc -I fs -O dtb``) and read with
  libfdt: the memory nodes, the crash region (/chosen linux,crashkernel-base and
  -size, arch/powerpc/kexec/core.c export_crashk_values), the running kernel's end
  (/chosen linux,kernel-end), the firmware regions (/rtas linux,rtas-base and
  rtas-size, arch/powerpc/kernel/rtas.c; /ibm,opal opal-base-address and
  opal-runtime-size, arch/powerpc/platforms/powernv/opal.c; the root's
  reserved-ranges and /reserved-memory's children, DTSpec 3.5);
- from /sys: the crash size (kexec_crash_size), the CPUs' crash notes, vmcoreinfo.

Ranges are plain ``(start, end)`` pairs, end exclusive, with the interval
arithmetic written here.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import oracles

Span = tuple[int, int]  # [start, end)

SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "snapshots"


def merge(spans: list[Span]) -> list[Span]:
    """Sorted, with touching or overlapping spans joined; empty spans dropped."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(spans: list[Span], cut: Span) -> list[Span]:
    out: list[Span] = []
    for start, end in merge(spans):
        if start < cut[0]:
            out.append((start, min(end, cut[0])))
        if end > cut[1]:
            out.append((max(start, cut[1]), end))
    return merge(out)


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def inside(inner: Span, outer: Span) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def inside_any(inner: Span, spans: list[Span]) -> bool:
    return any(inside(inner, s) for s in merge(spans))


def iomem_spans(text: str, name: str, *, nested: bool = False) -> list[Span]:
    """/proc/iomem lines called ``name`` (``start-end : name``, end inclusive): top-level
    ones only, or also indented ones (``Crash kernel`` sits inside ``System RAM``)."""
    out = []
    for line in text.splitlines():
        if line.startswith(" ") and not nested:
            continue
        span, _, what = line.strip().partition(" : ")
        if what.strip() == name:
            first, last = (int(x, 16) for x in span.split("-"))
            out.append((first, last + 1))
    return merge(out)


def dtb_of_directory(directory: Path) -> bytes:
    """``dtc -I fs -O dtb`` of a /proc/device-tree-style directory."""
    done = subprocess.run(
        [oracles.dtc(), "-q", "-I", "fs", "-O", "dtb", "-o", "-", str(directory)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


class Tree:
    """A flattened tree read through libfdt (big-endian numbers of any width)."""

    def __init__(self, blob: bytes) -> None:
        self.libfdt = oracles.libfdt()
        self.fdt: Any = self.libfdt.Fdt(blob)

    def offset(self, path: str) -> int | None:
        off = self.fdt.path_offset(path, (self.libfdt.NOTFOUND,))
        return None if off < 0 else int(off)

    def raw(self, path: str, name: str) -> bytes | None:
        off = self.offset(path)
        if off is None:
            return None
        value = self.fdt.getprop(off, name, (self.libfdt.NOTFOUND,))
        return None if isinstance(value, int) else bytes(value)

    def number(self, path: str, name: str) -> int | None:
        value = self.raw(path, name)
        return None if value is None else int.from_bytes(value, "big")

    def children(self, path: str) -> list[str]:
        out: list[str]
        off, out = self.offset(path), []
        if off is None:
            return out
        sub = self.fdt.first_subnode(off, (self.libfdt.NOTFOUND,))
        while sub >= 0:
            out.append(self.fdt.get_name(sub))
            sub = self.fdt.next_subnode(sub, (self.libfdt.NOTFOUND,))
        return out

    def nodes(self) -> dict[str, dict[str, bytes]]:
        """Every node's path with its properties, in tree order."""
        quiet = (self.libfdt.NOTFOUND,)
        out: dict[str, dict[str, bytes]] = {}
        offset, depth = 0, 0
        while offset >= 0 and depth >= 0:
            props = {}
            prop = self.fdt.first_property_offset(offset, quiet)
            while prop >= 0:
                value = self.fdt.get_property_by_offset(prop)
                props[value.name] = bytes(value)
                prop = self.fdt.next_property_offset(prop, quiet)
            out[self.fdt.get_path(offset)] = props
            offset, depth = self.libfdt.fdt_next_node(self.fdt._fdt, offset, depth)
        return out

    def reg(self, path: str, address_cells: int, size_cells: int) -> list[Span]:
        data, step = self.raw(path, "reg") or b"", 4 * (address_cells + size_cells)
        out = []
        for i in range(0, len(data) - step + 1, step):
            base = int.from_bytes(data[i : i + 4 * address_cells], "big")
            size = int.from_bytes(data[i + 4 * address_cells : i + step], "big")
            out.append((base, base + size))
        return [s for s in out if s[1] > s[0]]

    def pair(self, path: str, base: str, size: str) -> Span | None:
        start, length = self.number(path, base), self.number(path, size)
        return None if start is None or not length else (start, start + length)


@dataclass(frozen=True)
class Snapshot:
    """The facts of one captured snapshot, each read from the snapshot's own files."""

    name: str
    root: Path
    system_ram: list[Span]  # /proc/iomem
    memory_nodes: dict[str, list[Span]]  # device tree: memory@ node path -> reg
    rma: Span  # the reg range of the memory node at address 0 (PAPR: the RMA)
    crash: Span | None
    crash_size_sysfs: int
    crash_iomem: list[Span]  # /proc/iomem "Crash kernel" (when the capture kept it)
    kernel_end: int | None
    firmware: list[tuple[str, Span]]
    crash_notes: list[tuple[int, int]]  # per possible CPU: (address, size), /sys
    vmcoreinfo: tuple[int, int] | None
    blob: bytes  # the running tree, as dtc compiles the directory


def _firmware(tree: Tree) -> list[tuple[str, Span]]:
    out: list[tuple[str, Span]] = []
    for name, path, base, size in (
        ("rtas", "/rtas", "linux,rtas-base", "rtas-size"),
        ("opal", "/ibm,opal", "opal-base-address", "opal-runtime-size"),
    ):
        span = tree.pair(path, base, size)
        if span is not None:
            out.append((name, span))
    ranges = tree.raw("/", "reserved-ranges") or b""
    for i in range(0, len(ranges) - 15, 16):
        first = int.from_bytes(ranges[i : i + 8], "big")
        length = int.from_bytes(ranges[i + 8 : i + 16], "big")
        out.append(("reserved-ranges", (first, first + length)))
    ac = tree.number("/reserved-memory", "#address-cells") or 2
    sc = tree.number("/reserved-memory", "#size-cells") or 2
    for child in tree.children("/reserved-memory"):
        out += [
            (f"reserved-memory {child}", s) for s in tree.reg(f"/reserved-memory/{child}", ac, sc)
        ]
    return out


def _sys_pair(path: Path) -> tuple[int, int] | None:
    if not path.is_file():
        return None
    address, size = path.read_text().split()
    return int(address, 16), int(size, 16)


def _crash_notes(root: Path) -> list[tuple[int, int]]:
    cpu_dir = root / "sys/devices/system/cpu"
    out = []
    for first, _, last in (
        p.partition("-") for p in (cpu_dir / "possible").read_text().strip().split(",")
    ):
        for cpu in range(int(first), int(last or first) + 1):
            note = cpu_dir / f"cpu{cpu}"
            if (note / "crash_notes").is_file():
                address = int((note / "crash_notes").read_text(), 16)
                out.append((address, int((note / "crash_notes_size").read_text())))
    return out


def read_snapshot(root: Path) -> Snapshot:
    blob = dtb_of_directory(root / "proc/device-tree")
    tree = Tree(blob)
    ac, sc = tree.number("/", "#address-cells") or 2, tree.number("/", "#size-cells") or 1
    nodes = {
        f"/{child}": tree.reg(f"/{child}", ac, sc)
        for child in tree.children("/")
        if child == "memory" or child.startswith("memory@")
    }
    rma = next(spans[0] for spans in nodes.values() if spans and spans[0][0] == 0)
    crash_size = root / "sys/kernel/kexec_crash_size"
    return Snapshot(
        name=root.name,
        root=root,
        system_ram=iomem_spans((root / "proc/iomem").read_text(), "System RAM"),
        memory_nodes=nodes,
        rma=rma,
        crash=tree.pair("/chosen", "linux,crashkernel-base", "linux,crashkernel-size"),
        crash_size_sysfs=int(crash_size.read_text()) if crash_size.is_file() else 0,
        crash_iomem=iomem_spans((root / "proc/iomem").read_text(), "Crash kernel", nested=True),
        kernel_end=tree.number("/chosen", "linux,kernel-end"),
        firmware=_firmware(tree),
        crash_notes=_crash_notes(root),
        vmcoreinfo=_sys_pair(root / "sys/kernel/vmcoreinfo"),
        blob=blob,
    )


def captured() -> list[Path]:
    """Every committed snapshot with a device tree."""
    return sorted(p for p in SNAPSHOTS.iterdir() if (p / "proc/device-tree").is_dir())
