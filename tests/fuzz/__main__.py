# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m tests.fuzz --count N --family all``: the long fuzz run.

Prints, per family, how many inputs ran and how they ended, every distinct
failure with its count and first input (reproducers under ``--keep``), and the
slowest input.  Exit status 1 if any input broke the rule.  One worker process
at a time: the run takes one core (``nice`` it on a shared machine).

The million-input run: ``nice python3 -m tests.fuzz --count 1000000`` (the
default weights below put most inputs in the cheap families and every family in
every round).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.runner import FAMILIES, LIMIT_SECONDS, MEMORY_LIMIT, Stats, remove, replay, run

#: Inputs per family in each round of the long run: the cheap readers most.
WEIGHTS = "elf=100,record=50,initramfs=20,cli=6,fdt=2,kcore=2,json=2"


def report(stats: Stats, seconds: float) -> str:
    lines = [f"{sum(stats.counts.values())} inputs in {seconds:.0f} s"]
    for family, count in sorted(stats.counts.items()):
        ends = sorted(
            ((result, n) for (fam, result), n in stats.results.items() if fam == family),
            key=lambda item: -item[1],
        )
        per = 1000 * stats.wall[family] / count
        lines.append(f"  {family:<11} {count:>9}  {stats.wall[family]:>7.0f} s {per:>6.1f} ms  "
                     + ", ".join(f"{r} {n}" for r, n in ends))  # fmt: skip
    failures = sum(stats.failures.values())
    lines.append(f"failures: {failures}")
    for (family, cause), n in sorted(stats.failures.items()):
        lines.append(f"  {family:<11} {n:>7}  {cause}")
        lines.append(f"  {'':<11} {'':>7}    first: {stats.examples[(family, cause)][:160]}")
    seconds_slowest, label = stats.slowest
    lines.append(f"slowest input: {seconds_slowest:.3f} s ({label}); limit {LIMIT_SECONDS} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.fuzz", description=__doc__)
    parser.add_argument("--count", type=int, default=1000,
                        help="inputs in total, at least (whole rounds)")  # fmt: skip
    parser.add_argument("--family", default="all", help=f"all or one of {', '.join(FAMILIES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"),
                        help="directory for reproducers")  # fmt: skip
    parser.add_argument("--weights", default=WEIGHTS,
                        help=f"inputs per round, others 1 (default {WEIGHTS})")  # fmt: skip
    parser.add_argument("--seconds", type=float, help="stop after this long (a report follows)")
    parser.add_argument("--replay", metavar="FAMILY-SEED-INDEX", help="rerun one saved input")
    parser.add_argument("--max-memory", type=int, default=MEMORY_LIMIT,
                        help="the worker's address-space limit in bytes: an input that "
                        "allocates more fails with MemoryError and is reported")  # fmt: skip
    args = parser.parse_args(argv)
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # files in RAM: faster
    tmp = Path(tempfile.mkdtemp(prefix="pykexec-fuzz-", dir=memory))
    try:
        if args.replay:
            resource.setrlimit(resource.RLIMIT_AS, (args.max_memory, resource.RLIM_INFINITY))
            outcome = replay(args.replay, tmp)
            print(outcome.result, f"{outcome.seconds:.3f} s", outcome.detail)
            return 0 if outcome.ok else 1
        families = FAMILIES if args.family == "all" else tuple(args.family.split(","))
        weights = {
            k: int(v) for k, _, v in (w.partition("=") for w in args.weights.split(",") if w)
        }
        per_round = sum(weights.get(f, 1) for f in families)
        rounds = max(-(-args.count // per_round), 1)  # whole rounds: at least --count inputs
        start = time.perf_counter()
        stats = run(
            families,
            rounds,
            args.seed,
            tmp,
            args.keep,
            seconds=args.seconds,
            weights=weights,
            memory=args.max_memory,
            progress=lambda s: print(report(s, time.perf_counter() - start), flush=True),
        )
        print(report(stats, time.perf_counter() - start), flush=True)
    finally:
        remove(tmp)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
