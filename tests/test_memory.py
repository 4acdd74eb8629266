# SPDX-License-Identifier: GPL-2.0-or-later
"""Range and MemoryMap arithmetic."""

import pytest

from pykexec.core.memory import MemoryMap, Range, align_down, align_up
from pykexec.errors import PlacementError
from tests.typed import raises


def test_range_basics() -> None:
    r = Range(0x1000, 0x3000)
    assert r.size == 0x2000 and r.last == 0x2FFF
    assert r.overlaps(Range(0x2FFF, 0x4000)) and not r.overlaps(Range(0x3000, 0x4000))
    assert r.contains(Range(0x1000, 0x3000)) and not r.contains(Range(0xFFF, 0x2000))
    assert r.intersect(Range(0x2000, 0x5000)) == Range(0x2000, 0x3000)
    assert r.intersect(Range(0x3000, 0x5000)) is None
    assert r.minus(Range(0x1800, 0x2000)) == [Range(0x1000, 0x1800), Range(0x2000, 0x3000)]
    assert r.minus(Range(0, 0x10000)) == []
    assert Range(0x1001, 0x2FFF).aligned(0x1000) is None
    assert Range(0x1001, 0x3001).aligned(0x1000) == Range(0x2000, 0x3000)
    with pytest.raises(ValueError):
        Range(5, 4)


def test_align() -> None:
    assert align_up(0x10001, 0x10000) == 0x20000 and align_up(0x10000, 0x10000) == 0x10000
    assert align_down(0x1FFFF, 0x10000) == 0x10000


def test_map_merges_and_subtracts() -> None:
    m = MemoryMap([Range(0x3000, 0x4000), Range(0, 0x1000), Range(0x1000, 0x2000)])
    assert m.ranges == (Range(0, 0x2000), Range(0x3000, 0x4000))
    left = m.minus([Range(0x800, 0x3800), Range(0x3900, 0x3A00)])
    assert left.ranges == (Range(0, 0x800), Range(0x3800, 0x3900), Range(0x3A00, 0x4000))
    assert m.total == 0x3000
    assert m.clamp(0x1800, 0x3800).ranges == (Range(0x1800, 0x2000), Range(0x3000, 0x3800))
    assert m.intersect([Range(0x1000, 0x3001)]).ranges == (
        Range(0x1000, 0x2000),
        Range(0x3000, 0x3001),
    )


def test_minus_matches_naive_on_many_ranges() -> None:
    import random

    rng = random.Random(7)
    a = [Range(s, s + rng.randrange(1, 500)) for s in rng.sample(range(0, 100000, 7), 300)]
    b = [Range(s, s + rng.randrange(1, 500)) for s in rng.sample(range(0, 100000, 11), 300)]
    fast = MemoryMap(a).minus(b)
    addresses = set()
    for r in MemoryMap(a):
        addresses.update(range(r.start, r.end))
    for r in b:
        addresses.difference_update(range(r.start, r.end))
    naive = MemoryMap(Range(x, x + 1) for x in addresses)
    assert fast == naive


def test_find_hole() -> None:
    m = MemoryMap([Range(0x1000, 0x9000), Range(0x20000, 0x40000)])
    assert m.find_hole(0x2000, 0x4000) == Range(0x4000, 0x6000)
    assert m.find_hole(0x10000, 0x10000) == Range(0x20000, 0x30000)
    assert m.find_hole(0x10000, 0x10000, top_down=True) == Range(0x30000, 0x40000)
    with raises(
        PlacementError, "no-hole", size=0x30000, align=0x1000, free="0x1000-0x9000, 0x20000-0x40000"
    ):
        m.find_hole(0x30000, 0x1000)
