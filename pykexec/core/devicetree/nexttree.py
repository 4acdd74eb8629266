# SPDX-License-Identifier: GPL-2.0-or-later
"""The device tree handed to the next kernel, derived from the running one or from
--dtb. Pure.

Starting from the running kernel's tree (/proc/device-tree), it drops what
only described the running kernel (``linux,kernel-end``, the hash table, the
old initrd, the crash reservation, ``name`` properties that the flattened
format does not carry), sets ``/chosen`` for the new kernel (``bootargs``,
``linux,initrd-start``/``-end``, ``linux,booted-from-kexec``) and builds the
reserve map.  A --dtb is kept as given but for /chosen's command line and initrd
and the reserve map.  For a crash kernel the caller adds the usable-memory properties.
"""

from __future__ import annotations

from collections.abc import Iterable

from pykexec.core.devicetree.chosen import CHOSEN, set_chosen
from pykexec.core.devicetree.fdt import DeviceTree, build_fdt
from pykexec.core.devicetree.tree import Node
from pykexec.core.memory import Range
from pykexec.errors import UsageError

# Properties the running kernel added about itself (arch/powerpc/kexec/core.c,
# arch/powerpc/kernel/prom.c, kexec-tools' fs2dt skip list): never carried over.
STALE_CHOSEN = (
    "linux,kernel-end",
    "linux,htab-base",
    "linux,htab-size",
    "linux,crashkernel-base",
    "linux,crashkernel-size",
    "linux,initrd-start",
    "linux,initrd-end",
    "linux,memory-limit",
    "linux,booted-from-kexec",
    "bootargs",
)
STALE_EVERYWHERE = ("name", "linux,pci-domain")
# Room left in the blob for the next kernel's own edits (kexec-tools adds 4 KiB too).
DT_PAD = 0x1000
# The blob reserves itself; until it is placed, an entry of the same (fixed) size.
RESERVE_SELF_PLACEHOLDER = Range(0, 1)


def _strip(root: Node) -> None:
    for node in root.nodes():
        for name in STALE_EVERYWHERE:
            node.delete(name)


def next_tree(
    running: Node | None,
    *,
    bootargs: str,
    initrd: Range | None,
    reserved: Iterable[Range],
    dtb: DeviceTree | None = None,
) -> DeviceTree:
    """The next kernel's tree (a copy; the inputs are left as they were): the given
    --dtb (:func:`given_tree`), or else the running tree, adjusted.

    Either way /chosen carries the final command line (for a crash kernel, with its
    ``elfcorehdr=``), and ``linux,initrd-start/-end`` describe this load's initrd or
    are gone, never left pointing at whatever the blob's first boot had there.
    ``reserved`` are firmware and loader ranges for the reserve map; the map
    also gets a placeholder for the blob itself, filled by :func:`finish`.
    """
    if dtb is not None:
        return given_tree(dtb, bootargs=bootargs, initrd=initrd, reserved=reserved)
    if running is None:
        raise UsageError("no-device-tree")
    root = running.copy()
    _strip(root)
    chosen = root.ensure_child(CHOSEN)
    for name in STALE_CHOSEN:
        chosen.delete(name)
    set_chosen(root, bootargs, initrd).set_empty("linux,booted-from-kexec")
    rsv = sorted(set(r for r in reserved if r))
    if initrd is not None and initrd not in rsv:
        rsv.append(initrd)
    return DeviceTree(root=root, reserve_map=[*rsv, RESERVE_SELF_PLACEHOLDER])


def given_tree(
    dtb: DeviceTree, *, bootargs: str, initrd: Range | None, reserved: Iterable[Range]
) -> DeviceTree:
    """A --dtb for the next kernel (a copy): its /chosen set, its reserve map extended
    by ``reserved`` and the initrd, plus the placeholder for the blob itself."""
    tree = dtb.copy()
    set_chosen(tree.root, bootargs, initrd)
    rsv = [*tree.reserve_map, *reserved, *([initrd] if initrd else [])]
    tree.reserve_map = [*sorted(set(rsv)), RESERVE_SELF_PLACEHOLDER]
    return tree


def finish(tree: DeviceTree, address: int | None, pad: int = DT_PAD) -> bytes:
    """Flatten ``tree``, with its own placement in the reserve map once known.

    Call it once with ``address=None`` to learn the size, once more with the
    address chosen; the size does not change between the two calls.
    """
    placeholder = len(tree.reserve_map) - 1
    if address is None:
        blob = build_fdt(tree, pad=pad)  # the placeholder entry has the final entry's size
        tree.reserve_map[placeholder] = Range(0, len(blob))
        return blob
    size = tree.reserve_map[placeholder].size
    tree.reserve_map[placeholder] = Range.sized(address, size)
    return build_fdt(tree, pad=pad)
