# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading 64-bit PowerPC kernel images (ELF vmlinux), either byte order.

The headers are declared once as struct layouts (``Elf64_Ehdr``/``Elf64_Phdr``
of the System V gABI) and read with an explicit byte order from a buffer (an
``mmap`` of the file, never a needless copy).  Compressed images (gzip, xz, zstd with Python 3.14)
are inflated in memory first, as kexec-tools does.  Pure: no I/O here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from pykexec.abi import HEAD_SIZE as HEAD_SIZE
from pykexec.abi import RUN_AT_LOAD_MAGIC as RUN_AT_LOAD_MAGIC
from pykexec.abi import RUN_AT_LOAD_OFFSET as RUN_AT_LOAD_OFFSET
from pykexec.abi import SECONDARY_HOLD_OFFSET as SECONDARY_HOLD_OFFSET
from pykexec.abi import Endian as Endian
from pykexec.errors import ImageError

ELF_MAGIC = b"\x7fELF"
GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878 3.1.1: a zstd frame's Magic_Number, 0xFD2FB528 LE

#: The largest kernel image (inflated file, or memory from its lowest to highest load
#: address) pykexec accepts: Debian 12's ppc64el vmlinux is 44 MiB; more than 256 MiB
#: means damage (and inflating 1 GiB takes seconds: a gzip bomb must stop sooner).
MAX_KERNEL_SIZE = 256 << 20
#: The most a compressed kernel may inflate to: distributions' compressed ppc64 kernels
#: inflate to 40-60 MiB, and inflating stops here, within a second, on a bomb.
MAX_INFLATED_SIZE = 128 << 20
_INFLATE_CHUNK = 1 << 20
_U64_LIMIT = 1 << 64


class ElfClass(IntEnum):
    ELFCLASS32 = 1
    ELFCLASS64 = 2


class ElfData(IntEnum):
    ELFDATA2LSB = 1
    ELFDATA2MSB = 2


class ElfType(IntEnum):
    ET_EXEC = 2
    ET_DYN = 3
    ET_CORE = 4


class Machine(IntEnum):
    EM_PPC = 20
    EM_PPC64 = 21


class SegmentType(IntEnum):
    PT_LOAD = 1
    PT_NOTE = 4


# ELF64 header after e_ident (gABI "ELF Header"): name -> struct code
EHDR_FIELDS = (
    ("e_type", "H"),
    ("e_machine", "H"),
    ("e_version", "I"),
    ("e_entry", "Q"),
    ("e_phoff", "Q"),
    ("e_shoff", "Q"),
    ("e_flags", "I"),
    ("e_ehsize", "H"),
    ("e_phentsize", "H"),
    ("e_phnum", "H"),
    ("e_shentsize", "H"),
    ("e_shnum", "H"),
    ("e_shstrndx", "H"),
)
PHDR_FIELDS = (
    ("p_type", "I"),
    ("p_flags", "I"),
    ("p_offset", "Q"),
    ("p_vaddr", "Q"),
    ("p_paddr", "Q"),
    ("p_filesz", "Q"),
    ("p_memsz", "Q"),
    ("p_align", "Q"),
)
EI_NIDENT = 16


def layout(fields: tuple[tuple[str, str], ...], endian: Endian) -> struct.Struct:
    """The struct for a field table in the given byte order."""
    return struct.Struct(("<" if endian == "little" else ">") + "".join(c for _, c in fields))


@dataclass(frozen=True)
class ProgramHeader:
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_align: int


@dataclass(frozen=True)
class KernelImage:
    """A parsed ppc64 vmlinux: its byte order, entry and loadable contents.

    ``data`` is the file's bytes (an mmap or the inflated buffer); segments
    refer into it by offset.
    """

    data: bytes | memoryview
    endian: Endian
    elf_type: int
    entry: int
    flags: int
    loads: tuple[ProgramHeader, ...]
    compression: str | None = None

    @property
    def base_paddr(self) -> int:
        return min(p.p_paddr for p in self.loads)

    @property
    def memsz(self) -> int:
        """Bytes the kernel occupies in memory, from its lowest to highest load address."""
        return max(p.p_paddr + p.p_memsz for p in self.loads) - self.base_paddr

    @property
    def filesz(self) -> int:
        return max(p.p_paddr + p.p_filesz for p in self.loads) - self.base_paddr

    @property
    def entry_offset(self) -> int:
        """The entry point as an offset from the start of the loaded image."""
        first = min(self.loads, key=lambda p: p.p_paddr)
        if first.p_vaddr <= self.entry < first.p_vaddr + first.p_memsz:
            return self.entry - first.p_vaddr
        if first.p_paddr <= self.entry < first.p_paddr + first.p_memsz:
            return self.entry - first.p_paddr
        return 0

    def image(self) -> bytes | memoryview:
        """The loaded bytes (file contents of every PT_LOAD at its place, gaps zeroed),
        up to the end of the last file-backed byte; the rest of ``memsz`` is zero."""
        base = self.base_paddr
        if len(self.loads) == 1:
            p = self.loads[0]
            return memoryview(self.data)[p.p_offset : p.p_offset + p.p_filesz]
        out = bytearray(self.filesz)
        for p in self.loads:
            start = p.p_paddr - base
            out[start : start + p.p_filesz] = self.data[p.p_offset : p.p_offset + p.p_filesz]
        return memoryview(out)

    def head(self) -> bytes:
        """The kernel's first 256 bytes (what must sit at physical address 0)."""
        first = min(self.loads, key=lambda p: p.p_paddr)
        head = bytes(self.data[first.p_offset : first.p_offset + min(HEAD_SIZE, first.p_filesz)])
        return head.ljust(HEAD_SIZE, b"\0")

    def word(self, offset: int) -> int:
        return int.from_bytes(self.head()[offset : offset + 4], self.endian)

    @property
    def run_at_load(self) -> int:
        return self.word(RUN_AT_LOAD_OFFSET)

    @property
    def relocatable(self) -> bool:
        """True when the image carries the "run0" word (head_64.S, CONFIG_RELOCATABLE)."""
        return self.run_at_load == RUN_AT_LOAD_MAGIC


def _inflate(data: bytes | memoryview, limit: int) -> tuple[memoryview, str] | None:
    """The decompressed bytes of a gzip or xz image, streamed so that no more than
    ``limit`` bytes are ever produced; ``None`` if ``data`` is not compressed."""
    head = bytes(data[:6])
    if head.startswith(GZIP_MAGIC):
        import zlib

        # wbits 16 + MAX_WBITS: a gzip header and trailer around the deflate stream.
        return _stream(zlib.decompressobj(16 + zlib.MAX_WBITS), data, "gzip", limit), "gzip"
    if head.startswith(XZ_MAGIC):
        import lzma

        return _stream(lzma.LZMADecompressor(lzma.FORMAT_XZ), data, "xz", limit), "xz"
    if head.startswith(ZSTD_MAGIC):
        return _stream(_zstd_decompressor(), data, "zstd", limit), "zstd"
    return None


def _zstd_decompressor() -> _Decompressor:
    """Python 3.14's compression.zstd, or a one-line refusal saying what to do."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ImageError("no-zstd") from None
    return zstd.ZstdDecompressor()  # type: ignore[no-any-return,unused-ignore]


def _decompress_errors() -> tuple[type[Exception], ...]:
    """The errors the decompressors raise on bad input."""
    import lzma
    import zlib

    base = (zlib.error, lzma.LZMAError, EOFError)
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return base
    return (*base, zstd.ZstdError)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def _stream(engine: _Decompressor, data: bytes | memoryview, kind: str, limit: int) -> memoryview:
    """Feed ``data`` to ``engine``, taking at most a chunk of output at a time and
    refusing output past ``limit`` bytes.

    Once a few bytes are out they must start like an ELF file, so a bomb of anything
    else stops at once.  Bytes after the end of the stream are ignored, as the kernel's
    and kexec-tools' decompressors do.
    """
    out = bytearray()
    pending = bytes(data)
    try:
        while not engine.eof:
            chunk = engine.decompress(pending, _INFLATE_CHUNK)
            # zlib hands back the input it did not consume; lzma keeps it inside.
            pending = getattr(engine, "unconsumed_tail", b"")
            out += chunk
            if len(out) > limit:
                raise ImageError("inflates-too-far", compression=kind, limit=limit)
            if len(out) >= len(ELF_MAGIC) and bytes(out[:4]) != ELF_MAGIC:
                raise ImageError("inflates-to-non-elf", compression=kind)
            if not chunk and not engine.eof and not pending:
                raise ImageError("truncated-stream", compression=kind)
    except _decompress_errors() as err:
        raise ImageError("corrupt-stream", compression=kind, cause=err) from None
    return memoryview(out)  # no copy of what may be hundreds of MiB


def _load_segments(
    data: bytes | memoryview, ehdr: dict[str, int], endian: Endian, name: str
) -> list[ProgramHeader]:
    """The PT_LOAD program headers that load something, each checked against the file."""
    phdr_struct = layout(PHDR_FIELDS, endian)
    phoff, phnum, phentsize = ehdr["e_phoff"], ehdr["e_phnum"], ehdr["e_phentsize"]
    if phnum and phentsize < phdr_struct.size:
        raise ImageError("small-phentsize", name=name, size=phentsize)
    if phoff + phnum * phentsize > len(data):
        raise ImageError("truncated-phdrs", name=name)
    loads = []
    for i in range(phnum):
        ph = ProgramHeader(*phdr_struct.unpack_from(data, phoff + i * phentsize))
        if ph.p_type != SegmentType.PT_LOAD or ph.p_memsz == 0:
            continue
        if ph.p_offset + ph.p_filesz > len(data):
            raise ImageError("truncated-segment", name=name, index=i,
                             offset=ph.p_offset + ph.p_filesz, size=len(data))  # fmt: skip
        if ph.p_filesz > ph.p_memsz:
            raise ImageError("filesz-over-memsz", name=name, index=i)
        loads.append(ph)
    return loads


def parse_kernel(
    data: bytes | memoryview, name: str = "kernel", *, max_size: int = MAX_KERNEL_SIZE
) -> KernelImage:
    """Parse a ppc64 ELF kernel (plain, gzip, xz or zstd); raise :class:`ImageError` otherwise.

    ``max_size`` bounds the inflated file and the memory the loaded image spans.
    """
    compression = None
    inflated = _inflate(data, min(max_size, MAX_INFLATED_SIZE))
    if inflated is not None:
        data, compression = inflated
    if len(data) < EI_NIDENT or bytes(data[:4]) != ELF_MAGIC:
        raise ImageError("not-elf", name=name)
    ei_class, ei_data = data[4], data[5]
    if ei_class != ElfClass.ELFCLASS64:
        raise ImageError("elf32", name=name)
    if ei_data not in (ElfData.ELFDATA2LSB, ElfData.ELFDATA2MSB):
        raise ImageError("elf-byte-order", name=name, value=ei_data)
    endian: Endian = "little" if ei_data == ElfData.ELFDATA2LSB else "big"
    ehdr_struct = layout(EHDR_FIELDS, endian)
    if len(data) < EI_NIDENT + ehdr_struct.size:
        raise ImageError("truncated-elf-header", name=name, size=len(data))
    ehdr = dict(zip((n for n, _ in EHDR_FIELDS), ehdr_struct.unpack_from(data, EI_NIDENT)))
    if ehdr["e_machine"] != Machine.EM_PPC64:
        raise ImageError("elf-machine", name=name, value=ehdr["e_machine"])
    if ehdr["e_type"] not in (ElfType.ET_EXEC, ElfType.ET_DYN):
        raise ImageError("elf-type", name=name, value=ehdr["e_type"])
    loads = _load_segments(data, ehdr, endian, name)
    if not loads:
        raise ImageError("no-pt-load", name=name)
    loads.sort(key=lambda p: p.p_paddr)
    _check_span(loads, name, max_size)
    return KernelImage(
        data=data,
        endian=endian,
        elf_type=ehdr["e_type"],
        entry=ehdr["e_entry"],
        flags=ehdr["e_flags"],
        loads=tuple(loads),
        compression=compression,
    )


def _check_span(loads: list[ProgramHeader], name: str, max_size: int) -> None:
    """PT_LOADs (sorted by address) that do not overlap, end inside the 64-bit address
    space, and span at most ``max_size`` bytes of memory together."""
    for a, b in zip(loads, loads[1:]):
        if a.p_paddr + a.p_memsz > b.p_paddr:
            raise ImageError("overlapping-pt-load", name=name)
    end = max(p.p_paddr + p.p_memsz for p in loads)
    if end > _U64_LIMIT:
        raise ImageError("pt-load-beyond-64-bit", name=name)
    span = end - loads[0].p_paddr
    if span > max_size:
        raise ImageError("pt-load-span", name=name, size=span, limit=max_size)


# What the vmlinux says about the kernel it is, for the crash headroom: read from its
# section headers and symbol table (gABI "Sections", "Symbol Table"); a stripped or
# compressed-and-stripped image simply says less (each trait None).
SHDR_FIELDS = (
    ("sh_name", "I"),
    ("sh_type", "I"),
    ("sh_flags", "Q"),
    ("sh_addr", "Q"),
    ("sh_offset", "Q"),
    ("sh_size", "Q"),
    ("sh_link", "I"),
    ("sh_info", "I"),
    ("sh_addralign", "Q"),
    ("sh_entsize", "Q"),
)
SYM_FIELDS = (
    ("st_name", "I"),
    ("st_info", "B"),
    ("st_other", "B"),
    ("st_shndx", "H"),
    ("st_value", "Q"),
    ("st_size", "Q"),
)
SHT_SYMTAB = 2
SHT_NOBITS = 8
# include/asm-generic/vmlinux.lds.h PERCPU_SECTION: the static per-CPU variables.
PERCPU_SECTION = b".data..percpu"
PERCPU_SYMBOLS = (b"__per_cpu_start", b"__per_cpu_end")
# arch/powerpc/mm/mem.c: unsigned long empty_zero_page[PAGE_SIZE / sizeof(unsigned long)],
# so its symbol's size is the kernel's page size (CONFIG_PPC_4K_PAGES or _64K_PAGES).
ZERO_PAGE_SYMBOL = b"empty_zero_page"
PAGE_SIZES = (4096, 16384, 65536, 262144)
# init/version-timestamp.c linux_banner: "Linux version 6.1.0-... (...) #1 SMP ...".
BANNER = b"Linux version "
RODATA_SECTION = b".rodata"


@dataclass(frozen=True)
class KernelTraits:
    """Facts of the kernel a vmlinux holds; None when the file does not say."""

    page_size: int | None
    percpu_bytes: int | None  # the static per-CPU area (__per_cpu_end - __per_cpu_start)
    release: tuple[int, int] | None  # (major, minor) from its banner


def kernel_traits(image: KernelImage) -> KernelTraits:
    """Page size, per-CPU section size and release of ``image``'s kernel."""
    data, endian = image.data, image.endian
    ehdr_struct = layout(EHDR_FIELDS, endian)
    ehdr = dict(zip((n for n, _ in EHDR_FIELDS), ehdr_struct.unpack_from(data, EI_NIDENT)))
    sections = _sections(data, ehdr, endian)
    names = _strtab(data, sections, ehdr["e_shstrndx"])
    percpu = next((s["sh_size"] for s in sections
                   if names is not None and _name(names, s["sh_name"]) == PERCPU_SECTION),
                  None)  # fmt: skip
    wanted = (ZERO_PAGE_SYMBOL,) if percpu is not None else (*PERCPU_SYMBOLS, ZERO_PAGE_SYMBOL)
    symbols = _symbols(data, sections, endian, wanted)
    if percpu is None and all(n in symbols for n in PERCPU_SYMBOLS):
        start, end = (symbols[n][0] for n in PERCPU_SYMBOLS)
        percpu = end - start if end >= start else None
    zero = symbols.get(ZERO_PAGE_SYMBOL)
    page = zero[1] if zero is not None and zero[1] in PAGE_SIZES else None
    rodata = next((s for s in sections  # init/version.c linux_banner: a const array
                   if names is not None and _name(names, s["sh_name"]) == RODATA_SECTION),
                  None)  # fmt: skip
    release = _release(data, rodata) if rodata is not None else None
    return KernelTraits(page, percpu, release or _release(data))


def _sections(
    data: bytes | memoryview, ehdr: dict[str, int], endian: Endian
) -> list[dict[str, int]]:
    """The section headers (none when the table does not fit in the file); a section's
    contents are checked against the file where they are read (:func:`_contents`)."""
    shdr = layout(SHDR_FIELDS, endian)
    off, num, size = ehdr["e_shoff"], ehdr["e_shnum"], ehdr["e_shentsize"]
    if not off or size < shdr.size or off + num * size > len(data):
        return []
    keys = [n for n, _ in SHDR_FIELDS]
    return [dict(zip(keys, shdr.unpack_from(data, off + i * size))) for i in range(num)]


def _contents(data: bytes | memoryview, section: dict[str, int]) -> bytes | memoryview | None:
    start, size = section["sh_offset"], section["sh_size"]
    if section["sh_type"] == SHT_NOBITS or start + size > len(data):
        return None
    return data[start : start + size]


def _strtab(data: bytes | memoryview, sections: list[dict[str, int]], index: int) -> bytes | None:
    contents = _contents(data, sections[index]) if 0 <= index < len(sections) else None
    return bytes(contents) if contents is not None else None


def _name(table: bytes, offset: int) -> bytes:
    end = table.find(b"\0", offset)
    return table[offset:end] if 0 <= offset < len(table) and end >= 0 else b""


def _symbols(
    data: bytes | memoryview,
    sections: list[dict[str, int]],
    endian: Endian,
    wanted: tuple[bytes, ...],
) -> dict[bytes, tuple[int, int]]:
    """``wanted`` symbols' (value, size) from the symbol table: each name is found in the
    string table first, then the one pass over the symbols compares offsets only (the
    first symbol of a name wins)."""
    symtab = next((s for s in sections if s["sh_type"] == SHT_SYMTAB), None)
    if symtab is None:
        return {}
    strings = _strtab(data, sections, symtab["sh_link"])
    sym = layout(SYM_FIELDS, endian)
    if strings is None or symtab["sh_entsize"] != sym.size:
        return {}
    offsets = {}
    for name in wanted:  # every place the name ends a string (linkers merge suffixes)
        at = strings.find(name + b"\0")
        while at >= 0:
            offsets[at] = name
            at = strings.find(name + b"\0", at + 1)
    if _contents(data, symtab) is None:
        return {}
    find = _finder(data)
    start = symtab["sh_offset"]
    end = start + symtab["sh_size"] // sym.size * sym.size
    # The global symbols (from sh_info on, the first non-local) first: the wanted ones
    # are (a vmlinux has four local symbols for each global one); then the locals.
    split = min(end, start + symtab["sh_info"] * sym.size)
    hits: list[tuple[int, bytes, int, int]] = []
    for low, high in ((split, end), (start, split)):
        seen = {name for _, name, _, _ in hits}
        for at, name in offsets.items():  # st_name: each entry's first word, found in C
            if name in seen:
                continue
            needle = at.to_bytes(4, endian)
            pos = find(needle, low, high)
            while pos >= 0 and (pos - start) % sym.size:
                pos = find(needle, pos + 1, high)
            if pos >= 0:
                _, _, _, _, value, size = sym.unpack_from(data, pos)
                hits.append((pos, name, value, size))
    found: dict[bytes, tuple[int, int]] = {}
    for _, name, value, size in sorted(hits):  # the first (global) symbol of a name wins
        found.setdefault(name, (value, size))
    return found


def _finder(data: bytes | memoryview) -> Callable[[bytes, int, int], int]:
    """``find(needle, start, end)`` over ``data`` in C without copying it where it can: bytes
    and mmap have one, and so has the mmap behind a memoryview of all of it (what
    loader.read_file gives); any other view is copied once."""
    if isinstance(data, memoryview):
        whole = data.obj
        find = getattr(whole, "find", None)
        if find is not None and data.c_contiguous and data.nbytes == len(whole):  # type: ignore[arg-type]
            return find  # type: ignore[no-any-return]
        return bytes(data).find
    return data.find


def _release(
    data: bytes | memoryview, section: dict[str, int] | None = None
) -> tuple[int, int] | None:
    """(major, minor) from the first ``Linux version X.Y`` in the image (in ``section``)."""
    low, high = 0, len(data)
    if section is not None:
        low = min(section["sh_offset"], high)
        high = min(low + section["sh_size"], high)
    at = _finder(data)(BANNER, low, high)
    if at < 0:
        return None
    words = bytes(data[at + len(BANNER) : at + len(BANNER) + 16]).split(b".")
    if len(words) < 2 or not words[0].isdigit():
        return None
    minor = words[1][: len(words[1]) - len(words[1].lstrip(b"0123456789"))]
    return (int(words[0]), int(minor)) if minor else None
