"""Gate for the QEMU tests (skip unless the lab can run, or PYKEXEC_LAB=1) and the run cache."""

from __future__ import annotations

import os

import pytest

from lab.paths import CacheLayout, cache
from lab.vm import QEMU, qemu_available
from tests.e2e.labruns import LabRuns


@pytest.fixture(scope="session")
def lab_cache() -> CacheLayout:
    """The lab cache; with PYKEXEC_LAB=1 a missing asset fails the test instead of skipping."""
    layout = cache()
    forced = os.environ.get("PYKEXEC_LAB", "") not in ("", "0")
    if not forced:
        if not qemu_available():
            pytest.skip(f"{QEMU} not installed (apt-get install qemu-system-ppc; or PYKEXEC_LAB=1)")
        if not layout.ready():
            pytest.skip(f"no lab assets in {layout.root} (run `python3 -m lab setup` as root)")
    return layout


@pytest.fixture(scope="session")
def lab_runs(lab_cache: CacheLayout) -> LabRuns:
    return LabRuns(lab_cache)
