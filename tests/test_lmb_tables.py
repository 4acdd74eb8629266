# SPDX-License-Identifier: GPL-2.0-or-later
"""Big LMB tables (16384 and 65536 LMBs, drmem v1 and v2, contiguous and fragmented):
the RAM and ``linux,drconf-usable-memory`` checked byte for byte against a plain
per-LMB decoder and encoder written here, and the cost of planning them counted
(no timings): no per-LMB Python objects, no per-LMB calls where nothing is per LMB."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from pykexec.core import machine
from pykexec.core.crash import kdump
from pykexec.core.crash.kdump import add_usable_memory, crash_layout
from pykexec.core.devicetree.tree import Node
from pykexec.core.machine import Lmb, describe
from tests.machines import MiB, drmem_v1, drmem_v2, pseries
from tests.opcount import count_calls

RMA = 512 * MiB
LMB = 256 * MiB
CRASH = (768 * MiB, 512 * MiB)  # its end, 1280 MiB, cuts into the third LMB above the RMA
ASSIGNED, RESERVED, DRC_INVALID = 0x8, 0x80, 0x20
DRCONF = "ibm,dynamic-reconfiguration-memory"

#: (base, flags) of every LMB, in tree order, for ``count`` LMBs above the RMA.
Layout = Callable[[int], list[tuple[int, int]]]


def _contiguous(count: int) -> list[tuple[int, int]]:
    return [(0, ASSIGNED)] + [(RMA + i * LMB, ASSIGNED) for i in range(count)]


def _fragmented(count: int) -> list[tuple[int, int]]:
    """Every other LMB unassigned, every fifth reserved: no two usable LMBs touch."""
    flags = [0 if i % 2 else ASSIGNED | (RESERVED if i % 5 == 0 else 0) for i in range(count)]
    return [(0, ASSIGNED)] + [(RMA + i * LMB, f) for i, f in enumerate(flags)]


def _guest(count: int) -> list[tuple[int, int]]:
    """QEMU's pseries: the boot memory reserved, the hot-plug area unassigned (spapr.c)."""
    boot = [(i * LMB, RESERVED | DRC_INVALID) for i in range(RMA // LMB)]
    return boot + [(RMA + i * LMB, 0) for i in range(count)]


def _sets(lmbs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """drmem v2 sets: consecutive LMBs with the same flags."""
    sets: list[list[int]] = []
    for base, flags in lmbs:
        last = sets[-1] if sets else None
        if last and last[2] == flags and last[1] + last[0] * LMB == base:
            last[0] += 1
        else:
            sets.append([1, base, flags])
    return [(n, base, flags) for n, base, flags in sets]


def machine_tree(lmbs: list[tuple[int, int]], drmem: int) -> Node:
    tree = pseries(rma=RMA, lmb_size=LMB, lmbs=0, drmem=drmem, crash=CRASH, cpus=1)
    dr = tree.child(DRCONF)
    assert dr is not None
    if drmem == 1:
        dr.props = {"ibm,lmb-size": dr.props["ibm,lmb-size"], "ibm,dynamic-memory": drmem_v1(lmbs)}
    else:
        v2 = drmem_v2(_sets(lmbs))
        dr.props = {"ibm,lmb-size": dr.props["ibm,lmb-size"], "ibm,dynamic-memory-v2": v2}
    return tree


def decode_drmem(tree: Node) -> list[tuple[int, int]]:
    """(base, flags) per LMB, read from the tree's property entry by entry (PAPR layout)."""
    dr = tree.child(DRCONF)
    assert dr is not None
    if "ibm,dynamic-memory" in dr.props:
        data = dr.props["ibm,dynamic-memory"]
        (count,) = struct.unpack_from(">I", data)
        entries = [struct.unpack_from(">QIIII", data, 4 + 24 * i) for i in range(count)]
        return [(e[0], e[4]) for e in entries]
    data = dr.props["ibm,dynamic-memory-v2"]
    (count,) = struct.unpack_from(">I", data)
    out = []
    for i in range(count):
        n, base, _, _, flags = struct.unpack_from(">IQIII", data, 4 + 24 * i)
        out += [(base + j * LMB, flags) for j in range(n)]
    return out


def usable_lmb(flags: int) -> bool:
    return bool(flags & ASSIGNED) and not flags & RESERVED


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def expected_drconf(lmbs: list[tuple[int, int]], usable: list[tuple[int, int]]) -> bytes:
    """linux,drconf-usable-memory as arch/powerpc/mm/numa.c reads it, with 2 size and
    2 address cells: per LMB, a count, then that many (base, size) pairs."""
    out = bytearray()
    for base, flags in lmbs:
        parts = []
        if usable_lmb(flags):
            for start, end in usable:
                low, high = max(start, base), min(end, base + LMB)
                if low < high:
                    parts.append((low, high - low))
        out += struct.pack(">Q", len(parts))
        for address, size in parts:
            out += struct.pack(">QQ", address, size)
    return bytes(out)


LAYOUTS: dict[str, Layout] = {
    "contiguous": _contiguous,
    "fragmented": _fragmented,
    "guest": _guest,
}


@pytest.mark.parametrize("count", [16384, 65536])
@pytest.mark.parametrize("drmem", [1, 2])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_big_table_bytes(layout: str, drmem: int, count: int) -> None:
    lmbs = LAYOUTS[layout](count)
    tree = machine_tree(lmbs, drmem)
    assert decode_drmem(tree) == lmbs
    m = describe(tree)
    assert len(m.lmbs) == len(lmbs)
    ram = merged([(0, RMA)] + [(b, b + LMB) for b, f in lmbs if usable_lmb(f)])
    assert [(r.start, r.end) for r in m.ram] == ram
    usable = crash_layout(m).usable
    add_usable_memory(tree, m, usable)
    dr = tree.child(DRCONF)
    assert dr is not None
    spans = [(r.start, r.end) for r in usable]
    assert dr.props["linux,drconf-usable-memory"] == expected_drconf(lmbs, spans)
    # every LMB indexed is the one the tree lists
    for index in (0, 1, len(lmbs) // 2, len(lmbs) - 1):
        lmb = m.lmbs[index]
        assert (lmb.base, int(lmb.flags), lmb.size) == (*lmbs[index], LMB)


def plan_usable(tree: Node) -> None:
    """What a crash plan does with the LMBs: the machine, the layout, the usable memory."""
    m = describe(tree)
    add_usable_memory(tree, m, crash_layout(m).usable)


@pytest.mark.parametrize("drmem", [1, 2])
@pytest.mark.parametrize("layout", ["contiguous", "guest"])
def test_lmb_count_costs_no_calls(layout: str, drmem: int) -> None:
    """Runs of LMBs cost the same Python and C calls for 64 LMBs and for 16384 but one
    struct call per 4096 entries: the table is unpacked in chunks and merged into runs by
    C-level maps."""
    calls = {}
    for count in (64, 16384):
        plan_usable(machine_tree(LAYOUTS[layout](count), drmem))  # caches warm
        tree = machine_tree(LAYOUTS[layout](count), drmem)
        _, calls[count] = count_calls(lambda: plan_usable(tree))  # noqa: B023
    assert 0 <= calls[16384] - calls[64] <= 16384 // machine._DRMEM_CHUNK, calls


@pytest.mark.parametrize("drmem", [1, 2])
def test_fragmented_lmbs_are_not_objects(drmem: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """16384 LMBs, none of which merges: no Lmb object per LMB, and the drconf encoder
    runs only for the runs that meet the crash kernel's memory (a handful)."""
    made, encoded = [0], [0]
    init, run = Lmb.__init__, kdump._drconf_run

    def counting_init(self: Lmb, *args: object, **kwargs: object) -> None:
        made[0] += 1
        init(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_run(*args: object) -> bytes:
        encoded[0] += 1
        return run(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(Lmb, "__init__", counting_init)
    monkeypatch.setattr(kdump, "_drconf_run", counting_run)
    plan_usable(machine_tree(_fragmented(16384), drmem))
    # Of the usable LMBs, those at 0 and at RMA + 2 LMBs meet [0, 1280 MiB) (the one at
    # the RMA is reserved): one encoded run each, an Lmb each to encode it.
    assert encoded[0] == 2 and made[0] <= 2 * encoded[0], (encoded, made)


@pytest.mark.parametrize("drmem", [1, 2])
def test_a_table_of_no_entries_is_no_lmbs(drmem: int) -> None:
    """A drmem property whose count is 0 describes no LMB (the fuzz harness found the
    chunked reader failing on it); the RAM is the memory nodes' alone."""
    tree = machine_tree([], drmem)
    m = describe(tree)
    assert len(m.lmbs) == 0
    assert [(r.start, r.end) for r in m.ram] == [(0, RMA)]
