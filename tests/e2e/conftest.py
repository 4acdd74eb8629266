# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's fixtures: its asset cache (checked once) and the per-session run cache.

Only tests marked ``lab`` may use them (tests/conftest.py enforces it). A missing
QEMU or asset skips the test on a developer's machine; with ``PYKEXEC_LAB=1`` (the
lab was asked for) or ``CI=true`` it fails the test instead.
"""

from __future__ import annotations

import pytest

from lab.paths import CacheLayout, cache
from lab.vm import QEMU, qemu_available
from tests.e2e.labruns import LabRuns
from tests.oracles import install_hint, lab_env, missing


def _unavailable(what: str, hint: str) -> None:
    if lab_env():
        pytest.fail(f"PYKEXEC_LAB=1 but {what} ({hint})", pytrace=False)
    missing(what, hint)


@pytest.fixture(scope="session")
def lab_cache() -> CacheLayout:
    """The lab cache, ready for a run."""
    layout = cache()
    if not qemu_available():
        _unavailable(f"{QEMU} is not installed", install_hint("qemu-system-ppc64"))
    if not layout.ready():
        _unavailable(f"no lab assets in {layout.root}", "run `python3 -m lab setup` as root")
    return layout


@pytest.fixture(scope="session")
def lab_runs(lab_cache: CacheLayout) -> LabRuns:
    return LabRuns(lab_cache)
