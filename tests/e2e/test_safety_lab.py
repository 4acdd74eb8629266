# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 8 in the lab: harmless dry runs of every action, no live load from a snapshot,
petitboot's --dtb form under the default syscall choice, for -l and -p, and the
purgatory's console on PowerNV (OPAL, never the pSeries hypervisor call)."""

from __future__ import annotations

import pytest

from lab.scenarios import DRY_RUNS, SKIBOOT_START
from tests.e2e.kdump_facts import check_loads_are_ram_minus_crash, check_low_64k
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", ["dry-run", "powernv-dry-run"])
def test_dry_runs_leave_both_images_loaded(lab_runs: LabRuns, name: str) -> None:
    r = lab_runs.passed(name).results
    for key, args in DRY_RUNS:
        assert r[f"{key}_rc"] == "0", (args, r[f"{key}_out"])
        assert r[f"{key}_out"].startswith("dry run: "), (args, r[f"{key}_out"])
    assert "would unload the crash kernel (loaded now)" in r["dry_pu_out"]
    assert r["still_running"] == "yes"
    assert r["sysroot_live_rc"] == "2" and r["sysroot_live_loaded"] == "0"
    assert "--dry-run" in r["sysroot_live_err"]
    assert r["sysroot_dry_rc"] == "0" and r["sysroot_dry_loaded"] == "0"


def test_petitboot_dtb_form_boots(lab_runs: LabRuns) -> None:
    r = lab_runs.passed("kexec-dtb").results
    assert r["load_rc"] == "0" and r["kexec_loaded"] == "1"
    assert r["marker"]


def test_crash_kernel_from_firmware_dtb_dumps(lab_runs: LabRuns) -> None:
    r = lab_runs.passed("kdump-dtb").results
    assert r["vmcore_elf"] == "ok"
    found, wanted = (int(x) for x in r["nonce_records"].split("/"))
    assert found * 100 >= wanted * 95
    assert int(r["dump_bytes"]) > 0
    check_loads_are_ram_minus_crash(r, "kdump-dtb")
    check_low_64k(r, "kdump-dtb")


def test_powernv_debug_progress_on_opal_console(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("powernv-kexec-debug")
    assert any("ok: /I'm in purgatory/" in c for c in report.console), report.console
    assert report.results["marker"]


def test_powernv_bad_digest_stops_without_old_vectors(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("powernv-kexec-bad-digest")
    assert report.stage == "1", "a second kernel reached userspace"
    assert any(c.startswith("ok: ") and "expected: " in c for c in report.console), report.console
    rules = [c for c in report.console if f"/{SKIBOOT_START}/ must not appear" in c]
    assert rules and all(c.startswith("ok: ") for c in rules), report.console
    assert any(label.startswith("quiet after") and t >= 5.0 for label, t in report.timings)
