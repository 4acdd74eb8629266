# SPDX-License-Identifier: GPL-2.0-or-later
"""The device-tree node model: :class:`Node`, its navigation, edits and typed property accessors.

A node is a name, its properties in order (raw big-endian bytes, decoded and encoded by
:mod:`.props`) and its children in order.  The flattened format (header, reservation
map, structure and strings blocks) and the whole-tree record :class:`~.fdt.DeviceTree`
are :mod:`.fdt`'s.  Everything here is pure: values in, values out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from pykexec.core.devicetree.props import (
    DEFAULT_ADDRESS_CELLS,
    DEFAULT_SIZE_CELLS,
    cells_to_ints,
    check_cell_sizes,
    decode_ranges,
    decode_string,
    decode_strings,
    decode_u32,
    decode_u64,
    decode_uint,
    encode_reg,
    encode_string,
    encode_strings,
    encode_u32,
    encode_u64,
    ints_to_cells,
)
from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError

__all__ = ["Node", "cell_sizes", "decode_reg"]

_T = TypeVar("_T")


def _join(parent_path: str, name: str) -> str:
    return parent_path.rstrip("/") + "/" + name


@dataclass
class Node:
    """A device-tree node: its name (with unit address, "" for the root),
    its properties in order, and its child nodes in order.

    Nodes do not know their parent or path: :meth:`walk` yields paths, and
    :meth:`find` resolves them from the node it is called on.
    """

    name: str
    props: dict[str, bytes] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    # -- navigation -------------------------------------------------------

    @property
    def base_name(self) -> str:
        """The name without its unit address: ``"memory"`` for ``"memory@0"``."""
        return self.name.partition("@")[0]

    @property
    def unit_address(self) -> str:
        """The unit address after ``@``, or ``""``."""
        return self.name.partition("@")[2]

    def child(self, name: str) -> Node | None:
        """The child with exactly this name, if any."""
        for node in self.children:
            if node.name == name:
                return node
        return None

    def children_named(self, base_name: str) -> list[Node]:
        """Every child whose name without unit address is ``base_name``."""
        return [node for node in self.children if node.base_name == base_name]

    def find(self, path: str, *, ignore_unit: bool = False) -> Node | None:
        """The node at ``path`` below this one (``"/"`` or ``""`` is this node).

        Components match names exactly. With ``ignore_unit``, a component
        that matches no name exactly may also match a single child by its
        name without unit address (``"/cpus/PowerPC,POWER9"``); more than one
        such child raises :class:`DeviceTreeError`.
        """
        node = self
        for part in path.split("/"):
            if not part:
                continue
            found = node.child(part)
            if found is None and ignore_unit and "@" not in part:
                candidates = node.children_named(part)
                if len(candidates) > 1:
                    names = ", ".join(c.name for c in candidates)
                    raise DeviceTreeError("ambiguous", path=path, name=part, matches=names)
                found = candidates[0] if candidates else None
            if found is None:
                return None
            node = found
        return node

    def nodes(self) -> Iterator[Node]:
        """Every node from this one down, depth first in order (no paths: linear time)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def walk(self, path: str = "/") -> Iterator[tuple[str, Node]]:
        """Every node from this one down, depth first in order, with its path."""
        stack: list[tuple[str, Node]] = [(path, self)]
        while stack:
            node_path, node = stack.pop()
            yield node_path, node
            stack.extend((_join(node_path, c.name), c) for c in reversed(node.children))

    def add_child(self, node: Node) -> Node:
        """Append ``node``; raises if a child of that name exists. Returns ``node``."""
        if self.child(node.name) is not None:
            raise DeviceTreeError("duplicate-child", node=self.name, name=node.name)
        self.children.append(node)
        return node

    def ensure_child(self, name: str) -> Node:
        """The child called ``name``, appended empty if missing."""
        return self.child(name) or self.add_child(Node(name))

    def remove_child(self, name: str) -> Node | None:
        """Remove and return the child called ``name``, if any."""
        for index, node in enumerate(self.children):
            if node.name == name:
                return self.children.pop(index)
        return None

    def copy(self) -> Node:
        """A deep copy of this subtree (values are immutable bytes and shared)."""
        clone = Node(self.name, dict(self.props))
        stack = [(self, clone)]
        while stack:
            source, target = stack.pop()
            for child in source.children:
                new = Node(child.name, dict(child.props))
                target.children.append(new)
                stack.append((child, new))
        return clone

    # -- property access --------------------------------------------------

    def has(self, name: str) -> bool:
        """Whether the property exists (for boolean, empty-valued properties)."""
        return name in self.props

    def get(self, name: str) -> bytes:
        """The raw value of a property; raises :class:`DeviceTreeError` if missing."""
        try:
            return self.props[name]
        except KeyError:
            raise DeviceTreeError("no-property", node=self.name, prop=name) from None

    def _decoded(self, name: str, decode: Callable[[bytes], _T]) -> _T:
        try:
            return decode(self.get(name))
        except DeviceTreeError as err:
            raise DeviceTreeError("bad-property", node=self.name, prop=name, cause=err) from None

    def get_u32(self, name: str) -> int:
        """A ``<u32>`` property."""
        return self._decoded(name, decode_u32)

    def get_u64(self, name: str) -> int:
        """A ``<u64>`` property."""
        return self._decoded(name, decode_u64)

    def get_cells(self, name: str, cells: int) -> list[int]:
        """A property holding numbers of ``cells`` cells each."""
        return self._decoded(name, lambda data: cells_to_ints(data, cells))

    def get_string(self, name: str) -> str:
        """A ``<string>`` property."""
        return self._decoded(name, decode_string)

    def get_strings(self, name: str) -> list[str]:
        """A ``<stringlist>`` property."""
        return self._decoded(name, decode_strings)

    def optional(self, name: str) -> bytes | None:
        """The raw value of a property, or None when it is absent."""
        return self.props.get(name)

    def get_number(self, name: str) -> int:
        """A ``<u32>`` or ``<u64>`` property (the kernel's ``of_read_number`` takes either)."""
        return self._decoded(name, decode_uint)

    def number(self, name: str) -> int | None:
        """:meth:`get_number`, or None when the property is absent or empty."""
        return self.get_number(name) if self.props.get(name) else None

    def string(self, name: str, default: str = "") -> str:
        """A ``<string>`` property, or ``default`` when it is absent."""
        return self.get_string(name) if name in self.props else default

    def compatible(self) -> list[str]:
        """The ``compatible`` strings, most specific first (``[]`` when absent)."""
        return self.get_strings("compatible") if "compatible" in self.props else []

    def cell_sizes(
        self, defaults: tuple[int, int] = (DEFAULT_ADDRESS_CELLS, DEFAULT_SIZE_CELLS)
    ) -> tuple[int, int]:
        """``(#address-cells, #size-cells)`` this node gives its children's ``reg``.

        DTSpec v0.4 §2.3.5: absent properties default to 2 and 1 (or ``defaults``);
        counts libfdt refuses raise :class:`DeviceTreeError`.
        """
        address = self.get_u32("#address-cells") if self.has("#address-cells") else defaults[0]
        size = self.get_u32("#size-cells") if self.has("#size-cells") else defaults[1]
        return check_cell_sizes(address, size, self.name or "/")

    def get_ranges(self, name: str, address_cells: int, size_cells: int) -> list[Range]:
        """A property of (address, size) pairs laid out like ``reg``; ``[]`` when absent."""
        data = self.props.get(name)
        what = f"property {name!r} of node {self.name!r}"
        return [] if data is None else decode_ranges(data, address_cells, size_cells, what)

    def reg(self, parent: Node | None) -> list[Range]:
        """This node's ``reg`` in the cell sizes ``parent`` gives (DTSpec v0.4 §2.3.6)."""
        ac, sc = parent.cell_sizes() if parent else (DEFAULT_ADDRESS_CELLS, DEFAULT_SIZE_CELLS)
        return self.get_ranges("reg", ac, sc)

    def set_ranges(
        self, name: str, ranges: Iterable[Range], address_cells: int, size_cells: int
    ) -> None:
        """Set a property of (address, size) pairs laid out like ``reg``."""
        self.props[name] = encode_reg(ranges, address_cells, size_cells)

    def set(self, name: str, value: bytes) -> None:
        """Set a raw property value (appended at the end if new)."""
        self.props[name] = bytes(value)

    def set_empty(self, name: str) -> None:
        """Set a boolean (zero-length) property."""
        self.props[name] = b""

    def set_u32(self, name: str, value: int) -> None:
        self.props[name] = encode_u32(value)

    def set_u64(self, name: str, value: int) -> None:
        self.props[name] = encode_u64(value)

    def set_cells(self, name: str, values: Iterable[int], cells: int) -> None:
        """Set a property of numbers, each ``cells`` cells wide."""
        self.props[name] = ints_to_cells(values, cells)

    def set_string(self, name: str, value: str) -> None:
        self.props[name] = encode_string(value)

    def set_strings(self, name: str, values: list[str]) -> None:
        self.props[name] = encode_strings(values)

    def delete(self, name: str) -> bool:
        """Remove a property; returns whether it existed."""
        return self.props.pop(name, None) is not None


def cell_sizes(
    parent: Node | None, defaults: tuple[int, int] = (DEFAULT_ADDRESS_CELLS, DEFAULT_SIZE_CELLS)
) -> tuple[int, int]:
    """``parent.cell_sizes(defaults)``, or ``defaults`` without a parent."""
    return defaults if parent is None else parent.cell_sizes(defaults)


def decode_reg(node: Node, parent: Node | None) -> list[Range]:
    """``node.reg(parent)``: the ``reg`` of ``node`` as ranges, cell sizes from ``parent``."""
    return node.reg(parent)
