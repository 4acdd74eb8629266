# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m bench``: pykexec against kexec-tools on QEMU's instruction-count clock.

``python3 -m bench [--rounds N] [--boots N]`` boots the lab's pseries guest under
``-icount shift=0`` ``--boots`` times (default 4: each runs ``--rounds`` rounds of
loads and start-ups, alternating the tools, then ends in one hand-over: exec by
kexec-tools, exec by pykexec, crash by kexec-tools, crash by pykexec) and prints,
per step, the guest instructions (G) of kexec-tools and pykexec, their ratio, the
issue's goal, and TCG's wall-clock as a secondary column (:mod:`bench.plan` says
what is counted and how, :mod:`bench.figures` how it is computed).  ``--lmbs16k``
measures ``-l``/``-p`` on a guest with 16384 LMBs (``-m 2G,slots=4,maxmem=4T``)
instead.

``python3 -m bench profile -- ARGS`` profiles ``pykexec ARGS`` in the guest
(:mod:`bench.profile`); ``python3 -m bench host-plan`` plans a 64k-LMB ``-p`` on
the host (:mod:`bench.hostplan`).  Every run is saved under the lab cache's
``bench/`` directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.figures import BenchError, Samples, collect, table
from bench.inputs import guest_inputs
from bench.plan import CODECS, BenchPlan, scenario
from bench.tools import guest_files, package_layout
from lab.judge import Marker, parse_marker
from lab.paths import CacheLayout, cache
from lab.runner import RunOptions, run
from lab.vm import ConsoleLine

# One hand-over per boot (bench.plan): exec and crash, each tool, in this order.
HAND_OVERS = (("exec", "kt"), ("exec", "py"), ("crash", "kt"), ("crash", "py"))
STORM_SECONDS = 25.0  # TCG time allowed per storm step (a -p by each tool: ~4 G instructions)
LMBS_16K = "4T"  # maxmem: 4 TiB / 256 MiB LMBs = 16384 (lab.vm.HOTPLUG_SLOTS)


class Arrivals:
    """Line sink: the host time each bench reading's console line arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, line: ConsoleLine) -> None:
        ev = parse_marker(line)
        if ev is not None and ev.kind is Marker.RESULT and ev.text.startswith("b_"):
            self.at[ev.text.partition("=")[0]] = ev.at


def _plans(args: argparse.Namespace) -> list[BenchPlan]:
    codecs = tuple(CODECS) if args.codecs else ()
    if args.lmbs16k:
        return [BenchPlan(rounds=args.rounds, kinds=("l", "p"), codecs=(), start_ups=(),
                          hand_over=None, first=b % 2) for b in range(args.boots)]  # fmt: skip
    cycle = [HAND_OVERS[b % len(HAND_OVERS)] for b in range(args.boots)]
    flags = "-i" if args.no_checks else ""
    return [BenchPlan(rounds=args.rounds, hand_over=what, hand_tool=tool, hand_flags=flags,
                      first=b % 2, codecs=codecs, storm=args.storm if b == 0 else 0,
                      round_timeout=400.0 + STORM_SECONDS * (args.storm if b == 0 else 0))
            for b, (what, tool) in enumerate(cycle)]  # fmt: skip


def bench(layout: CacheLayout, args: argparse.Namespace) -> int:
    samples: dict[str, Samples] = {}
    saved: list[dict[str, object]] = []
    kernel = ""
    for plan in _plans(args):
        arrivals = Arrivals()
        files = (*guest_files(layout), *package_layout(), *guest_inputs(layout, plan.codecs))
        timeout = args.timeout + STORM_SECONDS * plan.storm
        options = RunOptions(scenario(plan), timeout=timeout, icount=True,
                             maxmem=LMBS_16K if args.lmbs16k else None,
                             files=files)  # fmt: skip
        report = run(layout, options, arrivals)
        saved.append({"plan": repr(plan), "passed": report.passed, "results": report.results,
                      "arrivals": arrivals.at, "timings": report.timings})  # fmt: skip
        if not report.passed:
            print(report.format())
            return 1
        kernel = report.kernel_version
        try:
            collect(report.results, arrivals.at, samples)
        except BenchError as exc:
            print(f"bench: {exc} (console log {report.log})", file=sys.stderr)
            return 1
    what = "16384-LMB guest (-m 2G,slots=4,maxmem=4T)" if args.lmbs16k else "guest, 2 GiB"
    lines = [
        f"pseries {what}, kernel {kernel}, QEMU -icount shift=0: guest instructions "
        f"(median ±half the spread), {args.boots} boot(s)",
        *table(samples),
    ]
    print("\n".join(lines))
    out = layout.root / "bench" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": lines, "boots": saved}, indent=1))
    print(f"saved {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--rounds", type=int, default=2, help="rounds of loads and start-ups per boot")
    p.add_argument("--boots", type=int, default=4,
                   help="boots; each ends in one hand-over: exec kt, exec py, crash kt, crash py, "
                   "then again")  # fmt: skip
    p.add_argument(
        "--no-checks",
        action="store_true",
        help="hand-overs loaded with -i (no purgatory digest check): its share",
    )
    p.add_argument("--lmbs16k", action="store_true", help="-l/-p on a 16384-LMB guest")
    p.add_argument(
        "--no-codecs",
        dest="codecs",
        action="store_false",
        help="only the uncompressed initrd (not gzip, zstd, xz: bench.inputs)",
    )
    p.add_argument(
        "--storm",
        type=int,
        default=64,
        help="successive -p loads of the reload storm, in the first boot (0: none)",
    )
    p.add_argument("--timeout", type=float, default=800.0, help="overall seconds per boot")
    sub = p.add_subparsers(dest="command")
    prof = sub.add_parser("profile", help="cProfile of `pykexec ARGS` in the guest, under icount")
    prof.add_argument("--top", type=int, default=45, help="rows per listing")
    prof.add_argument("--importtime", action="store_true", help="also python3 -X importtime")
    prof.add_argument("--lmbs16k", action="store_true", help="on the 16384-LMB guest")
    prof.add_argument("args", nargs=argparse.REMAINDER, help="-- then pykexec's arguments")
    host = sub.add_parser("host-plan", help="a big -p plan on the host: time and memory")
    host.add_argument("--lmbs", type=int, nargs="+", default=[65536])
    host.add_argument("--layout", choices=("contiguous", "fragmented"), default="contiguous")
    host.add_argument("--initrd-mib", type=int, default=512, help="0: no initrd")
    host.add_argument("--synthetic-kernel", action="store_true",
                      help="a small synthetic vmlinux instead of the lab's")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "host-plan":
        from bench.hostplan import measure

        layout = cache()
        kernel = None if args.synthetic_kernel or not layout.vmlinux.exists() else layout.vmlinux
        for lmbs in args.lmbs:
            print(measure(lmbs, args.layout, args.initrd_mib, kernel).format())
        return 0
    layout = cache()
    if args.command == "profile":
        from bench.profile import profile

        pargs = args.args[1:] if args.args[:1] == ["--"] else args.args
        report, out = profile(layout, pargs, top=args.top, importtime=args.importtime,
                              maxmem=LMBS_16K if args.lmbs16k else None)  # fmt: skip
        print(f"saved {out}")
        if not report.passed:
            print(report.format())
            return 1
        return 0
    return bench(layout, args)


if __name__ == "__main__":
    sys.exit(main())
