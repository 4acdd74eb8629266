# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec.core.formats.initramfs against archives made by GNU cpio, gzip, bzip2, xz, lzma,
zstd and lz4; expected sizes come from the files themselves (os.stat) and the tools."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import os
import shutil
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from pykexec.core.formats import initramfs
from pykexec.core.formats.initramfs import Part, summarize
from pykexec.errors import ImageError
from tests.typed import check, raises

SIZES = (0, 1, 4095, 4096, 65537, 300_000, 1 << 20)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing (setup-host installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def _tree(tmp: Path, name: str, sizes: tuple[int, ...] = SIZES) -> Path:
    root = tmp / name
    (root / "sub").mkdir(parents=True)
    for i, size in enumerate(sizes):
        (root / "sub" / f"f{i}").write_bytes(os.urandom(size // 2) + bytes(size - size // 2))
    os.symlink("sub/f0", root / "link")
    return root


def _cpio(root: Path) -> bytes:
    """GNU cpio's newc archive of ``root`` (the oracle's own writer)."""
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    out = subprocess.run(
        [_need("cpio"), "-o", "-H", "newc", "--quiet"], cwd=root,
        input="\n".join(names).encode(), capture_output=True, check=True,
    )  # fmt: skip
    return out.stdout


def _file_sizes(root: Path) -> list[int]:
    return sorted(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _compress(tool: str, data: bytes, *args: str) -> bytes:
    return subprocess.run([_need(tool), *args], input=data, capture_output=True,
                          check=True).stdout  # fmt: skip


def test_plain_cpio_files_and_stream(tmp_path: Path) -> None:
    root = _tree(tmp_path, "a")
    archive = _cpio(root)
    got = summarize(archive)
    assert [p.format for p in got.parts] == ["cpio"]
    part = got.parts[0]
    assert sorted(part.files or ()) == _file_sizes(root)
    assert part.entries == len(list(root.rglob("*")))
    # GNU cpio pads the archive to 512-byte blocks with zeros after the trailer
    assert part.size <= len(archive) and not archive[part.size :].strip(b"\0")
    assert got.exact


@pytest.mark.parametrize(
    ("tool", "args", "fmt"),
    [("gzip", ("-c",), "gzip"), ("bzip2", ("-c",), "bzip2"), ("xz", ("-c", "--check=crc32"), "xz"),
     ("lzma", ("-c",), "lzma")],
)  # fmt: skip
def test_streamed_formats_give_every_file(tmp_path: Path, tool: str, args: tuple[str, ...],
                                          fmt: str) -> None:  # fmt: skip
    root = _tree(tmp_path, "b")
    archive = _cpio(root)
    got = summarize(_compress(tool, archive, *args))
    assert [p.format for p in got.parts] == [fmt]
    assert got.parts[0].stream == len(archive)
    assert sorted(got.parts[0].files or ()) == _file_sizes(root)


def test_microcode_cpio_then_compressed_main(tmp_path: Path) -> None:
    """The early-microcode layout: plain cpio, zero padding, then a compressed archive."""
    early, main = _tree(tmp_path, "early", (4096, 12345)), _tree(tmp_path, "main")
    first = _cpio(early)
    first += bytes(-len(first) % 4)
    blob = first + _compress("gzip", _cpio(main), "-c")
    got = summarize(blob)
    assert [p.format for p in got.parts] == ["cpio", "gzip"]
    assert sorted(got.parts[0].files or ()) == _file_sizes(early)
    assert sorted(got.parts[1].files or ()) == _file_sizes(main)
    assert got.parts[1].offset + got.parts[1].size == len(blob)


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    a, b = _cpio(_tree(tmp_path, "a", (10, 20))), _cpio(_tree(tmp_path, "b", (30,)))
    blob = gzip.compress(a) + gzip.compress(b)
    got = summarize(blob)
    assert [p.stream for p in got.parts] == [len(a), len(b)]


def test_zstd_content_size_from_frame_header(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "z"))
    (tmp_path / "a.cpio").write_bytes(archive)  # from a file zstd knows the size up front
    blob = subprocess.run([_need("zstd"), "-c", "-q", str(tmp_path / "a.cpio")],
                          capture_output=True, check=True).stdout  # fmt: skip
    got = summarize(blob)
    (part,) = got.parts
    assert (part.format, part.stream, part.exact, part.files) == ("zstd", len(archive), True, None)
    assert part.size == len(blob)


def test_zstd_without_content_size_is_bounded(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "z"))
    # streamed input: zstd cannot write Frame_Content_Size
    proc = subprocess.run(f"cat | {_need('zstd')} -c -q --no-content-size", shell=True,
                          input=archive, capture_output=True, check=True)  # fmt: skip
    (part,) = summarize(proc.stdout).parts
    assert not part.exact and part.stream_min <= len(archive) <= part.stream
    assert part.stream_min > len(archive) // 4  # the literals and sequences count
    assert part.size == len(proc.stdout)


def test_lz4_legacy_is_bounded(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "l"))
    blob = _compress("lz4", archive, "-l", "-c", "-q")
    (part,) = summarize(blob).parts
    assert part.format == "lz4" and not part.exact
    assert part.stream_min <= len(archive) <= part.stream
    assert part.size == len(blob)


@pytest.mark.parametrize(
    "blob",
    [b"070701" + b"Z" * 200, b"\x1f\x8b\x08\x00" + bytes(20), b"\x28\xb5\x2f\xfd\x00"],
)  # fmt: skip
def test_garbage_is_one_line_error(blob: bytes) -> None:
    with pytest.raises(ImageError) as err:
        summarize(blob)
    assert len(str(err.value).splitlines()) == 1


def test_not_an_archive_is_a_ramdisk_image() -> None:
    """init/initramfs.c keeps a non-archive initrd as /initrd.image: one file of its size."""
    blob = b"hello world, not an archive"
    (part,) = summarize(blob).parts
    assert (part.format, part.files, part.stream) == ("image", (len(blob),), len(blob))


def test_truncated_cpio(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "t"))
    with raises(ImageError, "cpio-no-trailer", offset=0):
        summarize(archive[: len(archive) // 2])


def test_size_claim_beyond_the_file_is_refused() -> None:
    """A zstd frame (RFC 8878) claiming 1 TiB of content in 20 bytes."""
    fhd = 0b1110_0000  # Frame_Content_Size_flag 3 (8 bytes), Single_Segment_flag
    block = (1 | 0 << 1 | 1 << 3).to_bytes(3, "little") + b"x"  # last, raw, 1 byte
    frame = b"\x28\xb5\x2f\xfd" + bytes([fhd]) + (1 << 40).to_bytes(8, "little") + block
    with pytest.raises(ImageError):
        summarize(frame)


def test_agrees_with_the_labs_own_walker(tmp_path: Path) -> None:
    """lab/calibrate.py counts the calibration payload with its own cpio walk: the
    table's facts and the headroom model's must describe archives the same way."""
    import io

    from lab.calibrate import _walk_newc

    archive = _cpio(_tree(tmp_path, "w"))
    theirs = _walk_newc(io.BytesIO(archive))
    (part,) = summarize(gzip.compress(archive)).parts
    assert theirs["entries"] == part.entries and theirs["files"] == len(part.files or ())
    assert theirs["data_bytes"] == sum(part.files or ())
    assert theirs["pages_64k_bytes"] == sum(-(-f // 65536) * 65536 for f in part.files or ())


# -- hostile archives (issue 16): each once a hang, a traceback or gigabytes ----------


def _line_events(fn: Callable[[], object], limit: int = 200_000) -> tuple[object, int]:
    """``fn()``'s result (or the error it raised) and how many lines of
    pykexec/core/formats/initramfs.py it ran; stops it past ``limit`` (a walk that never
    ends fails instead of hanging the suite)."""
    count = 0
    source = initramfs.__file__

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if count > limit:
                raise AssertionError(f"more than {limit} lines run")
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == source else None

    sys.settrace(tracer)
    try:
        result: object = fn()
    except ImageError as err:
        result = err
    finally:
        sys.settrace(None)
    return result, count


def _newc(name: bytes, data: bytes = b"", mode: int = 0o100644, **fields: bytes) -> bytes:
    """One newc entry (buffer-format.rst), with any header field given as raw text."""
    values = {"mode": b"%08X" % mode, "filesize": b"%08X" % len(data),
              "namesize": b"%08X" % (len(name) + 1)}  # fmt: skip
    values.update(fields)
    order = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
             "devminor", "rdevmajor", "rdevminor", "namesize", "check")  # fmt: skip
    head = b"070701" + b"".join(values.get(k, b"00000000") for k in order)
    entry = head + name + b"\0"
    entry += bytes(-len(entry) % 4) + data
    return entry + bytes(-len(entry) % 4)


TRAILER = _newc(b"TRAILER!!!")


def test_newc_helper_agrees_with_gnu_cpio(tmp_path: Path) -> None:
    """The hand-made entries below are what GNU cpio reads back."""
    blob = _newc(b"a", b"hello") + TRAILER
    out = subprocess.run([_need("cpio"), "-t", "--quiet"], input=blob, capture_output=True,
                         check=True)  # fmt: skip
    assert out.stdout == b"a\n"
    assert summarize(blob).parts[0].files == (5,)


@pytest.mark.parametrize("size", [b"-0000004", b"-FFFFFFF", b"+0000004", b"0000_004", b" 000004"])
@pytest.mark.parametrize("wrap", ["plain", "gzip"])
def test_signed_or_odd_cpio_size_is_corrupt(size: bytes, wrap: str) -> None:
    """int(x, 16) takes a sign, blanks and underscores; the kernel's 8 hex digits do not.
    A negative size once walked the archive backwards forever."""
    blob = _newc(b"a", b"abcd", filesize=size) + _newc(b"b", b"x" * 64) + TRAILER
    blob = gzip.compress(blob) if wrap == "gzip" else blob
    err, _ = _line_events(lambda: summarize(blob))
    check(err, ImageError, "cpio-corrupt-header", offset=0)  # type: ignore[arg-type]


def test_cpio_name_longer_than_path_max_is_refused_before_it_is_buffered() -> None:
    blob = gzip.compress(_newc(b"a", namesize=b"7FFFFFFF") + bytes(1 << 20))
    err, _ = _line_events(lambda: summarize(blob))
    check(err, ImageError, "cpio-long-name", offset=0, size=0x7FFFFFFF)  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", ["plain", "gzip"])
def test_zero_padding_is_skipped_not_walked(wrap: str) -> None:
    """Padding costs the same lines whether it is 4 KiB or 8 MiB (it once took seconds)."""

    def blob(pad: int) -> bytes:
        one = _newc(b"a", b"data") + TRAILER + bytes(pad) + _newc(b"b", b"x" * 9) + TRAILER
        return gzip.compress(one) if wrap == "gzip" else one + bytes(pad)

    small, large = (_line_events(functools.partial(summarize, blob(p))) for p in (4096, 8 << 20))
    assert isinstance(small[0], initramfs.Initramfs) and isinstance(large[0], initramfs.Initramfs)
    assert [p.files for p in large[0].parts] == [p.files for p in small[0].parts]
    assert large[1] < small[1] + 500  # gzip: 8 chunks more; the padding itself: no lines


def _bomb_peak(blob: bytes) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        summarize(blob)
        error = None
    except ImageError as err:
        error = err
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "xz", "lzma"])
def test_bomb_is_refused_while_it_inflates(fmt: str) -> None:
    """64 MiB of zeros: refused after at most MAX_RATIO times the input, which
    tracemalloc's peak shows (it once inflated 2.1 GB before refusing)."""
    pack = {"gzip": functools.partial(gzip.compress, compresslevel=9), "bzip2": bz2.compress,
            "xz": lzma.compress, "lzma": functools.partial(lzma.compress, format=lzma.FORMAT_ALONE),
            }[fmt]  # fmt: skip
    blob = pack(_newc(b"zero", bytes(64 << 20)) + TRAILER)
    error, peak = _bomb_peak(blob)
    if fmt == "gzip":  # deflate cannot pass 1032:1: read through, never held
        assert len(blob) * initramfs.MAX_RATIO > 64 << 20 and error is None
    else:
        assert len(blob) * initramfs.MAX_RATIO < 64 << 20
        check(error, ImageError, "member-ratio", compression=fmt, limit=initramfs.MAX_RATIO)  # type: ignore[arg-type]
    assert peak < 16 << 20  # xz's 8 MiB dictionary (liblzma allocates through Python)


@pytest.mark.parametrize("fmt", ["xz", "lzma"])
def test_huge_dictionary_is_refused_in_one_line(fmt: str) -> None:
    """A header asking for a 4 GiB dictionary (it once ended in MemoryError under an
    address-space limit): the decoder's memory limit refuses it before allocating."""
    if fmt == "lzma":  # .lzma header: properties, dictionary size (LE u32), unpacked size
        blob = b"\x5d" + (0xFFFF_0000).to_bytes(4, "little") + b"\xff" * 8 + bytes(64)
    else:  # xz (xz-file-format.txt 3.1): the block header's LZMA2 dictionary code 40
        # (4 GiB - 1), its CRC32 made again; liblzma writes the rest
        blob = bytearray(lzma.compress(b"x" * 100, lzma.FORMAT_XZ))
        size = (blob[12] + 1) * 4
        at = blob.index(b"\x21\x01", 12, 12 + size) + 2  # filter ID, properties size
        blob[at] = 40
        blob[12 + size - 4 : 12 + size] = zlib.crc32(blob[12 : 12 + size - 4]).to_bytes(4, "little")
        blob = bytes(blob)
    with raises(ImageError, "member-lzma-corrupt", compression=fmt, offset=0) as err:
        summarize(blob)
    assert len(str(err.value).splitlines()) == 1


def test_decoded_stream_agrees_with_the_tools_through_the_bound(tmp_path: Path) -> None:
    """The output bound is per call: an archive inflating in many calls is still exact."""
    root = _tree(tmp_path, "big", (3 << 20, 5 << 20, 10))
    archive = _cpio(root)
    for tool, args in (("gzip", ("-c",)), ("bzip2", ("-c",)), ("xz", ("-c",))):
        (part,) = summarize(_compress(tool, archive, *args)).parts
        assert (part.stream, part.stream_min) == (len(archive), len(archive))
        assert sorted(part.files or ()) == _file_sizes(root)


def _zstd_stream(data: bytes, *args: str) -> bytes:
    """zstd reading a pipe (no Frame_Content_Size unless asked)."""
    proc = subprocess.run(f"cat | {_need('zstd')} -c -q --no-content-size {' '.join(args)}",
                          shell=True, input=data, capture_output=True, check=True)  # fmt: skip
    return proc.stdout


def test_zstd_raw_blocks_are_exact() -> None:
    """Incompressible data: zstd stores raw blocks, whose sizes are the content."""
    data = os.urandom(300_000)
    (part,) = summarize(_zstd_stream(data)).parts
    assert (part.exact, part.stream, part.stream_min) == (True, len(data), len(data))


def test_zstd_bounds_hold_across_levels_and_windows(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "z", (70_000, 300_000, 1 << 20, 5)))
    for args in (("-1",), ("-19",), ("--long=10",), ("-3", "--check")):
        blob = _zstd_stream(archive, *args)
        (part,) = summarize(blob).parts
        assert part.stream_min <= len(archive) <= part.stream, args
        assert part.size == len(blob)


def _zstd_frame(blocks: bytes) -> bytes:
    """A frame with no content size and a 128 KiB window (RFC 8878 3.1.1.1)."""
    return b"\x28\xb5\x2f\xfd" + bytes([0]) + bytes([(17 - 10) << 3]) + blocks


def _block(kind: int, size: int, body: bytes, last: bool = False) -> bytes:
    return (int(last) | kind << 1 | size << 3).to_bytes(3, "little") + body


def test_zstd_hand_made_frame_agrees_with_zstd(tmp_path: Path) -> None:
    """Empty, raw and RLE blocks: zstd itself decodes the frame to what summarize says."""
    blob = _zstd_frame(_block(0, 0, b"") + _block(1, 0, b"z") + _block(0, 3, b"abc")
                       + _block(1, 1000, b"q", last=True))  # fmt: skip
    out = subprocess.run([_need("zstd"), "-d", "-c", "-q"], input=blob, capture_output=True,
                         check=True).stdout  # fmt: skip
    (part,) = summarize(blob).parts
    assert (part.exact, part.stream, part.size) == (True, len(out), len(blob))


@pytest.mark.parametrize("empty", [_block(0, 0, b""), _block(1, 0, b"e")])
def test_empty_zstd_blocks_are_skipped_not_walked(empty: bytes) -> None:
    """A million empty raw or RLE blocks cost what ten cost (they once took seconds)."""

    def blob(count: int) -> bytes:
        return _zstd_frame(empty * count + _block(1, 5, b"x", last=True))

    few, many = (_line_events(functools.partial(summarize, blob(n))) for n in (10, 1_000_000))
    assert isinstance(many[0], initramfs.Initramfs) and many[0].parts[0].stream == 5
    assert many[1] == few[1]


def test_zstd_compressed_block_lower_bound_from_its_sections() -> None:
    """A compressed block (RFC 8878 3.1.1.3): raw literals of 20 bytes (1-byte header
    20 << 3), then 2 sequences: at least 20 + 2 * 3 bytes, at most the block size."""
    body = bytes([20 << 3]) + b"L" * 20 + bytes([2]) + b"\0" * 4
    (part,) = summarize(_zstd_frame(_block(2, len(body), body, last=True))).parts
    assert (part.stream_min, part.stream, part.exact) == (26, 128 << 10, False)


@pytest.mark.parametrize(
    "blocks",
    [_block(0, 200_000, b"x" * 200_000, last=True),  # raw block beyond 128 KiB
     _block(2, 1, bytes([1 << 3]), last=True),  # literals but no sequences header
     _block(2, 3, bytes([255 << 3 & 0xFF | 0xC]) + b"\xff\xff", last=True),  # > block max
     _block(3, 0, b"", last=True),  # reserved type
     _block(0, 0, b"") * 1000],  # never a last block
)  # fmt: skip
def test_corrupt_zstd_frames_are_one_line_errors(blocks: bytes) -> None:
    err, _ = _line_events(lambda: summarize(_zstd_frame(blocks)))
    assert isinstance(err, ImageError) and len(str(err).splitlines()) == 1


def test_zstd_content_size_must_fit_its_blocks() -> None:
    """Frame_Content_Size (single segment, 1 byte) of 200 with one 3-byte raw block."""
    blob = b"\x28\xb5\x2f\xfd" + bytes([0x20]) + bytes([200]) + _block(0, 3, b"abc", last=True)
    with raises(ImageError, "zstd-size-mismatch", offset=0, size=200, low=3, high=3):
        summarize(blob)


def test_lz4_bounds_hold_for_every_block(tmp_path: Path) -> None:
    """lz4 -l writes 8 MiB blocks: a 20 MiB archive is three, each bounded."""
    root = _tree(tmp_path, "l4", (9 << 20, 11 << 20))
    archive = _cpio(root)
    blob = _compress("lz4", archive, "-l", "-c", "-q")
    (part,) = summarize(blob).parts
    assert part.stream_min <= len(archive) <= part.stream <= 3 * initramfs.LZ4_LEGACY_CHUNK


def test_part_built_without_a_lower_bound_is_exact() -> None:
    """Callers that build a Part positionally (the loader's ramdisk image) keep working."""
    part = Part("image", 0, 5, 5, True, (5,), 1)
    assert part.stream_min == 5
    assert summarize(b"\x89LZO" + bytes(10)).stream_min == 0


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "xz", "lzma"])
def test_member_end_found_through_the_output_bound(fmt: str) -> None:
    """A member inflating over many bounded calls, zero padding, then a second member:
    each ends where the compressor said (the decoder's unused data, exactly)."""
    pack = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
            "lzma": functools.partial(lzma.compress, format=lzma.FORMAT_ALONE)}[fmt]  # fmt: skip
    big = _newc(b"z", os.urandom(1 << 20) + bytes(3 << 20)) + TRAILER
    first, second = pack(big), pack(_newc(b"q", b"hello") + TRAILER)
    got = summarize(first + bytes(3) + second)
    assert [(p.offset, p.size, p.files) for p in got.parts] == [
        (0, len(first), (4 << 20,)), (len(first) + 3, len(second), (5,))]  # fmt: skip


# -- a limit: decoding stops once the answer cannot change (issue 16's lzma finding) ---


@pytest.mark.parametrize("fmt", ["gzip", "xz"])
def test_a_limit_stops_decoding_and_bounds_the_rest(tmp_path: Path, fmt: str) -> None:
    """Past ``limit`` bytes of output the walk stops: the part runs to the file's end,
    its lower bound is file data really delivered (at most what cpio packed), its upper
    bound still holds the real stream, and the decoders produced little past the limit."""
    root = _tree(tmp_path, "big", (1 << 20,) * 8)
    archive = _cpio(root)
    packed = gzip.compress(archive) if fmt == "gzip" else lzma.compress(archive)
    produced: list[int] = []
    limit = 3 << 20

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out: bytes = self.inner.decompress(data, max_length)
            produced.append(len(out))
            return out

    decoders = [(m, f, (lambda make=make: Counting(make()))) for m, f, make in initramfs._DECODERS]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(initramfs, "_DECODERS", tuple(decoders))
        got = summarize(packed, "initrd", limit)
    (part,) = got.parts
    data = sum(_file_sizes(root))
    assert not part.exact and part.files is None
    assert part.offset == 0 and part.size == len(packed)
    assert limit - (1 << 20) <= part.stream_min <= data
    assert part.stream >= len(archive)
    assert sum(produced) <= limit + 2 * initramfs._OUT_CHUNK


def test_a_limit_is_shared_by_the_parts(tmp_path: Path) -> None:
    """Content already past the limit: the next compressed part is not decoded at all."""
    archive = _cpio(_tree(tmp_path, "two", (1 << 20,) * 4))
    limit = summarize(archive).parts[0].stream - 1
    first, second = summarize(archive + gzip.compress(archive), "initrd", limit).parts
    assert first.exact and first.format == "cpio"
    assert (second.format, second.exact, second.stream_min) == ("gzip", False, 0)


def test_without_a_limit_the_walk_is_whole(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "whole", (1 << 20,) * 4))
    (part,) = summarize(gzip.compress(archive), "initrd", len(archive)).parts
    assert part.exact and part.stream == len(archive)
