"""How a plan is shown: a segment table, a memory map picture, and JSON. Pure."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pykexec.memory import Range

if TYPE_CHECKING:
    from pykexec.arch.ppc64 import Plan

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


def plan_text(plan: Plan) -> str:
    lines = [segment_table(plan)]
    lines.append(
        f"entry {plan.image.entry:#x}, flags {int(plan.image.flags):#x}, "
        f"run_at_load {plan.run_at_load:#x}"
    )
    lines.append(f"command line: {plan.bootargs}")
    lines += [f"note: {n}" for n in plan.notes]
    lines.append("")
    lines.append(memory_map(plan))
    return "\n".join(lines)


def describe_result(plan: Plan | None) -> str:
    if plan is None:
        return "loaded with kexec_file_load: the kernel placed the segments"
    return plan_text(plan)


def plan_dict(plan: Plan) -> dict[str, Any]:
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


def plan_json(plan: Plan) -> str:
    return json.dumps(plan_dict(plan), indent=2)
