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
    # drivers/of/fdt.c early_init_dt_scan_chosen() wipes a seed it used; one still
    # there must not be handed on twice (next_tree sets a fresh one).
    "rng-seed",
    "kaslr-seed",
)
STALE_EVERYWHERE = ("name", "linux,pci-domain")
# The TPM event log by address: arch/powerpc/kernel/prom_init.c prom_instantiate_sml()
# (6.1) puts linux,sml-base/-size on the vtpm node for a log in memory it reserves in
# the boot tree's reserve map only; drivers/char/tpm/eventlog/of.c tpm_read_log_of()
# copies from that address. A kexec_load tree rebuilt from /proc/device-tree has no
# such reservation, so a segment or the next kernel may overwrite the log: dropped
# (the next kernel then has no firmware event log rather than a wrong one). An inline
# linux,sml-log (newer prom_init.c) carries the log itself and is kept.
STALE_ADDRESSES = ("linux,sml-base", "linux,sml-size")
# drivers/of/kexec.c (6.1) RNG_SEED_SIZE: what kexec_file_load puts in /chosen/rng-seed.
RNG_SEED_SIZE = 128
# Room left in the blob for the next kernel's own edits (kexec-tools adds 4 KiB too).
DT_PAD = 0x1000
# The blob reserves itself; until it is placed, an entry of the same (fixed) size.
RESERVE_SELF_PLACEHOLDER = Range(0, 1)


def _strip(root: Node) -> None:
    for node in root.nodes():
        for name in (*STALE_EVERYWHERE, *STALE_ADDRESSES):
            node.delete(name)


def next_tree(
    running: Node | None,
    *,
    bootargs: str,
    initrd: Range | None,
    reserved: Iterable[Range],
    dtb: DeviceTree | None = None,
    rng_seed: bytes = b"",
) -> DeviceTree:
    """The next kernel's tree (a copy; the inputs are left as they were): the given
    --dtb (:func:`given_tree`), or else the running tree, adjusted.

    Either way /chosen carries the final command line (for a crash kernel, with its
    ``elfcorehdr=``), and ``linux,initrd-start/-end`` describe this load's initrd or
    are gone, never left pointing at whatever the blob's first boot had there.
    ``reserved`` are firmware and loader ranges for the reserve map; the map
    also gets a placeholder for the blob itself, filled by :func:`finish`.
    ``rng_seed`` (random bytes, :data:`RNG_SEED_SIZE` of them) becomes
    /chosen/rng-seed, which the next kernel adds to its entropy.
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
    if rng_seed:
        chosen.set("rng-seed", rng_seed)
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
