# SPDX-License-Identifier: GPL-2.0-or-later
"""Synthetic ppc64 kernel images for tests, built with struct (no toolchain)."""

from __future__ import annotations

import struct

RUN0 = 0x72756E30


def make_head(endian: str, run_at_load: int = RUN0) -> bytes:
    """256 bytes that look like head_64.S: a branch at 0, run0 at 0x5c, code at 0x60."""
    o = "<" if endian == "little" else ">"
    words = [0x60000000] * 64  # nop
    words[0] = 0x48000100  # b .+0x100
    words[0x5C // 4] = run_at_load
    words[0x60 // 4] = 0x7C7F1B78  # mr r31,r3
    return struct.pack(o + "64I", *words)


def make_vmlinux(
    endian: str = "little",
    *,
    size: int = 0x30000,
    memsz: int | None = None,
    run_at_load: int = RUN0,
    machine: int = 21,
    elfclass: int = 2,
    loads: int = 1,
    version: bytes = b"Linux version 6.1.0-test (synthetic) #1 SMP",
) -> bytes:
    """An ELF64 vmlinux with ``loads`` PT_LOADs at paddr 0, vaddr 0xc000..., plus a PT_NOTE."""
    o = "<" if endian == "little" else ">"
    body = bytearray(make_head(endian, run_at_load) + version + b"\0")
    body += bytes(range(256)) * ((size - len(body)) // 256 + 1)
    body = body[:size]
    phnum = loads + 1
    phoff = 64
    data_off = 0x10000
    ident = b"\x7fELF" + bytes([elfclass, 1 if endian == "little" else 2, 1]) + bytes(9)
    ehdr = ident + struct.pack(
        o + "HHIQQQIHHHHHH", 2, machine, 1, 0xC000000000000000, phoff, 0, 2, 64, 56, phnum, 64, 0, 0
    )
    phdrs = b""
    chunk = size // loads
    for i in range(loads):
        fs = chunk if i < loads - 1 else size - chunk * (loads - 1)
        ms = fs if i < loads - 1 else (memsz or size) - chunk * (loads - 1)
        phdrs += struct.pack(
            o + "IIQQQQQQ",
            1,
            7,
            data_off + i * chunk,
            0xC000000000000000 + i * chunk,
            i * chunk,
            fs,
            ms,
            0x10000,
        )
    phdrs += struct.pack(o + "IIQQQQQQ", 4, 4, 0x200, 0, 0, 0, 0, 4)
    out = bytearray(ehdr + phdrs)
    out += bytes(data_off - len(out))
    out += body
    return bytes(out)
