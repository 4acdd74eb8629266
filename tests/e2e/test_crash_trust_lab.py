# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 9 in the lab: headroom refusals, verify, -S -d, and a rejected -p reload
that leaves the previous crash kernel loaded, and the lean payload in crashkernel=256M
(lab/trust_scenarios.py, kdump-small-*, kdump-trust, kdump-lean-256m)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lab import kmods
from lab.paths import CacheLayout
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("name", ["kdump-small-128m", "kdump-small-256m"])
def test_small_region_is_refused_with_figures(lab_runs: LabRuns, name: str) -> None:
    r = lab_runs.passed(name).results
    assert r["refused_rc"] == "1" and r["refused_crash_loaded"] == "0"
    err = r["refused_err"]
    assert "the crash region holds" in err and "crashkernel=" in err, err
    assert r["recommended"].startswith("crashkernel="), r["recommended"]


def test_trust_scenario(lab_runs: LabRuns) -> None:
    report = lab_runs.passed("kdump-trust")
    r = report.results
    assert r["corrupt_load_rc"] == "0" and r["verify_corrupt_rc"] == "1"
    assert "purgatory digest" in r["verify_corrupt_out"], r["verify_corrupt_out"]
    assert r["load_rc"] == "0" and r["load_out"] == "", "a load with room must not warn"
    assert r["verify_rc"] == "0" and "intact" in r["verify_out"]
    assert r["status_d_rc"] == "1" == r["status_kexec_tools"]
    assert "kernel: /boot/vmlinux" in r["status_d_out"]
    assert r["reject_rc"] == "1" and r["reject_crash_loaded"] == "1"
    assert "reloaded it" in r["reject_err"], r["reject_err"]
    assert r["verify_after_rc"] == "0"
    # the later crash still dumps: the crash stage's vmcore checks passed with the nonce
    assert report.stage == "crash" and r["vmcore_elf"] == "ok"
    found, total = (int(x) for x in r["nonce_records"].split("/"))
    assert found > 0.99 * total


def _records(text: str) -> tuple[int, int]:
    found, total = (int(x) for x in text.split("/"))
    return found, total


def test_lean_payload_in_256m_loads_without_a_word_and_dumps(lab_runs: LabRuns) -> None:
    """crashkernel=256M with the lean payload (busybox, makedumpfile): -p says nothing,
    the crash kernel boots and streams a vmcore off the machine with the nonce in it."""
    report = lab_runs.passed("kdump-lean-256m")
    r = report.results
    assert r["load_rc"] == "0" and r["load_out"] == "", "a load with room must not warn"
    assert r["kexec_crash_loaded"] == "1"
    recommended = int(r["recommend_out"].removeprefix("crashkernel=").rstrip("M|"))
    assert recommended <= 256, r["recommend_out"]
    assert "crash region holds 256 MiB" in r["dry_run_headroom"], r["dry_run_headroom"]
    assert report.stage == "crash" and r["dump_rc"] == "0" and r["host_vmcore_elf"] == "ok"
    found, total = _records(r["host_nonce_records"])
    assert found > 0.99 * total


def test_lean_payload_reference(lab_runs: LabRuns) -> None:
    """kexec-tools loads the same payload and the same dump reaches the host."""
    r = lab_runs.passed("reference-kdump-lean").results
    assert r["load_rc"] == "0" and r["host_vmcore_elf"] == "ok"
    found, total = _records(r["host_nonce_records"])
    assert found > 0.99 * total


def test_kdump_modules_load_in_dependency_order(lab_cache: CacheLayout, tmp_path: Path) -> None:
    """lab.kmods' order for the lean payload (virtio transport and console out of the
    staged kernel's .deb) against kmod's own modinfo reading the same .ko files."""
    modinfo = shutil.which("modinfo") or "/usr/sbin/modinfo"
    if not Path(modinfo).exists():
        pytest.fail("modinfo (kmod) is needed as the oracle: apt-get install kmod")
    debs = sorted(lab_cache.debs.glob("linux-image-*.deb"))
    assert len(debs) == 1, debs
    order = kmods.modules(debs[0])
    names = [name.removesuffix(".ko") for name, _ in order]
    assert {"virtio", "virtio_ring", "virtio_pci", "virtio_console"} <= set(names)
    for i, (name, data) in enumerate(order):
        ko = tmp_path / name
        ko.write_bytes(data)
        out = subprocess.run([modinfo, "-F", "depends", str(ko)], capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
        deps = [d.replace("-", "_") for d in out.split(",") if d]
        assert all(d in names[:i] for d in deps), (name, deps, names)
