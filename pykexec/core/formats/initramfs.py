# SPDX-License-Identifier: GPL-2.0-or-later
"""What an initramfs unpacks to, read from the archive itself. Pure.

An initramfs is a sequence of parts: newc cpio archives, zero padding, and
compressed members whose content is again cpio (Linux ``init/initramfs.c``
``unpack_to_rootfs``: a part starting with '0' at a 4-byte boundary is cpio,
zero bytes are skipped, anything else is decompressed by its magic, as listed
in ``lib/decompress.c`` ``compressed_formats``).  The typical early-microcode
initrd is a plain cpio followed by one compressed archive.

:func:`summarize` walks every part once and returns, per part, the regular
files' sizes when it can read them (plain cpio; gzip, bzip2, xz and lzma, and
zstd where the standard library has ``compression.zstd``, through decoders fed
in chunks, nothing kept), else bounds on the unpacked stream proved from the
format's own headers: a zstd frame's content size, or per block its exact size
(raw, RLE) or, for a compressed block, at least its literals plus 3 bytes per
sequence and at most its maximum block size (RFC 8878); an lz4 legacy block's
size bounds what it can inflate to (see :func:`_lz4_bounds`); an lzo member is
assumed to unpack to :data:`LZO_GUESS_RATIO` times its size.  Data that is no
archive at all is what the kernel keeps as a ramdisk image, one file of its
size.  Every size is bounded by what the file can hold: a member that unpacks
(or provably claims to unpack) to more than :data:`MAX_RATIO` times the input it
was given is refused as soon as its output passes that bound.
"""

from __future__ import annotations

import re
import zlib
from typing import Callable, NamedTuple, Protocol

from pykexec.errors import ImageError

# Magics: lib/decompress.c compressed_formats; newc: Documentation/driver-api/
# early-userspace/buffer-format.rst ("070701", "070702" with checksum).
NEWC_MAGICS = (b"070701", b"070702")
NEWC_HEADER = 110  # 6-byte magic and thirteen 8-digit hex fields
NEWC_TRAILER = b"TRAILER!!!"
NAME_MAX = 4096  # init/initramfs.c do_header(): a name longer than PATH_MAX is refused
GZIP_MAGICS = (b"\x1f\x8b", b"\x1f\x9e")
BZIP2_MAGIC = b"BZh"
LZMA_MAGIC = b"\x5d\x00\x00"
XZ_MAGIC = b"\xfd7zXZ\x00"
LZO_MAGIC = b"\x89LZO"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"  # lib/decompress_unlz4.c ARCHIVE_MAGICNUMBER
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878 section 3.1.1
LZ4_LEGACY_CHUNK = 8 << 20  # lib/decompress_unlz4.c: each block inflates to <= 8 MiB
LZ4_MAX_RATIO = 255  # lz4 block format: one length byte (255) per output byte at best
ZSTD_BLOCK_MAX = 128 << 10  # RFC 8878 3.1.1.2.3: Block_Maximum_Size <= 128 KiB
ZSTD_MIN_MATCH = 3  # RFC 8878 3.1.1.3.2.1.1: Match_Length >= 3 for every sequence
LZO_GUESS_RATIO = 4  # lzo members cannot be sized: assumed to unpack to 4x their size
MAX_RATIO = 1100  # deflate's limit is 1032:1; a real initramfs stays far below it
#: Memory a decoder may take: xz -9's 64 MiB dictionary and some.  The kernel
#: allocates the whole dictionary the header asks for (lib/xz/xz_dec_lzma2.c
#: dict_reset), which a crash kernel cannot when it asks for gigabytes.
DECODER_MEMORY = 96 << 20
_S_IFMT, _S_IFREG = 0o170000, 0o100000
_IN_CHUNK = 256 << 10  # compressed bytes fed at a time, at most
_OUT_CHUNK = 1 << 20  # at most this much output per decoder call
_ZEROS = re.compile(rb"\0*")  # a match loop in C: about 1 GB/s (a [^\0] search: 70 MB/s)
# A newc header: magic, then thirteen fields of exactly eight hex digits (no sign,
# no blanks, no underscores: what int(x, 16) would also accept).
_NEWC = re.compile(rb"07070[12][0-9A-Fa-f]{104}")
# A run of empty RLE zstd blocks (not last, size 0: 02 00 00, then the byte).
_ZSTD_EMPTY_RLE = re.compile(rb"(?:\x02\x00\x00.)+", re.DOTALL)


class _PartFields(NamedTuple):
    format: str
    offset: int
    size: int
    stream: int
    exact: bool
    files: tuple[int, ...] | None
    entries: int = 0
    stream_min: int = -1


class Part(_PartFields):
    """One part of an initramfs: ``size`` bytes of the file at ``offset``.

    ``stream`` is what it unpacks to (cpio headers, names and data), exact or, when
    ``exact`` is False, an upper bound (for lzo a guess); ``stream_min`` a proven
    lower bound (``stream`` when exact; -1 given to the constructor means that);
    ``files`` the regular files' sizes when the archive could be read, else None;
    ``entries`` the cpio entries (0 when unknown).  (A NamedTuple: a crash load
    builds this module's classes at every start, and a dataclass costs six times
    as much to build.)
    """

    __slots__ = ()

    def __new__(
        cls,
        format: str,
        offset: int,
        size: int,
        stream: int,
        exact: bool,
        files: tuple[int, ...] | None,
        entries: int = 0,
        stream_min: int = -1,
    ) -> Part:
        low = stream if stream_min < 0 or exact else stream_min
        return super().__new__(cls, format, offset, size, stream, exact, files, entries, low)


class Initramfs(NamedTuple):
    """Every part of an initramfs, in file order."""

    file_size: int
    parts: tuple[Part, ...]

    @property
    def stream(self) -> int:
        return sum(p.stream for p in self.parts)

    @property
    def stream_min(self) -> int:
        return sum(p.stream_min for p in self.parts)

    @property
    def exact(self) -> bool:
        return all(p.exact and p.files is not None for p in self.parts)

    def describe(self) -> str:
        words = [f"{p.format} {p.size} B -> {_range(p)} B" for p in self.parts]
        return ", ".join(words) or "empty"


def _range(part: Part) -> str:
    if part.exact:
        return str(part.stream)
    if part.stream_min > 0:
        return f"{part.stream_min}..{part.stream}"
    return f"<= {part.stream}"


def _skip_zeros(buf: bytes | memoryview, pos: int) -> int:
    """The first non-zero byte at or after ``pos`` (or the end), found in C."""
    return _ZEROS.match(buf, pos).end()  # type: ignore[union-attr]  # \0* always matches


def _header(head: bytes | memoryview, at: int, what: str) -> tuple[int, int, int]:
    """``(mode, filesize, namesize)`` of the newc header at the start of ``head``."""
    if bytes(head[:6]) not in NEWC_MAGICS:
        raise ImageError("cpio-not-newc", name=what, offset=at)
    if not _NEWC.fullmatch(head):
        raise ImageError("cpio-corrupt-header", name=what, offset=at)
    mode, size, namesize = (int(bytes(head[o : o + 8]), 16) for o in (14, 54, 94))
    if namesize > NAME_MAX:
        raise ImageError("cpio-long-name", name=what, offset=at, size=namesize)
    return mode, size, namesize


class _NewcWalker:
    """A streaming newc parser: fed bytes in any chunks, it counts entries and
    records regular files' sizes; zero padding between archives is skipped."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.files: list[int] = []
        self.entries = 0
        self.consumed = 0  # bytes parsed (headers, names, data, padding)
        self._buf = b""
        self._skip = 0  # data bytes still to skip in later chunks

    @property
    def data_seen(self) -> int:
        """Regular files' bytes the stream has delivered so far, at least (the data
        still to skip, padding included, is not counted)."""
        return max(0, sum(self.files) - self._skip)

    def feed(self, data: bytes) -> None:
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            self.consumed += taken
            data = data[taken:]
        buf, pos = self._buf + data, 0
        while True:
            start = _skip_zeros(buf, pos)
            self.consumed += start - pos
            pos = start
            step = self._entry(buf, pos)
            if not step:
                break
            pos += step
            self.consumed += step
            if self._skip:
                break
        self._buf = buf[pos:]

    def _entry(self, buf: bytes, pos: int) -> int:
        """Parse the entry at ``pos``: the bytes taken (data beyond ``buf`` is left
        to skip), or 0 if its header and name are not all in ``buf`` yet."""
        if len(buf) - pos < NEWC_HEADER:
            return 0
        mode, size, namesize = _header(buf[pos : pos + NEWC_HEADER], self.consumed, self.what)
        head = NEWC_HEADER + namesize
        head += -head % 4
        if len(buf) - pos < head:
            return 0
        name = buf[pos + NEWC_HEADER : pos + NEWC_HEADER + namesize].rstrip(b"\0")
        if name != NEWC_TRAILER:
            self.entries += 1
            if mode & _S_IFMT == _S_IFREG:
                self.files.append(size)
        body = size + (-size % 4)
        taken = min(body, len(buf) - pos - head)
        self._skip = body - taken
        return head + taken


def _cpio_part(data: memoryview, offset: int, what: str) -> Part:
    """A plain cpio archive from ``offset`` to its trailer: headers read in place,
    file data skipped without a copy."""
    files: list[int] = []
    pos, entries, end = offset, 0, len(data)
    while True:
        pos = _skip_zeros(data, pos)
        if end - pos < NEWC_HEADER:
            raise ImageError("cpio-no-trailer", name=what, offset=offset)
        mode, size, namesize = _header(data[pos : pos + NEWC_HEADER], pos, what)
        name = bytes(data[pos + NEWC_HEADER : pos + NEWC_HEADER + namesize]).rstrip(b"\0")
        pos += NEWC_HEADER + namesize
        pos += -pos % 4 + size
        pos += -pos % 4
        if pos > end:
            raise ImageError("cpio-no-trailer", name=what, offset=offset)
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
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Inflate:
    """zlib's decompressobj with the needs_input interface of bz2 and lzma: input it
    did not take for lack of output room is given back to it, not copied."""

    def __init__(self) -> None:
        self._engine = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer

    @property
    def eof(self) -> bool:
        return self._engine.eof

    @property
    def unused_data(self) -> bytes:
        return self._engine.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._engine.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return self._engine.decompress(data or self._engine.unconsumed_tail, max_length)


def _stream_part(
    data: memoryview, offset: int, fmt: str, decoder: _Decoder, what: str, budget: int
) -> Part:
    """A compressed member decoded in chunks into a cpio walker; nothing is kept.
    The output is refused as soon as it passes MAX_RATIO times the input fed.  Past
    ``budget`` bytes of output the walk stops: the part then runs to the end of the
    file, unpacks to at least the file data seen and at most MAX_RATIO x its size."""
    import lzma  # for its error (decoding costs far more than the import)

    walker = _NewcWalker(what)
    pos, out = offset, 0
    try:
        while not decoder.eof:
            if out > budget:
                rest = len(data) - offset
                return Part(fmt, offset, rest, MAX_RATIO * rest, False, None, 0, walker.data_seen)
            chunk = b""
            if decoder.needs_input:
                if pos >= len(data):
                    raise ImageError("member-truncated", name=what, compression=fmt, offset=offset)
                # as much again as was fed (the member may end soon), up to _IN_CHUNK
                chunk = bytes(data[pos : pos + min(max(pos - offset, 4096), _IN_CHUNK)])
                pos += len(chunk)
            room = MAX_RATIO * (pos - offset) - out
            piece = decoder.decompress(chunk, min(_OUT_CHUNK, room + 1))
            out += len(piece)
            if len(piece) > room:
                raise ImageError(
                    "member-ratio", name=what, compression=fmt, offset=offset, limit=MAX_RATIO
                )
            walker.feed(piece)
    except lzma.LZMAError as err:
        raise ImageError("member-lzma-corrupt", name=what, compression=fmt, offset=offset,
                         limit=DECODER_MEMORY >> 20, cause=err) from None  # fmt: skip
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise ImageError(
            "member-corrupt", name=what, compression=fmt, offset=offset, cause=err
        ) from None
    size = pos - offset - len(decoder.unused_data)
    return Part(fmt, offset, size, out, True, tuple(walker.files), walker.entries)


def _zstd_header(data: memoryview, offset: int, what: str) -> tuple[int, int | None, int, bool]:
    """RFC 8878 3.1.1.1: ``(first block's offset, Frame_Content_Size or None,
    Block_Maximum_Size, Content_Checksum_flag)``."""
    if offset + 6 > len(data):
        raise ImageError("zstd-truncated", name=what, offset=offset)
    fhd = data[offset + 4]
    fcs_flag, single, has_sum, dict_flag = fhd >> 6, fhd >> 5 & 1, fhd >> 2 & 1, fhd & 3
    if fhd & 8:
        raise ImageError("zstd-reserved-bit", name=what, offset=offset)
    fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    pos = offset + 5
    window = ZSTD_BLOCK_MAX
    if not single:  # 3.1.1.1.2 Window_Descriptor
        exponent, mantissa = data[pos] >> 3, data[pos] & 7
        base = 1 << (10 + exponent)
        window = base + base // 8 * mantissa
        pos += 1
    pos += (0, 1, 2, 4)[dict_flag]
    fcs = None
    if fcs_size:
        if pos + fcs_size > len(data):
            raise ImageError("zstd-truncated", name=what, offset=offset)
        fcs = int.from_bytes(data[pos : pos + fcs_size], "little")
        fcs += 256 if fcs_size == 2 else 0  # 3.1.1.1.4: the 2-byte form is offset by 256
        pos += fcs_size
        window = fcs if single else window
    return pos, fcs, min(window, ZSTD_BLOCK_MAX), bool(has_sum)


def _zstd_compressed_min(block: memoryview, at: int, what: str) -> int:
    """The least a compressed block (RFC 8878 3.1.1.3) can regenerate: its literals
    (3.1.1.3.1.1 Regenerated_Size) and ZSTD_MIN_MATCH bytes per sequence
    (3.1.1.3.2.1 Number_of_Sequences)."""
    corrupt = ImageError("zstd-block-corrupt", name=what, offset=at)
    if not block:
        raise corrupt
    kind, form = block[0] & 3, block[0] >> 2 & 3
    if kind < 2:  # raw or RLE literals: 1, 2 or 3 header bytes
        width = (1, 2, 1, 3)[form]
        value = int.from_bytes(block[:width], "little")
        regenerated = value >> 3 if width == 1 else value >> 4
        section = width + (regenerated if kind == 0 else 1)
    else:  # compressed or treeless literals: 3, 3, 4 or 5 header bytes
        width, bits = ((3, 10), (3, 10), (4, 14), (5, 18))[form]
        value = int.from_bytes(block[:width], "little")
        regenerated = value >> 4 & (1 << bits) - 1
        section = width + (value >> 4 + bits & (1 << bits) - 1)
    if section >= len(block) or width > len(block):
        raise corrupt
    first = block[section]
    if first < 128:
        sequences = first
    elif first < 255:
        sequences = (first - 128 << 8) + (block[section + 1] if section + 1 < len(block) else 0)
    else:
        sequences = int.from_bytes(block[section + 1 : section + 3], "little") + 0x7F00
    return regenerated + ZSTD_MIN_MATCH * sequences


def _skip_empty_blocks(data: memoryview, pos: int) -> int:
    """Past a run of empty zstd blocks at ``pos``, found in C: zero bytes are empty
    raw blocks three at a time (00 00 00), then empty RLE blocks (02 00 00 x)."""
    while pos < len(data) and data[pos] in (0, 2):
        start = pos
        pos += (_skip_zeros(data, pos) - pos) // 3 * 3
        empty = _ZSTD_EMPTY_RLE.match(data, pos)
        pos = empty.end() if empty else pos
        if pos == start:
            break
    return pos


def _zstd_part(data: memoryview, offset: int, what: str) -> Part:
    """A zstd frame (RFC 8878 3.1.1) walked block by block: its end, and its content
    size from Frame_Content_Size or else bounded from the blocks themselves."""
    pos, fcs, block_max, has_sum = _zstd_header(data, offset, what)
    low = high = 0
    end = len(data)
    while True:
        pos = _skip_empty_blocks(data, pos)
        if pos + 3 > end:
            raise ImageError("zstd-truncated", name=what, offset=offset)
        header = int.from_bytes(data[pos : pos + 3], "little")
        last, kind, bsize = header & 1, header >> 1 & 3, header >> 3
        if kind == 3 or bsize > block_max:
            raise ImageError("zstd-block-corrupt", name=what, offset=pos)
        body = data[pos + 3 : pos + 3 + (1 if kind == 1 else bsize)]
        if kind == 2:
            least = _zstd_compressed_min(body, pos, what)
            if least > block_max:
                raise ImageError("zstd-block-corrupt", name=what, offset=pos)
            low, high = low + least, high + block_max
        else:
            low, high = low + bsize, high + bsize
        pos += 3 + len(body)
        if last:
            break
    pos += 4 if has_sum else 0
    if pos > end:
        raise ImageError("zstd-truncated", name=what, offset=offset)
    if fcs is not None and not low <= fcs <= high:
        raise ImageError("zstd-size-mismatch", name=what, offset=offset, size=fcs, low=low,
                         high=high)  # fmt: skip
    low, high = (fcs, fcs) if fcs is not None else (low, high)
    _check_ratio(low, pos - offset, "zstd", offset, what)
    return Part("zstd", offset, pos - offset, high, low == high, None, 0, low)


def _lz4_bounds(size: int) -> tuple[int, int]:
    """What an lz4 block of ``size`` bytes inflates to, at least and at most.
    Every sequence (lz4 block format) is a token, literal-length bytes (none below
    15 literals, at most one per 15 literals), its literals, then, but for the last,
    a 2-byte offset and match-length bytes for a match of at least 4 bytes: so all
    but the literal-length bytes and the last token give back at least their size.
    Each input byte gives at most LZ4_MAX_RATIO bytes; the kernel's output buffer
    holds LZ4_LEGACY_CHUNK."""
    return max(0, size - size // 15 - 1), min(LZ4_MAX_RATIO * size, LZ4_LEGACY_CHUNK)


def _lz4_part(data: memoryview, offset: int, what: str) -> Part:
    """An lz4 legacy stream (lib/decompress_unlz4.c): 4-byte little-endian block
    sizes up to the end, a zero word or the next magic (which it skips)."""
    pos, low, high, end = offset + 4, 0, 0, len(data)
    while pos + 4 <= end:
        word = bytes(data[pos : pos + 4])
        if word == LZ4_LEGACY_MAGIC or word == b"\0\0\0\0":
            break
        size = int.from_bytes(word, "little")
        pos += 4 + size
        least, most = _lz4_bounds(size)
        low, high = low + least, high + most
    if pos > end:
        raise ImageError("lz4-truncated", name=what, offset=offset)
    _check_ratio(low, pos - offset, "lz4", offset, what)
    return Part("lz4", offset, pos - offset, high, False, None, 0, low)


def _check_ratio(stream: int, size: int, fmt: str, offset: int, what: str) -> None:
    if stream > MAX_RATIO * size:
        raise ImageError(
            "member-claims", name=what, compression=fmt, offset=offset, value=stream, size=size
        )


def _zstd_decoder() -> Callable[[], _Decoder] | None:
    """Python 3.14's zstd decoder when there is one (``compression.zstd``)."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return lambda: zstd.ZstdDecompressor(options={zstd.DecompressionParameter.window_log_max: 27})  # type: ignore[no-any-return,unused-ignore]


# bz2 and lzma (C extensions and their libraries) are imported when a member is decoded:
# a crash load settled by the archive's stated sizes (initramfs_claims) loads neither.
def _bzip2() -> _Decoder:
    import bz2

    return bz2.BZ2Decompressor()


def _lzma(form: int) -> Callable[[], _Decoder]:
    def make() -> _Decoder:
        import lzma

        return lzma.LZMADecompressor(form, DECODER_MEMORY)

    return make


_FORMAT_XZ, _FORMAT_ALONE = 1, 2  # lzma.FORMAT_XZ, lzma.FORMAT_ALONE (Modules/_lzmamodule.c)
_DECODERS: tuple[tuple[tuple[bytes, ...], str, Callable[[], _Decoder]], ...] = (
    (GZIP_MAGICS, "gzip", _Inflate),
    ((BZIP2_MAGIC,), "bzip2", _bzip2),
    ((XZ_MAGIC,), "xz", _lzma(_FORMAT_XZ)),
    ((LZMA_MAGIC,), "lzma", _lzma(_FORMAT_ALONE)),
)
_ZSTD_DECODER = _zstd_decoder()


def _part(data: memoryview, offset: int, what: str, budget: int) -> Part:
    head = bytes(data[offset : offset + 6])
    if head in NEWC_MAGICS and offset % 4 == 0:
        return _cpio_part(data, offset, what)
    for magics, fmt, make in _DECODERS:
        if head.startswith(magics):
            return _stream_part(data, offset, fmt, make(), what, budget)
    if head.startswith(ZSTD_MAGIC):
        if _ZSTD_DECODER is not None:
            return _stream_part(data, offset, "zstd", _ZSTD_DECODER(), what, budget)
        return _zstd_part(data, offset, what)
    if head.startswith(LZ4_LEGACY_MAGIC):
        return _lz4_part(data, offset, what)
    rest = len(data) - offset
    if head.startswith(LZO_MAGIC):  # no stdlib decoder and no size in its headers
        return Part("lzo", offset, rest, LZO_GUESS_RATIO * rest, False, None, 0, 0)
    # Not an archive: the kernel keeps it as /initrd.image, a ramdisk image
    # (init/initramfs.c populate_rootfs: "rootfs image is not initramfs").
    return Part("image", offset, rest, rest, True, (rest,), 1)


def summarize(
    data: bytes | memoryview, what: str = "initrd", limit: int | None = None
) -> Initramfs:
    """Every part of the initramfs ``data``; raises :class:`ImageError` on garbage.

    ``limit``: the unpacked size past which the answer no longer matters (the crash
    sizing passes the crash region: content beyond it cannot fit whatever follows).
    Decoding stops once the compressed parts' output passes it; the part where it
    stopped is then inexact, bounded below by the file data it delivered."""
    view = memoryview(data).cast("B")
    parts: list[Part] = []
    budget = len(view) * MAX_RATIO if limit is None else limit
    pos = _skip_zeros(view, 0)
    while pos < len(view):
        part = _part(view, pos, what, budget)
        parts.append(part)
        if part.exact:
            budget -= part.stream
        pos = _skip_zeros(view, part.offset + part.size)
    return Initramfs(len(view), tuple(parts))
