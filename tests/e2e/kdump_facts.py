"""Parses the kdump results the guest prints (lab/guest/memcheck.py) and does range algebra.

Ranges are half-open ``[start, end)``; the guest prints them as ``0xS-0xE``
joined by commas, PT_LOADs as ``paddr:memsz:offset`` and CRC lists as 64
comma-separated 8-digit hex words (one per KiB of physical [0, 64 KiB)).
An independent small implementation on purpose: pykexec's own ``memory``
module is what these facts check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOW_CHUNKS = 64  # 64 KiB in 1 KiB CRC chunks
PAGE = 0x10000  # ppc64 Debian kernels: 64 KiB pages (CONFIG_PPC_64K_PAGES)


@dataclass(frozen=True, order=True)
class Span:
    """Physical range [start, end)."""

    start: int
    end: int

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return f"{self.start:#x}-{self.end:#x}"


@dataclass(frozen=True)
class Load:
    """One PT_LOAD of a vmcore: physical address, size, and where its bytes are in the file."""

    paddr: int
    memsz: int
    offset: int

    @property
    def span(self) -> Span:
        return Span(self.paddr, self.paddr + self.memsz)


def _available(text: str, what: str) -> str:
    if not text or text.startswith("unavailable") or text == "none":
        raise AssertionError(f"{what}: {text or 'not reported'}")
    return text


def parse_spans(text: str, what: str = "ranges") -> list[Span]:
    out = []
    for item in _available(text, what).split(","):
        lo, hi = item.split(":")[-1].split("-")
        out.append(Span(int(lo, 16), int(hi, 16)))
    return out


def parse_loads(text: str) -> list[Load]:
    out = []
    for item in _available(text, "vmcore PT_LOADs").split(","):
        paddr, memsz, offset = (int(x, 16) for x in item.split(":"))
        out.append(Load(paddr, memsz, offset))
    return out


def parse_crcs(text: str, what: str) -> list[str]:
    crcs = _available(text, what).split(",")
    if len(crcs) != LOW_CHUNKS:
        raise AssertionError(f"{what}: {len(crcs)} CRCs, expected {LOW_CHUNKS}")
    return crcs


def union(spans: Iterable[Span]) -> list[Span]:
    """Sorted, merged (touching ranges joined)."""
    out: list[Span] = []
    for s in sorted(spans):
        if s.start >= s.end:
            continue
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out


def subtract(spans: Iterable[Span], cuts: Iterable[Span]) -> list[Span]:
    """``spans`` minus every range of ``cuts``."""
    rest = union(spans)
    for cut in union(cuts):
        nxt: list[Span] = []
        for s in rest:
            if cut.end <= s.start or s.end <= cut.start:
                nxt.append(s)
                continue
            if s.start < cut.start:
                nxt.append(Span(s.start, cut.start))
            if cut.end < s.end:
                nxt.append(Span(cut.end, s.end))
        rest = nxt
    return rest


def page_round(span: Span, page: int = PAGE) -> Span:
    """The whole pages that ``span`` touches."""
    return Span(span.start - span.start % page, -(-span.end // page) * page)


def differing(a: list[str], b: list[str]) -> list[int]:
    """Indexes of the 1 KiB chunks whose CRCs differ."""
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
