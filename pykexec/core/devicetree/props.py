# SPDX-License-Identifier: GPL-2.0-or-later
"""Encoding and decoding of device-tree property values (pure codecs).

Property values are byte strings whose meaning is fixed by the property name
(DTSpec v0.4 §2.2.4, "Property values"):

* ``<u32>`` / ``<u64>`` and ``<prop-encoded-array>``: big-endian 32-bit *cells*;
  a number spanning ``n`` cells is the big-endian concatenation of those cells;
* ``<string>``: NUL-terminated text; ``<stringlist>``: several of them back to back;
* ``<empty>``: a zero-length value, meaning "true" for boolean properties.

Also (address, size) lists like ``reg`` (DTSpec v0.4 §2.3.6), given their cell sizes.
Only bytes here: what a node's properties mean together (its parent's cell sizes,
its ``reg``) is :class:`~pykexec.core.devicetree.fdt.Node`'s.  Every function states its
byte order explicitly (big-endian, always).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError

#: Size in bytes of one cell (DTSpec v0.4 §2.2.4: "32-bit integer in big-endian format").
CELL_SIZE = 4

#: DTSpec v0.4 §2.3.5: "#address-cells" and "#size-cells" defaults when absent.
DEFAULT_ADDRESS_CELLS = 2
DEFAULT_SIZE_CELLS = 1
#: libfdt.h FDT_MAX_NCELLS: the most cells an address or size may span.
MAX_NCELLS = 4

_BE_U32 = struct.Struct(">I")
_BE_U64 = struct.Struct(">Q")

#: Text encoding of strings, node names and property names. DTSpec limits names to
#: printable ASCII; ``surrogateescape`` lets any other byte survive a round trip,
#: the same way :func:`os.fsdecode` maps file names read from /proc/device-tree.
TEXT_ENCODING = "utf-8"
TEXT_ERRORS = "surrogateescape"


def encode_text(text: str) -> bytes:
    """``text`` as bytes (without a terminating NUL), reversibly."""
    return text.encode(TEXT_ENCODING, TEXT_ERRORS)


def decode_text(data: bytes) -> str:
    """The inverse of :func:`encode_text`."""
    return data.decode(TEXT_ENCODING, TEXT_ERRORS)


def cells_to_ints(data: bytes, cells: int) -> list[int]:
    """Split ``data`` into big-endian numbers of ``cells`` 32-bit cells each.

    ``cells_to_ints(b"\\0\\0\\0\\1\\0\\0\\0\\2", 1) == [1, 2]``. Raises
    :class:`DeviceTreeError` if ``data`` is not a whole number of such values.
    """
    if cells < 1:
        raise DeviceTreeError("bad-split-cells", cells=cells)
    width = cells * CELL_SIZE
    if len(data) % width:
        raise DeviceTreeError("ragged-cells", size=len(data), cells=cells)
    count = len(data) // width
    if cells == 1:
        return list(struct.unpack(f">{count}I", data))
    if cells == 2:
        return list(struct.unpack(f">{count}Q", data))
    return [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]


def ints_to_cells(values: Iterable[int], cells: int) -> bytes:
    """Encode each of ``values`` as ``cells`` big-endian 32-bit cells.

    Raises :class:`DeviceTreeError` if a value is negative or does not fit.
    """
    if cells < 0:
        raise DeviceTreeError("bad-encode-cells", cells=cells)
    width = cells * CELL_SIZE
    out = bytearray()
    for value in values:
        if value < 0 or value.bit_length() > 8 * width:
            raise DeviceTreeError("value-too-wide", value=value, cells=cells)
        out += value.to_bytes(width, "big")
    return bytes(out)


def decode_u32(data: bytes) -> int:
    """A single big-endian ``<u32>`` value; raises if ``data`` is not 4 bytes."""
    if len(data) != _BE_U32.size:
        raise DeviceTreeError("bad-u32", size=len(data))
    value: int = _BE_U32.unpack(data)[0]
    return value


def decode_u64(data: bytes) -> int:
    """A single big-endian ``<u64>`` value; raises if ``data`` is not 8 bytes."""
    if len(data) != _BE_U64.size:
        raise DeviceTreeError("bad-u64", size=len(data))
    value: int = _BE_U64.unpack(data)[0]
    return value


def decode_uint(data: bytes) -> int:
    """A big-endian number stored in either 4 or 8 bytes.

    Some properties (``linux,initrd-start`` and ``-end``) are written by firmware
    and kernels as either ``<u32>`` or ``<u64>``; readers accept both.
    """
    if len(data) not in (_BE_U32.size, _BE_U64.size):
        raise DeviceTreeError("bad-number", size=len(data))
    return int.from_bytes(data, "big")


def encode_u32(value: int) -> bytes:
    """``value`` as a big-endian ``<u32>``."""
    return ints_to_cells([value], 1)


def encode_u64(value: int) -> bytes:
    """``value`` as a big-endian ``<u64>``."""
    return ints_to_cells([value], 2)


def encode_string(text: str) -> bytes:
    """``text`` as a NUL-terminated ``<string>``; raises if it contains NUL."""
    return encode_strings([text])


def encode_strings(texts: Sequence[str]) -> bytes:
    """``texts`` as a ``<stringlist>``: each NUL-terminated, back to back."""
    out = bytearray()
    for text in texts:
        if "\0" in text:
            raise DeviceTreeError("nul-in-string", text=text)
        out += encode_text(text) + b"\0"
    return bytes(out)


def decode_strings(data: bytes) -> list[str]:
    """The strings of a ``<stringlist>``; raises if the last one is not NUL-terminated."""
    if not data:
        return []
    if not data.endswith(b"\0"):
        raise DeviceTreeError("unterminated-string", text=decode_text(data[:40]))
    return [decode_text(part) for part in data[:-1].split(b"\0")]


def decode_string(data: bytes) -> str:
    """The first string of a ``<string>`` value (anything after its NUL is ignored)."""
    end = data.find(b"\0")
    if end < 0:
        raise DeviceTreeError("unterminated-string", text=decode_text(data[:40]))
    return decode_text(data[:end])


def check_cell_sizes(address: int, size: int, where: str) -> tuple[int, int]:
    """``(address, size)`` if they are cell counts libfdt accepts (``fdt_address_cells``,
    ``fdt_size_cells``: an address of 1 to :data:`MAX_NCELLS` cells, a size of 0 to
    :data:`MAX_NCELLS`); else :class:`DeviceTreeError` naming ``where``."""
    if not 1 <= address <= MAX_NCELLS or not 0 <= size <= MAX_NCELLS:
        raise DeviceTreeError(
            "bad-ncells", node=where, address_cells=address, size_cells=size, limit=MAX_NCELLS
        )
    return address, size


def decode_ranges(data: bytes, address_cells: int, size_cells: int, what: str) -> list[Range]:
    """(address, length) pairs of ``address_cells`` and ``size_cells`` cells each
    (``reg``, DTSpec v0.4 §2.3.6, and properties laid out like it) as ranges."""
    width = (address_cells + size_cells) * CELL_SIZE
    if address_cells < 1 or len(data) % width:
        raise DeviceTreeError("bad-entries", name=what, size=len(data),
                              address_cells=address_cells, size_cells=size_cells)  # fmt: skip
    split = address_cells * CELL_SIZE
    ranges = []
    for offset in range(0, len(data), width):
        start = int.from_bytes(data[offset : offset + split], "big")
        size = int.from_bytes(data[offset + split : offset + width], "big")
        ranges.append(Range.sized(start, size))
    return ranges


def encode_reg(ranges: Iterable[Range], address_cells: int, size_cells: int) -> bytes:
    """The ``reg`` value listing ``ranges`` with the given cell sizes."""
    out = bytearray()
    for r in ranges:
        out += ints_to_cells([r.start], address_cells) + ints_to_cells([r.size], size_cells)
    return bytes(out)
