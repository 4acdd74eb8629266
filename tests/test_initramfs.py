# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec.formats.initramfs against archives made by GNU cpio, gzip, bzip2, xz, lzma,
zstd and lz4; expected sizes come from the files themselves (os.stat) and the tools."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pykexec.errors import ImageError
from pykexec.formats.initramfs import summarize

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
    assert not part.exact and part.stream >= len(archive)
    assert part.size == len(proc.stdout)


def test_lz4_legacy_is_bounded(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "l"))
    blob = _compress("lz4", archive, "-l", "-c", "-q")
    (part,) = summarize(blob).parts
    assert part.format == "lz4" and not part.exact and part.stream >= len(archive)
    assert part.size == len(blob)


@pytest.mark.parametrize(
    "blob",
    [b"070701" + b"Z" * 200, b"\x1f\x8b\x08\x00" + bytes(20), b"\x28\xb5\x2f\xfd\x00"],
)  # fmt: skip
def test_garbage_is_one_line_error(blob: bytes) -> None:
    with pytest.raises(ImageError) as err:
        summarize(blob)
    assert "\n" not in str(err.value)


def test_not_an_archive_is_a_ramdisk_image() -> None:
    """init/initramfs.c keeps a non-archive initrd as /initrd.image: one file of its size."""
    blob = b"hello world, not an archive"
    (part,) = summarize(blob).parts
    assert (part.format, part.files, part.stream) == ("image", (len(blob),), len(blob))


def test_truncated_cpio(tmp_path: Path) -> None:
    archive = _cpio(_tree(tmp_path, "t"))
    with pytest.raises(ImageError, match="without its trailer"):
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
