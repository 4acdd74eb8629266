# SPDX-License-Identifier: GPL-2.0-or-later
"""The kexec and kdump scenarios on QEMU's PowerNV machine (skiboot/OPAL), both loaders.

``reference-powernv-*`` run kexec-tools, ``powernv-*`` pykexec; both are the
pseries scenarios' steps (``lab.scenarios._on_powernv``) with each stage first
recording what says powernv: ``/proc/device-tree/ibm,opal/compatible``,
``/proc/cpuinfo``'s platform and ``/sys/firmware/opal``.  Every kernel after a
hand-over must still be on OPAL (the purgatory passes r8/r9 = OPAL base/entry;
its console is OPAL's), and skiboot must not start again in between.
"""

from __future__ import annotations

import pytest

from lab.scenarios import SKIBOOT_START
from tests.e2e.kdump_facts import (
    check_loads_are_ram_minus_crash,
    check_low_64k,
    check_same_vmcore_layout,
)
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab

KEXEC = {"reference-powernv-kexec": "/usr/sbin/kexec", "powernv-kexec": "/usr/sbin/pykexec"}
KDUMP = {"reference-powernv-kdump": "/usr/sbin/kexec", "powernv-kdump": "/usr/sbin/pykexec"}


def _on_opal(results: dict[str, str], stage: str) -> None:
    assert results[f"platform_{stage}_opal_compatible"].split() == ["ibm,opal-v3"]
    assert results[f"platform_{stage}_cpuinfo_platform"] == "PowerNV"
    assert results[f"platform_{stage}_sys_firmware_opal"] == "yes"


def _no_skiboot_restart(console: list[str]) -> None:
    rules = [c for c in console if f"/{SKIBOOT_START}/ must not appear" in c]
    assert rules and all(c.startswith("ok: ") for c in rules), console


@pytest.mark.parametrize("name", sorted(KEXEC, reverse=True))  # reference first
def test_powernv_kexec(lab_runs: LabRuns, name: str) -> None:
    report = lab_runs.passed(name)
    r = report.results
    assert r["loader"] == KEXEC[name]
    _on_opal(r, "1")
    _on_opal(r, "2")
    _no_skiboot_restart(report.console)
    assert r["nproc"] == "1"
    assert r["status_before"] == r["status_before_kexec_tools"] == "S:0,lS:0"
    assert r["status_after"] == r["status_after_kexec_tools"] == "S:0,lS:1"


@pytest.mark.parametrize("name", sorted(KDUMP, reverse=True))
def test_powernv_kdump(lab_runs: LabRuns, name: str) -> None:
    report = lab_runs.passed(name)
    r = report.results
    assert r["loader"] == KDUMP[name]
    _on_opal(r, "1")
    _on_opal(r, "crash")
    _no_skiboot_restart(report.console)
    assert r["firmware"].startswith("opal:"), r["firmware"]
    assert r["vmcore_elf"] == "ok"
    found, wanted = (int(x) for x in r["nonce_records"].split("/"))
    assert found * 100 >= wanted * 95
    assert r["status_p_loaded"] == r["status_p_loaded_kexec_tools"] == "1"
    assert (r["unloaded_crash_loaded"], r["reloaded_crash_loaded"]) == ("0", "1")
    assert int(r["dump_bytes"]) > 0
    check_loads_are_ram_minus_crash(r, name)
    check_low_64k(r, name)


def test_powernv_pykexec_vmcore_matches_kexec_tools(lab_runs: LabRuns) -> None:
    ref = lab_runs.passed("reference-powernv-kdump").results
    ours = lab_runs.passed("powernv-kdump").results
    check_same_vmcore_layout(ref, ours, "powernv 1 CPU")
