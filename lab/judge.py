# SPDX-License-Identifier: GPL-2.0-or-later
"""Judges one run from its console: markers, console rules, stops, deadlines, timings.

The guest speaks in marker lines (``LAB-USERSPACE``, ``LAB-BEGIN``, ``LAB-END``,
``LAB-RESULT``, ``LAB-PASS``, ``LAB-FAIL``); every other line is only matched
against the scenario's console rules while their step's window is open (from
``LAB-BEGIN`` to ``LAB-END`` or, for a hand-over step, to the next kernel's
``LAB-USERSPACE``).  Each marker sets an absolute deadline on the host clock
from the scenario's data; kernel chatter does not extend it.

A step with ``stops_with`` passes the run when its pattern appears, the machine
then prints no marker for :data:`STOP_GRACE` seconds, and every console rule
holds; the runner then kills QEMU.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from lab.model import ConsoleRule, Scenario, Stage, Step
from lab.vm import ConsoleLine

BETWEEN_STEPS_TIMEOUT = 10.0  # LAB-END to the next LAB-BEGIN/PASS (a shell builtin away)
STOP_GRACE = 5.0
MARKER_RE = re.compile(r"LAB-(USERSPACE|BEGIN|END|RESULT|PASS|FAIL)\b ?(.*)")


class Marker(str, Enum):
    USERSPACE = "USERSPACE"
    BEGIN = "BEGIN"
    END = "END"
    RESULT = "RESULT"
    PASS = "PASS"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Event:
    kind: Marker
    text: str
    at: float


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
    console: list[str] = field(default_factory=list)  # one line per console rule
    tail: list[str] = field(default_factory=list)

    def format(self) -> str:
        verdict = "PASS" if self.passed else f"FAIL: {self.reason}"
        lines = [f"scenario {self.scenario}: {verdict}", f"kernel: {self.kernel_version}"]
        lines += [f"  {name}: {n / 1e6:.1f} MB" for name, n in self.initrd_bytes.items()]
        lines += [f"  {label}: {seconds:.2f} s" for label, seconds in self.timings]
        lines += [f"  console: {c}" for c in self.console]
        lines += [f"  {k} = {v}" for k, v in self.results.items()]
        if not self.passed:
            lines += [f"console log: {self.log}", "--- last console lines ---", *self.tail]
        return "\n".join(lines)


def parse_marker(line: ConsoleLine) -> Event | None:
    match = MARKER_RE.search(line.text)
    if match is None:
        return None
    return Event(Marker(match.group(1)), match.group(2).strip(), line.at)


class Judge:
    """Consumes console lines; tracks stage, windows, deadline, timings and the verdict."""

    def __init__(self, scenario: Scenario, report: Report, marker: str) -> None:
        self.scenario = scenario
        self.report = report
        self.marker = marker
        self.stage: Stage | None = None
        self.begun: dict[str, float] = {}
        self.windows: set[str] = set()  # steps whose console window is open
        self.opened: set[str] = set()
        self.seen: dict[ConsoleRule, ConsoleLine] = {}
        self.leaving: tuple[str, float] | None = None
        self.stopping: tuple[str, float] | None = None  # stop pattern, when seen
        self.deadline = scenario.boot_timeout
        self.waiting_for = "boot to userspace"
        self.done = False

    # -- console lines -------------------------------------------------------

    def line(self, line: ConsoleLine) -> None:
        """Every console line: console rules, the stop pattern, then markers."""
        for rule in self.scenario.console:
            in_window = rule.step in self.windows and rule not in self.seen
            if in_window and re.search(rule.pattern, line.text):
                self.seen[rule] = line
        self._check_stop(line)
        ev = parse_marker(line)
        if ev is not None:
            self.feed(ev)

    def _check_stop(self, line: ConsoleLine) -> None:
        if self.stopping is not None or self.leaving is None:
            return
        step = self._step(self.leaving[0])
        if step is None or step.stops_with is None or not re.search(step.stops_with, line.text):
            return
        self.stopping = (step.stops_with, line.at)
        self.report.timings.append(
            (f"{step.name} to /{step.stops_with}/", line.at - self.leaving[1])
        )
        self.deadline = line.at + STOP_GRACE
        self.waiting_for = f"{STOP_GRACE:.0f} s of quiet after /{step.stops_with}/"

    def expired(self, now: float) -> str | None:
        """Called when the deadline passed: None if that is the expected stop, else why not."""
        if self.stopping is None:
            return f"timeout waiting for {self.waiting_for} (stage {self.stage})"
        pattern, at = self.stopping
        self.report.timings.append((f"quiet after /{pattern}/", now - at))
        self.done = True
        self._verdict(self.scenario.stages[-1][0] if self.stage is None else self.stage)
        return None

    # -- markers -------------------------------------------------------------

    def _step(self, name: str) -> Step | None:
        if self.stage is None:
            return None
        return next((s for s in self.scenario.steps(self.stage) if s.name == name), None)

    def _wait(self, at: float, seconds: float, what: str) -> None:
        self.deadline = at + seconds
        self.waiting_for = f"{what} ({seconds:.0f} s)"

    def feed(self, ev: Event) -> None:
        if self.stopping is not None:
            self.done = True
            self.report.reason = f"the machine went on after /{self.stopping[0]}/: LAB-{ev.kind}"
            return
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
        self.windows.clear()
        if self.leaving is None:
            self.report.timings.append((f"boot to userspace (stage {self.stage})", ev.at))
        else:
            name, start = self.leaving
            self.report.timings.append((f"{name} to userspace (stage {self.stage})", ev.at - start))
            self.leaving = None
        self.report.results[f"guest_uptime_stage_{self.stage}"] = fields.get("uptime", "?")
        self._wait(ev.at, BETWEEN_STEPS_TIMEOUT, "the first step")

    def _begin(self, ev: Event) -> None:
        step = self._step(ev.text)
        self.begun[ev.text] = ev.at
        self.windows.add(ev.text)
        self.opened.add(ev.text)
        timeout = step.timeout if step else BETWEEN_STEPS_TIMEOUT
        if step is not None and step.leaves:
            self.leaving = (ev.text, ev.at)
            what = f"/{step.stops_with}/" if step.stops_with else "the next userspace"
            self._wait(ev.at, timeout, f"step {ev.text} to {what}")
        else:
            self._wait(ev.at, timeout, f"step {ev.text}")

    def _end(self, ev: Event) -> None:
        name, _, rc = ev.text.partition(" ")
        self.windows.discard(name)
        start = self.begun.get(name, ev.at)
        self.report.timings.append((f"step {name} [{rc}] (stage {self.stage})", ev.at - start))
        self._wait(ev.at, BETWEEN_STEPS_TIMEOUT, "the next step")

    def _result(self, ev: Event) -> None:
        key, _, value = ev.text.partition("=")
        self.report.results[key] = value

    def _pass(self, ev: Event) -> None:
        self.done = True
        self._verdict(self.stage)

    def _fail(self, ev: Event) -> None:
        self.done = True
        self._console_verdict()
        self.report.reason = f"guest: {ev.text} (stage {self.stage})"

    # -- verdict -------------------------------------------------------------

    def _verdict(self, stage: Stage | None) -> None:
        last = self.scenario.stages[-1][0] if self.stopping is None else stage
        failed_rules = self._console_verdict()
        if stage != last:
            self.report.reason = f"LAB-PASS in stage {stage}, expected stage {last}"
        elif "marker" in self.report.results and self.report.results["marker"] != self.marker:
            self.report.reason = f"marker {self.report.results['marker']!r} != {self.marker!r}"
        elif failed_rules:
            self.report.reason = "console: " + "; ".join(failed_rules)
        else:
            self.report.passed = True

    def _console_verdict(self) -> list[str]:
        """Fill report.console; return the rules that do not hold."""
        failed = []
        self.report.console = []
        for rule in self.scenario.console:
            line = self.seen.get(rule)
            if rule.step not in self.opened:
                state, ok = f"step {rule.step} never ran", False
            elif line is None:
                state, ok = "not seen", not rule.present
            else:
                start = self.begun.get(rule.step, line.at)
                state = f"seen {line.at - start:.2f} s into {rule.step}: {line.text.strip()!r}"
                ok = rule.present
            self.report.console.append(f"{'ok' if ok else 'FAILED'}: {rule.describe()}: {state}")
            if not ok:
                failed.append(f"{rule.describe()} ({state})")
        return failed


LOW64K_BEFORE, LOW64K_VMCORE = "low64k_before", "low64k_vmcore"  # lab/guest/memcheck.py


def low64k_problem(results: Mapping[str, str]) -> str | None:
    """Why the vmcore's [1 KiB, 64 KiB) is not the old kernel's [1 KiB, 64 KiB) read just
    before the crash (memcheck's per-KiB CRC32s), or None.  KiB 0 is left out, as
    tests/e2e/kdump_facts.check_low_64k leaves it (the crash path writes there)."""
    before, vmcore = (results.get(k, "").split(",") for k in (LOW64K_BEFORE, LOW64K_VMCORE))
    if len(before) != 64 or len(vmcore) != 64:
        got = f"{len(before)}, {len(vmcore)}"
        return f"want 64 CRCs in {LOW64K_BEFORE} and {LOW64K_VMCORE}, got {got}"
    bad = [i for i in range(1, 64) if before[i] != vmcore[i]]
    if bad:
        return f"the vmcore's [0, 64 KiB) is not the old kernel's: {len(bad)} of KiB 1-63 differ"
    return None
