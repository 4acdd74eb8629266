# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for pykexec.core.devicetree.fdt and .props, checked against independent oracles.

Oracles: pylibfdt (libfdt's Python binding: ``apt-get install -y swig && pip install
pylibfdt``) and dtc (Debian ``device-tree-compiler``). Blobs built by pykexec must
pass libfdt's ``fdt_check_full`` and read back the same through libfdt and dtc;
blobs built by dtc and libfdt must parse to the same tree and rebuild to the
same bytes.
"""

from __future__ import annotations

import functools
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykexec.core.devicetree.fdt import (
    FDT_MAGIC,
    DeviceTree,
    FdtHeader,
    FdtToken,
    build_fdt,
    cells_to_ints,
    encode_reg,
    ints_to_cells,
    parse_fdt,
)
from pykexec.core.devicetree.props import (
    decode_string,
    decode_strings,
    decode_uint,
    encode_strings,
)
from pykexec.core.devicetree.tree import Node, cell_sizes, decode_reg
from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError
from tests import oracles
from tests.opcount import count_calls
from tests.typed import raises

# -- oracle helpers ------------------------------------------------------------


def libfdt_root(blob: bytes) -> Node:
    """Decode ``blob`` with libfdt alone (after its full consistency check)."""
    libfdt = oracles.libfdt()
    quiet = (libfdt.NOTFOUND,)
    fdt = libfdt.Fdt(blob)
    assert libfdt.fdt_check_full(fdt._fdt, fdt.totalsize()) == 0

    def node_at(offset: int, name: str) -> Node:
        node = Node(name)
        prop = fdt.first_property_offset(offset, quiet)
        while prop >= 0:
            value = fdt.get_property_by_offset(prop)
            node.props[value.name] = bytes(value)
            prop = fdt.next_property_offset(prop, quiet)
        sub = fdt.first_subnode(offset, quiet)
        while sub >= 0:
            node.children.append(node_at(sub, fdt.get_name(sub)))
            sub = fdt.next_subnode(sub, quiet)
        return node

    return node_at(0, "")


def libfdt_reserve_map(blob: bytes) -> list[Range]:
    fdt = oracles.libfdt().Fdt(blob)
    entries = []
    for index in range(fdt.num_mem_rsv()):
        *_, address, size = fdt.get_mem_rsv(index)
        entries.append(Range.sized(address, size))
    return entries


def ordered(node: Node) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Paths and properties in order (``Node.__eq__`` ignores property order)."""
    return [(path, list(n.props.items())) for path, n in node.walk()]


def dtc(*args: str, data: bytes) -> bytes:
    result = subprocess.run(
        [oracles.dtc(), "-q", *args, "-o", "-", "-"], input=data, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


# -- a sample tree, in code and as dts text ------------------------------------

SAMPLE_DTS = """\
/dts-v1/;
/memreserve/ 0x10000000 0x4000;
/memreserve/ 0x7fff0000000 0x100000;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	model = "IBM pSeries (emulated by qemu)";
	compatible = "qemu,pseries", "ibm,pseries";
	bytes = [01 02 03];
	chosen {
		bootargs = "console=hvc0 root=/dev/vda";
		linux,booted-from-kexec;
		linux,initrd-start = /bits/ 64 <0x4000000>;
		linux,initrd-end = <0x4400000>;
	};
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		PowerPC,POWER9@0 {
			device_type = "cpu";
			type = "suffix of device_type";
			reg = <0>;
		};
		PowerPC,POWER9@8 {
			device_type = "cpu";
			reg = <8>;
		};
	};
	memory@0 {
		device_type = "memory";
		reg = <0 0 0 0x80000000>, <1 0 0 0x10000000>;
	};
	empty {
	};
	a {
		b {
			c@1,2 {
				deep = "yes";
			};
		};
	};
};
"""


def sample_tree() -> DeviceTree:
    root = Node("")
    root.set_u32("#address-cells", 2)
    root.set_u32("#size-cells", 2)
    root.set_string("model", "IBM pSeries (emulated by qemu)")
    root.set_strings("compatible", ["qemu,pseries", "ibm,pseries"])
    root.set("bytes", b"\x01\x02\x03")
    chosen = root.add_child(Node("chosen"))
    chosen.set_string("bootargs", "console=hvc0 root=/dev/vda")
    chosen.set_empty("linux,booted-from-kexec")
    chosen.set_u64("linux,initrd-start", 0x4000000)
    chosen.set_u32("linux,initrd-end", 0x4400000)
    cpus = root.add_child(Node("cpus"))
    cpus.set_u32("#address-cells", 1)
    cpus.set_u32("#size-cells", 0)
    for reg in (0, 8):
        cpu = cpus.add_child(Node(f"PowerPC,POWER9@{reg:x}"))
        cpu.set_string("device_type", "cpu")
        if reg == 0:
            cpu.set_string("type", "suffix of device_type")
        cpu.set_u32("reg", reg)
    memory = root.add_child(Node("memory@0"))
    memory.set_string("device_type", "memory")
    memory.set("reg", encode_reg([Range(0, 0x80000000), Range.sized(1 << 32, 1 << 28)], 2, 2))
    root.add_child(Node("empty"))
    root.ensure_child("a").ensure_child("b").ensure_child("c@1,2").set_string("deep", "yes")
    reserve = [Range.sized(0x10000000, 0x4000), Range.sized(0x7FF_F000_0000, 0x100000)]
    return DeviceTree(root, reserve)


# -- header layout ---------------------------------------------------------------


def test_header_fields_match_libfdt_accessors(libfdt: Any) -> None:
    tree = sample_tree()
    tree.boot_cpuid_phys = 0x18
    blob = build_fdt(tree, pad=100)
    header = FdtHeader.unpack(blob)
    fdt = libfdt.Fdt(blob)
    assert len(header.pack()) == 40
    assert header.pack() == blob[:40]
    for name in (
        "magic",
        "totalsize",
        "off_dt_struct",
        "off_dt_strings",
        "off_mem_rsvmap",
        "version",
        "last_comp_version",
        "boot_cpuid_phys",
        "size_dt_strings",
        "size_dt_struct",
    ):
        assert getattr(header, name) == getattr(fdt, name)(), name
    assert (header.magic, header.version, header.last_comp_version) == (FDT_MAGIC, 17, 16)
    assert header.totalsize == len(blob)


def test_token_values_match_libfdt(libfdt: Any) -> None:
    assert FdtToken.BEGIN_NODE == libfdt.FDT_BEGIN_NODE
    assert FdtToken.END_NODE == libfdt.FDT_END_NODE
    assert FdtToken.PROP == libfdt.FDT_PROP
    assert FdtToken.NOP == libfdt.FDT_NOP
    assert FdtToken.END == libfdt.FDT_END


# -- pykexec builds, oracles read -------------------------------------------------


def test_build_is_read_back_by_libfdt(libfdt: Any) -> None:
    tree = sample_tree()
    tree.boot_cpuid_phys = 8
    blob = build_fdt(tree, pad=4096)
    fdt = libfdt.Fdt(blob)
    assert fdt.version() == 17
    assert fdt.last_comp_version() == 16
    assert fdt.boot_cpuid_phys() == 8
    assert fdt.totalsize() == len(blob) == len(build_fdt(tree)) + 4096
    assert blob.endswith(bytes(4096))
    assert libfdt_reserve_map(blob) == tree.reserve_map
    assert ordered(libfdt_root(blob)) == ordered(tree.root)
    cpu = fdt.path_offset("/cpus/PowerPC,POWER9@8")
    assert fdt.getprop(cpu, "reg").as_uint32() == 8
    assert fdt.getprop(cpu, "device_type").as_str() == "cpu"
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "linux,initrd-start").as_uint64() == 0x4000000
    assert bytes(fdt.getprop(chosen, "linux,booted-from-kexec")) == b""
    assert fdt.getprop(0, "compatible").as_stringlist() == ["qemu,pseries", "ibm,pseries"]
    assert fdt.getprop(fdt.path_offset("/a/b/c@1,2"), "deep").as_str() == "yes"


def test_padding_leaves_room_for_libfdt_to_grow_the_tree(libfdt: Any) -> None:
    blob = build_fdt(sample_tree(), pad=256)
    fdt = libfdt.Fdt(bytearray(blob))
    fdt.setprop_str(fdt.path_offset("/chosen"), "new-property", "x" * 100)
    with pytest.raises(libfdt.FdtException) as full:
        fdt.setprop(fdt.path_offset("/chosen"), "too-big", b"x" * 256)
    assert full.value.err == -libfdt.NOSPACE
    assert libfdt_root(bytes(fdt.as_bytearray())).find("/chosen") is not None


def test_build_is_byte_identical_to_dtc() -> None:
    ours = build_fdt(sample_tree())
    theirs = dtc("-I", "dts", "-O", "dtb", data=SAMPLE_DTS.encode())
    assert dtc("-I", "dtb", "-O", "dts", data=ours) == dtc("-I", "dtb", "-O", "dts", data=theirs)
    assert ours == theirs


def test_padding_and_boot_cpu_match_dtc_options() -> None:
    tree = sample_tree()
    tree.boot_cpuid_phys = 0x10
    theirs = dtc("-I", "dts", "-O", "dtb", "-p", "4096", "-b", "16", data=SAMPLE_DTS.encode())
    assert build_fdt(tree, pad=4096) == theirs


def test_dtc_rewrites_our_blob_unchanged() -> None:
    ours = build_fdt(sample_tree())
    assert dtc("-I", "dtb", "-O", "dtb", data=ours) == ours
    text = dtc("-I", "dtb", "-O", "dts", data=ours).decode()
    assert "/memreserve/\t0x000007fff0000000 0x0000000000100000;" in text
    assert 'bootargs = "console=hvc0 root=/dev/vda";' in text
    assert "linux,booted-from-kexec;" in text


# -- oracles build, pykexec reads -------------------------------------------------


def test_parse_dtc_blob() -> None:
    blob = dtc("-I", "dts", "-O", "dtb", "-b", "3", data=SAMPLE_DTS.encode())
    tree = parse_fdt(blob)
    expected = sample_tree()
    assert tree.boot_cpuid_phys == 3
    assert (tree.version, tree.last_comp_version) == (17, 16)
    assert tree.reserve_map == expected.reserve_map
    assert ordered(tree.root) == ordered(expected.root)
    chosen = tree.node("/chosen")
    assert chosen.get_u64("linux,initrd-start") == 0x4000000
    assert chosen.get_u32("linux,initrd-end") == 0x4400000
    assert chosen.has("linux,booted-from-kexec")
    assert chosen.get_string("bootargs") == "console=hvc0 root=/dev/vda"
    assert tree.root.get_strings("compatible") == ["qemu,pseries", "ibm,pseries"]
    assert decode_reg(tree.node("/memory@0"), tree.root) == [
        Range(0, 0x80000000),
        Range(0x1_0000_0000, 0x1_1000_0000),
    ]
    cpus = tree.node("/cpus")
    assert [decode_reg(c, cpus) for c in cpus.children] == [[Range(0, 0)], [Range(8, 8)]]
    assert build_fdt(tree) == blob


def test_parse_version_16_blob_and_rebuild_as_17() -> None:
    blob = dtc("-I", "dts", "-O", "dtb", "-V", "16", data=SAMPLE_DTS.encode())
    assert FdtHeader.unpack(blob).version == 16
    tree = parse_fdt(blob)
    assert tree.version == 16
    assert ordered(tree.root) == ordered(sample_tree().root)
    assert tree.reserve_map == sample_tree().reserve_map
    assert build_fdt(tree) == build_fdt(sample_tree())


def test_parse_libfdt_sequential_write_blob(libfdt: Any) -> None:
    sw = libfdt.FdtSw()
    sw.add_reservemap_entry(0x2000, 0x1000)
    sw.finish_reservemap()
    with sw.add_node(""):
        sw.property_u32("#address-cells", 1)
        sw.property_string("model", "libfdt")
        with sw.add_node("chosen"):
            sw.property_u64("linux,initrd-start", 0x1234_5678_9ABC)
            sw.property("empty", b"")
        with sw.add_node("memory@0"):
            sw.property("reg", struct.pack(">II", 0, 0x1000_0000))
    fdt = sw.as_fdt()
    fdt.pack()
    blob = bytes(fdt.as_bytearray())
    tree = parse_fdt(blob)
    assert tree.reserve_map == [Range(0x2000, 0x3000)]
    assert ordered(tree.root) == ordered(libfdt_root(blob))
    assert tree.node("/chosen").get_u64("linux,initrd-start") == 0x1234_5678_9ABC
    assert decode_reg(tree.node("/memory@0"), tree.root) == [Range(0, 0x1000_0000)]
    assert ordered(parse_fdt(build_fdt(tree)).root) == ordered(tree.root)


def test_parse_skips_nop_tokens_left_by_libfdt(libfdt: Any) -> None:
    fdt = libfdt.Fdt(bytearray(build_fdt(sample_tree())))
    assert libfdt.fdt_nop_property(fdt._fdt, fdt.path_offset("/chosen"), "bootargs") == 0
    assert libfdt.fdt_nop_node(fdt._fdt, fdt.path_offset("/cpus/PowerPC,POWER9@0")) == 0
    blob = bytes(fdt.as_bytearray())
    assert struct.pack(">I", FdtToken.NOP) * 4 in blob
    tree = parse_fdt(blob)
    assert ordered(tree.root) == ordered(libfdt_root(blob))
    assert not tree.node("/chosen").has("bootargs")
    assert [c.name for c in tree.node("/cpus").children] == ["PowerPC,POWER9@8"]


def test_parse_ignores_bytes_after_totalsize() -> None:
    blob = build_fdt(sample_tree())
    assert parse_fdt(blob + b"\xff" * 64) == parse_fdt(blob)


# -- property codecs and reg ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "cells", "values"),
    [
        (b"", 1, []),
        (bytes.fromhex("00000001 ffffffff"), 1, [1, 0xFFFFFFFF]),
        (bytes.fromhex("00000001 00000002"), 2, [0x1_0000_0002]),
        (bytes.fromhex("00000001 00000002 00000003"), 3, [0x1_0000_0002_0000_0003]),
    ],
)
def test_cells_round_trip(data: bytes, cells: int, values: list[int]) -> None:
    assert cells_to_ints(data, cells) == values
    assert ints_to_cells(values, cells) == data


def test_cells_errors() -> None:
    with raises(DeviceTreeError, "ragged-cells", size=12, cells=2):
        cells_to_ints(b"\0" * 12, 2)
    with raises(DeviceTreeError, "bad-split-cells", cells=0):
        cells_to_ints(b"", 0)
    with raises(DeviceTreeError, "value-too-wide", value=1 << 32, cells=1):
        ints_to_cells([1 << 32], 1)
    with raises(DeviceTreeError, "value-too-wide", value=-1, cells=2):
        ints_to_cells([-1], 2)


def test_string_codecs() -> None:
    assert encode_strings(["a", "", "bc"]) == b"a\0\0bc\0"
    assert decode_strings(b"a\0\0bc\0") == ["a", "", "bc"]
    assert decode_strings(b"") == []
    assert decode_string(b"abc\0junk") == "abc"
    assert decode_uint(b"\0\0\0\5") == decode_uint(b"\0\0\0\0\0\0\0\5") == 5
    for bad in (b"abc", b"a\0b"):
        with raises(DeviceTreeError, "unterminated-string", text=bad.decode()):
            decode_strings(bad)
    with raises(DeviceTreeError, "nul-in-string", text="a\0"):
        encode_strings(["a\0"])
    with raises(DeviceTreeError, "bad-number", size=5):
        decode_uint(b"\0" * 5)


@pytest.mark.parametrize(
    ("parent_props", "reg", "expected"),
    [
        ({}, [0x10, 0, 0x20], [Range(0x10 << 32, (0x10 << 32) + 0x20)]),  # defaults 2 and 1
        ({"#address-cells": 1, "#size-cells": 1}, [0x100, 0x10, 0x200, 0x20], None),
        ({"#address-cells": 2, "#size-cells": 2}, [0, 0x1000, 0, 0x1000], None),
        ({"#address-cells": 1, "#size-cells": 0}, [4, 8], [Range(4, 4), Range(8, 8)]),
        ({"#address-cells": 3, "#size-cells": 2}, [1, 2, 3, 0, 0x10], None),
    ],
)
def test_decode_reg(
    parent_props: dict[str, int], reg: list[int], expected: list[Range] | None
) -> None:
    parent = Node("", {k: ints_to_cells([v], 1) for k, v in parent_props.items()})
    node = Node("dev", {"reg": ints_to_cells(reg, 1)})
    address_cells, size_cells = cell_sizes(parent)
    ranges = decode_reg(node, parent)
    if expected is not None:
        assert ranges == expected
    assert encode_reg(ranges, address_cells, size_cells) == node.props["reg"]


def test_decode_reg_errors_and_missing() -> None:
    parent = Node("", {"#address-cells": ints_to_cells([2], 1)})
    assert decode_reg(Node("dev"), parent) == []
    with raises(DeviceTreeError, "bad-entries", name="property 'reg' of node 'dev'", size=8,
                address_cells=2, size_cells=1):  # fmt: skip
        decode_reg(Node("dev", {"reg": bytes(8)}), parent)
    assert cell_sizes(None) == (2, 1)


# -- Node helpers --------------------------------------------------------------------


def test_find_and_walk() -> None:
    root = sample_tree().root
    assert root.find("/") is root
    assert root.find("") is root
    assert root.find("/cpus/PowerPC,POWER9@8") is root.children[1].children[1]
    assert root.find("cpus/PowerPC,POWER9@8") is root.children[1].children[1]
    assert root.find("/cpus/PowerPC,POWER9") is None
    assert root.find("/memory", ignore_unit=True) is root.find("/memory@0")
    assert root.find("/memory") is None
    with raises(DeviceTreeError, "ambiguous", path="/cpus/PowerPC,POWER9", name="PowerPC,POWER9",
                matches="PowerPC,POWER9@0, PowerPC,POWER9@8"):  # fmt: skip
        root.find("/cpus/PowerPC,POWER9", ignore_unit=True)
    assert [path for path, _ in root.walk()] == [
        "/",
        "/chosen",
        "/cpus",
        "/cpus/PowerPC,POWER9@0",
        "/cpus/PowerPC,POWER9@8",
        "/memory@0",
        "/empty",
        "/a",
        "/a/b",
        "/a/b/c@1,2",
    ]
    memory = root.find("/memory@0")
    assert memory is not None
    assert (memory.base_name, memory.unit_address) == ("memory", "0")
    cpus = DeviceTree(root).node("/cpus")
    assert [c.name for c in cpus.children_named("PowerPC,POWER9")] == [
        "PowerPC,POWER9@0",
        "PowerPC,POWER9@8",
    ]


def test_property_accessors() -> None:
    tree = sample_tree()
    chosen = tree.node("/chosen")
    with raises(DeviceTreeError, "bad-property", node="chosen", prop="missing") as err:
        chosen.get_u32("missing")
    assert isinstance(err.value.cause, DeviceTreeError) and err.value.cause.problem == "no-property"
    with raises(DeviceTreeError, "bad-property", node="chosen", prop="linux,initrd-start") as err:
        chosen.get_u32("linux,initrd-start")
    assert err.value.cause.__dict__ == {"problem": "bad-u32", "size": 8}
    with raises(DeviceTreeError, "no-node", path="/nope"):
        tree.node("/nope")
    chosen.set_cells("linux,usable-memory", [0, 0x1000], 2)
    assert chosen.get_cells("linux,usable-memory", 2) == [0, 0x1000]
    assert chosen.delete("linux,usable-memory")
    assert not chosen.delete("linux,usable-memory")
    chosen.set_u64("linux,initrd-start", 5)  # replacing keeps the position
    assert list(chosen.props)[2] == "linux,initrd-start"


def test_child_editing_and_copy() -> None:
    tree = sample_tree()
    clone = tree.copy()
    assert clone == tree
    assert ordered(clone.root) == ordered(tree.root)
    clone.node("/chosen").set_string("bootargs", "changed")
    clone.root.remove_child("cpus")
    clone.reserve_map.append(Range(0, 0x10000))
    assert tree.node("/chosen").get_string("bootargs") == "console=hvc0 root=/dev/vda"
    assert tree.find("/cpus") is not None
    assert len(tree.reserve_map) == 2
    assert clone.root.remove_child("cpus") is None
    with raises(DeviceTreeError, "duplicate-child", node="", name="chosen"):
        tree.root.add_child(Node("chosen"))
    assert tree.root.ensure_child("chosen") is tree.node("/chosen")
    assert tree.root.ensure_child("new").name == "new"
    assert tree.root.children[-1].name == "new"


# -- random trees against libfdt ------------------------------------------------------

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-"
node_names = st.builds(
    lambda base, unit: base if unit is None else f"{base}@{unit:x}",
    st.text(_NAME_CHARS, min_size=1, max_size=12),
    st.none() | st.integers(0, 1 << 40),
)
prop_names = st.text(_NAME_CHARS + "#?", min_size=1, max_size=31)
prop_dicts = st.dictionaries(prop_names, st.binary(max_size=40), max_size=6)


def _node(name: str, props: dict[str, bytes], children: list[Node]) -> Node:
    return Node(name, props, children)


def _subtrees(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    return st.builds(_node, node_names, prop_dicts, children)


nodes = st.recursive(
    st.builds(_node, node_names, prop_dicts, st.just([])),
    lambda inner: _subtrees(st.lists(inner, max_size=4, unique_by=lambda n: n.name)),
    max_leaves=20,
)
trees = st.builds(
    DeviceTree,
    root=st.builds(
        _node, st.just(""), prop_dicts, st.lists(nodes, max_size=4, unique_by=lambda n: n.name)
    ),
    reserve_map=st.lists(
        st.builds(Range.sized, st.integers(0, 1 << 60), st.integers(1, 1 << 40)), max_size=5
    ),
    boot_cpuid_phys=st.integers(0, 0xFFFFFFFF),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, pad=st.integers(0, 64))
def test_random_trees_match_libfdt(tree: DeviceTree, pad: int, libfdt: Any) -> None:
    blob = build_fdt(tree, pad=pad)
    assert ordered(libfdt_root(blob)) == ordered(tree.root)
    assert libfdt_reserve_map(blob) == tree.reserve_map
    assert libfdt.Fdt(blob).boot_cpuid_phys() == tree.boot_cpuid_phys
    back = parse_fdt(blob)
    assert ordered(back.root) == ordered(tree.root)
    assert (back.reserve_map, back.boot_cpuid_phys) == (tree.reserve_map, tree.boot_cpuid_phys)
    assert build_fdt(back, pad=pad) == blob


# -- a large tree ---------------------------------------------------------------------

LMB_COUNT = 10_000
LMB_SIZE = 256 << 20
#: ibm,dynamic-memory (PAPR "ibm,dynamic-reconfiguration-memory"): u32 count, then per
#: LMB: u64 base address, u32 DRC index, u32 reserved, u32 associativity index, u32 flags.
_LMB = struct.Struct(">QIIII")


def large_tree(cpus: int = 2000) -> DeviceTree:
    root = Node("", {"#address-cells": ints_to_cells([2], 1), "#size-cells": ints_to_cells([2], 1)})
    drconf = root.add_child(Node("ibm,dynamic-reconfiguration-memory"))
    drconf.set_u64("ibm,lmb-size", LMB_SIZE)
    lmbs = b"".join(
        _LMB.pack(i * LMB_SIZE, 0x8000_0000 + i, 0, i % 4, 0x8) for i in range(LMB_COUNT)
    )
    drconf.set("ibm,dynamic-memory", struct.pack(">I", LMB_COUNT) + lmbs)
    drconf.set_cells("linux,drconf-usable-memory", range(100_000), 2)
    cpus_node = root.add_child(Node("cpus"))
    for i in range(cpus):
        cpu = cpus_node.add_child(Node(f"PowerPC,POWER9@{i * 8:x}"))
        cpu.set_string("device_type", "cpu")
        cpu.set_u32("reg", i * 8)
        cpu.set("ibm,pa-features", bytes(range(256)) * 2)
    reserve = [Range.sized(i << 24, 0x1000) for i in range(1, 100)]
    return DeviceTree(root, reserve)


def test_build_and_parse_grow_linearly_with_the_tree() -> None:
    """Four times the CPU nodes, under five times the work for build and for parse
    (a quadratic step would be ~16x); work is counted in calls, not timed."""
    small, large = large_tree(cpus=500), large_tree(cpus=2000)
    _, build_small = count_calls(functools.partial(build_fdt, small))
    _, build_large = count_calls(functools.partial(build_fdt, large))
    assert build_large < 5 * build_small, (build_small, build_large)
    blob_small, blob_large = build_fdt(small), build_fdt(large)
    _, parse_small = count_calls(functools.partial(parse_fdt, blob_small))
    _, parse_large = count_calls(functools.partial(parse_fdt, blob_large))
    assert parse_large < 5 * parse_small, (parse_small, parse_large)


def test_large_tree_round_trips_through_libfdt(libfdt: Any) -> None:
    tree = large_tree()
    blob = build_fdt(tree, pad=4096)
    back = parse_fdt(blob)
    assert len(blob) > 2_000_000
    assert back == tree
    assert ordered(libfdt_root(blob)) == ordered(tree.root)
    assert libfdt_reserve_map(blob) == tree.reserve_map
    fdt = libfdt.Fdt(blob)
    drconf = fdt.path_offset("/ibm,dynamic-reconfiguration-memory")
    lmbs = bytes(fdt.getprop(drconf, "ibm,dynamic-memory"))
    assert len(lmbs) == 4 + 24 * LMB_COUNT
    assert _LMB.unpack_from(lmbs, 4 + 24 * 9999)[:2] == (9999 * LMB_SIZE, 0x8000_0000 + 9999)


def test_large_tree_decompiles_with_dtc(tmp_path: Path) -> None:
    blob = build_fdt(large_tree())
    assert dtc("-I", "dtb", "-O", "dtb", data=blob) == blob
