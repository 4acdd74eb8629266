# SPDX-License-Identifier: GPL-2.0-or-later
"""From the guest's timebase readings to instruction counts, ratios and the table.

Under ``-icount shift=0`` the guest's clock advances 1 ns per instruction, and the
timebase ticks ``tbfreq`` times per second of that clock, so a difference of
readings is ``ticks * 1e9 / tbfreq`` instructions (idle time, which a jump over
to the next timer fills with ``sleep=off``, counts too: the bench's steps do not
sleep).  A measured command's count is net of the ``null`` floor (the readers'
own start and exit around an empty command); the hops across a kernel change are
counted raw, and so is the next kernel's share of them (its uptime at the
marker: from its timekeeping start to userspace).  Wall-clock is the host's
arrival time of the two readings' console lines: TCG's time, a secondary column.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bench.plan import TOOLS

KEY = re.compile(r"b_(?P<what>[A-Za-z]+)_(?P<tool>[a-z]+)_(?P<n>\d+)_(?P<end>[01])$")
# step -> (label, goal as a ratio of kexec-tools' instructions: issue 21's targets)
STEPS: dict[str, tuple[str, float | None]] = {
    "l": ("-l load", 0.5),
    "p": ("-p load", 0.5),
    "lgz": ("-l gzip", 0.5),
    "pgz": ("-p gzip", 0.5),
    "lzst": ("-l zstd", 0.5),
    "pzst": ("-p zstd", 0.5),
    "lxz": ("-l xz", 0.5),
    "pxz": ("-p xz", 0.5),
    "storm": ("64 x -p gzip", 0.5),
    "e": ("-e start-up", None),
    "S": ("-S start-up", None),
    "u": ("-u start-up", None),
    "Sdeb": ("-S .deb layout", None),
    "udeb": ("-u .deb layout", None),
    "edeb": ("-e .deb layout", None),
    "exec": ("exec to marker", 0.6),
    "exec_boot": (" of which boot", None),
    "crash": ("crash to marker", 0.6),
    "crash_boot": (" of which boot", None),
}
# The next kernel's own share of a hand-over: its /proc/uptime at the userspace
# marker (lab/guest/init.sh, recorded by lab.judge), 10 ms = 10 M instructions.
UPTIME = {"exec": "guest_uptime_stage_2", "crash": "guest_uptime_stage_crash"}
HOPS = ("exec", "crash")  # counted across a kernel change: raw, no floor subtracted
FLOORS = ("null", "python")
OK_RC = {"e": False, "edeb": False}  # -e with nothing loaded must fail; the rest succeed


class BenchError(Exception):
    """A run whose readings do not make a measurement (a command failed, a reading is missing).

    ``problem`` says which: "no-timebase", "unfinished" (no second reading) or "exit-code".
    """

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass
class Samples:
    """Instruction counts and wall seconds of one step, per tool (``kt``, ``py``, ``all``)."""

    counts: dict[str, list[float]] = field(default_factory=dict)
    wall: dict[str, list[float]] = field(default_factory=dict)

    def add(self, tool: str, count: float, wall: float | None) -> None:
        self.counts.setdefault(tool, []).append(count)
        if wall is not None:
            self.wall.setdefault(tool, []).append(wall)


def collect(
    results: Mapping[str, str], arrivals: Mapping[str, float], into: dict[str, Samples]
) -> None:
    """Add one boot's readings (``LAB-RESULT`` values and their host arrival times)."""
    try:
        tbfreq = int(results["tbfreq"])
    except (KeyError, ValueError):
        got = results.get("tbfreq")
        raise BenchError(
            f"no timebase frequency in the results: {got!r}", problem="no-timebase"
        ) from None
    raw: dict[tuple[str, str, str], float] = {}
    walls: dict[tuple[str, str, str], float | None] = {}
    for key, value in results.items():
        m = KEY.match(key)
        if m is None or m["end"] != "0":
            continue
        name = (m["what"], m["tool"], m["n"])
        end = key[:-1] + "1"
        if end not in results:
            raise BenchError(
                f"{key[2:-2]}: no second reading (the step did not finish)", problem="unfinished"
            )
        rc = results.get(key[:-1] + "rc")
        if rc is not None and (rc == "0") != OK_RC.get(m["what"], True):
            raise BenchError(f"{key[2:-2]}: unexpected exit code {rc}", problem="exit-code")
        raw[name] = (int(results[end]) - int(value)) * 1e9 / tbfreq
        at0, at1 = arrivals.get(key), arrivals.get(end)
        walls[name] = at1 - at0 if at0 is not None and at1 is not None else None
    floor = statistics.median([c for (w, _, _), c in raw.items() if w == "null"] or [0.0])
    for (what, tool, _), count in raw.items():
        net = count if what in HOPS or what == "null" else count - floor
        into.setdefault(what, Samples()).add(tool, net, walls[(what, tool, _)])
        if what in UPTIME and UPTIME[what] in results:
            uptime = float(results[UPTIME[what]]) * 1e9
            into.setdefault(f"{what}_boot", Samples()).add(tool, uptime, None)


def _g(counts: Iterable[float]) -> str:
    values = list(counts)
    if not values:
        return "-"
    med = statistics.median(values)
    spread = (max(values) - min(values)) / med * 100 if med else 0.0
    return f"{med / 1e9:.4f} ±{spread / 2:.1f}%"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def table(samples: Mapping[str, Samples]) -> list[str]:
    """One line per step: instructions (G, median ±half the spread), ratio, goal; wall."""
    kt, py = TOOLS
    lines = [
        f"{'step':<17}{'kexec-tools G':>17}{'pykexec G':>17}{'ratio':>7}{'goal':>9}  "
        f"{'wall kt s':>10}{'wall py s':>10}{'ratio':>7}  n"
    ]
    for what, (label, goal) in STEPS.items():
        s = samples.get(what)
        if s is None:
            continue
        ref, ours = _median(s.counts.get(kt)), _median(s.counts.get(py))
        ratio = f"{ours / ref:.2f}" if ref and ours is not None else "-"
        verdict = "-"
        if goal is not None and ratio != "-":
            verdict = f"{goal:.1f} " + ("yes" if float(ratio) <= goal else "no")
        wref, wours = _median(s.wall.get(kt)), _median(s.wall.get(py))
        wratio = f"{wours / wref:.2f}" if wref and wours is not None else "-"
        n = f"{len(s.counts.get(kt, []))}+{len(s.counts.get(py, []))}"
        lines.append(
            f"{label:<17}{_g(s.counts.get(kt, [])):>17}{_g(s.counts.get(py, [])):>17}"
            f"{ratio:>7}{verdict:>9}  {_s(wref):>10}{_s(wours):>10}{wratio:>7}  {n}"
        )
    for what in FLOORS:
        s = samples.get(what)
        if s is not None:
            label = {"null": "floor: reader", "python": "floor: python3 -c pass"}[what]
            lines.append(f"{label:<28}{_g(s.counts.get('all', [])):>17}")
    return lines
