# SPDX-License-Identifier: GPL-2.0-or-later
"""What an initramfs says it unpacks to, read from its headers and trailers only. Pure.

:func:`pykexec.core.formats.initramfs.summarize` decodes every compressed part to
learn its files; this reads what the compressors wrote about their output instead,
in time independent of the content: plain cpio parts are walked (headers in place,
as summarize does), a zstd frame is walked block by block (its Frame_Content_Size
or the blocks' bounds), an xz stream's size is the sum of its index's Uncompressed
Size fields, found from the stream footer at the end of the file (Backward Size,
the index's CRC-32, and the stream header where the walk began, must agree; the
.xz file format 1.0.4, sections 2.1.2 and 4), an lzma header's uncompressed size
(its bytes 5-12, "LZMA SDK lzma.txt"), and a gzip member's ISIZE, its size modulo
2**32 in its last four bytes (RFC 1952 section 2.3.1), for a member that ends the
file.  These are claims, not proofs: the kernel checks none of them while it
unpacks (lib/decompress_inflate.c, lib/decompress_unxz.c), so the crash sizing
uses them only where they settle a verdict that would be quiet anyway and reads the
files themselves (:func:`~pykexec.core.formats.initramfs.summarize`) in every
other case (:func:`pykexec.core.crash.headroom.quiet`).

:func:`claims` returns ``None`` whenever a part does not say (bzip2, lz4, lzo, an
image, an lzma header without a size), or says something its own framing does not
bear out (a gzip ISIZE smaller than the member less deflate's overhead: the member
does not end the file; an xz footer that does not lead back to the stream's header).
"""

from __future__ import annotations

import zlib

from pykexec.core.formats.initramfs import (
    GZIP_MAGICS,
    LZMA_MAGIC,
    MAX_RATIO,
    NEWC_MAGICS,
    XZ_MAGIC,
    ZSTD_MAGIC,
    Initramfs,
    Part,
    _cpio_part,
    _skip_zeros,
    _zstd_part,
)
from pykexec.errors import ImageError

GZIP_TRAILER = 8  # RFC 1952 2.3.1: CRC32, ISIZE (little-endian)
GZIP_HEADER_MIN = 10
GZIP_FIELDS = 1024  # RFC 1952 2.3.1: room for FEXTRA, FNAME and FCOMMENT in the header
STORED_BLOCK = 65535  # RFC 1951 3.2.4: a stored block's most bytes, behind a 5-byte head
XZ_FOOTER = 12  # .xz 2.1.2.4: CRC32, Backward Size, Stream Flags, "YZ"
XZ_HEADER = 12  # .xz 2.1.1: magic (6), Stream Flags (2), CRC32
XZ_FOOTER_MAGIC = b"YZ"
LZMA_SIZE_AT = 5  # lzma.txt: properties (1), dictionary size (4), uncompressed size (8)
LZMA_UNKNOWN = (1 << 64) - 1
VARINT_MAX = 9  # .xz 1.2: a multibyte integer takes at most nine bytes


def claims(data: bytes | memoryview, what: str = "initrd") -> Initramfs | None:
    """Every part's unpacked size as the archive states it, or ``None`` when a part
    does not state it (or its framing contradicts it)."""
    view = memoryview(data).cast("B")
    parts: list[Part] = []
    pos = _skip_zeros(view, 0)
    try:
        while pos < len(view):
            part = _claim(view, pos, what)
            if part is None:
                return None
            parts.append(part)
            pos = _skip_zeros(view, part.offset + part.size)
    except ImageError:
        return None  # summarize says what is wrong
    return Initramfs(len(view), tuple(parts))


def _claim(view: memoryview, pos: int, what: str) -> Part | None:
    head = bytes(view[pos : pos + 6])
    if head in NEWC_MAGICS and pos % 4 == 0:
        return _cpio_part(view, pos, what)
    if head.startswith(ZSTD_MAGIC):
        return _zstd_part(view, pos, what)
    if head.startswith(GZIP_MAGICS):
        return _gzip(view, pos)
    if head.startswith(XZ_MAGIC):
        return _xz(view, pos)
    if head.startswith(LZMA_MAGIC):
        return _lzma(view, pos)
    return None


def _stated(fmt: str, offset: int, size: int, stream: int) -> Part | None:
    if stream > MAX_RATIO * size:
        return None
    return Part(fmt, offset, size, stream, True, None, 0, stream)


def _gzip(view: memoryview, offset: int) -> Part | None:
    """A gzip member taken to run to the end of the file: its ISIZE.  Deflate gives
    back at least its own size less 5 bytes per stored block of 65535 (RFC 1951
    3.2.4), so an ISIZE below that means it does not end there (zero padding after
    it, another archive, a small member after a larger one).  Members concatenated
    otherwise are taken for the last one: that is what the claim cannot tell."""
    size = len(view) - offset
    if size < GZIP_HEADER_MIN + GZIP_TRAILER:
        return None
    isize = int.from_bytes(view[len(view) - 4 :], "little")
    if isize < size - size // STORED_BLOCK * 5 - 5 - GZIP_HEADER_MIN - GZIP_TRAILER - GZIP_FIELDS:
        return None
    return _stated("gzip", offset, size, isize)


def _lzma(view: memoryview, offset: int) -> Part | None:
    """An lzma member (the last part: it has no end marker the header tells)."""
    size = len(view) - offset
    if size < LZMA_SIZE_AT + 8:
        return None
    stated = int.from_bytes(view[offset + LZMA_SIZE_AT : offset + LZMA_SIZE_AT + 8], "little")
    return None if stated == LZMA_UNKNOWN else _stated("lzma", offset, size, stated)


def _varint(buf: memoryview, pos: int) -> tuple[int, int] | None:
    """A .xz multibyte integer (section 1.2) at ``pos``: its value and the next position;
    None when it is truncated or longer than VARINT_MAX bytes."""
    value = 0
    for i in range(min(VARINT_MAX, len(buf) - pos)):
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    return None


def _xz_stream(view: memoryview, end: int, floor: int) -> tuple[int, int] | None:
    """The xz stream whose footer ends at ``end``: ``(its start, uncompressed bytes)``."""
    if end - floor < XZ_HEADER + XZ_FOOTER + 8:
        return None
    footer = view[end - XZ_FOOTER : end]
    if bytes(footer[10:12]) != XZ_FOOTER_MAGIC:
        return None
    index_size = (int.from_bytes(footer[4:8], "little") + 1) * 4
    index_start = end - XZ_FOOTER - index_size
    if index_start < floor + XZ_HEADER:
        return None
    index = view[index_start : end - XZ_FOOTER]
    if index[0] != 0 or zlib.crc32(index[:-4]) != int.from_bytes(index[-4:], "little"):
        return None
    first = _varint(index, 1)
    if first is None or first[0] > len(index) // 2:
        return None
    records, pos = first
    blocks = total = 0
    for _ in range(records):
        unpadded = _varint(index, pos)
        stated = _varint(index, unpadded[1]) if unpadded is not None else None
        if unpadded is None or stated is None:
            return None
        blocks += unpadded[0] + (-unpadded[0] % 4)
        total += stated[0]
        pos = stated[1]
    start = index_start - blocks - XZ_HEADER
    if start < floor or bytes(view[start : start + 6]) != XZ_MAGIC:
        return None
    return start, total


def _xz(view: memoryview, offset: int) -> Part | None:
    """xz streams from the end of the file back to ``offset`` (stream padding, zero
    bytes in fours, between and after them): the sum of their indexes."""
    end = len(view)
    while end - 4 >= offset and not any(view[end - 4 : end]):
        end -= 4
    last, total, at = end, 0, end
    while at > offset:
        found = _xz_stream(view, at, offset)
        if found is None:
            return None
        at, stated = found
        total += stated
        while at - 4 >= offset and not any(view[at - 4 : at]):
            at -= 4
    return _stated("xz", offset, last - offset, total) if at == offset else None
