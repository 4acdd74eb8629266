# SPDX-License-Identifier: GPL-2.0-or-later
"""The flattened device tree: the whole-tree record, a parser and a serialiser.

The blob format is DTSpec v0.4 chapter 5 ("Flattened Devicetree (DTB) Format"):

* a header (§5.2) of ten big-endian u32 fields, :class:`FdtHeader`;
* the memory reservation block (§5.3): big-endian (u64 address, u64 size) pairs,
  8-byte aligned, ended by an entry of size 0;
* the structure block (§5.4): big-endian u32 tokens (:class:`FdtToken`), each
  node name and property value padded to 4 bytes;
* the strings block (§5.5): NUL-terminated property names referenced by offset.

:func:`build_fdt` lays the blocks out exactly as ``dtc -O dtb`` does (header,
reservation map, structure, strings, then optional free space), so a tree that
``dtc`` compiled parses and rebuilds to the same bytes.

:class:`DeviceTree` is what a blob holds: the root :class:`~.tree.Node` (the node model,
:mod:`.tree`), the reservation map and the header's boot CPU.  Everything here is pure:
bytes and trees in, bytes and trees out.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field, fields
from enum import IntEnum

from pykexec.core.devicetree.props import (
    CELL_SIZE,
    cells_to_ints,
    decode_text,
    encode_reg,
    encode_text,
    ints_to_cells,
)
from pykexec.core.devicetree.tree import Node
from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError

__all__ = [
    "FDT_LAST_COMP_VERSION",
    "FDT_MAGIC",
    "FDT_VERSION",
    "DeviceTree",
    "FdtHeader",
    "FdtToken",
    "build_fdt",
    "cells_to_ints",
    "encode_reg",
    "flat_size",
    "ints_to_cells",
    "parse_fdt",
]

#: DTSpec v0.4 §5.2: the value of ``magic``.
FDT_MAGIC = 0xD00DFEED
#: DTSpec v0.4 §5.2: the version this module writes (the current one).
FDT_VERSION = 17
#: DTSpec v0.4 §5.2: "shall contain 16" — v17 readers can read v16 trees.
FDT_LAST_COMP_VERSION = 16
#: The oldest version whose layout :func:`parse_fdt` understands (root name "",
#: no 8-byte alignment of large property values; libfdt's FDT_FIRST_SUPPORTED_VERSION
#: is 0x02 but blobs older than 16 are not produced by any current tool).
_OLDEST_READABLE_VERSION = 16


class FdtToken(IntEnum):
    """Structure block tokens (DTSpec v0.4 §5.4.1, libfdt ``fdt.h`` FDT_*)."""

    BEGIN_NODE = 0x1
    END_NODE = 0x2
    PROP = 0x3
    NOP = 0x4
    END = 0x9


@dataclass(frozen=True)
class FdtHeader:
    """``struct fdt_header`` (DTSpec v0.4 §5.2, libfdt ``fdt.h``).

    The field order below *is* the on-disk layout: ten big-endian u32 values,
    packed by :data:`_HEADER`. ``size_dt_struct`` exists from version 17 on;
    in a version-16 blob those bytes belong to the reservation map.
    """

    magic: int
    totalsize: int
    off_dt_struct: int
    off_dt_strings: int
    off_mem_rsvmap: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    size_dt_strings: int
    size_dt_struct: int

    def pack(self) -> bytes:
        """The 40 header bytes, big-endian."""
        return _HEADER.pack(*astuple(self))

    @classmethod
    def unpack(cls, blob: bytes) -> FdtHeader:
        """Read the header from the start of ``blob`` (which must hold 40 bytes)."""
        return cls(*_HEADER.unpack_from(blob, 0))


#: The header layout: one big-endian u32 ("I") per :class:`FdtHeader` field, in order.
_HEADER = struct.Struct(">" + "I" * len(fields(FdtHeader)))
#: ``struct fdt_reserve_entry`` (DTSpec v0.4 §5.3.2): big-endian u64 address, u64 size.
_RESERVE_ENTRY = struct.Struct(">QQ")
#: A structure block token (DTSpec v0.4 §5.4.1).
_TOKEN = struct.Struct(">I")
#: FDT_PROP's operands (DTSpec v0.4 §5.4.1): u32 len, u32 nameoff.
_PROP_HEADER = struct.Struct(">II")
#: DTSpec v0.4 §5.4.2: tokens sit on 4-byte boundaries.
_TOKEN_ALIGN = 4
_U32_MAX = 0xFFFF_FFFF
#: The longest property name read. DTSpec v0.4 §2.2.4.1 allows 31 characters; real
#: trees stay under 64; this bound only keeps a damaged strings block linear.
MAX_NAME_LENGTH = 1024
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


def _pad4(length: int) -> int:
    return -length & (_TOKEN_ALIGN - 1)


@dataclass
class DeviceTree:
    """A whole tree: the root node plus the header's other contents.

    ``version`` and ``last_comp_version`` record what :func:`parse_fdt` read;
    :func:`build_fdt` always writes :data:`FDT_VERSION` and
    :data:`FDT_LAST_COMP_VERSION`, the only layout it produces (as libfdt's
    ``fdt_open_into`` converts older trees to version 17).
    """

    root: Node = field(default_factory=lambda: Node(""))
    reserve_map: list[Range] = field(default_factory=list)
    boot_cpuid_phys: int = 0
    version: int = FDT_VERSION
    last_comp_version: int = FDT_LAST_COMP_VERSION

    def find(self, path: str, *, ignore_unit: bool = False) -> Node | None:
        """The node at absolute ``path`` (see :meth:`Node.find`)."""
        return self.root.find(path, ignore_unit=ignore_unit)

    def node(self, path: str) -> Node:
        """The node at absolute ``path``; raises :class:`DeviceTreeError` if missing."""
        found = self.root.find(path)
        if found is None:
            raise DeviceTreeError("no-node", path=path)
        return found

    def copy(self) -> DeviceTree:
        """A deep copy (a plan can change it without touching the original)."""
        return DeviceTree(
            self.root.copy(),
            list(self.reserve_map),
            self.boot_cpuid_phys,
            self.version,
            self.last_comp_version,
        )


def flat_size(node: Node) -> int:
    """At most what ``node`` (not its children) adds to a flattened tree: its
    FDT_BEGIN_NODE/FDT_END_NODE, name, FDT_PROP records and their names in the
    strings block (DTSpec v0.4 §5.4)."""
    name = len(encode_text(node.name)) + 1
    tokens = 2 * _TOKEN.size + name + _pad4(name)
    props = sum(
        3 * _TOKEN.size + len(value) + _pad4(len(value)) + len(encode_text(prop)) + 1
        for prop, value in node.props.items()
    )
    return tokens + props


# -- parsing -----------------------------------------------------------------


def parse_fdt(blob: bytes) -> DeviceTree:
    """Parse a flattened device tree blob (version 16 or later).

    Bytes after ``totalsize`` are ignored. Raises :class:`DeviceTreeError`
    naming the problem and its offset for a bad magic number, an unsupported
    version, a truncated blob or a malformed block.
    """
    blob = bytes(blob)
    header = _check_header(blob)
    reserve_map = _parse_reserve_map(blob, header)
    struct_end = header.totalsize
    if header.version >= FDT_VERSION:
        struct_end = header.off_dt_struct + header.size_dt_struct
    strings = blob[header.off_dt_strings : header.off_dt_strings + header.size_dt_strings]
    root = _StructParser(blob, header.off_dt_struct, struct_end, strings).parse()
    return DeviceTree(
        root=root,
        reserve_map=reserve_map,
        boot_cpuid_phys=header.boot_cpuid_phys,
        version=header.version,
        last_comp_version=header.last_comp_version,
    )


def _check_header(blob: bytes) -> FdtHeader:
    if len(blob) < _HEADER.size:
        raise DeviceTreeError("header-truncated", size=len(blob), limit=_HEADER.size)
    header = FdtHeader.unpack(blob)
    if header.magic != FDT_MAGIC:
        raise DeviceTreeError("bad-magic", value=header.magic, expected=FDT_MAGIC)
    if header.version < _OLDEST_READABLE_VERSION or header.last_comp_version > FDT_VERSION:
        raise DeviceTreeError("bad-version", version=header.version,
                              last_compatible=header.last_comp_version,
                              oldest=_OLDEST_READABLE_VERSION, newest=FDT_VERSION)  # fmt: skip
    if header.totalsize > len(blob):
        raise DeviceTreeError("blob-truncated", limit=header.totalsize, size=len(blob))
    blocks = [
        ("memory reservation block", header.off_mem_rsvmap, 0),
        ("strings block", header.off_dt_strings, header.size_dt_strings),
        ("structure block", header.off_dt_struct, 0),
    ]
    if header.version >= FDT_VERSION:
        blocks[2] = ("structure block", header.off_dt_struct, header.size_dt_struct)
    for name, offset, size in blocks:
        if offset < _HEADER.size - CELL_SIZE or offset + size > header.totalsize:
            raise DeviceTreeError(
                "block-outside", name=name, offset=offset, size=size, limit=header.totalsize
            )
    if header.off_dt_struct % _TOKEN_ALIGN:
        raise DeviceTreeError("misaligned-structure", offset=header.off_dt_struct)
    return header


def _parse_reserve_map(blob: bytes, header: FdtHeader) -> list[Range]:
    # DTSpec §5.3.2 ends the list with address = size = 0; libfdt (fdt_num_mem_rsv)
    # and the kernel (early_init_fdt_scan_reserved_mem) stop at the first size 0.
    entries: list[Range] = []
    for offset in range(header.off_mem_rsvmap, header.totalsize, _RESERVE_ENTRY.size):
        if offset + _RESERVE_ENTRY.size > header.totalsize:
            break
        address, size = _RESERVE_ENTRY.unpack_from(blob, offset)
        if size == 0:
            return entries
        if address + size > _U64_MAX + 1:
            raise DeviceTreeError("reservation-wraps", address=address, size=size, offset=offset)
        entries.append(Range.sized(address, size))
    raise DeviceTreeError("reservations-unterminated", offset=header.off_mem_rsvmap)


class _StructParser:
    """Walks the structure block token by token (DTSpec v0.4 §5.4)."""

    def __init__(self, blob: bytes, start: int, end: int, strings: bytes) -> None:
        self.blob = blob
        self.offset = start
        self.end = end
        self.strings = strings
        self.names: dict[int, str] = {}
        self.nuls: list[int] | None = None

    def parse(self) -> Node:
        stack: list[Node] = []
        root: Node | None = None
        while True:
            token_offset = self.offset
            token = self._u32()
            if token == FdtToken.BEGIN_NODE:
                node = Node(self._node_name())
                if stack:
                    stack[-1].children.append(node)
                elif root is None:
                    root = node
                else:
                    raise DeviceTreeError("second-root", offset=token_offset)
                stack.append(node)
            elif token == FdtToken.PROP:
                if not stack:
                    raise DeviceTreeError("property-outside-node", offset=token_offset)
                name, value = self._prop()
                stack[-1].props[name] = value
            elif token == FdtToken.END_NODE:
                if not stack:
                    raise DeviceTreeError("unopened-end-node", offset=token_offset)
                stack.pop()
            elif token == FdtToken.END:
                if stack or root is None:
                    raise DeviceTreeError("misplaced-end", offset=token_offset)
                return root
            elif token != FdtToken.NOP:
                raise DeviceTreeError("unknown-token", value=token, offset=token_offset)

    def _u32(self) -> int:
        if self.offset + _TOKEN.size > self.end:
            raise DeviceTreeError("no-end-token", offset=self.offset)
        value: int = _TOKEN.unpack_from(self.blob, self.offset)[0]
        self.offset += _TOKEN.size
        return value

    def _node_name(self) -> str:
        end = self.blob.find(b"\0", self.offset, self.end)
        if end < 0:
            raise DeviceTreeError("unterminated-node-name", offset=self.offset)
        name = decode_text(self.blob[self.offset : end])
        self.offset = end + 1
        self.offset += _pad4(self.offset)
        return name

    def _prop(self) -> tuple[str, bytes]:
        if self.offset + _PROP_HEADER.size > self.end:
            raise DeviceTreeError("truncated-property-header", offset=self.offset)
        length, nameoff = _PROP_HEADER.unpack_from(self.blob, self.offset)
        start = self.offset + _PROP_HEADER.size
        if start + length > self.end:
            raise DeviceTreeError("value-past-end", size=length, offset=self.offset)
        self.offset = start + length + _pad4(length)
        return self._string(nameoff), self.blob[start : start + length]

    def _string(self, nameoff: int) -> str:
        name = self.names.get(nameoff)
        if name is None:
            if self.nuls is None:  # where every name ends: one pass over the block
                self.nuls = [m.start() for m in re.finditer(b"\0", self.strings)]
            index = bisect.bisect_left(self.nuls, nameoff)
            if nameoff >= len(self.strings) or index == len(self.nuls):
                raise DeviceTreeError("name-offset-outside", value=nameoff, offset=self.offset)
            end = self.nuls[index]
            if end - nameoff > MAX_NAME_LENGTH:
                raise DeviceTreeError(
                    "name-too-long", value=nameoff, limit=MAX_NAME_LENGTH, offset=self.offset
                )
            name = self.names[nameoff] = decode_text(self.strings[nameoff:end])
        return name


# -- building ----------------------------------------------------------------


def build_fdt(tree: DeviceTree, *, pad: int = 0) -> bytes:
    """Serialise ``tree`` as a version-17 blob, laid out as ``dtc -O dtb`` does.

    ``pad`` zero bytes of free space follow the strings block and count in
    ``totalsize`` so the next kernel can grow the tree in place. Node and
    property order is kept; the output depends only on ``tree`` and ``pad``.
    """
    if pad < 0:
        raise DeviceTreeError("negative-padding", value=pad)
    if not 0 <= tree.boot_cpuid_phys <= _U32_MAX:
        raise DeviceTreeError("boot-cpuid-too-large", value=tree.boot_cpuid_phys)
    rsvmap = _build_reserve_map(tree.reserve_map)
    structure, strings = _StructBuilder().build(tree.root)
    off_mem_rsvmap = _HEADER.size  # 40: already 8-byte aligned (DTSpec §5.3.1)
    off_dt_struct = off_mem_rsvmap + len(rsvmap)
    off_dt_strings = off_dt_struct + len(structure)
    totalsize = off_dt_strings + len(strings) + pad
    if totalsize > _U32_MAX:
        raise DeviceTreeError("blob-too-large", size=totalsize)
    header = FdtHeader(
        magic=FDT_MAGIC,
        totalsize=totalsize,
        off_dt_struct=off_dt_struct,
        off_dt_strings=off_dt_strings,
        off_mem_rsvmap=off_mem_rsvmap,
        version=FDT_VERSION,
        last_comp_version=FDT_LAST_COMP_VERSION,
        boot_cpuid_phys=tree.boot_cpuid_phys,
        size_dt_strings=len(strings),
        size_dt_struct=len(structure),
    )
    return b"".join((header.pack(), rsvmap, structure, strings, bytes(pad)))


def _build_reserve_map(entries: Iterable[Range]) -> bytes:
    out = bytearray()
    for r in entries:
        if r.size == 0:
            # A size of 0 ends the list for libfdt and the kernel (see _parse_reserve_map).
            raise DeviceTreeError("empty-reservation", address=r.start)
        if r.end > _U64_MAX + 1:
            raise DeviceTreeError("reservation-too-large", address=r.start, size=r.size)
        out += _RESERVE_ENTRY.pack(r.start, r.size)
    out += _RESERVE_ENTRY.pack(0, 0)
    return bytes(out)


class _StructBuilder:
    """Emits the structure and strings blocks (DTSpec v0.4 §5.4, §5.5)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.strings = bytearray()
        self.offsets: dict[str, int] = {}

    def build(self, root: Node) -> tuple[bytes, bytes]:
        if root.name:
            raise DeviceTreeError("bad-root-name", name=root.name)
        # The names of the open nodes: a path is joined only for an error message, so
        # a deep tree costs linear time.
        self.open: list[str] = []
        self._begin_node(root)
        # Items are children to open, or None to close a node.
        stack: list[Node | None] = [None]
        stack.extend(reversed(root.children))
        token_end = _TOKEN.pack(FdtToken.END_NODE)
        while stack:
            node = stack.pop()
            if node is None:
                self.out += token_end
                self.open.pop()
                continue
            name = encode_text(node.name)
            if not name or b"\0" in name or b"/" in name:
                raise DeviceTreeError("bad-node-name", name=node.name, path=self._path())
            self._begin_node(node)
            stack.append(None)
            stack.extend(reversed(node.children))
        self.out += _TOKEN.pack(FdtToken.END)
        return bytes(self.out), bytes(self.strings)

    def _path(self) -> str:
        return "/" + "/".join(self.open[1:])

    def _begin_node(self, node: Node) -> None:
        name = encode_text(node.name)
        self.open.append(node.name)
        self.out += _TOKEN.pack(FdtToken.BEGIN_NODE)
        self.out += name + bytes(1 + _pad4(len(name) + 1))
        token_prop = _TOKEN.pack(FdtToken.PROP)
        for prop_name, value in node.props.items():
            self.out += token_prop
            self.out += _PROP_HEADER.pack(len(value), self._name_offset(prop_name))
            self.out += value
            self.out += bytes(_pad4(len(value)))

    def _name_offset(self, name: str) -> int:
        offset = self.offsets.get(name)
        if offset is None:
            encoded = encode_text(name)
            if not encoded or b"\0" in encoded:
                raise DeviceTreeError("bad-property-name", prop=name, path=self._path())
            # Reuse any earlier string ending with this name (libfdt and dtc do the same).
            offset = self.strings.find(encoded + b"\0")
            if offset < 0:
                offset = len(self.strings)
                self.strings += encoded + b"\0"
            self.offsets[name] = offset
        return offset
