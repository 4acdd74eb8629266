# SPDX-License-Identifier: GPL-2.0-or-later
"""Measured boot across kexec (issue 18, item 5) on a pseries guest with a vTPM.

The lab's ``vtpm-ima-*`` scenarios (lab/vtpm.py): SLOF starts QEMU's tpm-spapr vTPM on
a per-run swtpm, the measured-6.1 kernel runs IMA with ``ima_policy=tcb`` and reads
three files on a ramfs, then pykexec loads the next kernel and executes it.

* ``pykexec -s`` (kexec_file_load): the next kernel's IMA list begins with the whole
  old list, still replays to PCR 10, and the firmware event log is the same;
* ``pykexec -c`` (kexec_load): the list restarts and no longer replays to PCR 10 (what
  pykexec's attestation warning says), and the next kernel's tree has no linux,sml-base
  or linux,sml-size: no address of the old firmware event log reaches it.

The kexec_file_load half needs the measured kernel (IMA_KEXEC, KEXEC_FILE), whose build
takes about half an hour (``python3 -m lab build-kernel --kernel measured-6.1``): not in
CI, it skips without it.  The kexec_load half runs on Debian's own 6.1 (IMA and the vTPM
driver built in), in CI, beside kexec-tools on the same machine.
"""

from __future__ import annotations

import shutil

import pytest

from lab.judge import Report
from lab.kbuild import KbuildLayout
from lab.krecipes import MEASURED
from lab.model import Kernel
from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from lab.vtpm import SWTPM, VTPM_SCENARIOS
from tests.oracles import install_hint, missing

pytestmark = pytest.mark.lab

RUN_TIMEOUT = 600.0
# What pykexec -c prints on a machine with a TPM (pykexec.core.planner.attestation_line).
ATTESTATION = "the next kernel starts a new IMA measurement list"


def _run(layout: CacheLayout, name: str) -> Report:
    scenario = VTPM_SCENARIOS[name]
    if (
        scenario.kernel is Kernel.MEASURED_61
        and not KbuildLayout.of(layout, MEASURED).vmlinux.is_file()
    ):
        pytest.skip("measured-6.1 is not built: python3 -m lab build-kernel --kernel measured-6.1")
    if shutil.which(SWTPM) is None:
        missing(f"program {SWTPM!r} not on PATH", install_hint(SWTPM))
    report = run(layout, RunOptions(scenario, timeout=RUN_TIMEOUT))
    print(report.format())
    assert report.passed, report.format()
    return report


def _both_stages(results: dict[str, str], key: str) -> tuple[str, str]:
    return results[f"{key}_1"], results[f"{key}_2"]


def test_kexec_file_load_continues_the_measurement_list(lab_cache: CacheLayout) -> None:
    r = _run(lab_cache, "vtpm-ima-file").results
    assert r["tpm"].split() == ["tpm0"]
    assert r["load_syscall"].startswith("syscall: kexec_file_load")
    assert int(r["ima_files"]) >= 3
    before, after = (int(n) for n in _both_stages(r, "ima_count"))
    assert after > before >= 4  # boot_aggregate + 3 files, then the next kernel's own
    assert r["ima_head_sha256_2"] == r["ima_sha256_1"]  # the old list, entry for entry
    assert _both_stages(r, "ima_replay") == ("match", "match")
    old_log, new_log = _both_stages(r, "eventlog")
    assert old_log != "none" and new_log == old_log
    assert r["linux_sml_base_2"] == r["linux_sml_base_1"] != "none"  # still reserved


def test_kexec_load_hands_on_no_stale_event_log_address(lab_cache: CacheLayout) -> None:
    r = _run(lab_cache, "vtpm-ima-load").results
    assert r["tpm"].split() == ["tpm0"]
    assert r["load_syscall"].startswith("syscall: kexec_load")
    assert ATTESTATION in r["attestation_line"]
    assert int(r["ima_count_1"]) >= 4 and r["ima_count_2"] == "1"  # a new list
    assert _both_stages(r, "ima_replay") == ("match", "mismatch")  # as the warning says
    assert r["linux_sml_base_1"] != "none" and r["eventlog_1"] != "none"
    assert (r["linux_sml_base_2"], r["linux_sml_size_2"]) == ("none", "none")
    assert "linux,sml" not in r["vtpm_props_2"]
    assert r["eventlog_2"] == "none"


def test_kexec_tools_hands_on_the_stale_event_log_address(lab_cache: CacheLayout) -> None:
    """The reference beside it: Debian 12's kexec-tools copies /proc/device-tree, so the
    next kernel gets the old linux,sml-base/-size, memory nothing reserves any longer,
    and its event log is no longer the firmware's."""
    r = _run(lab_cache, "reference-vtpm-ima-load").results
    assert r["tpm"].split() == ["tpm0"]
    assert r["linux_sml_base_1"] != "none" and r["eventlog_1"] != "none"
    assert (r["linux_sml_base_2"], r["linux_sml_size_2"]) == (
        r["linux_sml_base_1"], r["linux_sml_size_1"])  # fmt: skip
    assert r["eventlog_2"] != r["eventlog_1"]
    assert r["ima_count_2"] == "1" and _both_stages(r, "ima_replay") == ("match", "mismatch")
