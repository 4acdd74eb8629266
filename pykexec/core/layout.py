# SPDX-License-Identifier: GPL-2.0-or-later
"""Segments, their placement in free memory, and the image handed to kexec_load. Pure.

A :class:`Placer` starts from the memory a load may use and hands out
page-aligned holes, bottom-up or top-down, never overlapping what it already
handed out.  :class:`KexecImage` is the finished plan: an entry address, at
most :data:`pykexec.uapi.KEXEC_SEGMENT_MAX` non-overlapping segments and the flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntFlag

from pykexec import uapi
from pykexec.core.memory import MemoryMap, Range, align_up
from pykexec.errors import PlacementError

# Segments are aligned to the largest base page size of ppc64 kernels (64 KiB) so
# one plan is valid whatever the running kernel's page size.
SEGMENT_ALIGN = 0x10000


class KexecFlags(IntFlag):
    """kexec_load(2) flags (include/uapi/linux/kexec.h, values in :mod:`pykexec.uapi`)."""

    ON_CRASH = uapi.KEXEC_ON_CRASH
    PRESERVE_CONTEXT = uapi.KEXEC_PRESERVE_CONTEXT
    UPDATE_ELFCOREHDR = uapi.KEXEC_UPDATE_ELFCOREHDR
    CRASH_HOTPLUG_SUPPORT = uapi.KEXEC_CRASH_HOTPLUG_SUPPORT
    DEBUG = uapi.KEXEC_DEBUG


class SegmentKind(str, Enum):
    KERNEL = "kernel"
    INITRD = "initrd"
    DEVICE_TREE = "device-tree"
    PURGATORY = "purgatory"
    BACKUP = "backup"
    ELFCOREHDR = "elfcorehdr"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Segment:
    """Bytes to copy to ``mem`` (the rest of ``mem`` is zero-filled by the kernel)."""

    kind: SegmentKind
    mem: Range
    buf: bytes | memoryview = field(repr=False)
    note: str = ""

    @property
    def bufsz(self) -> int:
        return len(self.buf)


@dataclass(frozen=True)
class KexecImage:
    """Everything kexec_load needs: entry, segments (sorted by address) and flags."""

    entry: int
    segments: tuple[Segment, ...]
    flags: KexecFlags

    def __post_init__(self) -> None:
        check_segments(self.segments)

    def segment(self, kind: SegmentKind) -> Segment:
        for s in self.segments:
            if s.kind == kind:
                return s
        raise KeyError(kind)


def check_segments(segments: tuple[Segment, ...]) -> None:
    """The rules kexec_load enforces, checked before the call so errors are clear."""
    if len(segments) > uapi.KEXEC_SEGMENT_MAX:
        raise PlacementError("too-many-segments", count=len(segments), limit=uapi.KEXEC_SEGMENT_MAX)
    ordered = sorted(segments, key=lambda s: s.mem.start)
    for s in ordered:
        if s.mem.start % SEGMENT_ALIGN or s.mem.end % SEGMENT_ALIGN:
            raise PlacementError("misaligned-segment", segment=str(s.kind), start=s.mem.start,
                                 end=s.mem.end, align=SEGMENT_ALIGN)  # fmt: skip
        if s.bufsz > s.mem.size:
            raise PlacementError("buffer-too-large", segment=str(s.kind), size=s.bufsz,
                                 start=s.mem.start, end=s.mem.end)  # fmt: skip
    for a, b in zip(ordered, ordered[1:]):
        if a.mem.overlaps(b.mem):
            raise PlacementError("overlapping-segments", segment=str(a.kind), start=a.mem.start,
                                 end=a.mem.end, other=str(b.kind), other_start=b.mem.start,
                                 other_end=b.mem.end)  # fmt: skip


class Placer:
    """Hands out holes from ``free``, remembering what it gave."""

    def __init__(self, free: MemoryMap, where: str = "usable memory") -> None:
        self.free = free
        self.where = where
        self.segments: list[Segment] = []

    def place(
        self,
        kind: SegmentKind,
        buf: bytes | memoryview,
        *,
        memsz: int | None = None,
        align: int = SEGMENT_ALIGN,
        top_down: bool = False,
        note: str = "",
    ) -> Segment:
        size = align_up(max(memsz or 0, len(buf), 1), SEGMENT_ALIGN)
        try:
            hole = self.free.find_hole(size, max(align, SEGMENT_ALIGN), top_down=top_down)
        except PlacementError as err:
            raise PlacementError(
                "cannot-place", segment=str(kind), size=size, where=self.where, cause=err
            ) from None
        return self.put(kind, buf, hole, note=note)

    def put(
        self, kind: SegmentKind, buf: bytes | memoryview, mem: Range, note: str = ""
    ) -> Segment:
        """Place a segment at a fixed range, which must be free."""
        if not self.free.contains(mem):
            raise PlacementError("not-free", segment=str(kind), start=mem.start, end=mem.end,
                                 where=self.where)  # fmt: skip
        seg = Segment(kind, mem, buf, note)
        self.free = self.free.minus([mem])
        self.segments.append(seg)
        return seg

    def release(self, hole: Range) -> None:
        """Give back a hole from :meth:`take`, to :meth:`put` a segment into it."""
        self.free = self.free.union([hole])

    def take(self, size: int, *, top_down: bool = False) -> Range:
        """Reserve a hole that is not a segment (scratch space)."""
        hole = self.free.find_hole(align_up(size, SEGMENT_ALIGN), SEGMENT_ALIGN, top_down=top_down)
        self.free = self.free.minus([hole])
        return hole
