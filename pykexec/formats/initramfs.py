# SPDX-License-Identifier: GPL-2.0-or-later
"""What an initramfs unpacks to, read from the archive itself. Pure.

An initramfs is a sequence of parts: newc cpio archives, zero padding, and
compressed members whose content is again cpio (Linux ``init/initramfs.c``
``unpack_to_rootfs``: a part starting with '0' at a 4-byte boundary is cpio,
zero bytes are skipped, anything else is decompressed by its magic, as listed
in ``lib/decompress.c`` ``compressed_formats``).  The typical early-microcode
initrd is a plain cpio followed by one compressed archive.

:func:`summarize` walks every part and returns, per part, the regular files'
sizes when it can read them (plain cpio; gzip, bzip2, xz and lzma through the
standard library's decoders, streamed, nothing kept), else the size of the
unpacked stream from the format's own headers (a zstd frame's content size, or
an upper bound from its block headers; an lz4 legacy stream's block count; an
lzo member is assumed to unpack to :data:`LZO_GUESS_RATIO` times its size) and
no per-file sizes.  Data that is no archive at all is what the kernel keeps as
a ramdisk image, one file of its size.  Every size is bounded by what the file can hold: a member
claiming more than :data:`MAX_RATIO` times its compressed size is refused.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import Callable, Protocol

from pykexec.errors import ImageError

# Magics: lib/decompress.c compressed_formats; newc: Documentation/driver-api/
# early-userspace/buffer-format.rst ("070701", "070702" with checksum).
NEWC_MAGICS = (b"070701", b"070702")
NEWC_HEADER = 110  # 6-byte magic and thirteen 8-digit hex fields
NEWC_TRAILER = b"TRAILER!!!"
GZIP_MAGICS = (b"\x1f\x8b", b"\x1f\x9e")
BZIP2_MAGIC = b"BZh"
LZMA_MAGIC = b"\x5d\x00\x00"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZO_MAGIC = b"\x89LZO"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"  # lib/decompress_unlz4.c ARCHIVE_MAGICNUMBER
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878 section 3.1.1
LZ4_LEGACY_CHUNK = 8 << 20  # lib/decompress_unlz4.c: each block inflates to <= 8 MiB
ZSTD_BLOCK_MAX = 128 << 10  # RFC 8878 3.1.1.2.3: Block_Maximum_Size <= 128 KiB
LZO_GUESS_RATIO = 4  # lzo members cannot be sized: assumed to unpack to 4x their size
MAX_RATIO = 1100  # deflate's limit is 1032:1; xz, bzip2, zstd and lz4 stay below it too
_S_IFMT, _S_IFREG = 0o170000, 0o100000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One part of an initramfs: ``size`` bytes of the file at ``offset``.

    ``stream`` is what it unpacks to (cpio headers, names and data), exact or, when
    ``exact`` is False, an upper bound; ``files`` the regular files' sizes when the
    archive could be read, else None; ``entries`` the cpio entries (0 when unknown).
    """

    format: str
    offset: int
    size: int
    stream: int
    exact: bool
    files: tuple[int, ...] | None
    entries: int = 0


@dataclass(frozen=True)
class Initramfs:
    """Every part of an initramfs, in file order."""

    file_size: int
    parts: tuple[Part, ...]

    @property
    def stream(self) -> int:
        return sum(p.stream for p in self.parts)

    @property
    def exact(self) -> bool:
        return all(p.exact and p.files is not None for p in self.parts)

    def describe(self) -> str:
        words = [
            f"{p.format} {p.size} B -> {'' if p.exact else '<= '}{p.stream} B" for p in self.parts
        ]
        return ", ".join(words) or "empty"


class _Sink(Protocol):
    def feed(self, data: bytes) -> None: ...


class _NewcWalker:
    """A streaming newc parser: fed bytes in any chunks, it counts entries and
    records regular files' sizes; zero padding between archives is skipped."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.files: list[int] = []
        self.entries = 0
        self.consumed = 0  # bytes parsed (headers, names, data, padding)
        self.finished = False  # the last archive ended with its trailer
        self._buf = b""
        self._pos = 0
        self._skip = 0  # data bytes still to skip in later chunks

    def feed(self, data: bytes) -> None:
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            self.consumed += taken
            data = data[taken:]
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        while self._step():
            pass

    def _step(self) -> bool:
        buf, pos = self._buf, self._pos
        while pos < len(buf) and buf[pos] == 0:
            pos += 1
        self.consumed += pos - self._pos
        self._pos = pos
        if len(buf) - pos < NEWC_HEADER:
            return False
        if buf[pos : pos + 6] not in NEWC_MAGICS:
            raise ImageError(f"{self.what}: not a newc cpio header at byte {self.consumed}")
        try:
            mode, size, namesize = (int(buf[pos + o : pos + o + 8], 16) for o in (14, 54, 94))
        except ValueError:
            raise ImageError(f"{self.what}: corrupt cpio header at byte {self.consumed}") from None
        head = NEWC_HEADER + namesize
        head += -head % 4
        if len(buf) - pos < head:
            return False
        name = buf[pos + NEWC_HEADER : pos + NEWC_HEADER + namesize].rstrip(b"\0")
        self.finished = name == NEWC_TRAILER
        if not self.finished:
            self.entries += 1
            if mode & _S_IFMT == _S_IFREG:
                self.files.append(size)
        body = size + (-size % 4)
        taken = min(body, len(buf) - pos - head)
        self._pos = pos + head + taken
        self.consumed += head + taken
        self._skip = body - taken
        return not self._skip


def _cpio_part(data: memoryview, offset: int, what: str) -> Part:
    """A plain cpio archive from ``offset`` to its trailer: headers read in place,
    file data skipped without a copy."""
    files: list[int] = []
    pos, entries, end = offset, 0, len(data)
    while True:
        while pos < end and data[pos] == 0:
            pos += 1
        head = bytes(data[pos : pos + NEWC_HEADER])
        if len(head) < NEWC_HEADER:
            raise ImageError(f"{what}: cpio archive at byte {offset} ends without its trailer")
        if head[:6] not in NEWC_MAGICS:
            raise ImageError(f"{what}: not a newc cpio header at byte {pos}")
        try:
            mode, size, namesize = (int(head[o : o + 8], 16) for o in (14, 54, 94))
        except ValueError:
            raise ImageError(f"{what}: corrupt cpio header at byte {pos}") from None
        name = bytes(data[pos + NEWC_HEADER : pos + NEWC_HEADER + namesize]).rstrip(b"\0")
        pos += NEWC_HEADER + namesize
        pos += -pos % 4 + size
        pos += -pos % 4
        if pos > end:
            raise ImageError(f"{what}: cpio archive at byte {offset} ends without its trailer")
        if name == NEWC_TRAILER:
            return Part("cpio", offset, pos - offset, pos - offset, True, tuple(files), entries)
        entries += 1
        if mode & _S_IFMT == _S_IFREG:
            files.append(size)


class _Decoder(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def _stream_part(data: memoryview, offset: int, fmt: str, decoder: _Decoder, what: str) -> Part:
    """A compressed member decoded in chunks into a cpio walker; nothing is kept."""
    walker = _NewcWalker(what)
    pos, out = offset, 0
    limit = MAX_RATIO * (len(data) - offset)
    try:
        while not decoder.eof:
            if pos >= len(data):
                raise ImageError(f"{what}: {fmt} member at byte {offset} is truncated")
            chunk = bytes(data[pos : pos + _CHUNK])
            pos += len(chunk)
            piece = decoder.decompress(chunk)
            out += len(piece)
            if out > limit:
                raise ImageError(
                    f"{what}: {fmt} member at byte {offset} unpacks to more "
                    f"than {MAX_RATIO}x its size: not an initramfs"
                )
            walker.feed(piece)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as err:
        raise ImageError(f"{what}: {fmt} member at byte {offset} is corrupt: {err}") from None
    size = pos - offset - len(decoder.unused_data)
    return Part(fmt, offset, size, out, True, tuple(walker.files), walker.entries)


def _zstd_part(data: memoryview, offset: int, what: str) -> Part:
    """A zstd frame (RFC 8878 3.1.1): its end found from the block headers; its
    content size from Frame_Content_Size, else bounded by the blocks' sizes."""
    end = len(data)
    if offset + 6 > end:
        raise ImageError(f"{what}: zstd frame at byte {offset} is truncated")
    fhd = data[offset + 4]
    fcs_flag, single, has_sum, dict_flag = fhd >> 6, fhd >> 5 & 1, fhd >> 2 & 1, fhd & 3
    fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    dict_size = (0, 1, 2, 4)[dict_flag]
    pos = offset + 5 + (0 if single else 1) + dict_size
    fcs = None
    if fcs_size:
        fcs = int.from_bytes(bytes(data[pos : pos + fcs_size]), "little")
        fcs += 256 if fcs_size == 2 else 0  # 3.1.1.1.4: the 2-byte form is offset by 256
    pos += fcs_size
    bound = 0
    while True:
        if pos + 3 > end:
            raise ImageError(f"{what}: zstd frame at byte {offset} is truncated")
        header = int.from_bytes(bytes(data[pos : pos + 3]), "little")
        last, kind, bsize = header & 1, header >> 1 & 3, header >> 3
        if kind == 3:
            raise ImageError(f"{what}: zstd frame at byte {offset} has a reserved block type")
        pos += 3 + (1 if kind == 1 else bsize)
        bound += bsize if kind in (0, 1) else ZSTD_BLOCK_MAX
        if last:
            break
    pos += 4 if has_sum else 0
    if pos > end:
        raise ImageError(f"{what}: zstd frame at byte {offset} is truncated")
    stream = fcs if fcs is not None else bound
    _check_ratio(stream, pos - offset, "zstd", offset, what)
    return Part("zstd", offset, pos - offset, stream, fcs is not None, None)


def _lz4_part(data: memoryview, offset: int, what: str) -> Part:
    """An lz4 legacy stream (lib/decompress_unlz4.c): 4-byte little-endian block
    sizes, each block inflating to at most 8 MiB, up to the end or the next magic."""
    pos, blocks, end = offset + 4, 0, len(data)
    while pos + 4 <= end:
        word = bytes(data[pos : pos + 4])
        if word == LZ4_LEGACY_MAGIC or word == b"\0\0\0\0":
            break
        pos += 4 + int.from_bytes(word, "little")
        blocks += 1
    if pos > end:
        raise ImageError(f"{what}: lz4 stream at byte {offset} is truncated")
    stream = blocks * LZ4_LEGACY_CHUNK
    _check_ratio(stream, pos - offset, "lz4", offset, what)
    return Part("lz4", offset, pos - offset, stream, False, None)


def _check_ratio(stream: int, size: int, fmt: str, offset: int, what: str) -> None:
    if stream > MAX_RATIO * size:
        raise ImageError(
            f"{what}: {fmt} member at byte {offset} claims {stream} bytes "
            f"from {size}: not an initramfs"
        )


_DECODERS: tuple[tuple[tuple[bytes, ...], str, Callable[[], _Decoder]], ...] = (
    (GZIP_MAGICS, "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
    ((BZIP2_MAGIC,), "bzip2", bz2.BZ2Decompressor),
    ((XZ_MAGIC,), "xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
    ((LZMA_MAGIC,), "lzma", lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE)),
)


def _part(data: memoryview, offset: int, what: str) -> Part:
    head = bytes(data[offset : offset + 6])
    if head in NEWC_MAGICS and offset % 4 == 0:
        return _cpio_part(data, offset, what)
    for magics, fmt, make in _DECODERS:
        if head.startswith(magics):
            return _stream_part(data, offset, fmt, make(), what)
    if head.startswith(ZSTD_MAGIC):
        return _zstd_part(data, offset, what)
    if head.startswith(LZ4_LEGACY_MAGIC):
        return _lz4_part(data, offset, what)
    rest = len(data) - offset
    if head.startswith(LZO_MAGIC):  # no stdlib decoder and no size in its headers
        return Part("lzo", offset, rest, LZO_GUESS_RATIO * rest, False, None)
    # Not an archive: the kernel keeps it as /initrd.image, a ramdisk image
    # (init/initramfs.c populate_rootfs: "rootfs image is not initramfs").
    return Part("image", offset, rest, rest, True, (rest,), 1)


def summarize(data: bytes | memoryview, what: str = "initrd") -> Initramfs:
    """Every part of the initramfs ``data``; raises :class:`ImageError` on garbage."""
    view = memoryview(data).cast("B")
    parts: list[Part] = []
    pos = 0
    while pos < len(view):
        if view[pos] == 0:
            pos += 1
            continue
        part = _part(view, pos, what)
        parts.append(part)
        pos = part.offset + part.size
    return Initramfs(len(view), tuple(parts))
