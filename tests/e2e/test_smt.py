# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 18 in the lab: SMT on QEMU 10, kexec-tools and pykexec side by side.

CI runs the pseries 2 cores x 4 threads kexec pair (about 30 s each), the POWER10 kdump
pairs on pseries and powernv10 (1 CPU) and the pseries SMT kdump pairs on nonmi-6.1;
every other SMT/POWER10 scenario runs with ``python3 -m lab matrix`` (lab/README.md,
"SMT").  After kexec every thread is online again, with the same thread siblings.

The powernv SMT kdump pairs (powernv10 2 x 4; powernv 2 x 2 with the crash on a second
thread) pass with both tools in the lab but stay in the matrix: a loaded host slows
their first boots past the 84 s limit (2 x 2: 16 s alone, over 84 s beside a kernel
build; 2 x 4 stopped after ftrace set-up in one CI run).  The pseries SMT crashes on
Debian's kernel are known failures (QEMU 10's multi-threaded TCG deadlocks in
H_SIGNAL_SYS_RESET: lab.smt_scenarios.PSERIES_SMT_CRASH_DEADLOCK), not run here; their
``-nonmi`` twins are, on the kernel whose crash path makes no such hcall (nonmi-6.1,
built by .ci/run from the kexec-file build tree, about 40 s): both tools' pseries SMT
kdump, with every CPU's registers in the vmcore.
"""

from __future__ import annotations

import pytest

from lab.catalog import ALL_SCENARIOS
from lab.judge import Report
from lab.paths import CacheLayout
from lab.runner import RunOptions, run

pytestmark = pytest.mark.lab

RUN_TIMEOUT = 600.0
CI_KEXEC = ("reference-pseries-smt4-kexec", "pseries-smt4-kexec")
# POWER10 kdump, 1 CPU: pseries with -cpu POWER10 and powernv10 (about 25-40 s each).
CI_POWER10_KDUMP = ("reference-pseries-power10-kdump", "pseries-power10-kdump",
                    "reference-powernv10-kdump", "powernv10-kdump")  # fmt: skip
# The pseries SMT crashes on nonmi-6.1 (lab.smt_scenarios.NONMI): 2 x 4 on core 1's first
# thread, 2 x 2 on its second.
CI_NONMI_KDUMP = ("reference-pseries-smt4-kdump-nonmi", "pseries-smt4-kdump-nonmi",
                  "reference-pseries-smt2-kdump-second-thread-nonmi",
                  "pseries-smt2-kdump-second-thread-nonmi")  # fmt: skip
_reports: dict[str, Report] = {}


def _passed(layout: CacheLayout, name: str) -> dict[str, str]:
    if name not in _reports:
        _reports[name] = run(layout, RunOptions(ALL_SCENARIOS[name], timeout=RUN_TIMEOUT))
        print(f"\n{_reports[name].format()}")
    report = _reports[name]
    assert report.passed, report.format()
    return report.results


def _loader(name: str) -> str:
    return "/usr/sbin/kexec" if name.startswith("reference-") else "/usr/sbin/pykexec"


@pytest.mark.parametrize("name", CI_KEXEC)
def test_smt_kexec_brings_every_thread_back(lab_cache: CacheLayout, name: str) -> None:
    s = ALL_SCENARIOS[name]
    r = _passed(lab_cache, name)
    assert r["loader"] == _loader(name)
    assert r["nproc"] == str(s.cpus) and r["cpus_online"] == f"0-{s.cpus - 1}"
    assert r["siblings_2"] == r["siblings_1"]
    assert r["siblings_1_cores"] == r["siblings_2_cores"] == str(s.cpus // s.threads)


@pytest.mark.parametrize("name", CI_POWER10_KDUMP)
def test_power10_kdump(lab_cache: CacheLayout, name: str) -> None:
    """The crash kernel of each tool saves a whole vmcore on POWER10 (the scenario's own
    checks: ELF notes, every nonce page, the first 64 KiB from the backup)."""
    r = _passed(lab_cache, name)
    assert r["loader"] == _loader(name)
    assert r["vmcore_elf"] == "ok" and r["kexec_crash_loaded"] == "1"
    assert ("opal" in r["firmware"]) == ("powernv" in name)


@pytest.mark.parametrize("name", CI_NONMI_KDUMP)
def test_pseries_smt_kdump_without_the_nmi_hcall(lab_cache: CacheLayout, name: str) -> None:
    """With QEMU's H_SIGNAL_SYS_RESET deadlock out of the way, each tool's crash kernel
    saves the vmcore of a crash on core 1 (first or second thread), one CPU note per
    thread: every other thread answered the crash IPI."""
    s = ALL_SCENARIOS[name]
    r = _passed(lab_cache, name)
    assert r["loader"] == _loader(name)
    assert r["vmcore_elf"] == "ok" and r["kexec_crash_loaded"] == "1"
    crash_cpu = s.threads + (1 if "second-thread" in name else 0)
    assert r["crash_cpu"] == str(crash_cpu)
    # the crash kernel's tree names the crashing thread as its boot CPU (hw id = CPU here)
    assert r["crash_boot_cpuid_phys"] == f"{crash_cpu:08x}"
    assert f"CORE/1:{s.cpus}" in r["vmcore_note_types"].split(",")
    assert r["siblings_1_cores"] == str(s.cpus // s.threads)
