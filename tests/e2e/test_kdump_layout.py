# SPDX-License-Identifier: GPL-2.0-or-later
"""What the crash kernel sees in /proc/vmcore, for kexec-tools (reference) and pykexec.

* The PT_LOADs cover exactly the first kernel's System RAM minus the crash
  region, plus firmware areas (RTAS) that lie inside the crash region, whole
  64 KiB pages (kexec-tools crashdump-ppc64.c rounds RTAS to the page size).
* pykexec's PT_LOADs (paddr, memsz) and PT_NOTE count equal kexec-tools'.
* The vmcore's physical [0, 64 KiB) is the first kernel's, read just before
  the crash, except chunk 0 (``kexec_sequence`` copies the purgatory's first
  256 bytes to physical 0 before the purgatory backs the low 64 KiB up).
"""

from __future__ import annotations

import pytest

from tests.e2e.kdump_facts import (
    check_loads_are_ram_minus_crash,
    check_low_64k,
    check_same_vmcore_layout,
)
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab

KDUMP = ["reference-kdump", "kdump"]  # reference first: each check is proven on kexec-tools
CPUS = [1, 4]


@pytest.mark.parametrize("cpus", CPUS)
@pytest.mark.parametrize("name", KDUMP)
def test_vmcore_loads_are_ram_minus_crash_region(lab_runs: LabRuns, name: str, cpus: int) -> None:
    check_loads_are_ram_minus_crash(lab_runs.passed(name, cpus).results, f"{name} {cpus} CPU")


@pytest.mark.parametrize("cpus", CPUS)
def test_pykexec_vmcore_matches_kexec_tools(lab_runs: LabRuns, cpus: int) -> None:
    ref = lab_runs.passed("reference-kdump", cpus).results
    ours = lab_runs.passed("kdump", cpus).results
    check_same_vmcore_layout(ref, ours, f"{cpus} CPU")


@pytest.mark.parametrize("cpus", CPUS)
@pytest.mark.parametrize("name", KDUMP)
def test_vmcore_low_64k_is_the_first_kernels(lab_runs: LabRuns, name: str, cpus: int) -> None:
    check_low_64k(lab_runs.passed(name, cpus).results, f"{name} {cpus} CPU")
