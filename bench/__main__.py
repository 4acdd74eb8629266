"""``python3 -m bench [--rounds N] [--cpus N] [--boots N]``: pykexec vs kexec-tools, as ratios.

Load time counts from the process start (the command run by the guest's shell), measured
with the guest's /proc/uptime around each command, alternating the two tools so that
drift hits both alike; each load is followed by an unload.  Exec time is the host-clock
"exec to userspace" stage of the lab's kexec scenarios (reference-kexec vs kexec), and
crash time the "crash to userspace" stage of reference-kdump vs kdump.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from lab.paths import cache
from lab.runner import RunOptions, run
from lab.scenarios import SCENARIOS, Scenario, Stage, Step

# name -> (timed load, untimed unload that follows it)
LOADS = {
    "kexec -l": ("kexec -l /boot/vmlinux --initrd=/boot/initrd.img --append=x", "kexec -u"),
    "pykexec -l": ("pykexec -l /boot/vmlinux --initrd=/boot/initrd.img --append=x", "kexec -u"),
    "kexec -p": ("kexec -p /boot/vmlinux --initrd=/boot/initrd.img --append=x", "kexec -p -u"),
    "pykexec -p": (
        "pykexec -p /boot/vmlinux --initrd=/boot/initrd.img --append=x",
        "kexec -p -u",
    ),
}


def _timed(key: str, command: str, after: str) -> str:
    """Shell that runs ``command``, records its wall time (0.01 s) as a result, then
    runs ``after`` untimed."""
    return (
        "t0=$(cut -d' ' -f1 /proc/uptime)\n"
        f"{command} >/dev/null 2>&1 || lab_result {key}_failed 1\n"
        "t1=$(cut -d' ' -f1 /proc/uptime)\n"
        f'lab_result {key} "$(echo "$t1 $t0" | awk \'{{printf "%.2f", $1 - $2}}\')"\n'
        f"{after} >/dev/null 2>&1"
    )


def load_scenario(rounds: int, cpus: int) -> Scenario:
    script = []
    for i in range(rounds):
        for name, (command, after) in LOADS.items():
            key = name.replace(" -", "_").replace(" ", "_") + f"_{i}"
            script.append(_timed(key, command, after))
    return Scenario(
        name="bench-load",
        description="alternating kexec-tools and pykexec loads",
        loader=SCENARIOS["kexec"].loader,
        cpus=cpus,
        mem_mib=2048,
        crashkernel="512M",
        stages=((Stage.FIRST, (Step("loads", "\n".join(script), timeout=60.0 * rounds),)),),
        emulation_knobs=False,  # the product as it ships
    )


def _stage(report_timings: list[tuple[str, float]], prefix: str) -> float:
    return next(t for name, t in report_timings if name.startswith(prefix))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="loads of each kind")
    parser.add_argument("--boots", type=int, default=3, help="runs of each exec scenario")
    parser.add_argument("--cpus", type=int, default=1)
    args = parser.parse_args(argv)
    layout = cache()
    report = run(layout, RunOptions(load_scenario(args.rounds, args.cpus), timeout=900))
    if not report.passed:
        print(report.format())
        return 1
    times: dict[str, list[float]] = {}
    for key, value in report.results.items():
        if not key.startswith(("kexec_", "pykexec_")):
            continue
        base = key.rsplit("_", 1)[0]
        if base.endswith("failed"):
            print(f"a load failed: {key}")
            return 1
        times.setdefault(base, []).append(float(value))
    print(
        f"load time, median of {args.rounds} (s), {args.cpus} CPU(s), "
        f"kernel {report.kernel_version}:"
    )
    for kind in ("l", "p"):
        ref, ours = (statistics.median(times[f"{tool}_{kind}"]) for tool in ("kexec", "pykexec"))
        print(f"  -{kind}: kexec-tools {ref:.2f}  pykexec {ours:.2f}  ratio {ours / ref:.2f}")
    for ref_name, our_name, stage in (
        ("reference-kexec", "kexec", "exec to"),
        ("reference-kdump", "kdump", "crash to"),
    ):
        got: dict[str, list[float]] = {ref_name: [], our_name: []}
        for _ in range(args.boots):
            for name in got:
                scenario = SCENARIOS[name].with_overrides(cpus=args.cpus)
                r = run(layout, RunOptions(scenario, timeout=600))
                if not r.passed:
                    print(r.format())
                    return 1
                got[name].append(_stage(r.timings, stage))
        ref, ours = statistics.median(got[ref_name]), statistics.median(got[our_name])
        print(
            f"  {stage} userspace, median of {args.boots}: kexec-tools {ref:.2f}  "
            f"pykexec {ours:.2f}  ratio {ours / ref:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
