# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a scenario in a fresh guest; :class:`lab.judge.Judge` reads its console.

The host clock times every stage: boot to the first userspace marker, each
step (``LAB-BEGIN`` to ``LAB-END``), and a hand-over step (``kexec -e``, the
sysrq crash) to the next kernel's userspace marker.  Every wait has a deadline
taken from the scenario's data; the verdict needs ``LAB-PASS`` from the
scenario's last stage with the host-chosen marker echoed back and every console
rule holding, or, for a scenario that ends in a stop, the stop pattern and then
quiet.  QEMU is killed by its pid in every case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import corpus, dumpcheck, hangprobe, vtpm
from lab.assets import kernel_layout, newer_makedumpfile, payload_files, qemu_files
from lab.errors import GuestFailure, GuestTimeout
from lab.initramfs import GuestFile, build
from lab.judge import Judge, Marker, Report, low64k_problem, parse_marker
from lab.kernels import for_kernel, needs_newer_makedumpfile
from lab.model import Scenario, Stage, render
from lab.paths import CacheLayout
from lab.qmp import Qmp, QmpError
from lab.vm import INITRD_MAX_BYTES, ConsoleLine, Guest, MachineConfig

POWEROFF_GRACE = 10.0


@dataclass(frozen=True)
class RunOptions:
    """Everything that varies between two runs of one scenario."""

    scenario: Scenario
    timeout: float = 900.0
    extra_cmdline: tuple[str, ...] = ()
    compress: bool = False
    icount: bool = False  # count instructions instead of time (lab.vm.ICOUNT_ARGS)
    maxmem: str | None = None  # e.g. "4T": a pseries guest with 16k LMBs (lab.vm.HOTPLUG_SLOTS)
    files: tuple[GuestFile, ...] = ()  # extra files for the overlay (first and next kernels)
    # the crash payload's initrd codec (lab.initramfs.CODECS): the next initrd, or with
    # a lean kdump scenario the lean one; "" leaves them as ``compress`` says
    payload_codec: str = ""
    # on a step's timeout, sample every vCPU's registers over QMP before QEMU is killed,
    # named by the kernel's symbols (lab.hangprobe): results probe_cpuN, raw in <log>.regs
    probe: bool = False


def kernel_cmdline(options: RunOptions, marker: str, nonce: str) -> tuple[str, ...]:
    """The first kernel's words after console=hvc0 panic=-1.

    Random values are only passed to scenarios whose script uses them, so a
    snapshot's /proc/cmdline is the same at every capture.
    """
    s = options.scenario
    script = render(s)
    words = [f"lab.scenario={s.name}", f"lab.stage={Stage.FIRST}", f"lab.cpus={s.cpus}", *s.cmdline]
    if "$LAB_marker" in script:
        words.append(f"lab.marker={marker}")
    if "$LAB_nonce" in script:
        words += [f"lab.nonce={nonce}", f"lab.fill={s.fill_mib}"]
    if s.crashkernel:
        words.append(f"crashkernel={s.crashkernel}")
    return (*words, *options.extra_cmdline)


LineSink = Callable[[ConsoleLine], None]


def _host_action(guest: Guest, judge: Judge, line: ConsoleLine) -> None:
    """At ``LAB-BEGIN <step>`` of a step with a host action, send its QMP commands."""
    hotplug, ev = judge.scenario.hotplug, parse_marker(line)
    if hotplug is None or ev is None or ev.kind is not Marker.BEGIN:
        return
    action = hotplug.action(ev.text)
    if action is None or guest.config.qmp is None:
        return
    started = guest.now()
    try:
        with Qmp(guest.config.qmp) as qmp:
            for command in action.commands:
                qmp.execute(command.name, **command.kwargs())
    except QmpError as exc:
        raise GuestFailure(f"host action at step {action.step}: {exc}") from exc
    judge.report.timings.append((f"host QMP at {action.step}", guest.now() - started))
    judge.report.results[f"host_{action.step}"] = ",".join(
        f"{c.name}:{c.kwargs().get('driver', c.kwargs().get('qom-type', ''))}"
        for c in action.commands
    )


def _watch(guest: Guest, judge: Judge, overall: float, sink: LineSink | None) -> None:
    while not judge.done:
        now = guest.now()
        if now >= judge.deadline:
            why = judge.expired(now)
            if why is not None:
                raise GuestTimeout(why)
            return
        if now >= overall:
            raise GuestTimeout(f"overall --timeout of {overall:.0f} s hit in stage {judge.stage}")
        try:
            line = guest.next_line(min(judge.deadline, overall) - now)
        except TimeoutError:
            continue
        if line is None:
            raise GuestFailure(f"QEMU exited (code {guest.exit_code()}) in stage {judge.stage}")
        if sink is not None:
            sink(line)
        judge.line(line)
        _host_action(guest, judge, line)


class StepEcho:
    """A line sink that prints the console lines a step printed (for shell-cmd)."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.inside = False

    def __call__(self, line: ConsoleLine) -> None:
        ev = parse_marker(line)
        if ev is not None and ev.kind is Marker.BEGIN and ev.text == self.step:
            self.inside = True
        elif ev is not None and ev.kind is Marker.END and ev.text.startswith(f"{self.step} "):
            self.inside = False
        elif self.inside:
            print(line.text, flush=True)


def run(layout: CacheLayout, options: RunOptions, sink: LineSink | None = None) -> Report:
    """Boot the scenario's machine, watch it to a verdict, and kill QEMU.

    ``sink`` (if given) sees every console line, e.g. to collect a data block.
    """
    s = for_kernel(options.scenario)
    sid = corpus.kexec_files(layout) if s.sid_kexec else ()
    options = dataclasses.replace(options, scenario=s, files=(*options.files, *sid))
    payload = payload_files(layout, s.extra_kernel) if s.extra_kernel else ()
    layout = kernel_layout(layout, s.kernel)
    marker, nonce = secrets.token_hex(8), secrets.token_hex(8)
    run_dir = layout.root / "run" / f"{s.name}-{os.getpid()}"
    try:
        with vtpm.swtpm(run_dir / "swtpm") if s.vtpm else contextlib.nullcontext() as tpm:
            return _run_in(layout, options, sink, run_dir, marker, nonce, payload, tpm)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_in(
    layout: CacheLayout,
    options: RunOptions,
    sink: LineSink | None,
    run_dir: Path,
    marker: str,
    nonce: str,
    payload: tuple[tuple[str, Path], ...] = (),
    tpm_socket: Path | None = None,  # lab.vtpm's swtpm, for the guest's tpm-spapr
) -> Report:
    s = options.scenario
    compress: bool | str = options.compress or s.machine in INITRD_MAX_BYTES  # lab.vm
    if options.payload_codec and not s.lean_kdump:
        compress = options.payload_codec
    scenario_file = GuestFile("lab/scenario.sh", render(s).encode())
    # The lean payload carries a makedumpfile that reads the kernel's vmcore (lab.kernels).
    newer = newer_makedumpfile(layout) if s.lean_kdump and needs_newer_makedumpfile(s) else None
    images = build(layout, run_dir, [scenario_file, *options.files], compress=compress,
                   payload=payload, kdump=s.lean_kdump, kdump_newer=newer,
                   kdump_compress=options.payload_codec if s.lean_kdump else "")  # fmt: skip
    dump_file = run_dir / "dump.flat" if s.lean_kdump else None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = Report(
        scenario=s.name,
        kernel_version=layout.kernel_version(),
        log=layout.logs / f"{s.name}-{s.cpus}cpu-{stamp}-{os.getpid()}.log",
        initrd_bytes=images.sizes(),
    )
    config = MachineConfig(
        kernel=layout.vmlinux,
        initrd=images.initrd,
        cmdline=kernel_cmdline(options, marker, nonce),
        cpus=s.cpus,
        mem_mib=s.mem_mib,
        machine=s.machine,
        threads=s.threads,
        hotplug=s.hotplug,
        qmp=run_dir / "qmp.sock" if s.hotplug or options.probe else None,
        icount=options.icount,
        maxmem=options.maxmem,
        dump_file=dump_file,
        tpm_socket=tpm_socket,
        firmware=s.firmware,
        qemu=qemu_files(layout, s.qemu),
        cpu_model=s.cpu_model,
        tcg_single=s.tcg_single,
    )
    judge = Judge(s, report, marker)
    with Guest(config, report.log) as guest:
        try:
            _watch(guest, judge, options.timeout, sink)
            report.timings.append(("total", guest.now()))
            if judge.stopping is None:
                _await_exit(guest)
        except (GuestTimeout, GuestFailure) as exc:
            report.passed = False
            report.reason = str(exc)
            if options.probe and isinstance(exc, GuestTimeout) and config.qmp is not None:
                _probe(report, config.qmp, layout.vmlinux, guest.pid)
        report.tail = list(guest.tail)
    if dump_file is not None and report.passed:
        _check_dump(report, dump_file, run_dir / "vmcore", nonce, s.fill_mib)
    why = low64k_problem(report.results) if s.low64k_check and report.passed else None
    if why is not None:
        report.passed, report.reason = False, f"host: {why}"
    return report


def _probe(report: Report, qmp: Path, vmlinux: Path, pid: int) -> None:
    try:
        regs = report.log.with_suffix(".regs")
        report.results.update(hangprobe.probe(qmp, vmlinux, regs, pid))
    except QmpError as exc:
        report.results["probe_error"] = str(exc)


def _check_dump(report: Report, stream: Path, work: Path, nonce: str, fill_mib: int) -> None:
    """The host's verdict on the dump the crash kernel streamed out (lab.dumpcheck)."""
    started = time.monotonic()
    ok, facts, why = dumpcheck.check(stream, work, nonce, fill_mib)
    report.timings.append(("host dump check", time.monotonic() - started))
    report.results.update(facts.results(dumpcheck.wanted_records(nonce, fill_mib)))
    if not ok:
        report.passed = False
        report.reason = f"host: {why}"


def _await_exit(guest: Guest) -> None:
    end = guest.now() + POWEROFF_GRACE
    while guest.now() < end:
        try:
            if guest.next_line(end - guest.now()) is None:
                return
        except TimeoutError:
            return
