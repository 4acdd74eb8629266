"""The reference scenarios (kexec-tools inside the guest) must pass end to end."""

from __future__ import annotations

import pytest

from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import SCENARIOS

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("cpus", [1, 4])
def test_reference_kexec(lab_cache: CacheLayout, cpus: int) -> None:
    scenario = SCENARIOS["reference-kexec"].with_overrides(cpus=cpus)
    report = run(lab_cache, RunOptions(scenario, timeout=600))
    print(report.format())
    assert report.passed, report.format()
    assert report.results["nproc"] == str(cpus)
    assert report.results["loader"] == "/usr/sbin/kexec"


def test_reference_kdump(lab_cache: CacheLayout) -> None:
    report = run(lab_cache, RunOptions(SCENARIOS["reference-kdump"], timeout=900))
    print(report.format())
    assert report.passed, report.format()
    assert report.results["vmcore_elf"] == "ok"
    assert report.results["loader"] == "/usr/sbin/kexec"
