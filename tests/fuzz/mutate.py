# SPDX-License-Identifier: GPL-2.0-or-later
"""Mutation primitives shared by the input families: interesting numbers, byte-level
damage, and damage to device-tree nodes (used for FDT blobs and snapshot trees alike)."""

from __future__ import annotations

import random
import struct

from pykexec.core.devicetree.tree import Node

#: Boundary values for 32-bit fields: zero, small counts, sign and width edges.
INTERESTING_32 = (
    0, 1, 2, 3, 4, 5, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000,
    0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
)  # fmt: skip
#: The same for 64-bit fields, plus the ppc64 linear-map and 2^62 edges.
INTERESTING_64 = (
    *INTERESTING_32,
    1 << 32, 1 << 40, 1 << 51, (1 << 62) - 1, 1 << 62, 1 << 63,
    0xC000_0000_0000_0000, 0x3FFF_FFFF_FFFF_FFFF, (1 << 64) - 1,
)  # fmt: skip


def number(rng: random.Random, bits: int) -> int:
    """An interesting value, or a random one, that fits in ``bits``."""
    table = INTERESTING_64 if bits == 64 else INTERESTING_32
    if rng.random() < 0.7:
        return rng.choice([v for v in table if v < 1 << bits])
    return rng.getrandbits(bits)


def u32(value: int) -> bytes:
    return (value & 0xFFFF_FFFF).to_bytes(4, "big")


def u64(value: int) -> bytes:
    return (value & (1 << 64) - 1).to_bytes(8, "big")


def put(data: bytearray, offset: int, fmt: str, value: int) -> None:
    """Pack ``value`` (masked to the field's width) at ``offset`` if the field fits."""
    size = struct.calcsize(fmt)
    if offset >= 0 and offset + size <= len(data):
        struct.pack_into(fmt, data, offset, value & ((1 << (8 * size)) - 1))


def damage(rng: random.Random, data: bytearray) -> str:
    """One byte-level mutation of ``data`` in place; returns what it did."""
    if not data:
        data += rng.randbytes(rng.randint(1, 64))
        return "filled empty"
    kind = rng.randrange(6)
    at = rng.randrange(len(data))
    if kind == 0:
        del data[rng.randint(0, len(data)) :]
        return f"truncated to {len(data)}"
    if kind == 1:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return "flipped bits"
    if kind == 2:
        data[at : at + 4] = rng.randbytes(4)
        return f"random word at {at:#x}"
    if kind == 3:
        data[at:at] = rng.randbytes(rng.randint(1, 32))
        return f"inserted at {at:#x}"
    if kind == 4:
        del data[at : at + rng.randint(1, 32)]
        return f"deleted at {at:#x}"
    data += rng.randbytes(rng.randint(1, 256))
    return "appended garbage"


def random_value(rng: random.Random) -> bytes:
    """A property value: an interesting cell pair, random bytes or text."""
    kind = rng.randrange(5)
    if kind == 0:
        return u32(number(rng, 32))
    if kind == 1:
        return u64(number(rng, 64))
    if kind == 2:
        return u64(number(rng, 64)) + u64(number(rng, 64))
    if kind == 3:
        return rng.randbytes(rng.choice((0, 1, 3, 5, 7, 12, 24, 100)))
    return rng.choice((b"\xff\xfe\0", b"garbage", b"/no/such/node\0", b"hvterm1\0"))


def _all_nodes(root: Node) -> list[Node]:
    return [node for _, node in root.walk()]


# Properties whose values steer the memory picture (what machine.describe reads).
CHOSEN_NUMBERS = (
    "linux,crashkernel-base",
    "linux,crashkernel-size",
    "linux,kernel-end",
    "linux,initrd-start",
    "linux,initrd-end",
    "linux,memory-limit",
    "linux,htab-base",
    "linux,htab-size",
)


def damage_tree(rng: random.Random, root: Node) -> str:
    """One structure-aware mutation of a device tree in place; returns what it did."""
    kind = rng.randrange(11)
    if kind == 0:
        name = rng.choice(("#address-cells", "#size-cells"))
        target = rng.choice([root, *(n for n in _all_nodes(root) if n.has(name))])
        target.props[name] = u32(number(rng, 32)) if rng.random() < 0.8 else random_value(rng)
        return f"{name} of {target.name!r}"
    if kind == 1:
        chosen = root.ensure_child("chosen")
        name = rng.choice(CHOSEN_NUMBERS)
        chosen.props[name] = u64(number(rng, 64)) if rng.random() < 0.7 else random_value(rng)
        return f"/chosen/{name}"
    if kind == 2:
        return _damage_drmem(rng, root)
    if kind == 3:
        for node in root.children_named("memory"):
            node.props["reg"] = b"".join(u64(number(rng, 64)) for _ in range(rng.randint(0, 5)))
        return "memory reg"
    if kind == 4:
        return fragment(rng, root)
    if kind == 5:
        depth = rng.choice((10, 100, 1000, 3000))
        deep(root, depth)
        return f"chain of {depth} nodes"
    if kind == 6:
        node = rng.choice(_all_nodes(root))
        if node.props:
            name = rng.choice(list(node.props))
            node.props[name] = random_value(rng)
            return f"property {name} of {node.name!r}"
        return "nothing"
    if kind == 7:
        node = rng.choice(_all_nodes(root))
        if node.children:
            gone = node.children.pop(rng.randrange(len(node.children)))
            return f"removed node {gone.name!r}"
        return "nothing"
    if kind == 8:
        for path, names in (("rtas", ("linux,rtas-base", "rtas-size")),
                            ("ibm,opal", ("opal-base-address", "opal-runtime-size"))):  # fmt: skip
            node = root.ensure_child(path)
            for name in names:
                node.props[name] = rng.choice((u32, u64))(number(rng, 64))
        return "firmware areas"
    if kind == 9:
        root.props["reserved-ranges"] = b"".join(
            u64(number(rng, 64)) for _ in range(rng.choice((1, 2, 4, 7)))
        )
        return "reserved-ranges"
    chosen = root.ensure_child("chosen")
    chosen.props["linux,stdout-path"] = random_value(rng)
    chosen.props["bootargs"] = rng.randbytes(rng.randint(0, 64)) + b"\0"
    return "console and bootargs"


def _damage_drmem(rng: random.Random, root: Node) -> str:
    dr = root.ensure_child("ibm,dynamic-reconfiguration-memory")
    if rng.random() < 0.3:
        dr.props["ibm,lmb-size"] = rng.choice((u32, u64))(number(rng, 64))
        return "ibm,lmb-size"
    name = rng.choice(("ibm,dynamic-memory", "ibm,dynamic-memory-v2"))
    data = bytearray(dr.props.get(name, u32(0)))
    if rng.random() < 0.5 or len(data) < 8:
        data[0:4] = u32(number(rng, 32))  # the entry count
    else:
        put(data, 4 + 24 * rng.randrange(max((len(data) - 4) // 24, 1)), ">I", number(rng, 32))
    dr.props[name] = bytes(data)
    return f"{name} count"


def fragment(rng: random.Random, root: Node) -> str:
    """Replace the LMBs with many, every other one missing (fragmented memory)."""
    count = rng.choice((100, 1000, 8000, 65536))
    lmb = 256 << 20
    base = 1 << 30
    dr = root.ensure_child("ibm,dynamic-reconfiguration-memory")
    dr.props["ibm,lmb-size"] = u64(lmb)
    if rng.random() < 0.5:
        out = bytearray(u32(count))
        for i in range(count):
            out += struct.pack(">QIIII", base + i * lmb, i, 0, 0, 0x8 if i % 2 else 0)
        dr.props["ibm,dynamic-memory"] = bytes(out)
        dr.props.pop("ibm,dynamic-memory-v2", None)
    else:
        out = bytearray(u32(count))
        for i in range(count):
            out += struct.pack(">IQIII", 1, base + 2 * i * lmb, i, 0, 0x8)
        dr.props["ibm,dynamic-memory-v2"] = bytes(out)
        dr.props.pop("ibm,dynamic-memory", None)
    return f"{count} fragmented LMBs"


def deep(root: Node, depth: int) -> None:
    """Hang a chain of ``depth`` nested nodes under the root."""
    node = root.ensure_child("deep")
    for i in range(depth):
        node = node.ensure_child(f"n{i % 10}")
        node.props["p"] = b"\0"
