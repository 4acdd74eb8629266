# SPDX-License-Identifier: GPL-2.0-or-later
"""The reference scenarios with pykexec as the loader (only ``$KEXEC`` differs)."""

from __future__ import annotations

import pytest

from lab.scenarios import SCENARIOS, Loader
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("cpus", [1, 4])
def test_pykexec_kexec(lab_runs: LabRuns, cpus: int) -> None:
    assert SCENARIOS["kexec"].loader is Loader.PYKEXEC
    report = lab_runs.passed("kexec", cpus)
    assert report.results["loader"] == "/usr/sbin/pykexec"
    assert report.results["nproc"] == str(cpus)


@pytest.mark.parametrize("cpus", [1, 4])
def test_pykexec_status_follows_kexec_tools(lab_runs: LabRuns, cpus: int) -> None:
    """-S and -l -S exit 1 when that kernel is loaded, 0 when not, like kexec-tools."""
    results = lab_runs.passed("kexec", cpus).results
    for when, expected in (("before", "S:0,lS:0"), ("after", "S:0,lS:1")):
        assert results[f"status_{when}"] == results[f"status_{when}_kexec_tools"] == expected


@pytest.mark.parametrize("cpus", [1, 4])
def test_pykexec_kdump(lab_runs: LabRuns, cpus: int) -> None:
    report = lab_runs.passed("kdump", cpus)
    assert report.results["loader"] == "/usr/sbin/pykexec"
    assert report.results["vmcore_elf"] == "ok"
    assert report.results["status_p_loaded"] == report.results["status_p_loaded_kexec_tools"]
    assert report.results["status_p_loaded"] == "1"
    assert report.results["unloaded_crash_loaded"] == "0"
    assert report.results["reloaded_crash_loaded"] == "1"
