# SPDX-License-Identifier: GPL-2.0-or-later
"""Command line of the lab: ``python3 -m lab COMMAND``.

Commands: setup, build-kernel, list, run, shell-cmd, matrix, capture, calibrate-crashkernel,
debsys (the Debian system image: build, run).

Exit status 0 only when the requested run passed; lab errors print one
message (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from lab import assets, debsys, kbuild, krecipes, matrix
from lab.catalog import ALL_SCENARIOS
from lab.errors import LabError
from lab.judge import Report
from lab.model import Kernel
from lab.paths import CacheLayout, cache
from lab.runner import RunOptions, StepEcho, run
from lab.scenarios import Loader, Machine, Scenario, shell_scenario


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m lab", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="install host tools, download and stage guest assets")
    setup.add_argument("--no-host-install", action="store_true")
    sub.add_parser("list", help="list scenarios")
    b = sub.add_parser("build-kernel", help="build (or reuse) a lab-built kernel (lab/kbuild.py)")
    b.add_argument("--kernel", type=Kernel, choices=sorted(krecipes.RECIPES),
                   default=Kernel.KEXEC_FILE_61)  # fmt: skip
    cal = sub.add_parser(
        "calibrate-crashkernel",
        help="bisect the smallest crashkernel= that boots and dumps (lab/calibrate.py)",
    )
    cal.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="CASE@LO-HI",
        help="KERNEL:PAYLOAD:CODEC:CPUS:WORD@LO-HI, e.g. debian-6.1:full:gzip:1:"
        "nr_cpus=1@280-320: bisect its boot and dump edges from LO and HI (MiB)",
    )
    cal.add_argument("--minutes", type=float, default=10.0, help="QEMU time budget (all cases)")
    cal.add_argument(
        "--pykexec-at",
        default="",
        help="MIB,...: also load the first case with pykexec at these sizes",
    )
    cal.add_argument(
        "--unrun",
        action="append",
        default=[],
        metavar="CASE",
        help="record CASE's facts without probing it (with --why)",
    )
    cal.add_argument("--why", default="QEMU time", help="why the --unrun cases were not run")
    cal.add_argument("--report", action="store_true",
                     help="print the matrix with pykexec's verdicts (and store them)")  # fmt: skip
    cal.add_argument(
        "--refresh-facts",
        action="store_true",
        help="measure every case's kernel and initrd facts again (no QEMU)",
    )

    def machine_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--cpus", type=int, help="guest CPUs (-smp)")
        q.add_argument("--timeout", type=float, default=900.0, help="overall seconds")
        q.add_argument("--append", action="append", default=[], help="extra kernel args")
        q.add_argument("--gzip", action="store_true", help="gzip the initramfs")
        q.add_argument("--kernel", type=Kernel, choices=list(Kernel),
                       help="the lab kernel (default: the scenario's)")  # fmt: skip

    r = sub.add_parser("run", help="run a scenario")
    r.add_argument("scenario", choices=sorted(ALL_SCENARIOS))
    r.add_argument("--loader", type=Loader, choices=list(Loader))
    r.add_argument("--crashkernel", help="override the scenario's crashkernel= (e.g. 192M)")
    r.add_argument("--probe", action="store_true",
                   help="on a timeout, sample the vCPUs (lab/hangprobe.py)")  # fmt: skip
    r.add_argument("--tcg-single", action="store_true",
                   help="single-threaded TCG (-accel tcg,thread=single)")  # fmt: skip
    machine_args(r)
    sh = sub.add_parser("shell-cmd", help="run an ad-hoc command in the guest")
    sh.add_argument("--cmd", required=True)
    sh.add_argument("--mem", type=int, default=1024, help="MiB")
    sh.add_argument("--crashkernel")
    sh.add_argument("--machine", type=Machine, choices=list(Machine), default=Machine.PSERIES)
    machine_args(sh)
    m = sub.add_parser("matrix", help="kernel x machine x scenario x CPUs, both loaders")
    m.add_argument("--ci", action="store_true", help="only the cells CI runs")
    m.add_argument("--kernel", type=Kernel, choices=list(Kernel), action="append")
    m.add_argument("--machine", type=Machine, choices=list(Machine), action="append")
    m.add_argument("--scenario", action="append", help="kexec, kdump, file-kexec, smt-...")
    m.add_argument("--cpus", type=int, action="append", help="only cells with these CPUs")
    m.add_argument("--lock", type=Path, help="flock this file around each run")
    m.add_argument("--timeout", type=float, default=600.0, help="overall seconds per run")
    c = sub.add_parser("capture", help="capture a /proc + /sys snapshot into tests/fixtures")
    c.add_argument("name")
    c.add_argument("--cpus", type=int, default=1)
    c.add_argument("--crashkernel")
    c.add_argument("--machine", type=Machine, choices=list(Machine), default=Machine.PSERIES)
    c.add_argument("--mem", type=int, help="MiB (default: powernv 2048; pseries 2048 with "
                   "--crashkernel, else 1024)")  # fmt: skip
    c.add_argument("--timeout", type=float, default=300.0)
    d = sub.add_parser("debsys", help="the Debian 12 system image (lab/debsys.py): build, run")
    d.add_argument("action", choices=("build", "run"))
    d.add_argument("scenario", nargs="?", choices=debsys.SCENARIOS)
    d.add_argument("--loader", choices=debsys.LOADERS, default="kexec-tools")
    d.add_argument("--deb", type=Path, help="the project's .deb (default: built from the tree)")
    d.add_argument("--crashkernel", help="instead of kdump-tools' recommendation (e.g. 256M)")
    d.add_argument("--crash-cpu", type=int, default=0, help="the CPU kdump's panic is on")
    d.add_argument("--ic-mode", choices=("", "xics", "xive", "dual"), default="",
                   help="QEMU pseries interrupt controller (default: QEMU's)")  # fmt: skip
    return p


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.command == "shell-cmd":
        s = shell_scenario(args.cmd, cpus=args.cpus or 1, mem_mib=args.mem, machine=args.machine)
        return dataclasses.replace(s, crashkernel=args.crashkernel, kernel=args.kernel or s.kernel)
    s = ALL_SCENARIOS[args.scenario].with_overrides(
        loader=args.loader, cpus=args.cpus, kernel=args.kernel
    )
    if args.tcg_single:
        s = dataclasses.replace(s, tcg_single=True)
    return dataclasses.replace(s, crashkernel=args.crashkernel) if args.crashkernel else s


def _main(args: argparse.Namespace) -> int:
    layout = cache()
    if args.command == "setup":
        assets.setup(layout, install_host=not args.no_host_install)
        print(f"lab assets ready in {layout.root}: kernel {layout.kernel_version()}")
        return 0
    if args.command == "build-kernel":
        return kbuild.main(layout, args.kernel)
    if args.command == "debsys":
        return debsys.main(
            layout, args.action, args.scenario, args.loader, args.deb, args.crashkernel,
            crash_cpu=args.crash_cpu, ic_mode=args.ic_mode,
        )  # fmt: skip
    if args.command == "list":
        for s in ALL_SCENARIOS.values():
            print(f"{s.name:18} loader={s.loader:8} kernel={s.kernel:14} cpus={s.cpus} "
                  f"mem={s.mem_mib}M crashkernel={s.crashkernel or '-':5} "
                  f"{s.description}")  # fmt: skip
        return 0
    assets.require(layout)
    if args.command == "calibrate-crashkernel":
        from lab.calibrate import Case, add_unrun, calibrate, refresh_facts
        from lab.calibrate import report as matrix_report

        if args.refresh_facts:
            refresh_facts(layout)
        if args.report:
            print(matrix_report())
        if args.unrun:
            add_unrun(layout, [Case.parse(c) for c in args.unrun], args.why)
        cases = []
        for text in args.case:
            spec, _, bracket = text.partition("@")
            lo, _, hi = bracket.partition("-")
            cases.append((Case.parse(spec), int(lo), int(hi)))
        at = tuple(int(m) for m in args.pykexec_at.split(",") if m)
        return calibrate(layout, cases, args.minutes, at) if cases else 0
    if args.command == "capture":
        from lab.capture import capture

        return 0 if capture(layout, args) else 1
    if args.command == "matrix":
        return _matrix(layout, args)
    options = RunOptions(
        _scenario(args), timeout=args.timeout, extra_cmdline=tuple(args.append),
        compress=args.gzip, probe=getattr(args, "probe", False),
    )  # fmt: skip
    sink = StepEcho("cmd") if args.command == "shell-cmd" else None
    report = run(layout, options, sink)
    print(report.format())
    if not report.passed and options.scenario.known_failure:
        print(f"known failure: {options.scenario.known_failure}")
    return 0 if report.passed else 1


def _matrix(layout: CacheLayout, args: argparse.Namespace) -> int:
    cells = [
        c for c in (matrix.CI if args.ci else matrix.FULL)
        if (not args.kernel or c.kernel in args.kernel)
        and (not args.machine or c.machine in args.machine)
        and (not args.scenario or c.scenario in args.scenario)
        and (not args.cpus or c.cpus in args.cpus)
    ]  # fmt: skip
    failed = 0

    def one(name: str, cell: matrix.Cell) -> Report:
        nonlocal failed
        report = run(layout, RunOptions(matrix.scenario_for(name, cell), timeout=args.timeout))
        if not report.passed:
            failed += 1
            print(f"{name} on {cell.label()} FAILED: {report.reason} ({report.log})", flush=True)
        return report

    for line in matrix.run_matrix(cells, one, args.lock):
        print(line, flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except LabError as exc:
        if args.debug:
            raise
        print(f"lab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
