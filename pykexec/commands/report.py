# SPDX-License-Identifier: GPL-2.0-or-later
"""How a plan is shown: a segment table, a memory map picture, and JSON. Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pykexec.core.memory import Range
from pykexec.core.planner import PLAN_FORMAT_VERSION
from pykexec.uapi import file_flag_names

if TYPE_CHECKING:
    from pykexec.core.arch.ppc64 import Plan
    from pykexec.core.crash.headroom import Headroom
    from pykexec.core.planner import LoadPlan

# One letter per thing on the map; later rows paint over earlier ones.
LEGEND = (
    (".", "free RAM"),
    ("c", "crash region"),
    ("#", "firmware or running kernel (reserved)"),
    ("K", "kernel segment"),
    ("I", "initrd segment"),
    ("D", "device-tree segment"),
    ("P", "purgatory segment"),
    ("B", "backup segment"),
    ("E", "elfcorehdr segment"),
)
SEGMENT_LETTER = {
    "kernel": "K",
    "initrd": "I",
    "device-tree": "D",
    "purgatory": "P",
    "backup": "B",
    "elfcorehdr": "E",
}
WIDTH = 64


def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << (shift - 4)) == 0:
            return f"{n / (1 << shift):g}{unit}"
    return f"{n:#x}"


def _bar(window: Range, layers: list[tuple[str, list[Range]]]) -> str:
    """One row of ``WIDTH`` cells over ``window``; a cell shows the last layer touching it."""
    cells = [" "] * WIDTH
    step = max(window.size / WIDTH, 1)
    for letter, ranges in layers:
        for r in ranges:
            part = r.intersect(window)
            if part is None:
                continue
            first = int((part.start - window.start) / step)
            last = int((part.end - 1 - window.start) / step)
            for i in range(first, min(last, WIDTH - 1) + 1):
                cells[i] = letter
    return "".join(cells)


def memory_map(plan: Plan) -> str:
    """A picture of RAM, reserved regions, the crash region and the planned segments."""
    m = plan.machine
    layers: list[tuple[str, list[Range]]] = [
        (".", list(m.ram)),
        ("c", [m.crash] if m.crash else []),
        ("#", [r.range for r in m.reserved]),
    ]
    # Largest first, so that a small segment sharing a cell with a big one still shows.
    for s in sorted(plan.image.segments, key=lambda s: -s.mem.size):
        layers.append((SEGMENT_LETTER.get(str(s.kind), "?"), [s.mem]))
    whole = Range(m.ram.ranges[0].start, m.ram.ranges[-1].end)
    segs = [s.mem for s in plan.image.segments]
    span = Range(min(r.start for r in segs), max(r.end for r in segs))
    rows = [
        f"RAM {whole}  ({_size(whole.size)}, {WIDTH} cells of {_size(whole.size // WIDTH)})",
        f"  |{_bar(whole, layers)}|",
        f"segments {span}  ({_size(span.size)}, cells of {_size(max(span.size // WIDTH, 1))})",
        f"  |{_bar(span, layers)}|",
        "  " + "  ".join(f"{c} {what}" for c, what in LEGEND),
    ]
    return "\n".join(rows)


def segment_table(plan: Plan) -> str:
    lines = [f"{'address':>18} {'end':>18} {'memsz':>10} {'bufsz':>10}  what"]
    for s in plan.image.segments:
        lines.append(
            f"{s.mem.start:#18x} {s.mem.end:#18x} {s.mem.size:#10x} "
            f"{s.bufsz:#10x}  {s.kind}: {s.note}"
        )
    return "\n".join(lines)


def segments_text(plan: Plan) -> str:
    """A kexec_load plan: the segment table, entry, command line and memory map."""
    lines = [segment_table(plan)]
    lines.append(
        f"entry {plan.image.entry:#x}, flags {int(plan.image.flags):#x}, "
        f"run_at_load {plan.run_at_load:#x}"
    )
    lines.append(f"command line (in the tree's /chosen/bootargs): {plan.bootargs}")
    lines += [f"note: {n}" for n in plan.notes]
    lines.append("")
    lines.append(memory_map(plan))
    return "\n".join(lines)


def plan_text(plan: LoadPlan, then: str | None = None) -> str:
    """What a load hands the kernel: the syscall and why, then each call's arguments."""
    lines = [f"syscall: {plan.decision.describe()}"]
    if plan.file_call is not None:
        fc = plan.file_call
        lines.append(
            f"kexec_file_load: flags {fc.flags:#x} ({file_flag_names(fc.flags)}), "
            f"kernel {fc.kernel}, initrd {fc.initrd or '-'}"
        )
        extra = " (the kernel adds elfcorehdr= itself)" if plan.options.crash else ""
        lines.append(f"kexec_file_load command line{extra}: {fc.command_line}")
    if plan.segments is not None:
        if plan.file_call is not None:
            lines += ["", "kexec_load plan, if kexec_file_load fails with a fallback error:"]
        lines.append(segments_text(plan.segments))
    lines += [f"note: {n}" for n in plan.notes]
    if plan.headroom is not None:
        lines.append(f"headroom: {plan.headroom.summary()}")
        lines += [f"headroom note: {n}" for n in plan.headroom.notes]
    lines += [f"warning: {w}" for w in plan.warnings]
    if then:
        lines.append(then)
    return "\n".join(lines)


def _segments_dict(plan: Plan) -> dict[str, Any]:
    m = plan.machine
    return {
        "entry": plan.image.entry,
        "flags": int(plan.image.flags),
        "run_at_load": plan.run_at_load,
        "command_line": plan.bootargs,
        "segments": [
            {
                "kind": str(s.kind),
                "mem": s.mem.start,
                "memsz": s.mem.size,
                "bufsz": s.bufsz,
                "note": s.note,
            }
            for s in plan.image.segments
        ],
        "machine": {
            "platform": str(m.platform),
            "ram": [[r.start, r.end] for r in m.ram],
            "rma": [m.rma.start, m.rma.end],
            "crash": [m.crash.start, m.crash.end] if m.crash else None,
            "reserved": [
                {"name": r.name, "range": [r.range.start, r.range.end]} for r in m.reserved
            ],
        },
        "notes": list(plan.notes),
    }


def plan_dict(plan: LoadPlan, then: str | None = None) -> dict[str, Any]:
    """The JSON form of :func:`plan_text` (``format`` is :data:`PLAN_FORMAT_VERSION`)."""
    fc = plan.file_call
    return {
        "format": PLAN_FORMAT_VERSION,
        "crash": plan.options.crash,
        "syscall": {
            "first": str(plan.decision.first),
            "fallback_to_kexec_load": plan.decision.fallback,
            "why": plan.decision.why,
        },
        "kexec_file_load": None
        if fc is None
        else {
            "kernel": str(fc.kernel),
            "initrd": None if fc.initrd is None else str(fc.initrd),
            "flags": fc.flags,
            "flag_names": file_flag_names(fc.flags),
            "command_line": fc.command_line,
        },
        "kexec_load": None if plan.segments is None else _segments_dict(plan.segments),
        "notes": list(plan.notes),
        "headroom": None if plan.headroom is None else headroom_dict(plan.headroom),
        "warnings": list(plan.warnings),
        "then": then,
    }


def headroom_dict(h: Headroom) -> dict[str, Any]:
    """A crash load's headroom: every term, the region, and the crashkernel= that would do."""
    return {
        "region": h.region,
        "needed": h.needed,
        "spare": h.spare,
        "terms": {name: size for name, size in h.terms},
        "boot_needed": h.boot_needed,
        "floor": h.floor,
        "floor_terms": {name: size for name, size in h.floor_terms},
        "tight": h.tight,
        "recommended_crashkernel": f"{h.recommended >> 20}M",
        "notes": list(h.notes),
    }


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)
