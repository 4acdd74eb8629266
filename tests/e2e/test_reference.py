# SPDX-License-Identifier: GPL-2.0-or-later
"""The reference scenarios (kexec-tools inside the guest) must pass end to end."""

from __future__ import annotations

import pytest

from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("cpus", [1, 4])
def test_reference_kexec(lab_runs: LabRuns, cpus: int) -> None:
    report = lab_runs.passed("reference-kexec", cpus)
    assert report.results["nproc"] == str(cpus)
    assert report.results["loader"] == "/usr/sbin/kexec"
    assert report.results["status_before"] == "S:0,lS:0"
    assert report.results["status_after"] == "S:0,lS:1"


@pytest.mark.parametrize("cpus", [1, 4])
def test_reference_kdump(lab_runs: LabRuns, cpus: int) -> None:
    report = lab_runs.passed("reference-kdump", cpus)
    assert report.results["vmcore_elf"] == "ok"
    assert report.results["loader"] == "/usr/sbin/kexec"
    assert report.results["status_p_loaded"] == "1"
    assert report.results["unloaded_crash_loaded"] == "0"
    assert report.results["reloaded_crash_loaded"] == "1"
