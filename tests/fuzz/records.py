# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``record`` and ``kcore`` families: what ``-S -d`` and ``--verify`` read.

Both start from one real load: a kernel and an initrd loaded with ``-p`` and
``-l`` on a snapshot machine whose kexec_load is a recorder (as in
``tests/test_crash_trust.py``), so that the loader writes its own records under
``run/pykexec`` and a /proc/kcore can be built holding the loaded segments.

* ``record``: that record's JSON mutated (wrong types, deep nesting, huge and
  odd numbers, missing keys, broken text) and fed to
  :func:`pykexec.commands.status.describe` (text and JSON) and
  :func:`pykexec.commands.status.verify_loaded` against the intact kcore;
* ``kcore``: the intact record against a kcore with hostile ELF and program
  headers (offsets and sizes past the file and past 2^63, many headers, overlaps,
  truncations) or that is not a regular file at all.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fuzz.mutate import damage, number

MiB = 1 << 20
REGION = (512 * MiB, 512 * MiB)
KCORE_BASE = 0x1000  # file offset of physical 0 in the kcore built here
KCORE_SPAN = 2 << 30
LINEAR_MAP = 0xC000_0000_0000_0000  # ppc64's linear map: vaddr of physical 0


@dataclass(frozen=True)
class World:
    """A snapshot machine with both kernels loaded: its root and the two records."""

    root: Path
    records: dict[str, Any]  # "crash" and "exec" -> the record as the loader wrote it
    segments: tuple[tuple[int, bytes], ...]


def _cpio() -> bytes:
    from tests.fuzz.archives import TRAILER, newc

    return newc(b"init", b"#!/bin/sh\n") + newc(b"data", bytes(50_000)) + newc(TRAILER, b"", 0)


@functools.lru_cache(maxsize=2)
def world(shared: str) -> World:
    """Load both kernels once (the loader writes its records) and build the kcore."""
    from pykexec.core.options import LoadOptions, SyscallChoice
    from pykexec.system import loader, record, syscalls
    from pykexec.system.sysinfo import SystemView
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    root = Path(shared) / "loaded"
    shutil.rmtree(root, ignore_errors=True)
    write_sysroot(root, pseries(crash=REGION), cmdline="console=hvc0")
    kernel, initrd = Path(shared) / "loaded-vmlinux", Path(shared) / "loaded-initrd"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    initrd.write_bytes(_cpio())

    class Live(SystemView):
        live = True  # type: ignore[assignment]

    loaded: list[tuple[int, bytes]] = []

    def fake_load(entry: int, segments: list[syscalls.RawSegment], flags: int) -> None:
        loaded.extend((s.mem, bytes(s.buf)) for s in segments)

    saved = syscalls.kexec_load
    syscalls.kexec_load = fake_load  # type: ignore[assignment]
    try:
        view = Live(root)
        records = {}
        for crash in (True, False):
            opts = LoadOptions(kernel=kernel, initrd=initrd, command_line="nr_cpus=1",
                               crash=crash, syscall=SyscallChoice.LOAD)  # fmt: skip
            loader.load(opts, view)
            records["crash" if crash else "exec"] = record.read(view, crash)
    finally:
        syscalls.kexec_load = saved  # type: ignore[assignment]
    for name in ("kexec_crash_loaded", "kexec_loaded"):
        (root / "sys/kernel" / name).write_text("1\n")
    write_kcore(root / "proc/kcore", kcore_header(), loaded)
    return World(root, records, tuple(loaded))


def restore(shared: Path) -> None:
    """Put the intact records and kcore back (a worker killed inside a case leaves
    its mutations behind)."""
    root = shared / "loaded"
    if not root.is_dir():
        return
    w = world(str(shared))
    for name, rec in w.records.items():
        (root / "run/pykexec" / f"{name}.json").write_text(json.dumps(rec))
    intact, path = root / "proc/kcore.intact", root / "proc/kcore"
    if intact.exists():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        os.rename(intact, path)


def kcore_header(phdrs: list[tuple[int, ...]] | None = None, endian: str = "<") -> bytes:
    """An ELF64 core (gABI) for ppc64 with the given program headers (p_type, p_flags,
    p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align); by default one PT_LOAD
    mapping physical 0-2 GiB at KCORE_BASE, as the kernel's linear map."""
    if phdrs is None:
        phdrs = [(1, 7, KCORE_BASE, LINEAR_MAP, 0, KCORE_SPAN, KCORE_SPAN, 0)]
    ident = b"\x7fELF\x02" + (b"\x01" if endian == "<" else b"\x02") + b"\x01" + bytes(9)
    ehdr = ident + struct.pack(endian + "HHIQQQIHHHHHH", 4, 21, 1, 0, 64, 0, 0, 64, 56,
                               len(phdrs) & 0xFFFF, 64, 0, 0)  # fmt: skip
    return ehdr + b"".join(struct.pack(endian + "IIQQQQQQ", *p) for p in phdrs)


def write_kcore(
    path: Path, header: bytes, segments: list[tuple[int, bytes]] | tuple[()] = ()
) -> None:
    """The header, the segments at KCORE_BASE + their address, sparse up to 2 GiB."""
    with path.open("wb") as f:
        f.write(header)
        for mem, buf in segments:
            f.seek(KCORE_BASE + mem)
            f.write(buf)
        f.truncate(max(KCORE_BASE + KCORE_SPAN, len(header)))


# -- records -------------------------------------------------------------------

ODD_VALUES: tuple[Any, ...] = (
    None, True, 0, -1, 1 << 64, -(1 << 63), 10**30, 1e308, -0.0, float("nan"), float("inf"),
    "", "x", "0x10", "\udcff", [], {}, [1, 2], {"a": 1}, [[[]]], "1" * 10000,
)  # fmt: skip


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value."""
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def mutate_record(rng: random.Random, rec: dict[str, Any]) -> tuple[str, list[str]]:
    """The record's text after one to three structural mutations (or broken text)."""
    doc: Any = copy.deepcopy(rec)
    what = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(_paths(doc))
        kind = rng.randrange(7)
        if kind == 0:
            doc = _set(doc, path, rng.choice(ODD_VALUES))
            what.append(f"{path} = odd value")
        elif kind == 1 and path:
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
            what.append(f"{path} removed")
        elif kind == 2:
            old = _get(doc, path)
            if isinstance(old, (int, float)) and not isinstance(old, bool):
                doc = _set(doc, path, rng.choice((number(rng, 64), -number(rng, 64), old * 2**64)))
                what.append(f"{path} huge number")
            else:
                doc = _set(doc, path, number(rng, 64))
                what.append(f"{path} a number")
        elif kind == 3:
            depth = rng.choice((50, 2000, 100_000))
            doc = _set(doc, path, None)
            what.append(f"{path} nested {depth} deep")
            text = json.dumps(doc).replace("null", "[" * depth + "]" * depth, 1)
            return text, what
        elif kind == 4:
            old = _get(doc, path)
            doc = _set(doc, path, [old] if rng.random() < 0.5 else {"v": old})
            what.append(f"{path} wrapped")
        elif kind == 5:
            doc = _set(doc, path, str(_get(doc, path)))
            what.append(f"{path} as a string")
        elif isinstance(doc, dict):
            doc["format"] = rng.choice((1, 2, 0, "1", None, 1.0))
            what.append(f"format {doc['format']!r}")
    text = json.dumps(doc, allow_nan=True)
    if rng.random() < 0.1:
        raw = bytearray(text.encode("utf-8", "surrogateescape"))
        what.append(damage(rng, raw))
        text = raw.decode("utf-8", "surrogateescape")
    return text, what


ACTIONS = ("describe", "json", "report", "verify")


def record_case(rng: random.Random, directory: Path, shared: Path):  # type: ignore[no-untyped-def]
    from tests.fuzz.families import Case

    w = world(str(shared))
    name = rng.choice(("crash", "exec"))
    text, what = mutate_record(rng, w.records[name])
    (directory / f"{name}.json").write_text(text, errors="surrogateescape")
    action = rng.choice(ACTIONS)
    call = functools.partial(_record_call, w, name, text, action)
    return Case("record", [f"{action} {name}", *what], directory, call=call)


def _record_call(w: World, name: str, text: str, action: str) -> None:
    """Put the record in place, run ``action`` on it, then put the intact one back."""
    from pykexec.commands import status
    from pykexec.system.sysinfo import SystemView

    path = w.root / "run/pykexec" / f"{name}.json"
    path.write_text(text, errors="surrogateescape")
    view, crash = SystemView(w.root), name == "crash"
    try:
        if action == "verify":
            status.verify_loaded(view, crash)
        elif action == "report":
            json.dumps(status.report(view, crash))
        else:
            out = status.describe(view, crash, as_json=action == "json")
            if action == "json":
                json.loads(out)
    finally:
        path.write_text(json.dumps(w.records[name]))


# -- kcore ---------------------------------------------------------------------


def hostile_kcore(rng: random.Random) -> tuple[bytes | None, list[str], str]:
    """A kcore header (or None with a non-file kind) and what it is."""
    base = [1, 7, KCORE_BASE, LINEAR_MAP, 0, KCORE_SPAN, KCORE_SPAN, 0]
    phdrs, what = [list(base)], []
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        kind = rng.randrange(6)
        if kind == 0:
            field = rng.randrange(8)
            target = rng.choice(phdrs)
            target[field] = number(rng, 32 if field < 2 else 64)
            what.append(f"phdr field {field} = {target[field]:#x}")
        elif kind == 1:
            phdrs.insert(rng.randrange(len(phdrs) + 1),
                         [1, 7, number(rng, 64), number(rng, 64), number(rng, 64),
                          number(rng, 64), number(rng, 64), 0])  # fmt: skip
            what.append("extra PT_LOAD")
        elif kind == 2:
            count = rng.choice((100, 5000, 65535))
            phdrs += [[rng.choice((1, 4, 6)), 0, 0, 0, number(rng, 64), 1, 1, 0]] * count
            what.append(f"{count} program headers")
        elif kind == 3:
            phdrs[0][4] = 0xFFFF_FFFF_FFFF_FFFF  # NO_PADDR, as the kernel writes for vmalloc
            what.append("no p_paddr")
        elif kind == 4:
            phdrs.append([1, 7, KCORE_BASE, LINEAR_MAP, 0, KCORE_SPAN, KCORE_SPAN, 0])
            what.append("duplicate PT_LOAD")
        else:
            phdrs[0][2] = rng.choice((KCORE_SPAN * 4, 1 << 62, (1 << 63) + 5, (1 << 64) - 1))
            what.append(f"p_offset {phdrs[0][2]:#x}")
    endian = "<" if rng.random() < 0.9 else ">"
    header = bytearray(kcore_header([tuple(p) for p in phdrs], endian))
    if rng.random() < 0.3:
        field = rng.choice(((32, "Q", "e_phoff"), (54, "H", "e_phentsize"), (56, "H", "e_phnum"),
                            (4, "B", "EI_CLASS"), (5, "B", "EI_DATA")))  # fmt: skip
        struct.pack_into(endian + field[1], header, field[0],
                         number(rng, 8 * struct.calcsize(field[1])))  # fmt: skip
        what.append(field[2])
    if rng.random() < 0.2:
        what.append(damage(rng, header))
    roll = rng.random()
    if roll < 0.08:
        return None, [*what, "kcore is a FIFO"], "fifo"
    if roll < 0.12:
        return None, [*what, "kcore is a directory"], "dir"
    if roll < 0.16:
        return None, [*what, "no kcore"], "missing"
    if roll < 0.2:
        return bytes(header), [*what, "kcore header only"], "short"
    return bytes(header), what, "file"


def kcore_case(rng: random.Random, directory: Path, shared: Path):  # type: ignore[no-untyped-def]
    from tests.fuzz.families import Case

    w = world(str(shared))
    header, what, kind = hostile_kcore(rng)
    if header is not None:
        (directory / "kcore-header").write_bytes(header)
    crash = rng.random() < 0.7
    call = functools.partial(_kcore_call, w, header, kind, crash)
    return Case("kcore", [kind, *what], directory, call=call)


def _kcore_call(w: World, header: bytes | None, kind: str, crash: bool) -> None:
    from pykexec.commands import status
    from pykexec.system.sysinfo import SystemView

    path = w.root / "proc/kcore"
    os.rename(path, w.root / "proc/kcore.intact")
    try:
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            path.mkdir()
        elif kind == "short":
            path.write_bytes(header or b"")
        elif kind == "file":
            write_kcore(path, header or b"", w.segments)
        status.verify_loaded(SystemView(w.root), crash)
    finally:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        elif path.exists() or path.is_symlink():
            path.unlink()
        os.rename(w.root / "proc/kcore.intact", path)
