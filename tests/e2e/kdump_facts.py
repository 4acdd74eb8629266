# SPDX-License-Identifier: GPL-2.0-or-later
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
    if len(a) != len(b):
        raise ValueError(f"{len(a)} CRCs against {len(b)}")
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


# -- checks shared by the pseries and powernv kdump tests ------------------------


def check_loads_are_ram_minus_crash(r: dict[str, str], label: str) -> None:
    """The vmcore's PT_LOADs = System RAM - crash region (+ firmware inside it, whole pages)."""
    ram = parse_spans(r["system_ram"], "System RAM")
    (crash,) = parse_spans(r["crash_region"], "crash region")
    firmware = parse_spans(r["firmware"], "firmware") if r.get("firmware", "none") != "none" else []
    loads = parse_loads(r["vmcore_loads"])
    covered = union(load.span for load in loads)
    assert sum(s.end - s.start for s in covered) == sum(load.memsz for load in loads), (
        f"PT_LOADs overlap: {loads}"
    )
    expected = subtract(ram, [crash])
    missing = subtract(expected, covered)
    extra = subtract(covered, expected)
    print(f"{label}: PT_LOADs {[str(s) for s in covered]}, "
          f"RAM - crash {[str(s) for s in expected]}, extra {[str(s) for s in extra]}")  # fmt: skip
    assert not missing, f"RAM outside the crash region missing from the vmcore: {missing}"
    pages = [page_round(fw) for fw in firmware]
    for span in extra:
        assert crash.contains(span) and any(fw.contains(span) for fw in pages), (
            f"vmcore has {span} that is neither RAM outside {crash} nor firmware {firmware}"
        )


def check_same_vmcore_layout(ref: dict[str, str], ours: dict[str, str], label: str) -> None:
    """pykexec's PT_LOADs (paddr, memsz), PT_NOTE count and note types = kexec-tools'."""
    ref_loads, our_loads = parse_loads(ref["vmcore_loads"]), parse_loads(ours["vmcore_loads"])
    notes = (f"PT_NOTEs: {ref['vmcore_notes']} / {ours['vmcore_notes']}; notes: "
             f"{ref['vmcore_note_types']} / {ours['vmcore_note_types']}")  # fmt: skip
    print(f"{label} PT_LOADs (paddr, memsz, offset)\n  kexec-tools: {ref_loads}\n"
          f"  pykexec:     {our_loads}\n  {notes}")  # fmt: skip
    # PT_LOAD order carries no meaning for a dump reader (kexec-tools appends RTAS
    # last, crashdump-ppc64.c); each range and its size must be the same.
    ref_set = sorted((x.paddr, x.memsz) for x in ref_loads)
    our_set = sorted((x.paddr, x.memsz) for x in our_loads)
    only_ref = [f"{p:#x}+{m:#x}" for p, m in ref_set if (p, m) not in our_set]
    only_ours = [f"{p:#x}+{m:#x}" for p, m in our_set if (p, m) not in ref_set]
    assert our_set == ref_set, f"only in kexec-tools': {only_ref}; only in pykexec's: {only_ours}"
    assert ours["vmcore_notes"] == ref["vmcore_notes"]
    assert ours["vmcore_note_types"] == ref["vmcore_note_types"]


def check_low_64k(r: dict[str, str], label: str) -> None:
    """The vmcore's [1 KiB, 64 KiB) is the first kernel's, read just before the crash."""
    before = parse_crcs(r.get("low64k_before", ""), "first kernel's [0, 64 KiB) via /proc/kcore")
    vmcore = parse_crcs(r.get("low64k_vmcore", ""), "vmcore's [0, 64 KiB)")
    live = parse_crcs(r.get("low64k_live", ""), "crash kernel's [0, 64 KiB) via /proc/kcore")
    changed, live_changed = differing(before, vmcore), differing(vmcore, live)
    print(f"{label}: vmcore vs pre-crash differ in chunks {changed}; "
          f"vmcore vs crash kernel's live copy differ in {len(live_changed)}/64")  # fmt: skip
    assert [i for i in changed if i != 0] == [], "the backup of [1 KiB, 64 KiB) is not the old one"
