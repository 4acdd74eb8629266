"""The same scenarios with pykexec as the loader inside the guest (only ``$KEXEC`` differs)."""

from __future__ import annotations

import pytest

from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import SCENARIOS, Loader

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("cpus", [1, 4])
def test_pykexec_kexec(lab_cache: CacheLayout, cpus: int) -> None:
    scenario = SCENARIOS["kexec"].with_overrides(cpus=cpus)
    assert scenario.loader is Loader.PYKEXEC
    report = run(lab_cache, RunOptions(scenario, timeout=600))
    print(report.format())
    assert report.passed, report.format()
    assert report.results["loader"] == "/usr/sbin/pykexec"
    assert report.results["nproc"] == str(cpus)


def test_pykexec_kdump(lab_cache: CacheLayout) -> None:
    report = run(lab_cache, RunOptions(SCENARIOS["kdump"], timeout=900))
    print(report.format())
    assert report.passed, report.format()
    assert report.results["loader"] == "/usr/sbin/pykexec"
    assert report.results["vmcore_elf"] == "ok"
