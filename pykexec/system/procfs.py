# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading a device tree from a directory laid out like /proc/device-tree.

The kernel exports the live tree (Documentation/ABI/testing/sysfs-firmware-ofw,
/sys/firmware/devicetree/base, linked from /proc/device-tree) as one directory
per node and one regular file per property whose content is the raw value.
The root can be any directory, so tests and offline plans read a captured
snapshot exactly like the live system.

Differences from a flattened tree that the caller handles:

* every node has a ``name`` property (the kernel's OF model keeps it); a v17
  blob does not carry it (DTSpec v0.4 §2.3.11 marks it deprecated, and kexec-tools'
  fs2dt skips it), so a loader calls :func:`drop_name_properties` before
  :func:`~pykexec.core.devicetree.fdt.build_fdt`;
* directory order is arbitrary, so children and properties are sorted by
  :func:`entry_order`.

Anything that is neither a directory nor a regular file (symlinks included) is
ignored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pykexec.core.devicetree.tree import Node
from pykexec.errors import DeviceTreeError
from pykexec.system.fileio import read_regular

#: The property every /proc/device-tree node has and a v17 flattened tree does not.
NAME_PROPERTY = "name"
#: The largest property value read: ibm,dynamic-memory for 4 Mi LMBs is 96 MiB.
MAX_PROPERTY_SIZE = 128 << 20
#: How a property read fails: a DeviceTreeError with the message.
_ERROR = DeviceTreeError  # fileio raises it with FILE_MESSAGES problems


def entry_order(name: str) -> tuple[str, int, str]:
    """Sort key for node and property names.

    Names sort by their part before ``@``; names sharing it sort by the length
    of the unit address, then its text, which puts hexadecimal unit addresses in
    numeric order (``memory@f000000`` before ``memory@10000000``), the order
    kexec-tools' fs2dt gives its ``scandir`` (its ``comparefunc``).
    """
    base, _, unit = name.partition("@")
    return base, len(unit), unit


def read_tree(path: Path) -> Node:
    """Read the whole tree rooted at directory ``path`` into a :class:`Node`.

    The root node is named ``""``; other nodes take their directory's name.
    Raises :class:`DeviceTreeError` if ``path`` is not a directory or a file
    cannot be read.
    """
    if not path.is_dir():
        raise DeviceTreeError("no-directory", path=str(path))
    root = Node("")
    stack = [(path, root)]
    while stack:
        directory, node = stack.pop()
        for entry in _sorted_entries(directory):
            if entry.is_dir(follow_symlinks=False):
                child = Node(entry.name)
                node.children.append(child)
                stack.append((Path(entry.path), child))
            elif entry.is_file(follow_symlinks=False):
                node.set(entry.name, _read_file(Path(entry.path)))
    return root


def read_prop(path: Path, node_path: str, name: str) -> bytes | None:
    """The value of property ``name`` of the node at ``node_path`` under ``path``.

    Reads one file, without walking the tree; ``None`` if the node or the
    property does not exist (or is not a regular file).
    """
    parts = [part for part in node_path.split("/") if part]
    if any(part in (".", "..") for part in [*parts, name]) or "/" in name or not name:
        raise DeviceTreeError("bad-path", path=node_path, prop=name)
    file = path.joinpath(*parts, name)
    try:
        if not stat.S_ISREG(file.lstat().st_mode):
            return None
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DeviceTreeError("cannot-stat", path=str(file), cause=err) from err
    return _read_file(file)


def drop_name_properties(root: Node) -> Node:
    """Remove the ``name`` property from every node (in place); returns ``root``.

    The step between :func:`read_tree` and flattening: version-17 blobs derive
    a node's name from the structure block instead.
    """
    for node in root.nodes():
        node.delete(NAME_PROPERTY)
    return root


def _sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry_order(entry.name))
    except OSError as err:
        raise DeviceTreeError("cannot-list", path=str(directory), cause=err) from err


def _read_file(file: Path) -> bytes:
    data = read_regular(str(file), "device tree property", _ERROR, MAX_PROPERTY_SIZE)
    if data is None:
        raise DeviceTreeError("vanished", path=str(file))
    return data
