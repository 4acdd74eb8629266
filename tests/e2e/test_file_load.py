# SPDX-License-Identifier: GPL-2.0-or-later
"""kexec_file_load (-s, and -a taking the file path) on the lab's CONFIG_KEXEC_FILE kernel.

The kernel is built once from Debian's linux-source-6.1 (``python3 -m lab build-kernel``,
cached outside the repo); the first run builds it if needed.
"""

from __future__ import annotations

import pytest

from lab.file_scenarios import FILE_SCENARIOS
from lab.paths import CacheLayout
from lab.runner import RunOptions, run

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", sorted(FILE_SCENARIOS))
def test_file_scenario(lab_cache: CacheLayout, name: str) -> None:
    report = run(lab_cache, RunOptions(FILE_SCENARIOS[name], timeout=900))
    print(report.format())
    assert report.passed, report.format()
    assert report.results["kexec_file"] == "CONFIG_KEXEC_FILE=y"
    assert report.results["fallback"] == "no"
    assert report.results["loaded"] == "1"
    expected = "/usr/sbin/kexec" if name.startswith("reference") else "/usr/sbin/pykexec"
    assert report.results["loader"] == expected
    if "kdump" in name:
        assert report.results["vmcore_elf"] == "ok"
    else:
        assert report.results["marker"]
    if name == "file-kdump":  # issue 19: the KEXEC_FILE kernel's vmcore, both vmcore-dmesgs
        assert report.results["vmcore_dmesg_cmp"] == "same", report.results["vmcore_dmesg_bytes"]
        assert report.results["saved_dmesg_cmp"] == "same", report.results["saved_dump_err"]
    if "nokexec" in name:  # the kernel without kexec_load (lab.nokexec)
        assert report.results["kexec_load"] == "# CONFIG_KEXEC is not set"
    if name.startswith("nokexec"):
        for refused in ("refuse_c", "refuse_dtb"):
            assert report.results[f"{refused}_rc"] == "2"
        assert "this kernel has no kexec_load" in report.results["load_syscall"]
