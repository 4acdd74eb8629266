#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: the memory facts a kdump is judged by, as LAB-RESULT lines.

Usage:
  memcheck.py ram               System RAM (/proc/iomem), the crash region and RTAS/OPAL
                                (/proc/device-tree), as [start, end) hex ranges
  memcheck.py kcore KEY         per-1 KiB CRC32 of live physical [0, 64 KiB) via /proc/kcore
  memcheck.py vmcore            /proc/vmcore's PT_LOADs (paddr:memsz:offset), PT_NOTE
                                count, the notes in them (NAME/type:count; the kernel
                                merges every CPU's notes into one PT_NOTE), and the
                                per-1 KiB CRC32 of its paddr [0, 64 KiB)

Runs on the guest's python3.11 with the standard library only (ELF read with
struct, byte order from e_ident).  A missing file is a result (``unavailable:
why``) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib

IOMEM = "/proc/iomem"
KCORE = "/proc/kcore"
VMCORE = "/proc/vmcore"
DT = "/proc/device-tree"
PAGE_OFFSET = 0xC000000000000000  # arch/powerpc/include/asm/page.h (64-bit, Book3S)
LOW_SIZE = 0x10000  # the 64 KiB the ppc64 purgatory backs up (kexec-tools KDUMP_BACKUP_LIMIT)
CRC_CHUNK = 1024
# Firmware the kernel exports in the tree: pseries RTAS (arch/powerpc/kernel/rtas.c),
# powernv OPAL (arch/powerpc/platforms/powernv/opal.c): name, base file, size file.
FIRMWARE = (
    ("rtas", "rtas/linux,rtas-base", "rtas/rtas-size"),
    ("opal", "ibm,opal/opal-base-address", "ibm,opal/opal-runtime-size"),
)
PT_LOAD, PT_NOTE = 1, 4  # ELF gABI p_type
ELFCLASS64, ELFDATA2LSB = 2, 1
# Elf64_Ehdr: e_phoff at 32, e_phentsize/e_phnum at 54/56; Elf64_Phdr is 56 bytes.
PHDR = "IIQQQQQQ"  # p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align


def result(key: str, value: object) -> None:
    print(f"LAB-RESULT {key}={value}", flush=True)


def program_headers(path: str) -> list[tuple[int, int, int, int, int]]:
    """(p_type, p_offset, p_vaddr, p_paddr, p_memsz) of an ELF64 file."""
    with open(path, "rb", buffering=0) as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != ELFCLASS64:
            raise ValueError(f"{path}: not ELF64 ({ehdr[:8].hex()})")
        order = "<" if ehdr[5] == ELFDATA2LSB else ">"
        phoff = struct.unpack_from(order + "Q", ehdr, 32)[0]
        phentsize, phnum = struct.unpack_from(order + "HH", ehdr, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p = struct.unpack_from(order + PHDR, table, i * phentsize)
        out.append((p[0], p[2], p[3], p[4], p[6]))
    return out


def crcs(path: str, offset: int) -> str:
    """Comma-separated CRC32 of each 1 KiB of [offset, offset + 64 KiB) of a file."""
    with open(path, "rb", buffering=0) as f:
        f.seek(offset)
        data = b""
        while len(data) < LOW_SIZE:
            more = f.read(LOW_SIZE - len(data))
            if not more:
                raise ValueError(f"{path}: short read at {offset + len(data):#x}")
            data += more
    return ",".join(
        f"{zlib.crc32(data[i : i + CRC_CHUNK]):08x}" for i in range(0, LOW_SIZE, CRC_CHUNK)
    )


def note_counts(path: str, segments: list[tuple[int, int]]) -> str:
    """``NAME/type:count,...`` of the ELF notes (Elf64_Nhdr, 4-byte padded) in the segments."""
    counts: dict[str, int] = {}
    with open(path, "rb", buffering=0) as f:
        order = "<" if f.read(6)[5] == ELFDATA2LSB else ">"
        for offset, size in segments:
            f.seek(offset)
            data, pos = f.read(size), 0
            while pos + 12 <= len(data):
                namesz, descsz, n_type = struct.unpack_from(order + "III", data, pos)
                if namesz == 0 and descsz == 0 and n_type == 0:
                    break
                name = data[pos + 12 : pos + 12 + namesz].rstrip(b"\0").decode(errors="replace")
                key = f"{name}/{n_type}"
                counts[key] = counts.get(key, 0) + 1
                pos += 12 + -(-namesz // 4) * 4 + -(-descsz // 4) * 4
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "none"


def _be_u64(path: str) -> int:
    with open(path, "rb") as f:
        data = f.read()
    return int.from_bytes(data, "big")  # 4- or 8-byte big-endian cells


def ram() -> int:
    spans = []
    with open(IOMEM) as f:
        for line in f:
            if line[0] != " " and line.rstrip().endswith(": System RAM"):
                lo, hi = line.split(":")[0].strip().split("-")
                spans.append(f"{int(lo, 16):#x}-{int(hi, 16) + 1:#x}")
    result("system_ram", ",".join(spans) or "none")
    base = _be_u64(f"{DT}/chosen/linux,crashkernel-base")
    size = _be_u64(f"{DT}/chosen/linux,crashkernel-size")
    result("crash_region", f"{base:#x}-{base + size:#x}")
    firmware = []
    for name, base_file, size_file in FIRMWARE:
        if os.path.exists(f"{DT}/{base_file}"):
            fbase, fsize = _be_u64(f"{DT}/{base_file}"), _be_u64(f"{DT}/{size_file}")
            firmware.append(f"{name}:{fbase:#x}-{fbase + fsize:#x}")
    result("firmware", ",".join(firmware) or "none")
    return 0 if spans else 1


def kcore(key: str) -> int:
    """Physical 0 is at PAGE_OFFSET in the linear map; find its PT_LOAD in /proc/kcore."""
    if not os.path.exists(KCORE):
        result(key, "unavailable: no /proc/kcore (CONFIG_PROC_KCORE?)")
        return 1
    try:
        for p_type, off, vaddr, _paddr, memsz in program_headers(KCORE):
            if p_type == PT_LOAD and vaddr <= PAGE_OFFSET < vaddr + memsz:
                result(key, crcs(KCORE, off + PAGE_OFFSET - vaddr))
                return 0
    except (OSError, ValueError) as exc:
        result(key, f"unavailable: {exc}")
        return 1
    result(key, f"unavailable: no /proc/kcore PT_LOAD maps {PAGE_OFFSET:#x}")
    return 1


def vmcore() -> int:
    if not os.path.exists(VMCORE):
        result("vmcore_loads", "unavailable: no /proc/vmcore")
        return 1
    try:
        headers = program_headers(VMCORE)
    except (OSError, ValueError) as exc:
        result("vmcore_loads", f"unavailable: {exc}")
        return 1
    loads = [(paddr, memsz, off) for t, off, _v, paddr, memsz in headers if t == PT_LOAD]
    result("vmcore_loads", ",".join(f"{p:#x}:{m:#x}:{o:#x}" for p, m, o in loads))
    notes = [(off, memsz) for t, off, _v, _p, memsz in headers if t == PT_NOTE]
    result("vmcore_notes", len(notes))
    result("vmcore_note_types", note_counts(VMCORE, notes))
    low = [(p, m, o) for p, m, o in loads if p <= 0 < p + m and m >= LOW_SIZE]
    if not low:
        result("low64k_vmcore", "unavailable: no PT_LOAD covers paddr [0, 64 KiB)")
        return 1
    try:
        result("low64k_vmcore", crcs(VMCORE, low[0][2]))
    except (OSError, ValueError) as exc:
        result("low64k_vmcore", f"unavailable: {exc}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if argv[1:2] == ["ram"]:
        return ram()
    if argv[1:2] == ["kcore"] and len(argv) == 3:
        return kcore(argv[2])
    if argv[1:2] == ["vmcore"]:
        return vmcore()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
