"""Device trees: the flattened format (:mod:`.fdt`), property codecs (:mod:`.props`)
and trees read from /proc/device-tree-style directories (:mod:`.procfs`).

Typical use by the loader (the only caller of :mod:`.procfs`, which this package
does not import, so that importing the pure modules reads nothing)::

    from pykexec.devicetree.procfs import drop_name_properties, read_tree

    root = drop_name_properties(read_tree(Path("/proc/device-tree")))
    tree = DeviceTree(root)
    ...                                  # plan: edit /chosen, reserve map
    blob = build_fdt(tree, pad=4096)

"""

from pykexec.devicetree.fdt import (
    FDT_LAST_COMP_VERSION,
    FDT_MAGIC,
    FDT_VERSION,
    DeviceTree,
    FdtHeader,
    FdtToken,
    Node,
    build_fdt,
    cell_sizes,
    cells_to_ints,
    decode_reg,
    encode_reg,
    ints_to_cells,
    parse_fdt,
)

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
