# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``initramfs`` family: archives of every format the kernel unpacks.

Each case is one initrd: newc cpio parts with hostile headers (signed, huge or
odd sizes, long names, bad magic), compressed members (gzip, bzip2, xz, lzma,
zstd, lz4 legacy, lzo) that are truncated, damaged or bombs, headers asking for
the impossible (a 4 GiB dictionary, a 2^64-byte zstd frame, a 4 GiB lz4 block),
runs of empty zstd blocks, zero padding and concatenations of all of these.
The call is :func:`pykexec.core.formats.initramfs.summarize` and what the crash
sizing does with its answer; an archive left whole must also come back as it
was written (its files' sizes, its stream within the stated bounds).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import random
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.mutate import damage, number

#: Formats packed in process; zstd and lz4 come from their tools, once, as samples.
PACKERS = {
    "gzip": lambda d: gzip.compress(d, 1),
    "bzip2": lambda d: bz2.compress(d, 1),
    "xz": lambda d: lzma.compress(d, preset=0),
    "lzma": lambda d: lzma.compress(d, lzma.FORMAT_ALONE, preset=0),
}
EXTERNAL = {"zstd": ("zstd", "-q", "-c", "--no-content-size"), "lz4": ("lz4", "-q", "-c", "-l")}
#: Bomb sizes (MiB of zeros) and how many tool-made samples of each format: made once.
BOMB_MIB = (1, 8, 64)
# The crash sizing reads an initrd only as far as a crash region can hold
# (pykexec.system.loader.headroom_facts passes the region as summarize's limit);
# the family sizes against the lab's smallest, kdump-small-128m's.
REGION = 128 << 20
SAMPLES = 16
#: The headers' hostile values, as written into the 8-digit hex fields.
ODD_FIELDS = (b"-0000004", b"-FFFFFFF", b"+0000010", b"0000_010", b" 0000010", b"FFFFFFFF",
              b"7FFFFFFF", b"0x00010", b"zzzzzzzz", b"00000000", b"\x00" * 8)  # fmt: skip
NEWC_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
               "devminor", "rdevmajor", "rdevminor", "namesize", "check")  # fmt: skip
TRAILER = b"TRAILER!!!"


class Broken(Exception):
    """An answer that contradicts the input (not an exception the code raised):
    ``args`` are the kind of contradiction (one failure class) and its details."""


@dataclass
class Written:
    """What a part holds when it is left whole: its format and its cpio."""

    fmt: str
    cpio: bytes
    files: list[int]


def newc(
    name: bytes, data: bytes, mode: int = 0o100644, odd: dict[str, bytes] | None = None
) -> bytes:
    """One newc entry (Documentation/driver-api/early-userspace/buffer-format.rst)."""
    values = {"mode": b"%08X" % mode, "filesize": b"%08X" % len(data),
              "namesize": b"%08X" % (len(name) + 1), "nlink": b"00000001"}  # fmt: skip
    values.update(odd or {})
    head = b"070701" + b"".join(values.get(k, b"00000000") for k in NEWC_FIELDS)
    entry = head + name + b"\0"
    entry += bytes(-len(entry) % 4) + data
    return entry + bytes(-len(entry) % 4)


def cpio(rng: random.Random) -> tuple[bytes, list[int], list[str]]:
    """A small archive: files, directories and a symlink, maybe one hostile header."""
    out, files, what = b"", [], []
    for i in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.6:
            size = rng.choice((0, 1, 3, 4, 100, 4096, 70_000))
            data = rng.randbytes(size // 2) + bytes(size - size // 2)
            out += newc(b"f%d" % i, data)
            files.append(size)
        elif kind < 0.8:
            out += newc(b"d%d" % i, b"", 0o040755)
        else:
            out += newc(b"l%d" % i, b"f0", 0o120777)
    if rng.random() < 0.3:
        field = rng.choice(("filesize", "namesize", "mode", "ino"))
        value = rng.choice(ODD_FIELDS) if rng.random() < 0.7 else b"%08X" % number(rng, 32)
        out += newc(b"odd", b"abcd" * rng.randint(0, 4), odd={field: value})
        what.append(f"{field}={value!r}")
    if rng.random() < 0.05:
        out = b"070702" + out[6:] if out else out
    if rng.random() < 0.9:
        out += newc(TRAILER, b"", 0)
    return out, files, what


@functools.lru_cache(maxsize=64)
def external(fmt: str, sample: int) -> bytes:
    """A zstd or lz4 member made by its tool from a fixed archive (cached: tools are slow)."""
    rng = random.Random(f"{fmt}-{sample}")
    data = b"".join(cpio(rng)[0] for _ in range(1 + sample % 4)) + bytes(rng.choice((0, 300_000)))
    tool = shutil.which(EXTERNAL[fmt][0])
    if tool is None:
        return b""
    args = list(EXTERNAL[fmt][1:]) + (["--long=10"] if fmt == "zstd" and sample % 3 else [])
    return subprocess.run([tool, *args], input=data, capture_output=True, check=True).stdout


@functools.lru_cache(maxsize=16)
def bomb(fmt: str, mib: int) -> bytes:
    """``mib`` MiB of zeros in one file of an archive, packed (made once, in chunks)."""
    head = newc(b"zero", b"")[:110]
    head = head[:54] + b"%08X" % (mib << 20) + head[62:]
    engine: object
    if fmt == "gzip":
        engine = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    elif fmt == "bzip2":
        engine = bz2.BZ2Compressor(9)
    else:
        kind = lzma.FORMAT_XZ if fmt == "xz" else lzma.FORMAT_ALONE
        engine = lzma.LZMACompressor(kind, preset=0)
    zero = bytes(1 << 20)
    parts = [engine.compress(head + b"zero\0")]  # type: ignore[attr-defined]
    parts += [engine.compress(zero) for _ in range(mib)]  # type: ignore[attr-defined]
    return b"".join([*parts, engine.flush()])  # type: ignore[attr-defined]


def _huge_header(rng: random.Random) -> tuple[bytes, str]:
    """A member whose header asks for the impossible."""
    kind = rng.randrange(5)
    if kind == 0:  # .lzma: dictionary of up to 4 GiB, unknown size
        size = rng.choice((0xFFFF_0000, 0x8000_0000, 1 << 30, number(rng, 32) & ~0xFFFF))
        return b"\x5d" + size.to_bytes(4, "little") + b"\xff" * 8 + rng.randbytes(64), "lzma dict"
    if kind == 1:  # xz block header with the LZMA2 dictionary code 40 (4 GiB - 1)
        blob = bytearray(lzma.compress(rng.randbytes(100), preset=0))
        size = (blob[12] + 1) * 4
        at = blob.find(b"\x21\x01", 12, 12 + size) + 2
        blob[at] = rng.choice((36, 38, 40))
        blob[12 + size - 4 : 12 + size] = zlib.crc32(blob[12 : 12 + size - 4]).to_bytes(4, "little")
        return bytes(blob), "xz dict"
    if kind == 2:  # zstd: Frame_Content_Size of up to 2^64 - 1, or a huge window
        fhd = rng.choice((0xE0, 0xC0, 0x00, 0x60, 0x24))
        window = bytes([rng.randrange(256)]) if not fhd & 0x20 else b""
        fcs = number(rng, 64).to_bytes(8, "little")[: (1, 2, 4, 8)[fhd >> 6] if fhd >> 6 else 1]
        block = (1 | 0 << 1 | 1 << 3).to_bytes(3, "little") + b"x"
        return b"\x28\xb5\x2f\xfd" + bytes([fhd]) + window + fcs + block, "zstd header"
    if kind == 3:  # lz4 legacy: a block of up to 4 GiB
        size = number(rng, 32)
        return b"\x02\x21\x4c\x18" + size.to_bytes(4, "little") + rng.randbytes(64), "lz4 block"
    runs = rng.choice((10, 1000, 100_000, 1_000_000))  # zstd: runs of empty blocks
    empty = rng.choice((b"\0\0\0", b"\x02\0\0z"))
    body = empty * runs + rng.choice(((1 | 5 << 3).to_bytes(3, "little") + b"x" * 5, b""))
    return b"\x28\xb5\x2f\xfd\x00\x38" + body, f"zstd {runs} empty blocks"


def member(rng: random.Random) -> tuple[bytes, Written | None, str]:
    """One part: a (maybe damaged) archive in some format, a bomb or a huge header."""
    roll = rng.random()
    if roll < 0.01:
        fmt = rng.choice(("gzip", "bzip2", "xz", "lzma"))
        mib = rng.choice(BOMB_MIB)
        return bomb(fmt, mib), None, f"{fmt} bomb of {mib} MiB"
    if roll < 0.11:
        blob, what = _huge_header(rng)
        return blob, None, what
    if roll < 0.21:
        fmt = rng.choice(tuple(EXTERNAL))
        blob = external(fmt, rng.randrange(SAMPLES))
        return blob, None, f"{fmt} sample"
    if roll < 0.24:
        return b"\x89LZO\0" + rng.randbytes(rng.randint(0, 200)), None, "lzo"
    archive, files, what = cpio(rng)
    fmt = rng.choice(("cpio", "cpio", *PACKERS))
    blob = archive if fmt == "cpio" else PACKERS[fmt](archive)
    whole = not what and archive.endswith(newc(TRAILER, b"", 0)) and archive[:6] == b"070701"
    return blob, Written(fmt, archive, files) if whole else None, " ".join([fmt, *what])


def initrd(rng: random.Random) -> tuple[bytes, list[Written | None], list[str]]:
    """One to four parts with zero padding between them, then maybe damage."""
    blob, written, what = bytearray(), [], []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        if blob and rng.random() < 0.7:
            pad = rng.choice((0, 1, 2, 3, 4, 512, 4096, 4096, 1 << 20))
            pad = 8 << 20 if rng.random() < 0.01 else pad
            blob += bytes(pad + -(len(blob) + pad) % 4 * (rng.random() < 0.8))
        part, whole, words = member(rng)
        if whole is not None and whole.fmt == "cpio" and len(blob) % 4:
            whole = None  # the kernel reads cpio only at a 4-byte boundary
        blob += part
        written.append(whole)
        what.append(words)
    if rng.random() < 0.3:
        what.append(damage(rng, blob))
        written = [None] * len(written)
    if rng.random() < 0.05:
        blob += bytes(rng.choice((3, 4096, 4096, 4096, 16 << 20)))
        what.append("zero tail")
    return bytes(blob), written, what


def check(data: bytes, written: list[Written | None]) -> None:
    """Summarize ``data``, size it as the crash sizing does, and hold the answer to
    what was written: parts in order inside the file, bounds in order, and each
    whole part's files and stream as packed."""
    from pykexec.core.crash.headroom import unpacked_bytes
    from pykexec.core.formats.initramfs import summarize

    got = summarize(data, "fuzz initrd", REGION)
    got.describe()
    for page in (4096, 65536):
        unpacked_bytes(got, page)
    end = 0
    for part in got.parts:
        if not (end <= part.offset and part.size > 0 and part.offset + part.size <= len(data)):
            raise Broken("a part outside the file", f"{part.format} at {part.offset}+{part.size}")
        if not 0 <= part.stream_min <= part.stream:
            raise Broken("stream_min > stream", f"{part.format} {part.stream_min}..{part.stream}")
        end = part.offset + part.size
    if len(got.parts) != len(written) or None in written:
        return
    for part, whole in zip(got.parts, written):
        assert whole is not None
        if part.format != whole.fmt:
            raise Broken(f"a whole {whole.fmt} part read as {part.format}", "")
        if not part.stream_min <= len(whole.cpio) <= part.stream:
            raise Broken(
                f"{whole.fmt}: stream outside its bounds",
                f"{len(whole.cpio)} B not in {part.stream_min}..{part.stream}",
            )
        if part.files is not None and sorted(part.files) != sorted(whole.files):
            raise Broken(
                f"{whole.fmt}: other files", f"{sorted(part.files)} != {sorted(whole.files)}"
            )


def initramfs_case(rng: random.Random, directory: Path):  # type: ignore[no-untyped-def]
    from tests.fuzz.families import Case

    data, written, what = initrd(rng)
    (directory / "initrd").write_bytes(data)
    return Case("initramfs", what, directory, call=functools.partial(check, data, written))
