"""Runs a scenario in a fresh guest and judges it from the console markers.

The host clock times every stage: boot to the first userspace marker, each
step (``LAB-BEGIN`` to ``LAB-END``), and a hand-over step (``kexec -e``, the
sysrq crash) to the next kernel's userspace marker.  Every wait has a timeout
taken from the scenario's data; the verdict needs ``LAB-PASS`` from the
scenario's last stage and the host-chosen marker echoed back.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from lab.errors import GuestFailure, GuestTimeout
from lab.initramfs import GuestFile, build
from lab.paths import CacheLayout
from lab.scenarios import Scenario, Stage, Step, render
from lab.vm import ConsoleLine, Guest, MachineConfig

BOOT_TIMEOUT = 120.0
BETWEEN_STEPS_TIMEOUT = 60.0
POWEROFF_GRACE = 10.0
MARKER_RE = re.compile(r"LAB-(USERSPACE|BEGIN|END|RESULT|PASS|FAIL)\b ?(.*)")


class Marker(StrEnum):
    USERSPACE = "USERSPACE"
    BEGIN = "BEGIN"
    END = "END"
    RESULT = "RESULT"
    PASS = "PASS"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Event:
    kind: Marker
    text: str
    at: float


@dataclass(frozen=True)
class RunOptions:
    """Everything that varies between two runs of one scenario."""

    scenario: Scenario
    timeout: float = 900.0
    extra_cmdline: tuple[str, ...] = ()
    compress: bool = False


@dataclass
class Report:
    """Outcome of one run (filled while the console is read)."""

    scenario: str
    kernel_version: str
    log: Path
    initrd_bytes: dict[str, int]
    passed: bool = False
    reason: str = ""
    stage: str = ""
    timings: list[tuple[str, float]] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)

    def format(self) -> str:
        verdict = "PASS" if self.passed else f"FAIL: {self.reason}"
        lines = [f"scenario {self.scenario}: {verdict}", f"kernel: {self.kernel_version}"]
        lines += [f"  {name}: {n / 1e6:.1f} MB" for name, n in self.initrd_bytes.items()]
        lines += [f"  {label}: {seconds:.2f} s" for label, seconds in self.timings]
        lines += [f"  {k} = {v}" for k, v in self.results.items()]
        if not self.passed:
            lines += [f"console log: {self.log}", "--- last console lines ---", *self.tail]
        return "\n".join(lines)


def parse_marker(line: ConsoleLine) -> Event | None:
    match = MARKER_RE.search(line.text)
    if match is None:
        return None
    return Event(Marker(match.group(1)), match.group(2).strip(), line.at)


def kernel_cmdline(options: RunOptions, marker: str, nonce: str) -> tuple[str, ...]:
    """The first kernel's words after console=hvc0 panic=-1.

    Random values are only passed to scenarios whose script uses them, so a
    snapshot's /proc/cmdline is the same at every capture.
    """
    s = options.scenario
    script = render(s)
    words = [f"lab.scenario={s.name}", f"lab.stage={Stage.FIRST}", f"lab.cpus={s.cpus}"]
    if "$LAB_marker" in script:
        words.append(f"lab.marker={marker}")
    if "$LAB_nonce" in script:
        words += [f"lab.nonce={nonce}", f"lab.fill={s.fill_mib}"]
    if s.crashkernel:
        words.append(f"crashkernel={s.crashkernel}")
    return (*words, *options.extra_cmdline)


class _Judge:
    """Consumes marker events, tracks timing and the next deadline."""

    def __init__(self, scenario: Scenario, report: Report, marker: str) -> None:
        self.scenario = scenario
        self.report = report
        self.marker = marker
        self.stage: Stage | None = None
        self.begun: dict[str, float] = {}
        self.leaving: tuple[str, float] | None = None
        self.timeout = BOOT_TIMEOUT
        self.done = False

    def _step(self, name: str) -> Step | None:
        if self.stage is None:
            return None
        return next((s for s in self.scenario.steps(self.stage) if s.name == name), None)

    def feed(self, ev: Event) -> None:
        handler: dict[Marker, Callable[[Event], None]] = {
            Marker.USERSPACE: self._userspace,
            Marker.BEGIN: self._begin,
            Marker.END: self._end,
            Marker.RESULT: self._result,
            Marker.PASS: self._pass,
            Marker.FAIL: self._fail,
        }
        handler[ev.kind](ev)

    def _userspace(self, ev: Event) -> None:
        fields = dict(w.split("=", 1) for w in ev.text.split() if "=" in w)
        self.stage = Stage(fields.get("stage", Stage.FIRST))
        self.report.stage = self.stage
        if self.leaving is None:
            self.report.timings.append((f"boot to userspace (stage {self.stage})", ev.at))
        else:
            name, start = self.leaving
            self.report.timings.append((f"{name} to userspace (stage {self.stage})", ev.at - start))
            self.leaving = None
        self.report.results[f"guest_uptime_stage_{self.stage}"] = fields.get("uptime", "?")
        self.timeout = BETWEEN_STEPS_TIMEOUT

    def _begin(self, ev: Event) -> None:
        step = self._step(ev.text)
        self.begun[ev.text] = ev.at
        self.timeout = step.timeout if step else BETWEEN_STEPS_TIMEOUT
        if step is not None and step.leaves:
            self.leaving = (ev.text, ev.at)
            self.timeout += BOOT_TIMEOUT

    def _end(self, ev: Event) -> None:
        name, _, rc = ev.text.partition(" ")
        start = self.begun.get(name, ev.at)
        self.report.timings.append((f"step {name} [{rc}] (stage {self.stage})", ev.at - start))
        self.timeout = BETWEEN_STEPS_TIMEOUT

    def _result(self, ev: Event) -> None:
        key, _, value = ev.text.partition("=")
        self.report.results[key] = value

    def _pass(self, ev: Event) -> None:
        last = self.scenario.stages[-1][0]
        self.done = True
        if self.stage != last:
            self.report.reason = f"LAB-PASS in stage {self.stage}, expected stage {last}"
        elif "marker" in self.report.results and self.report.results["marker"] != self.marker:
            self.report.reason = f"marker {self.report.results['marker']!r} != {self.marker!r}"
        else:
            self.report.passed = True

    def _fail(self, ev: Event) -> None:
        self.done = True
        self.report.reason = f"guest: {ev.text} (stage {self.stage})"


LineSink = Callable[[ConsoleLine], None]


def _watch(guest: Guest, judge: _Judge, deadline: float, sink: LineSink | None) -> None:
    while not judge.done:
        if guest.now() > deadline:
            raise GuestTimeout(f"overall timeout after {deadline:.0f} s (stage {judge.stage})")
        wait = min(judge.timeout, deadline - guest.now())
        try:
            line = guest.next_line(wait)
        except TimeoutError:
            where = f"stage {judge.stage}" if judge.stage else "boot (before userspace)"
            if wait < judge.timeout:
                raise GuestTimeout(
                    f"overall --timeout of {deadline:.0f} s hit in {where}"
                ) from None
            raise GuestTimeout(f"no marker for {wait:.0f} s in {where}") from None
        if line is None:
            raise GuestFailure(f"QEMU exited (code {guest.exit_code()}) in stage {judge.stage}")
        if sink is not None:
            sink(line)
        ev = parse_marker(line)
        if ev is not None:
            judge.feed(ev)


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
    s = options.scenario
    marker, nonce = secrets.token_hex(8), secrets.token_hex(8)
    run_dir = layout.root / "run" / f"{s.name}-{os.getpid()}"
    try:
        return _run_in(layout, options, sink, run_dir, marker, nonce)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_in(
    layout: CacheLayout,
    options: RunOptions,
    sink: LineSink | None,
    run_dir: Path,
    marker: str,
    nonce: str,
) -> Report:
    s = options.scenario
    images = build(layout, run_dir, [GuestFile("lab/scenario.sh", render(s).encode())],
                   compress=options.compress)  # fmt: skip
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
    )
    judge = _Judge(s, report, marker)
    with Guest(config, report.log) as guest:
        try:
            _watch(guest, judge, options.timeout, sink)
            report.timings.append(("total", guest.now()))
            _await_exit(guest)
        except (GuestTimeout, GuestFailure) as exc:
            report.passed = False
            report.reason = str(exc)
        report.tail = list(guest.tail)
    return report


def _await_exit(guest: Guest) -> None:
    end = guest.now() + POWEROFF_GRACE
    while guest.now() < end:
        try:
            if guest.next_line(end - guest.now()) is None:
                return
        except TimeoutError:
            return
