# SPDX-License-Identifier: GPL-2.0-or-later
"""Device trees, pure: the flattened format (:mod:`.fdt`), the node model with its typed
accessors (:mod:`.tree`), property codecs on bytes (:mod:`.props`) and the next
kernel's tree (:mod:`.nexttree`).  Reading /proc/device-tree is I/O and lives next to
:mod:`pykexec.system.sysinfo`, in :mod:`pykexec.system.procfs`.

Typical use by the loader::

    from pykexec.system.procfs import drop_name_properties, read_tree

    root = drop_name_properties(read_tree(Path("/proc/device-tree")))
    tree = DeviceTree(root)
    ...                                  # plan: edit /chosen, reserve map
    blob = build_fdt(tree, pad=4096)

"""

from pykexec.core.devicetree.fdt import (
    FDT_LAST_COMP_VERSION,
    FDT_MAGIC,
    FDT_VERSION,
    DeviceTree,
    FdtHeader,
    FdtToken,
    build_fdt,
    cells_to_ints,
    encode_reg,
    ints_to_cells,
    parse_fdt,
)
from pykexec.core.devicetree.tree import Node, cell_sizes, decode_reg

__all__ = [
    "FDT_LAST_COMP_VERSION",
    "FDT_MAGIC",
    "FDT_VERSION",
    "DeviceTree",
    "FdtHeader",
    "FdtToken",
    "Node",
    "build_fdt",
    "cell_sizes",
    "cells_to_ints",
    "decode_reg",
    "encode_reg",
    "ints_to_cells",
    "parse_fdt",
]
