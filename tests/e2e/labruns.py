# SPDX-License-Identifier: GPL-2.0-or-later
"""A per-session cache of lab runs.

Each (scenario, CPUs) pair boots once per session; tests that look at the same
run from different angles (pass/fail, vmcore layout, side by side with the
reference) share its :class:`~lab.judge.Report`.
"""

from __future__ import annotations

from lab.judge import Report
from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import SCENARIOS

RUN_TIMEOUT = 600.0  # overall bound per run; the scenario's own deadlines are far tighter


class LabRuns:
    """Runs a scenario at most once per session per CPU count; prints each report."""

    def __init__(self, layout: CacheLayout) -> None:
        self.layout = layout
        self._reports: dict[tuple[str, int], Report] = {}

    def get(self, name: str, cpus: int | None = None) -> Report:
        scenario = SCENARIOS[name].with_overrides(cpus=cpus)
        key = (name, scenario.cpus)
        if key not in self._reports:
            report = run(self.layout, RunOptions(scenario, timeout=RUN_TIMEOUT))
            print(f"\n[{scenario.cpus} CPU] {report.format()}")
            self._reports[key] = report
        return self._reports[key]

    def passed(self, name: str, cpus: int | None = None) -> Report:
        """The run's report, failing the test (with the whole report) unless it passed."""
        report = self.get(name, cpus)
        assert report.passed, report.format()
        return report
