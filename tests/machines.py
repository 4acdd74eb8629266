# SPDX-License-Identifier: GPL-2.0-or-later
"""Synthetic POWER machines as device trees and sysroots (the large cases real guests lack)."""

from __future__ import annotations

import struct
from pathlib import Path

from pykexec.core.devicetree.tree import Node

MiB = 1 << 20
GiB = 1 << 30


def u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "big")


def drmem_v1(lmbs: list[tuple[int, int]]) -> bytes:
    """(base, flags) per LMB -> ibm,dynamic-memory."""
    entries = (struct.pack(">QIIII", b, 0x80000000 + i, 0, 0, f) for i, (b, f) in enumerate(lmbs))
    return u32(len(lmbs)) + b"".join(entries)


def drmem_v2(sets: list[tuple[int, int, int]]) -> bytes:
    """(count, base, flags) per set -> ibm,dynamic-memory-v2."""
    entries = (
        struct.pack(">IQIII", n, base, 0x80000000 + i, 0, flags)
        for i, (n, base, flags) in enumerate(sets)
    )
    return u32(len(sets)) + b"".join(entries)


def pseries(
    *,
    rma: int = 1 * GiB,
    lmb_size: int = 256 * MiB,
    lmbs: int = 4,
    drmem: int = 1,
    crash: tuple[int, int] | None = (512 * MiB, 256 * MiB),
    kernel_end: int = 0x2A00000,
    cpus: int = 1,
) -> Node:
    """A pseries tree: memory@0 (the RMA), LMBs above it, RTAS, hvterm console."""
    chosen = {
        "bootargs": b"console=hvc0 root=/dev/vda2 crashkernel=256M\0",
        "linux,stdout-path": b"/vdevice/vty@71000000\0",
        "linux,kernel-end": u64(kernel_end),
        "linux,initrd-start": u64(0x3000000),
        "linux,initrd-end": u64(0x3800000),
        "name": b"chosen\0",
    }
    if crash:
        chosen["linux,crashkernel-base"] = u64(crash[0])
        chosen["linux,crashkernel-size"] = u64(crash[1])
    flags = 0x8
    lmb_list = [(rma + i * lmb_size, flags) for i in range(lmbs)]
    dr = Node("ibm,dynamic-reconfiguration-memory", {"ibm,lmb-size": u64(lmb_size)})
    if drmem == 1:
        dr.props["ibm,dynamic-memory"] = drmem_v1([(0, 8), *lmb_list])
    else:
        dr.props["ibm,dynamic-memory-v2"] = drmem_v2([(1, 0, 0x8), (lmbs, rma, flags)])
    cpu_nodes = [
        Node(f"PowerPC,POWER9@{i * 8:x}", {"device_type": b"cpu\0", "reg": u32(i * 8)})
        for i in range(cpus)
    ]
    return Node(
        "",
        {
            "#address-cells": u32(2),
            "#size-cells": u32(2),
            "compatible": b"qemu,pseries\0",
            "name": b"\0",
        },
        [
            Node("chosen", chosen),
            Node(
                "memory@0",
                {"device_type": b"memory\0", "reg": u64(0) + u64(rma), "name": b"memory\0"},
            ),
            dr,
            Node("rtas", {"linux,rtas-base": u32(rma - 0x2000000), "rtas-size": u32(0x10000)}),
            Node("cpus", {"#address-cells": u32(1), "#size-cells": u32(0)}, cpu_nodes),
            Node("vdevice", {}, [Node("vty@71000000", {"compatible": b"hvterm1\0"})]),
        ],
    )


def write_sysroot(root: Path, tree: Node, *, cmdline: str = "console=hvc0", cpus: int = 1) -> Path:
    """Lay ``tree`` out as ``root``/proc/device-tree plus the /proc and /sys files pykexec reads."""

    def put(node: Node, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name, value in node.props.items():
            (path / name).write_bytes(value)
        for c in node.children:
            put(c, path / c.name)

    put(tree, root / "proc/device-tree")
    (root / "proc/cmdline").write_text(cmdline + "\n")
    (root / "proc/iomem").write_text("00000000-3fffffff : System RAM\n")
    kernel = root / "sys/kernel"
    kernel.mkdir(parents=True)
    (kernel / "kexec_loaded").write_text("0\n")
    (kernel / "kexec_crash_loaded").write_text("0\n")
    (kernel / "vmcoreinfo").write_text("2b1d000 1000\n")
    cpu_dir = root / "sys/devices/system/cpu"
    cpu_dir.mkdir(parents=True)
    (cpu_dir / "possible").write_text(f"0-{cpus - 1}\n" if cpus > 1 else "0\n")
    for i in range(cpus):
        (cpu_dir / f"cpu{i}").mkdir()
        (cpu_dir / f"cpu{i}/crash_notes").write_text(f"{0x7E000000 + i * 0x400:x}\n")
        (cpu_dir / f"cpu{i}/crash_notes_size").write_text("936\n")
    return root
