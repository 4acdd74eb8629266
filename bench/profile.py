# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m bench profile -- ARGS``: cProfile of ``pykexec ARGS`` in the guest, under icount.

cProfile's clock is ``time.perf_counter`` (CLOCK_MONOTONIC, the timebase), which
under ``-icount shift=0`` counts instructions: the profile is the same from run to
run.  The guest prints the statistics sorted by cumulative time, then by own
time (``--importtime`` adds ``python3 -X importtime``'s table of a second run);
the host prints them and saves them under the lab cache.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from bench.plan import CRASHKERNEL, BenchPlan
from bench.tools import guest_files
from lab.judge import Report
from lab.model import Loader, Scenario, Stage, Step
from lab.paths import CacheLayout
from lab.runner import RunOptions, StepEcho, run
from lab.vm import ConsoleLine

PYKEXEC = (
    "PYTHONPATH=/usr/sbin/pykexec python3"  # the zipapp lab/initramfs.py installs, as a path entry
)
STATS = (
    "import pstats; s = pstats.Stats('/tmp/prof.out'); s.strip_dirs(); "
    "s.sort_stats('cumulative').print_stats({top}); s.sort_stats('tottime').print_stats({top})"
)


def profile_script(args: list[str], top: int, importtime: bool) -> str:
    quoted = " ".join(shlex.quote(a) for a in args)
    lines = [
        "cd /tmp",
        f"{PYKEXEC} -m cProfile -o /tmp/prof.out -m pykexec {quoted}",
        'echo "pykexec exit code $?"',
        "kexec -u; kexec -p -u",
        f'python3 -c "{STATS.format(top=top)}"',
    ]
    if importtime:
        lines += [f"{PYKEXEC} -X importtime -m pykexec {quoted} 2>&1 >/dev/null",
                  "kexec -u; kexec -p -u"]  # fmt: skip
    return "\n".join(lines)


class Collect(StepEcho):
    """Prints the step's console lines and keeps them."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.lines: list[str] = []

    def __call__(self, line: ConsoleLine) -> None:
        was = self.inside
        super().__call__(line)
        if was and self.inside:
            self.lines.append(line.text)


def profile(layout: CacheLayout, args: list[str], *, top: int, importtime: bool,
            maxmem: str | None) -> tuple[Report, Path]:  # fmt: skip
    scenario = Scenario(
        name="bench-profile",
        description="cProfile of one pykexec command under icount",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=2048,
        crashkernel=CRASHKERNEL,
        stages=((Stage.FIRST, (Step("profile", profile_script(args, top, importtime), 600.0),)),),
        boot_timeout=BenchPlan.boot_timeout,  # maxmem=4T boots slowly
        emulation_knobs=False,
    )
    sink = Collect("profile")
    options = RunOptions(scenario, timeout=800.0, icount=True, maxmem=maxmem,
                         files=guest_files(layout))  # fmt: skip
    report = run(layout, options, sink)
    out = layout.root / "bench" / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# pykexec {' '.join(args)} (icount: times are instructions x 1 ns)\n"
                   + "\n".join(sink.lines) + "\n")  # fmt: skip
    return report, out
