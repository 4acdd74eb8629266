# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec-only scenarios: -d (plan + purgatory hello), a corrupt digest, -a fallback, lockdown."""

from __future__ import annotations

import pytest

from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab


def test_debug_purgatory_says_hello(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("kexec-debug")
    assert any("ok: /I'm in purgatory/" in c for c in report.console), report.console
    err = report.results["load_err"]  # the first lines of stderr: the plan's head
    assert err.startswith("syscall: kexec_file_load") and "kexec_load plan" in err, err


def test_bad_digest_stops_in_purgatory(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("kexec-bad-digest")
    assert report.stage == "1", "a second kernel reached userspace"
    assert "marker" not in report.results
    assert any(label.startswith("quiet after") and t >= 5.0 for label, t in report.timings)


def test_auto_falls_back_to_kexec_load(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("kexec-auto")
    assert any("ok: /fell back to kexec_load/" in c for c in report.console), report.console
    assert report.results["kexec_loaded"] == "1"


def test_lockdown_refuses_kexec_load(lab_runs: LabRuns) -> None:
    r = lab_runs.passed("lockdown").results
    assert "[integrity]" in r["lockdown"]
    assert r["pykexec_c_rc"] != "0"
    assert "lockdown=integrity" in r["pykexec_c_err"], r["pykexec_c_err"]
    assert r["pykexec_a_rc"] != "0" and r["kexec_tools_rc"] != "0", (
        f"pykexec -a: {r['pykexec_a_rc']} {r['pykexec_a_err']!r}; "
        f"kexec-tools: {r['kexec_tools_rc']} {r['kexec_tools_err']!r}"
    )
    for key in ("pykexec_c", "pykexec_a", "kexec_tools"):
        assert r[f"{key}_loaded"] == "0", f"{key} left a kernel loaded"


def test_shipped_product_verifies_with_vector_sha256(lab_runs: LabRuns) -> None:
    """No emulation knobs: the purgatory's vshasigmaw SHA-256 on QEMU's POWER9 checks
    the segments of a real load and the next kernel boots."""
    report = lab_runs.passed("kexec-shipped")
    assert any("ok: /sha256 of the segments verified/" in c for c in report.console)
    assert report.results["marker"]
