"""Command line of the lab: ``python3 -m lab COMMAND``.

Commands: setup, build-kernel, list, run, shell-cmd, capture, calibrate-crashkernel.

Exit status 0 only when the requested run passed; lab errors print one
message (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from lab import assets, kbuild
from lab.errors import LabError
from lab.file_scenarios import FILE_SCENARIOS, kernel_layout
from lab.paths import cache
from lab.runner import RunOptions, StepEcho, run
from lab.scenarios import SCENARIOS, Loader, Machine, Scenario, shell_scenario

ALL_SCENARIOS: dict[str, Scenario] = {**SCENARIOS, **FILE_SCENARIOS}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m lab", description=__doc__)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup", help="install host tools, download and stage guest assets")
    setup.add_argument("--no-host-install", action="store_true")
    sub.add_parser("list", help="list scenarios")
    sub.add_parser("build-kernel", help="build (or reuse) the KEXEC_FILE kernel (lab/kbuild.py)")
    cal = sub.add_parser(
        "calibrate-crashkernel",
        help="bisect the smallest crashkernel= that boots and dumps (lab/calibrate.py)",
    )
    cal.add_argument("--rows", help="CPUS[:gzip][:nrN],... (default: 1,4,1:gzip,4:nr4)")

    def machine_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--cpus", type=int, help="guest CPUs (-smp)")
        q.add_argument("--timeout", type=float, default=900.0, help="overall seconds")
        q.add_argument("--append", action="append", default=[], help="extra kernel args")
        q.add_argument("--gzip", action="store_true", help="gzip the initramfs")

    r = sub.add_parser("run", help="run a scenario")
    r.add_argument("scenario", choices=sorted(ALL_SCENARIOS))
    r.add_argument("--loader", type=Loader, choices=list(Loader))
    machine_args(r)
    sh = sub.add_parser("shell-cmd", help="run an ad-hoc command in the guest")
    sh.add_argument("--cmd", required=True)
    sh.add_argument("--mem", type=int, default=1024, help="MiB")
    sh.add_argument("--crashkernel")
    sh.add_argument("--machine", type=Machine, choices=list(Machine), default=Machine.PSERIES)
    machine_args(sh)
    c = sub.add_parser("capture", help="capture a /proc + /sys snapshot into tests/fixtures")
    c.add_argument("name")
    c.add_argument("--cpus", type=int, default=1)
    c.add_argument("--crashkernel")
    c.add_argument("--machine", type=Machine, choices=list(Machine), default=Machine.PSERIES)
    c.add_argument("--mem", type=int, help="MiB (default: powernv 2048; pseries 2048 with "
                   "--crashkernel, else 1024)")  # fmt: skip
    c.add_argument("--timeout", type=float, default=300.0)
    return p


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.command == "shell-cmd":
        s = shell_scenario(args.cmd, cpus=args.cpus or 1, mem_mib=args.mem, machine=args.machine)
        return dataclasses.replace(s, crashkernel=args.crashkernel)
    return ALL_SCENARIOS[args.scenario].with_overrides(loader=args.loader, cpus=args.cpus)


def _calibration_row(text: str) -> tuple[int, bool, int]:
    """``CPUS[:gzip][:nrN]``: guest CPUs, a gzip payload initrd, the crash nr_cpus=."""
    words = text.split(":")
    nr = [int(w[2:]) for w in words[1:] if w.startswith("nr") and w[2:].isdigit()]
    return int(words[0]), "gzip" in words[1:], nr[0] if nr else 1


def _main(args: argparse.Namespace) -> int:
    layout = cache()
    if args.command == "setup":
        assets.setup(layout, install_host=not args.no_host_install)
        print(f"lab assets ready in {layout.root}: kernel {layout.kernel_version()}")
        return 0
    if args.command == "build-kernel":
        return kbuild.main(layout)
    if args.command == "list":
        for s in ALL_SCENARIOS.values():
            print(f"{s.name:18} loader={s.loader:8} cpus={s.cpus} mem={s.mem_mib}M "
                  f"crashkernel={s.crashkernel or '-':5} {s.description}")  # fmt: skip
        return 0
    assets.require(layout)
    if args.command == "calibrate-crashkernel":
        from lab.calibrate import ROWS, calibrate

        rows = ROWS
        if args.rows:
            rows = tuple(_calibration_row(r) for r in args.rows.split(","))
        return calibrate(layout, rows)
    if args.command == "capture":
        from lab.capture import capture

        return 0 if capture(layout, args) else 1
    options = RunOptions(
        _scenario(args), timeout=args.timeout, extra_cmdline=tuple(args.append),
        compress=args.gzip,
    )  # fmt: skip
    sink = StepEcho("cmd") if args.command == "shell-cmd" else None
    report = run(kernel_layout(layout, options.scenario), options, sink)
    print(report.format())
    return 0 if report.passed else 1


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
