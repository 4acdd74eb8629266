# SPDX-License-Identifier: GPL-2.0-or-later
"""Malformed blobs and unbuildable trees: pykexec.core.devicetree.fdt refuses each with a
typed DeviceTreeError (problem and fields); where libfdt reads the same blob, it agrees."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pykexec.core.devicetree.fdt import (
    DeviceTree,
    FdtHeader,
    FdtToken,
    build_fdt,
    parse_fdt,
)
from pykexec.core.devicetree.tree import Node
from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError
from tests.test_fdt import libfdt_reserve_map, ordered, sample_tree
from tests.typed import raises


def patched(blob: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def header_patched(**changes: int) -> bytes:
    blob = build_fdt(sample_tree())
    header = FdtHeader.unpack(blob)
    fields = {**header.__dict__, **changes}
    return FdtHeader(**fields).pack() + blob[40:]


def test_bad_magic(libfdt: Any) -> None:
    blob = header_patched(magic=0xFEEDD00D)
    with raises(DeviceTreeError, "bad-magic", value=0xFEEDD00D, expected=0xD00DFEED):
        parse_fdt(blob)
    with pytest.raises(libfdt.FdtException):
        libfdt.Fdt(blob)


@pytest.mark.parametrize("length", [0, 4, 39])
def test_truncated_header(length: int) -> None:
    with raises(DeviceTreeError, "header-truncated", size=length, limit=40):
        parse_fdt(build_fdt(sample_tree())[:length])


@pytest.mark.parametrize("cut", [1, 8, 100])
def test_truncated_blob(cut: int) -> None:
    blob = build_fdt(sample_tree())
    with raises(DeviceTreeError, "blob-truncated", limit=len(blob), size=len(blob) - cut):
        parse_fdt(blob[:-cut])


@pytest.mark.parametrize(
    ("version", "last_comp"),
    [(1, 1), (15, 15), (17, 18), (0xFFFFFFFF, 0xFFFFFFFF)],
)
def test_unsupported_version(version: int, last_comp: int) -> None:
    with raises(DeviceTreeError, "bad-version", version=version, last_compatible=last_comp):
        parse_fdt(header_patched(version=version, last_comp_version=last_comp))


def test_newer_version_that_is_backward_compatible_is_read() -> None:
    tree = parse_fdt(header_patched(version=18, last_comp_version=16))
    assert tree.version == 18
    assert ordered(tree.root) == ordered(sample_tree().root)


def test_block_outside_blob() -> None:
    blob = build_fdt(sample_tree())
    strings = FdtHeader.unpack(blob).off_dt_strings
    with raises(DeviceTreeError, "block-outside", name="strings block", offset=strings,
                size=len(blob), limit=len(blob)):  # fmt: skip
        parse_fdt(header_patched(size_dt_strings=len(blob)))
    misaligned = FdtHeader.unpack(blob).off_dt_struct + 3
    with raises(DeviceTreeError, "misaligned-structure", offset=misaligned):
        parse_fdt(header_patched(off_dt_struct=misaligned))


def test_unknown_token() -> None:
    blob = build_fdt(sample_tree())
    off = FdtHeader.unpack(blob).off_dt_struct
    with raises(DeviceTreeError, "unknown-token", value=7, offset=off):
        parse_fdt(patched(blob, off, ">I", 7))


def test_structure_without_end_token() -> None:
    blob = build_fdt(sample_tree())
    header = FdtHeader.unpack(blob)
    with raises(DeviceTreeError, "no-end-token"):
        parse_fdt(header_patched(size_dt_struct=header.size_dt_struct - 4))


def test_end_inside_node() -> None:
    blob = build_fdt(sample_tree())
    header = FdtHeader.unpack(blob)
    last_end_node = header.off_dt_struct + header.size_dt_struct - 8
    with raises(DeviceTreeError, "misplaced-end", offset=last_end_node + 4):
        parse_fdt(patched(blob, last_end_node, ">I", FdtToken.NOP))


def test_extra_end_node() -> None:
    blob = build_fdt(DeviceTree(Node("")))
    off = FdtHeader.unpack(blob).off_dt_struct
    # BEGIN_NODE "" (8 bytes), END_NODE, END: turn END into a second END_NODE.
    with raises(DeviceTreeError, "unopened-end-node", offset=off + 12):
        parse_fdt(patched(blob, off + 12, ">I", FdtToken.END_NODE))


def test_property_name_offset_outside_strings() -> None:
    tree = DeviceTree(Node("", {"p": b"1234"}))
    blob = build_fdt(tree)
    off = FdtHeader.unpack(blob).off_dt_struct
    with raises(DeviceTreeError, "name-offset-outside", value=0x100):
        parse_fdt(patched(blob, off + 8 + 8, ">I", 0x100))


def test_property_value_past_end() -> None:
    tree = DeviceTree(Node("", {"p": b"1234"}))
    blob = build_fdt(tree)
    off = FdtHeader.unpack(blob).off_dt_struct
    with raises(DeviceTreeError, "value-past-end", size=4096, offset=off + 8 + 4):
        parse_fdt(patched(blob, off + 8 + 4, ">I", 4096))


def test_unterminated_reserve_map() -> None:
    tree = DeviceTree(Node(""), [Range.sized(0x1000, 0x1000)])
    blob = build_fdt(tree)
    # Point the reservation map at the last 16 bytes and make them a non-empty entry.
    header = FdtHeader.unpack(blob)
    body = blob[40:] + struct.pack(">QQ", 0x5000, 0x1000)
    total = len(blob) + 16
    bad = FdtHeader(**{**header.__dict__, "totalsize": total, "off_mem_rsvmap": total - 16})
    with raises(DeviceTreeError, "reservations-unterminated", offset=total - 16):
        parse_fdt(bad.pack() + body)


def test_reserve_map_stops_at_size_zero_like_libfdt() -> None:
    blob = build_fdt(DeviceTree(Node(""), [Range.sized(0x1000, 0x1000), Range(0x3000, 0x4000)]))
    blob = patched(blob, 40 + 16, ">QQ", 0x9000, 0)  # second entry: size 0, address not 0
    assert parse_fdt(blob).reserve_map == libfdt_reserve_map(blob) == [Range(0x1000, 0x2000)]


@pytest.mark.parametrize(
    ("tree", "problem", "fields"),
    [
        (DeviceTree(Node("root")), "bad-root-name", {"name": "root"}),
        (DeviceTree(Node("", children=[Node("")])), "bad-node-name", {"name": "", "path": "/"}),
        (DeviceTree(Node("", children=[Node("a/b")])), "bad-node-name", {"name": "a/b"}),
        (DeviceTree(Node("", children=[Node("a\0")])), "bad-node-name", {"name": "a\0"}),
        (DeviceTree(Node("", {"": b""})), "bad-property-name", {"prop": "", "path": "/"}),
        (DeviceTree(Node("", {"a\0b": b""})), "bad-property-name", {"prop": "a\0b"}),
        (DeviceTree(Node(""), [Range(0x1000, 0x1000)]), "empty-reservation", {"address": 0x1000}),
        (DeviceTree(Node(""), [Range(0, 1 << 65)]), "reservation-too-large", {"size": 1 << 65}),
        (DeviceTree(Node(""), boot_cpuid_phys=1 << 32), "boot-cpuid-too-large",
         {"value": 1 << 32}),
    ],
)  # fmt: skip
def test_build_errors(tree: DeviceTree, problem: str, fields: dict[str, object]) -> None:
    with raises(DeviceTreeError, problem, **fields):
        build_fdt(tree)


def test_build_rejects_negative_padding() -> None:
    with raises(DeviceTreeError, "negative-padding", value=-1):
        build_fdt(sample_tree(), pad=-1)
