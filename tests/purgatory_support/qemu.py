# SPDX-License-Identifier: GPL-2.0-or-later
"""Run generated PowerPC code under qemu-user: a minimal static ELF writer and a runner.

The ELF is ET_EXEC, EM_PPC64, e_flags = 2 (ELFv2) in both byte orders, so qemu takes
``e_entry`` as the first instruction (no ELFv1 function descriptor).  Each segment is
one RWX PT_LOAD; file offsets are kept congruent to addresses modulo 64 KiB.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pykexec.abi import Endian, struct_prefix

EM_PPC64 = 21
ET_EXEC = 2
PT_LOAD = 1
PF_RWX = 7
EF_PPC64_ABI_V2 = 2
PAGE = 0x10000
QEMU = {"little": "qemu-ppc64le", "big": "qemu-ppc64"}


@dataclass(frozen=True)
class Segment:
    vaddr: int
    data: bytes
    memsz: int = 0  # 0: same as len(data)


def elf_executable(endian: Endian, segments: list[Segment], entry: int) -> bytes:
    """A static executable whose PT_LOADs are ``segments``."""
    e = struct_prefix(endian)
    phoff, phnum = 64, len(segments)
    ident = b"\x7fELF" + bytes([2, 1 if endian == "little" else 2, 1]) + bytes(9)
    header = ident + struct.pack(
        e + "HHIQQQIHHHHHH", ET_EXEC, EM_PPC64, 1, entry, phoff, 0, EF_PPC64_ABI_V2,
        64, 56, phnum, 64, 0, 0,
    )  # fmt: skip
    offset = PAGE
    phdrs, blobs = b"", []
    for seg in segments:
        offset += (seg.vaddr - offset) % PAGE
        memsz = max(seg.memsz, len(seg.data))
        phdrs += struct.pack(e + "IIQQQQQQ", PT_LOAD, PF_RWX, offset, seg.vaddr, seg.vaddr,
                             len(seg.data), memsz, PAGE)  # fmt: skip
        blobs.append((offset, seg.data))
        offset += len(seg.data)
    image = bytearray(header + phdrs)
    for off, data in blobs:
        image += bytes(off - len(image))
        image += data
    return bytes(image)


@dataclass(frozen=True)
class Result:
    returncode: int | None  # None: killed after the timeout
    stdout: bytes
    stderr: bytes


def available(endian: Endian) -> bool:
    return shutil.which(QEMU[endian]) is not None


def run(endian: Endian, elf: bytes, timeout: float = 60.0, cpu: str | None = None) -> Result:
    """Run the executable (on ``cpu``, qemu's default if None); a program that spins
    forever is killed after ``timeout``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "prog")
        path.write_bytes(elf)
        path.chmod(0o755)
        cpu_args = ["-cpu", cpu] if cpu else []
        proc = subprocess.Popen([QEMU[endian], *cpu_args, str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
            return Result(proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return Result(None, out, err)
