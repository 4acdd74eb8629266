# SPDX-License-Identifier: GPL-2.0-or-later
"""The host's side of a dump the crash kernel streamed out: un-flatten it, check it.

The lean kdump payload (:func:`lab.initramfs.kdump_base_archive`) dumps the way
kdump's network targets do (``makedumpfile -F ... | ssh host 'cat > vmcore'``):
``makedumpfile -E -F`` writes an ELF vmcore in makedumpfile's *flattened* format
to a virtio serial port, which QEMU backs with a host file (:data:`lab.vm.DUMP_PORT`).
Nothing of the dump stays in the crash kernel's memory.

The flattened format (makedumpfile's ``-F``/``-R``; QEMU's dump.c writes the same):
a :data:`HEADER_BYTES` header that starts with the 16-byte signature
``makedumpfile`` and the big-endian int64 type and version (both 1), then blocks,
each a big-endian ``{int64 offset; int64 size}`` and ``size`` bytes that belong
at ``offset`` of the dump file; an offset of -1 ends the stream.

:func:`check` writes the blocks into a sparse file (the vmcore as ``makedumpfile
-R`` would rebuild it), reads its ELF header and counts the nonce records that
``lab/guest/fill.py`` wrote into the crashed kernel's memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SIGNATURE = b"makedumpfile"
HEADER_BYTES = 4096  # MAX_SIZE_MDF_HEADER
FLAT_TYPE = FLAT_VERSION = 1  # TYPE_FLAT_HEADER, VERSION_FLAT_HEADER
END_OFFSET = -1  # END_FLAG_FLAT_HEADER
BLOCK_HEADER = struct.Struct(">qq")
MAX_BLOCK = 1 << 30  # a sanity bound: makedumpfile writes page-cache-sized blocks
CHUNK = 8 << 20
ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ET_CORE = 4
PT_LOAD, PT_NOTE = 1, 4


class DumpError(Exception):
    """The stream is not a whole flattened dump."""


def record(nonce: str) -> bytes:
    """One fill record (the same bytes as lab/guest/fill.py writes; a test checks it)."""
    body = f"LABFILL:{nonce}:".encode()
    return (body + b"#" * 32)[:31] + b"\n"


@dataclass
class DumpFacts:
    """What the host found in the streamed dump."""

    stream_bytes: int = 0
    data_bytes: int = 0
    blocks: int = 0
    file_bytes: int = 0  # size of the un-flattened vmcore (with holes)
    elf: str = "missing"
    loads: int = 0
    notes: int = 0
    records: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)

    def results(self, wanted: int) -> dict[str, str]:
        return {
            "host_dump_stream_bytes": str(self.stream_bytes),
            "host_dump_data_bytes": str(self.data_bytes),
            "host_dump_blocks": str(self.blocks),
            "host_vmcore_bytes": str(self.file_bytes),
            "host_vmcore_elf": self.elf,
            "host_vmcore_loads": str(self.loads),
            "host_vmcore_notes": str(self.notes),
            "host_nonce_records": f"{self.records}/{wanted}",
        }


def wanted_records(nonce: str, fill_mib: int) -> int:
    """How many records fill.py writes into ``fill_mib`` MiB."""
    return fill_mib * 1024 * 1024 // len(record(nonce))


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DumpError(f"stream ends after {f.tell()} bytes, inside a block (dump cut short)")
    return data


def unflatten(src: Path, dst: Path, facts: DumpFacts) -> None:
    """Rebuild the dump file ``dst`` from the flattened stream ``src``."""
    facts.stream_bytes = src.stat().st_size
    with src.open("rb") as f, dst.open("wb") as out:
        head = f.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or not head.startswith(SIGNATURE):
            raise DumpError(f"no flattened-format header ({len(head)} bytes: {head[:16]!r})")
        kind, version = struct.unpack_from(">qq", head, 16)
        if (kind, version) != (FLAT_TYPE, FLAT_VERSION):
            raise DumpError(f"flattened header type {kind} version {version}, expected 1 1")
        end = 0
        while True:
            raw = f.read(BLOCK_HEADER.size)
            if len(raw) < BLOCK_HEADER.size:
                raise DumpError(f"no end marker after {facts.blocks} blocks (dump cut short)")
            offset, size = BLOCK_HEADER.unpack(raw)
            if offset == END_OFFSET:
                break
            if offset < 0 or not 0 <= size <= MAX_BLOCK:
                raise DumpError(f"block {facts.blocks}: offset {offset} size {size}")
            out.seek(offset)
            out.write(_read_exact(f, size))
            facts.blocks += 1
            facts.data_bytes += size
            facts.ranges.append((offset, offset + size))
            end = max(end, offset + size)
        out.truncate(end)
    facts.file_bytes = end


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _elf(path: Path, facts: DumpFacts) -> None:
    with path.open("rb") as f:
        ident = f.read(64)
        if len(ident) < 64 or ident[:4] != ELF_MAGIC or ident[4] != ELFCLASS64:
            facts.elf = ident[:8].hex() or "empty"
            return
        order = "<" if ident[5] == 1 else ">"
        (e_type,) = struct.unpack_from(order + "H", ident, 16)
        (phoff,) = struct.unpack_from(order + "Q", ident, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
        if e_type != ET_CORE or phentsize < 56 or phnum == 0:
            facts.elf = f"e_type={e_type} phnum={phnum}"
            return
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    kinds = [struct.unpack_from(order + "I", table, i * phentsize)[0] for i in range(phnum)]
    facts.loads, facts.notes = kinds.count(PT_LOAD), kinds.count(PT_NOTE)
    facts.elf = "ok" if facts.loads and facts.notes else f"loads={facts.loads} notes={facts.notes}"


def _count(path: Path, facts: DumpFacts, rec: bytes) -> None:
    with path.open("rb") as f:
        for a, b in _merged(facts.ranges):
            f.seek(a)
            left, tail = b - a, b""
            while left:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                data = tail + chunk
                facts.records += data.count(rec)
                tail = data[-(len(rec) - 1) :]


def check(stream: Path, work: Path, nonce: str, fill_mib: int) -> tuple[bool, DumpFacts, str]:
    """Un-flatten ``stream`` into ``work`` and check it: (passed, facts, why not)."""
    facts = DumpFacts()
    wanted = wanted_records(nonce, fill_mib)
    if not stream.exists() or stream.stat().st_size == 0:
        return False, facts, "the crash kernel streamed no dump to the host"
    try:
        unflatten(stream, work, facts)
    except DumpError as exc:
        return False, facts, f"streamed dump: {exc}"
    _elf(work, facts)
    if facts.elf != "ok":
        return False, facts, f"streamed dump is not an ELF vmcore: {facts.elf}"
    _count(work, facts, record(nonce))
    if facts.records * 100 < wanted * 95:
        return False, facts, f"streamed dump holds {facts.records}/{wanted} nonce records"
    return True, facts, ""
