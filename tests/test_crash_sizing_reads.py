# SPDX-License-Identifier: GPL-2.0-or-later
"""What a crash load reads of its initrd (issue 21): the sizes the archive states when
they settle the verdict, each compressed member decoded at most once per file (a
cache in /run/pykexec, trusted only when well-formed), and each segment read once
for the purgatory's digest and the record.  Counted in calls and bytes, never timed.
Expected sizes come from the archives' own inputs (the cpio the compressor was given).
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import random
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pykexec.core.formats import initramfs
from pykexec.core.formats.initramfs_claims import claims
from pykexec.core.options import LoadOptions
from pykexec.system import loader, recordcache, syscalls
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot

MiB = 1 << 20


def _newc(name: bytes, data: bytes, mode: int = 0o100644, ino: int = 1) -> bytes:
    """One newc entry (Documentation/driver-api/early-userspace/buffer-format.rst)."""
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"
    head += bytes(-len(head) % 4)
    return head + data + bytes(-len(data) % 4)


def _cpio(sizes: tuple[int, ...], fill: bytes = b"") -> bytes:
    """Files of ``sizes`` bytes: ``fill`` (random bytes by default) then zeros."""
    fill = fill or random.Random(21).randbytes(4096)
    body = b"".join(_newc(b"f%d" % i, (fill + bytes(s))[:s], ino=i + 2)
                    for i, s in enumerate(sizes))  # fmt: skip
    return body + _newc(b"TRAILER!!!", b"", 0, 0)


def _zstd(tmp: Path, data: bytes) -> bytes:
    """zstd's frame of a file (from a file, it writes Frame_Content_Size)."""
    tool = shutil.which("zstd")
    if tool is None:
        pytest.skip("zstd is not installed")
    (tmp / "in").write_bytes(data)
    return subprocess.run([tool, "-q", "-c", str(tmp / "in")], capture_output=True,
                          check=True).stdout  # fmt: skip


CPIO = _cpio((100_000, 5000, 0, 70_000))


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(CPIO, id="cpio"),
        pytest.param(gzip.compress(CPIO), id="gzip"),
        pytest.param(lzma.compress(CPIO, check=lzma.CHECK_CRC32), id="xz"),
        pytest.param(lzma.compress(CPIO[:0]) + lzma.compress(CPIO), id="xz-two-streams"),
        pytest.param(lzma.compress(CPIO) + bytes(8), id="xz-padded"),
    ],
)
def test_claims_are_the_compressors_input(blob: bytes) -> None:
    got = claims(blob)
    assert got is not None and got.stream == len(CPIO) and got.file_size == len(blob)


def test_zstd_frame_content_size(tmp_path: Path) -> None:
    got = claims(_zstd(tmp_path, CPIO))
    assert got is not None and got.stream == len(CPIO) and got.parts[0].exact


def test_microcode_then_gzip() -> None:
    early = _cpio((4096,))
    got = claims(early + gzip.compress(CPIO))
    assert got is not None and [p.stream for p in got.parts] == [len(early), len(CPIO)]


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(gzip.compress(CPIO) + bytes(4), id="gzip-then-zeros"),
        pytest.param(gzip.compress(CPIO) + CPIO, id="gzip-then-cpio"),
        pytest.param(lzma.compress(CPIO) + CPIO, id="xz-then-cpio"),
        pytest.param(lzma.compress(CPIO, format=lzma.FORMAT_ALONE), id="lzma-unknown-size"),
        pytest.param(b"BZh9" + bytes(100), id="bzip2"),
        pytest.param(b"\x02\x21\x4c\x18" + bytes(100), id="lz4"),
    ],
)
def test_no_claim_where_the_framing_does_not_say(blob: bytes) -> None:
    assert claims(blob) is None


def test_lzma_header_size() -> None:
    packed = lzma.compress(CPIO, format=lzma.FORMAT_ALONE)
    sized = packed[:5] + len(CPIO).to_bytes(8, "little") + packed[13:]
    got = claims(sized)
    assert got is not None and got.stream == len(CPIO)


# -- the loader: what a crash load decodes --------------------------------------------


class LiveSnapshot(SystemView):
    """A sysroot the loader takes for the running system (kernel calls recorded)."""

    live = True  # type: ignore[assignment]


class Counted:
    """Counts compressed members decoded (initramfs._stream_part) and their bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = initramfs._stream_part

        def counted(*args: Any) -> initramfs.Part:
            self.calls += 1
            return real(*args)

        monkeypatch.setattr(initramfs, "_stream_part", counted)


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, initrd: bytes,
           region: int) -> tuple[LoadOptions, SystemView]:  # fmt: skip
    kernel, rd = tmp_path / "vmlinux", tmp_path / "initrd.img"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    rd.write_bytes(initrd)
    view = LiveSnapshot(write_sysroot(tmp_path / "root", pseries(crash=(512 * MiB, region))))
    (Path(view.path("sys/kernel")) / "kexec_crash_size").write_text(f"{region}\n")
    monkeypatch.setattr(syscalls, "kexec_load", lambda *a: None)
    monkeypatch.setattr(syscalls, "kexec_file_load", lambda *a: None)
    opts = LoadOptions(kernel=kernel, initrd=rd, command_line="x", crash=True)
    return opts, view


def _facts(opts: LoadOptions, view: SystemView) -> Any:
    return loader.gather(opts, view, segments=False, remember=True)


def test_stated_sizes_settle_a_roomy_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """256 MiB for a 1.3 MiB initrd: the gzip trailer settles it, nothing is inflated."""
    opts, view = _setup(tmp_path, monkeypatch, gzip.compress(_cpio((1 << 20, 300_000))), 256 * MiB)
    count = Counted(monkeypatch)
    facts = _facts(opts, view)
    assert count.calls == 0
    assert facts.initramfs.stream == len(_cpio((1 << 20, 300_000)))
    assert facts.initramfs.parts[0].files is None


def _tight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LoadOptions, SystemView]:
    """40 MiB of files in a 64 MiB region: the stated size cannot settle it."""
    return _setup(tmp_path, monkeypatch, gzip.compress(_cpio((40 * MiB,)), 1), 64 * MiB)


def test_a_tight_region_reads_the_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view = _tight(tmp_path, monkeypatch)
    count = Counted(monkeypatch)
    first = _facts(opts, view)
    assert count.calls == 1 and first.initramfs.parts[0].files == (40 * MiB,)
    again = _facts(opts, view)
    assert count.calls == 1  # the cache: no decoder at all
    assert again.initramfs == first.initramfs


def test_dry_runs_keep_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts, view = _tight(tmp_path, monkeypatch)
    count = Counted(monkeypatch)
    loader.gather(opts, view, segments=False)
    loader.gather(opts, view, segments=False)
    assert count.calls == 2
    assert not os.path.exists(view.path("run/pykexec/initramfs.json"))


def test_reload_storm_walks_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 successive -p loads of the same files (a CPU-online storm): one inflate."""
    opts, view = _tight(tmp_path, monkeypatch)
    opts = replace(opts, ignore_headroom=True)
    count = Counted(monkeypatch)
    for _ in range(16):
        loader.load(opts, view)
    assert count.calls == 1


def test_a_fallback_maps_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A -p whose kexec_file_load fails with ENOSYS (Debian's kernels) and falls back to
    kexec_load: the kernel and initrd are mapped once (the crash sizing's mapping is the
    segments' too: a second one faults every page in again) and the kernel's traits
    (its symbol table) are read once; the load then hands the kernel both segments."""
    import errno

    from pykexec.core.formats import elf
    from pykexec.errors import SyscallError

    opts, view = _setup(tmp_path, monkeypatch, gzip.compress(_cpio((1 << 20,))), 256 * MiB)

    def no_file_load(*_args: object) -> None:
        raise SyscallError("failed", errno=errno.ENOSYS, call="kexec_file_load", advice="")

    loaded: list[int] = []
    monkeypatch.setattr(syscalls, "kexec_file_load", no_file_load)
    monkeypatch.setattr(syscalls, "kexec_load", lambda entry, segs, flags: loaded.append(len(segs)))
    mapped: list[str] = []
    real_read, real_traits = loader.read_file, elf.kernel_traits
    monkeypatch.setattr(loader, "read_file", lambda path, what: mapped.append(what)
                        or real_read(path, what))  # fmt: skip
    traits: list[int] = []
    monkeypatch.setattr(elf, "kernel_traits", lambda image: traits.append(1)
                        or real_traits(image))  # fmt: skip
    result = loader.load(opts, view)
    assert "kexec_file_load failed (ENOSYS): fell back to kexec_load" in result.notes
    assert sorted(mapped) == ["initrd", "kernel"]
    assert len(traits) == 1
    assert loaded and loaded[0] >= 4  # kernel, initrd, tree, purgatory (and the crash's)


def test_a_changed_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts, view = _tight(tmp_path, monkeypatch)
    count = Counted(monkeypatch)
    _facts(opts, view)
    assert opts.initrd is not None
    st = os.stat(opts.initrd)
    os.utime(opts.initrd, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    _facts(opts, view)
    assert count.calls == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: "{not json",
        lambda d: json.dumps({**d, "format": 2}),
        lambda d: json.dumps({**d, "entries": [{**d["entries"][0], "file_size": True}]}),
        lambda d: json.dumps({**d, "entries": [{**d["entries"][0], "parts": [["gzip", 0]]}]}),
        lambda d: json.dumps(
            {
                **d,
                "entries": [
                    {
                        **d["entries"][0],
                        "parts": [[*d["entries"][0]["parts"][0][:5], [1 << 40], 1, 0]],
                    }
                ],
            }
        ),
        lambda d: "[" * 100_000,
    ],
    ids=["not-json", "format", "bool-size", "short-part", "file-past-stream", "deep"],
)
def test_a_malformed_cache_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     damage: Any) -> None:  # fmt: skip
    opts, view = _tight(tmp_path, monkeypatch)
    count = Counted(monkeypatch)
    first = _facts(opts, view)
    path = Path(view.path("run/pykexec/initramfs.json"))
    path.write_text(damage(json.loads(path.read_text())))
    again = _facts(opts, view)
    assert count.calls == 2 and again.initramfs == first.initramfs
    assert json.loads(path.read_text())["format"] == recordcache.CACHE_FORMAT  # rewritten


def test_a_symlinked_cache_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts, view = _tight(tmp_path, monkeypatch)
    count = Counted(monkeypatch)
    _facts(opts, view)
    path = Path(view.path("run/pykexec/initramfs.json"))
    elsewhere = tmp_path / "elsewhere.json"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    _facts(opts, view)
    assert count.calls == 2
    assert not path.is_symlink()  # replaced by a file of its own (rename over the link)


def test_lzma_forms_as_the_module_numbers_them() -> None:
    """initramfs names lzma's two forms without importing it (start-up)."""
    assert (initramfs._FORMAT_XZ, initramfs._FORMAT_ALONE) == (lzma.FORMAT_XZ, lzma.FORMAT_ALONE)
