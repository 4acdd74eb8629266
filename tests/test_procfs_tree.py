# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for pykexec.system.procfs: trees read from /proc/device-tree-style directories.

Synthetic directories are written in ``tmp_path``; captured snapshots under
tests/fixtures/snapshots/<name>/proc/device-tree are read too. Oracles: libfdt
(every flattened tree passes ``fdt_check_full`` and reads back the same) and
``dtc -I fs``, which reads the same directory on its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pykexec.core.devicetree.fdt import DeviceTree, build_fdt, parse_fdt
from pykexec.core.devicetree.tree import Node, decode_reg
from pykexec.core.memory import Range
from pykexec.errors import DeviceTreeError
from pykexec.system.procfs import (
    NAME_PROPERTY,
    drop_name_properties,
    entry_order,
    read_prop,
    read_tree,
)
from tests import oracles
from tests.typed import raises

SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "snapshots"
SNAPSHOT_TREES = sorted(SNAPSHOTS.glob("*/proc/device-tree"))


# -- helpers ---------------------------------------------------------------------


def libfdt_paths(blob: bytes) -> dict[str, dict[str, bytes]]:
    """Every node path of ``blob`` with its properties, decoded by libfdt alone."""
    libfdt = oracles.libfdt()
    quiet = (libfdt.NOTFOUND,)
    fdt = libfdt.Fdt(blob)
    assert libfdt.fdt_check_full(fdt._fdt, fdt.totalsize()) == 0
    out: dict[str, dict[str, bytes]] = {}
    offset, depth = 0, 0
    while offset >= 0 and depth >= 0:
        props = {}
        prop = fdt.first_property_offset(offset, quiet)
        while prop >= 0:
            value = fdt.get_property_by_offset(prop)
            props[value.name] = bytes(value)
            prop = fdt.next_property_offset(prop, quiet)
        out[fdt.get_path(offset)] = props
        offset, depth = libfdt.fdt_next_node(fdt._fdt, offset, depth)
    return out


def tree_paths(root: Node) -> dict[str, dict[str, bytes]]:
    return {path: dict(node.props) for path, node in root.walk()}


def write_dir(path: Path, node: Node) -> None:
    """Lay ``node`` out like /proc/device-tree under ``path`` (in reverse order)."""
    path.mkdir(parents=True, exist_ok=True)
    for name, value in reversed(node.props.items()):
        (path / name).write_bytes(value)
    for child in reversed(node.children):
        write_dir(path / child.name, child)


def with_names(node: Node) -> Node:
    """A copy with the ``name`` property the kernel gives every node."""
    clone = node.copy()
    for path, n in clone.walk():
        n.props[NAME_PROPERTY] = path.rsplit("/", 1)[1].split("@")[0].encode() + b"\0"
        n.props = dict(sorted(n.props.items(), key=lambda item: entry_order(item[0])))
    return clone


def synthetic_root() -> Node:
    """A small tree whose properties and children are already in entry_order."""
    root = Node("")
    root.set_u32("#address-cells", 2)
    root.set_u32("#size-cells", 2)
    root.set_strings("compatible", ["qemu,pseries"])
    chosen = root.add_child(Node("chosen"))
    chosen.set_string("bootargs", "console=hvc0")
    chosen.set_u64("linux,kernel-end", 0x2880000)
    chosen.set_empty("qemu,boot-kernel-le")
    cpus = root.add_child(Node("cpus"))
    cpus.set_u32("#address-cells", 1)
    cpus.set_u32("#size-cells", 0)
    for reg in (0, 8, 0x10):
        cpus.add_child(Node(f"PowerPC,POWER9@{reg:x}")).set_u32("reg", reg)
    for base, size in ((0, 0xF000000), (0xF000000, 0x1000000), (0x10000000, 0x70000000)):
        memory = root.add_child(Node(f"memory@{base:x}"))
        memory.set_string("device_type", "memory")
        memory.set_cells("reg", [base, size], 2)
    root.add_child(Node("rtas")).set_u32("rtas-size", 0x2000)
    return root


# -- synthetic directories -----------------------------------------------------------


def test_read_tree_sorts_and_keeps_name(tmp_path: Path) -> None:
    expected = with_names(synthetic_root())
    write_dir(tmp_path, expected)
    root = read_tree(tmp_path)
    assert [(p, list(n.props.items())) for p, n in root.walk()] == [
        (p, list(n.props.items())) for p, n in expected.walk()
    ]
    assert [c.name for c in root.children] == [
        "chosen",
        "cpus",
        "memory@0",
        "memory@f000000",
        "memory@10000000",
        "rtas",
    ]
    assert [c.name for c in root.children[1].children] == [
        "PowerPC,POWER9@0",
        "PowerPC,POWER9@8",
        "PowerPC,POWER9@10",
    ]
    chosen = DeviceTree(root).node("/chosen")
    assert chosen.props["name"] == b"chosen\0"
    assert chosen.get_u64("linux,kernel-end") == 0x2880000


def test_read_tree_ignores_symlinks_and_special_files(tmp_path: Path) -> None:
    write_dir(tmp_path, synthetic_root())
    (tmp_path / "chosen" / "link-to-file").symlink_to(tmp_path / "chosen" / "bootargs")
    (tmp_path / "link-to-dir").symlink_to(tmp_path / "cpus")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "chosen" / "fifo")
    root = read_tree(tmp_path)
    assert root == synthetic_root()
    assert read_prop(tmp_path, "/chosen", "link-to-file") is None
    assert read_prop(tmp_path, "/chosen", "fifo") is None


def test_entry_order() -> None:
    names = ["memory@10000000", "cpus", "memory@f000000", "memory", "#size-cells", "chosen"]
    assert sorted(names, key=entry_order) == [
        "#size-cells",
        "chosen",
        "cpus",
        "memory",
        "memory@f000000",
        "memory@10000000",
    ]


def test_read_prop(tmp_path: Path) -> None:
    write_dir(tmp_path, synthetic_root())
    assert read_prop(tmp_path, "/chosen", "bootargs") == b"console=hvc0\0"
    assert read_prop(tmp_path, "chosen/", "bootargs") == b"console=hvc0\0"
    assert read_prop(tmp_path, "/", "#size-cells") == b"\0\0\0\2"
    assert read_prop(tmp_path, "/cpus/PowerPC,POWER9@8", "reg") == b"\0\0\0\x08"
    assert read_prop(tmp_path, "/chosen", "linux,crashkernel-base") is None
    assert read_prop(tmp_path, "/nonexistent", "reg") is None
    assert read_prop(tmp_path, "/", "chosen") is None  # a node, not a property
    assert read_prop(tmp_path, "/chosen", "qemu,boot-kernel-le") == b""
    for node_path, name in (("/../etc", "passwd"), ("/chosen", ".."), ("/", "a/b"), ("/", "")):
        with raises(DeviceTreeError, "bad-path", path=node_path, prop=name):
            read_prop(tmp_path, node_path, name)


def test_read_tree_errors(tmp_path: Path) -> None:
    with raises(DeviceTreeError, "no-directory", path=str(tmp_path / "missing")):
        read_tree(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with raises(DeviceTreeError, "no-directory", path=str(tmp_path / "file")):
        read_tree(tmp_path / "file")


def test_drop_name_properties(tmp_path: Path) -> None:
    write_dir(tmp_path, with_names(synthetic_root()))
    root = read_tree(tmp_path)
    assert all(NAME_PROPERTY in node.props for _, node in root.walk())
    assert drop_name_properties(root) is root
    assert root == synthetic_root()


def test_round_trip_through_libfdt(tmp_path: Path) -> None:
    write_dir(tmp_path, with_names(synthetic_root()))
    root = drop_name_properties(read_tree(tmp_path))
    tree = DeviceTree(root, [Range.sized(0x2000000, 0x1000)])
    blob = build_fdt(tree, pad=4096)
    assert libfdt_paths(blob) == tree_paths(synthetic_root())
    assert parse_fdt(blob) == tree
    memory = [decode_reg(node, root) for node in root.children_named("memory")]
    assert memory == [
        [Range(0, 0xF000000)],
        [Range(0xF000000, 0x10000000)],
        [Range(0x10000000, 0x80000000)],
    ]


def test_dtc_reads_the_same_directory(tmp_path: Path) -> None:
    write_dir(tmp_path / "dt", with_names(synthetic_root()))
    assert_same_as_dtc_fs(tmp_path / "dt")


def assert_same_as_dtc_fs(directory: Path) -> None:
    result = subprocess.run(
        [oracles.dtc(), "-q", "-I", "fs", "-O", "dtb", "-o", "-", str(directory)],
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr.decode()
    # dtc's fs reader drops the "name" properties too.
    ours = build_fdt(DeviceTree(drop_name_properties(read_tree(directory))))
    assert libfdt_paths(ours) == libfdt_paths(result.stdout)


# -- captured snapshots ------------------------------------------------------------------


@pytest.mark.parametrize("directory", SNAPSHOT_TREES, ids=[p.parts[-3] for p in SNAPSHOT_TREES])
def test_snapshot_flattens_and_reads_back(directory: Path) -> None:
    root = read_tree(directory)
    assert all(NAME_PROPERTY in node.props for _, node in root.walk())
    bootargs = DeviceTree(root).node("/chosen").get("bootargs")
    assert read_prop(directory, "/chosen", "bootargs") == bootargs
    drop_name_properties(root)
    tree = DeviceTree(root)
    blob = build_fdt(tree, pad=4096)
    assert libfdt_paths(blob) == tree_paths(root)
    assert parse_fdt(blob) == tree
    memory = root.find("/memory@0")
    assert memory is not None
    assert decode_reg(memory, root)[0].start == 0
    cpus = root.find("/cpus")
    assert cpus is not None
    cpu_nodes = [c for c in cpus.children if c.props.get("device_type") == b"cpu\0"]
    assert cpu_nodes
    assert_same_as_dtc_fs(directory)
