# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 12 in the lab: 6.12 (4k and 64k pages), live crash hotplug, little- to big-endian, SMT.

The CI part of the matrix (``lab.matrix.CI``: kexec, kdump and the lean kdump payload
on bookworm-backports' 6.12 with 4k and 64k pages, 1 CPU, kexec-tools and pykexec side
by side), the
crash hotplug pair on 6.12 (``hotplug`` and its stale contrast), the
little-endian to big-endian kexec (and kdump, recorded).  ``python3 -m lab
matrix`` runs the whole matrix.
"""

from __future__ import annotations

import pytest

from lab import matrix
from lab.catalog import ALL_SCENARIOS
from lab.judge import Report
from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from tests.e2e.kdump_facts import (
    check_loads_are_ram_minus_crash,
    check_low_64k,
    check_same_vmcore_layout,
    parse_loads,
    parse_spans,
    subtract,
    union,
)

pytestmark = pytest.mark.lab

RUN_TIMEOUT = 600.0
_reports: dict[tuple[str, matrix.Cell | None], Report] = {}


def _passed(layout: CacheLayout, name: str, cell: matrix.Cell | None = None) -> Report:
    key = (name, cell)
    if key not in _reports:
        scenario = ALL_SCENARIOS[name] if cell is None else matrix.scenario_for(name, cell)
        _reports[key] = run(layout, RunOptions(scenario, timeout=RUN_TIMEOUT))
        print(f"\n{name} {cell.label() if cell else ''}\n{_reports[key].format()}")
    report = _reports[key]
    assert report.passed, report.format()
    return report


@pytest.mark.parametrize("cell", matrix.CI, ids=lambda c: f"{c.kernel}-{c.scenario}")
def test_ci_cell_both_loaders(lab_cache: CacheLayout, cell: matrix.Cell) -> None:
    reference, ours = (_passed(lab_cache, name, cell).results for name in cell.names)
    assert reference["loader"] == "/usr/sbin/kexec"
    assert ours["loader"] == "/usr/sbin/pykexec"
    if cell.scenario == "kexec":
        assert ours["nproc"] == reference["nproc"] == str(cell.cpus)
        return
    if cell.scenario == "kdump-lean":  # trixie's makedumpfile dumps a 6.12 vmcore
        assert ours["load_out"] == "", "pykexec warned at 256M"
        for label, r in (("kexec-tools", reference), ("pykexec", ours)):
            assert "makedumpfile Completed" in r["dump_err"], (label, r["dump_err"])
            found, total = (int(x) for x in r["host_nonce_records"].split("/"))
            assert r["host_vmcore_elf"] == "ok" and found > 0.99 * total, (label, r)
        return
    for label, r in (("kexec-tools", reference), ("pykexec", ours)):
        check_loads_are_ram_minus_crash(r, f"{cell.kernel} {label}")
        check_low_64k(r, f"{cell.kernel} {label}")
        assert "does not support Linux 6.12" in r["makedumpfile_skipped"]
    check_same_vmcore_layout(reference, ours, str(cell.kernel))


def _hot_ram_dumped(r: dict[str, str]) -> list[str]:
    """The hot-added RAM ranges missing from the vmcore's PT_LOADs."""
    hot = parse_spans(r["hot_ram"], "hot-added RAM")
    covered = union(load.span for load in parse_loads(r["vmcore_loads"]))
    return [str(s) for s in subtract(hot, covered)]


def test_crash_hotplug_live(lab_cache: CacheLayout) -> None:
    """-p --hotplug, then a CPU core and a DIMM added: the kernel updated the image itself."""
    r = _passed(lab_cache, "hotplug").results
    assert r["loaded_cpu_crash_hotplug"] == r["loaded_memory_crash_hotplug"] == "1"
    assert r["hot_cpus_online"] == "0-1"
    assert r["crash_cpu"] == "1"
    inside, present = map(int, r["fill_pages_in_hot_ram"].split("/"))
    assert present and inside * 100 >= present * 95
    assert _hot_ram_dumped(r) == []
    assert r["vmcore_note_types"] == "CORE/1:2,VMCOREINFO/0:1"


def test_crash_hotplug_stale_image_misses_the_new_memory(lab_cache: CacheLayout) -> None:
    """The same without --hotplug: what a stale image misses (recorded, not hidden)."""
    r = _passed(lab_cache, "hotplug-stale").results
    assert r["loaded_cpu_crash_hotplug"] == r["loaded_memory_crash_hotplug"] == "0"
    assert r["crash_cpu"] == "0"
    assert _hot_ram_dumped(r) != []
    assert r["vmcore_check_rc"] != "0"  # the nonce lived in the hot-added memory
    assert r["nonce_records"].startswith("0/")
    # The notes were not stale: the image has a PT_NOTE per possible CPU (maxcpus=2).
    assert r["vmcore_note_types"] == "CORE/1:2,VMCOREINFO/0:1"


def test_crash_hotplug_stale_image_on_the_new_cpu_never_dumps(lab_cache: CacheLayout) -> None:
    """A crash on the hot-added CPU with the stale image: no crash kernel starts."""
    report = _passed(lab_cache, "hotplug-stale-hot-cpu")
    assert report.results["crash_cpu"] == "1"
    assert any(
        "/Linux version/ must not appear" in c and c.startswith("ok") for c in report.console
    )


@pytest.mark.parametrize("name", ["reference-le-to-be", "le-to-be"])
def test_little_to_big_endian(lab_cache: CacheLayout, name: str) -> None:
    r = _passed(lab_cache, name).results
    assert r["be_byte_order"] == "big"
    assert r["be_machine"] == "ppc64"
    assert r["be_release"].endswith("-be")


# No SMT tests: under TCG, QEMU 7.2 (Debian 12) refuses threads on pseries and its
# powernv skiboot stops before the kernel with 2 threads per core (lab/README.md,
# "SMT"); the powernv-smt-* scenarios and matrix cells are there for a QEMU that can.


def test_big_endian_crash_kernel_has_no_vmcore(lab_cache: CacheLayout) -> None:
    """kexec-tools' -p into the big-endian kernel: it boots, but has no /proc/vmcore (it
    reads the little-endian kernel's notes in its own byte order); pykexec refuses it."""
    r = _passed(lab_cache, "reference-le-to-be-kdump").results
    assert r["be_byte_order"] == "big"
    assert r["be_vmcore"] == "absent"
    ours = _passed(lab_cache, "le-to-be-kdump").results
    assert ours["load_rc"] == "2" and ours["kexec_crash_loaded"] == "0"
    assert "load a little-endian crash kernel" in ours["load_err"], ours["load_err"]
