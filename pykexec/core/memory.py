# SPDX-License-Identifier: GPL-2.0-or-later
"""Physical address ranges and sets of them.

:class:`Range` is a half-open interval ``[start, end)``; :class:`MemoryMap` is
an immutable, sorted, merged set of ranges with set arithmetic and hole search.
Everything here is pure: no I/O.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pykexec.errors import PlacementError


def align_up(value: int, align: int) -> int:
    """Round ``value`` up to a multiple of ``align`` (a power of two or any positive int)."""
    return -(-value // align) * align


def align_down(value: int, align: int) -> int:
    """Round ``value`` down to a multiple of ``align``."""
    return value // align * align


@dataclass(frozen=True, order=True)
class Range:
    """The half-open physical address range ``[start, end)``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"bad range [{self.start:#x}, {self.end:#x})")

    @classmethod
    def sized(cls, start: int, size: int) -> Range:
        return cls(start, start + size)

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def last(self) -> int:
        """The last address inside the range (inclusive), as /proc/iomem prints it."""
        return self.end - 1

    def __bool__(self) -> bool:
        return self.end > self.start

    def overlaps(self, other: Range) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Range) -> bool:
        return self.start <= other.start and other.end <= self.end

    def contains_address(self, address: int) -> bool:
        return self.start <= address < self.end

    def intersect(self, other: Range) -> Range | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Range(start, end) if start < end else None

    def minus(self, other: Range) -> list[Range]:
        """What is left of this range after removing ``other`` (0, 1 or 2 ranges)."""
        if not self.overlaps(other):
            return [self] if self else []
        parts = []
        if self.start < other.start:
            parts.append(Range(self.start, other.start))
        if other.end < self.end:
            parts.append(Range(other.end, self.end))
        return parts

    def aligned(self, align: int) -> Range | None:
        """The largest sub-range whose bounds are multiples of ``align``, if any."""
        start, end = align_up(self.start, align), align_down(self.end, align)
        return Range(start, end) if start < end else None

    def __str__(self) -> str:
        return f"{self.start:#x}-{self.end:#x}"


def _normalise(ranges: Iterable[Range]) -> tuple[Range, ...]:
    merged: list[Range] = []
    # Range's own order, (start, end), compared in C: no Python __lt__ per comparison.
    for r in sorted((r for r in ranges if r), key=_ORDER):
        if merged and r.start <= merged[-1].end:
            if r.end > merged[-1].end:
                merged[-1] = Range(merged[-1].start, r.end)
        else:
            merged.append(r)
    return tuple(merged)


_ORDER = operator.attrgetter("start", "end")


class MemoryMap:
    """An immutable set of physical addresses, kept as sorted, merged ranges."""

    __slots__ = ("_end_list", "_ranges")

    def __init__(self, ranges: Iterable[Range] = ()) -> None:
        self._ranges = _normalise(ranges)
        self._end_list: tuple[int, ...] | None = None

    @classmethod
    def _from_normalised(cls, ranges: tuple[Range, ...]) -> MemoryMap:
        """A map of ranges already sorted, disjoint and non-adjacent (no second sort)."""
        new = cls.__new__(cls)
        new._ranges = ranges
        new._end_list = None
        return new

    @property
    def ranges(self) -> tuple[Range, ...]:
        return self._ranges

    def __iter__(self) -> Iterator[Range]:
        return iter(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoryMap) and self._ranges == other._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __repr__(self) -> str:
        return "MemoryMap([" + ", ".join(str(r) for r in self._ranges) + "])"

    @property
    def total(self) -> int:
        return sum(r.size for r in self._ranges)

    def union(self, other: Iterable[Range]) -> MemoryMap:
        return MemoryMap((*self._ranges, *other))

    def minus(self, other: Iterable[Range]) -> MemoryMap:
        """This set without the addresses in ``other`` (linear in both sizes)."""
        holes = _normalise(other)
        out: list[Range] = []
        j = 0
        for r in self._ranges:
            start = r.start
            while j < len(holes) and holes[j].end <= start:
                j += 1
            k = j
            while k < len(holes) and holes[k].start < r.end:
                if holes[k].start > start:
                    out.append(Range(start, holes[k].start))
                start = max(start, holes[k].end)
                k += 1
            if start < r.end:
                out.append(r if start == r.start else Range(start, r.end))
        # sorted and disjoint; two pieces of one range have a hole between them
        return MemoryMap._from_normalised(tuple(out))

    def intersect(self, other: Iterable[Range]) -> MemoryMap:
        """The addresses in both sets (one merge pass over both sorted lists)."""
        mine, theirs = self._ranges, _normalise(other)
        out: list[Range] = []
        i = j = 0
        while i < len(mine) and j < len(theirs):
            a, b = mine[i], theirs[j]
            start, end = max(a.start, b.start), min(a.end, b.end)
            if start < end:
                out.append(Range(start, end))
            if a.end <= b.end:
                i += 1
            else:
                j += 1
        return MemoryMap._from_normalised(tuple(out))

    def within(self, r: Range) -> list[Range]:
        """The parts of this set inside ``r``, in order (a binary search, then the parts)."""
        out: list[Range] = []
        ranges = self._ranges
        index = self._first_ending_after(r.start)
        while index < len(ranges) and ranges[index].start < r.end:
            part = ranges[index].intersect(r)
            if part is not None:
                out.append(part)
            index += 1
        return out

    def _first_ending_after(self, address: int) -> int:
        """The index of the first range whose end lies above ``address``."""
        return bisect.bisect_right(self._ends(), address)

    def _ends(self) -> tuple[int, ...]:
        """Every range's end, in order (made once: binary searches run over it)."""
        if self._end_list is None:
            self._end_list = tuple(r.end for r in self._ranges)
        return self._end_list

    def contains(self, r: Range) -> bool:
        index = bisect.bisect_left(self._ends(), r.start)
        return index < len(self._ranges) and self._ranges[index].contains(r)

    def overlaps(self, r: Range) -> bool:
        index = self._first_ending_after(r.start)
        return index < len(self._ranges) and self._ranges[index].overlaps(r)

    def clamp(self, low: int, high: int) -> MemoryMap:
        """Only the addresses in ``[low, high)`` (a negative ``low`` means 0)."""
        low = max(low, 0)
        return self.intersect([Range(low, high)]) if low < high else MemoryMap()

    def find_hole(self, size: int, align: int, *, top_down: bool = False) -> Range:
        """The lowest (or highest) ``size`` bytes aligned to ``align`` inside this set.

        Raises :class:`PlacementError` naming the request and the free ranges.
        """
        candidates = reversed(self._ranges) if top_down else iter(self._ranges)
        for r in candidates:
            if top_down:
                start = align_down(r.end - size, align)
                if start >= r.start and r.end >= size:
                    return Range.sized(start, size)
            else:
                start = align_up(r.start, align)
                if start + size <= r.end:
                    return Range.sized(start, size)
        free = ", ".join(str(r) for r in self._ranges) or "none"
        raise PlacementError("no-hole", size=size, align=align, free=free)
