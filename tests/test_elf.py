# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel image parsing, checked against pyelftools on synthetic images."""

import gzip
import io
import lzma

import pytest
from elftools.elf.elffile import ELFFile

from pykexec.core.formats.elf import RUN_AT_LOAD_MAGIC, parse_kernel
from pykexec.errors import ImageError
from tests.kernels import make_vmlinux
from tests.typed import raises


@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("loads", [1, 2])
def test_matches_pyelftools(endian: str, loads: int) -> None:
    blob = make_vmlinux(endian, size=0x24000, memsz=0x50000, loads=loads)
    k = parse_kernel(blob)
    ref = ELFFile(io.BytesIO(blob))
    assert k.endian == ("little" if ref.little_endian else "big")
    assert k.entry == ref.header.e_entry
    want = [s for s in ref.iter_segments() if s["p_type"] == "PT_LOAD"]
    assert [(p.p_paddr, p.p_filesz, p.p_memsz, p.p_offset) for p in k.loads] == [
        (s["p_paddr"], s["p_filesz"], s["p_memsz"], s["p_offset"]) for s in want
    ]
    assert k.image() == b"".join(s.data() for s in want)
    assert k.memsz == 0x50000
    assert k.relocatable and k.run_at_load == RUN_AT_LOAD_MAGIC
    assert k.head()[:4] == want[0].data()[:4]


def test_not_relocatable_word() -> None:
    k = parse_kernel(make_vmlinux("big", run_at_load=0))
    assert not k.relocatable and k.run_at_load == 0


@pytest.mark.parametrize("pack,name", [(gzip.compress, "gzip"), (lzma.compress, "xz")])
def test_compressed(pack, name) -> None:  # type: ignore[no-untyped-def]
    blob = make_vmlinux("little")
    k = parse_kernel(pack(blob))
    assert k.compression == name and k.image() == parse_kernel(blob).image()


@pytest.mark.parametrize(
    "blob,problem,fields",
    [
        (b"hello world, not a kernel", "not-elf", {"name": "k"}),
        (make_vmlinux(elfclass=1), "elf32", {"name": "k"}),
        (make_vmlinux(machine=62), "elf-machine", {"name": "k", "value": 62}),
        (make_vmlinux()[:0x10100], "truncated-segment", {"name": "k", "size": 0x10100}),
        (make_vmlinux()[:40], "truncated-elf-header", {"name": "k", "size": 40}),
        (b"\x1f\x8b\x08\x00garbage", "truncated-stream", {"compression": "gzip"}),
    ],
)
def test_refusals(blob: bytes, problem: str, fields: dict[str, object]) -> None:
    with raises(ImageError, problem, **fields):
        parse_kernel(blob, "k")


def test_no_load_segment() -> None:
    blob = bytearray(make_vmlinux())
    blob[64:68] = (6).to_bytes(4, "little")  # first PT_LOAD -> PT_PHDR
    with raises(ImageError, "no-pt-load"):
        parse_kernel(bytes(blob))
