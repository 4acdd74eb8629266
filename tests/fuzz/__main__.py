# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m tests.fuzz --count N --family all``: the long fuzz run.

Prints, per family, how many inputs ran and how they ended, every distinct
failure with its count (reproducers under ``--keep``), and the slowest input.
Exit status 1 if any input broke the rule.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.families import FAMILIES
from tests.fuzz.runner import LIMIT_SECONDS, Stats, remove, replay, run


def report(stats: Stats, seconds: float) -> str:
    lines = [f"{sum(stats.counts.values())} inputs in {seconds:.0f} s"]
    for family, count in sorted(stats.counts.items()):
        ends = sorted(
            ((result, n) for (fam, result), n in stats.results.items() if fam == family),
            key=lambda item: -item[1],
        )
        lines.append(f"  {family:<11} {count:>9}  " + ", ".join(f"{r} {n}" for r, n in ends))
    failures = sum(stats.failures.values())
    lines.append(f"failures: {failures}")
    for (family, cause), n in sorted(stats.failures.items()):
        lines.append(f"  {family:<11} {n:>7}  {cause}")
    seconds_slowest, label = stats.slowest
    lines.append(f"slowest input: {seconds_slowest:.3f} s ({label}); limit {LIMIT_SECONDS} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.fuzz", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="inputs in total")
    parser.add_argument("--family", default="all", help=f"all or one of {', '.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"),
                        help="directory for reproducers")  # fmt: skip
    parser.add_argument("--weights", default="", help="inputs per round, e.g. elf=50,fdt=4")
    parser.add_argument("--seconds", type=float, help="stop after this long (a report follows)")
    parser.add_argument("--replay", metavar="FAMILY-SEED-INDEX", help="rerun one saved input")
    parser.add_argument("--max-memory", type=int, default=6 << 30,
                        help="address-space limit in bytes: an input that allocates more "
                        "fails with MemoryError instead of drawing the OOM killer")  # fmt: skip
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (args.max_memory, resource.RLIM_INFINITY))
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # files in RAM: faster
    tmp = Path(tempfile.mkdtemp(prefix="pykexec-fuzz-", dir=memory))
    try:
        if args.replay:
            outcome = replay(args.replay, tmp)
            print(outcome.result, f"{outcome.seconds:.3f} s", outcome.detail)
            return 0 if outcome.ok else 1
        families = FAMILIES if args.family == "all" else tuple(args.family.split(","))
        weights = {
            k: int(v) for k, _, v in (w.partition("=") for w in args.weights.split(",") if w)
        }
        rounds = max(args.count // sum(weights.get(f, 1) for f in families), 1)
        start = time.perf_counter()
        stats = run(
            families,
            rounds,
            args.seed,
            tmp,
            args.keep,
            seconds=args.seconds,
            weights=weights,
            progress=lambda s: print(report(s, time.perf_counter() - start), flush=True),
        )
        print(report(stats, time.perf_counter() - start), flush=True)
    finally:
        remove(tmp)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
