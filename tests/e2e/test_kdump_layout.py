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
    differing,
    page_round,
    parse_crcs,
    parse_loads,
    parse_spans,
    subtract,
    union,
)
from tests.e2e.labruns import LabRuns

pytestmark = pytest.mark.lab

KDUMP = ["reference-kdump", "kdump"]  # reference first: each check is proven on kexec-tools
CPUS = [1, 4]


@pytest.mark.parametrize("cpus", CPUS)
@pytest.mark.parametrize("name", KDUMP)
def test_vmcore_loads_are_ram_minus_crash_region(lab_runs: LabRuns, name: str, cpus: int) -> None:
    r = lab_runs.passed(name, cpus).results
    ram = parse_spans(r["system_ram"], "System RAM")
    (crash,) = parse_spans(r["crash_region"], "crash region")
    firmware = parse_spans(r["firmware"], "firmware") if r.get("firmware", "none") != "none" else []
    loads = parse_loads(r["vmcore_loads"])
    covered = union(load.span for load in loads)
    assert sum(s.end - s.start for s in covered) == sum(load.memsz for load in loads), (
        f"PT_LOADs overlap: {loads}"
    )
    expected = subtract(ram, [crash])
    missing = subtract(expected, covered)
    extra = subtract(covered, expected)
    print(f"{name} {cpus} CPU: PT_LOADs {[str(s) for s in covered]}, "
          f"RAM - crash {[str(s) for s in expected]}, extra {[str(s) for s in extra]}")  # fmt: skip
    assert not missing, f"RAM outside the crash region missing from the vmcore: {missing}"
    pages = [page_round(fw) for fw in firmware]
    for span in extra:
        assert crash.contains(span) and any(fw.contains(span) for fw in pages), (
            f"vmcore has {span} that is neither RAM outside {crash} nor firmware {firmware}"
        )


@pytest.mark.parametrize("cpus", CPUS)
def test_pykexec_vmcore_matches_kexec_tools(lab_runs: LabRuns, cpus: int) -> None:
    ref = lab_runs.passed("reference-kdump", cpus).results
    ours = lab_runs.passed("kdump", cpus).results
    ref_loads, our_loads = parse_loads(ref["vmcore_loads"]), parse_loads(ours["vmcore_loads"])
    notes = (f"PT_NOTEs: {ref['vmcore_notes']} / {ours['vmcore_notes']}; notes: "
             f"{ref['vmcore_note_types']} / {ours['vmcore_note_types']}")  # fmt: skip
    print(f"{cpus} CPU PT_LOADs (paddr, memsz, offset)\n  kexec-tools: {ref_loads}\n"
          f"  pykexec:     {our_loads}\n  {notes}")  # fmt: skip
    # PT_LOAD order carries no meaning for a dump reader (kexec-tools appends RTAS
    # last, crashdump-ppc64.c); each range and its size must be the same.
    ref_set = sorted((x.paddr, x.memsz) for x in ref_loads)
    our_set = sorted((x.paddr, x.memsz) for x in our_loads)
    only_ref = [f"{p:#x}+{m:#x}" for p, m in ref_set if (p, m) not in our_set]
    only_ours = [f"{p:#x}+{m:#x}" for p, m in our_set if (p, m) not in ref_set]
    assert our_set == ref_set, f"only in kexec-tools': {only_ref}; only in pykexec's: {only_ours}"
    assert ours["vmcore_notes"] == ref["vmcore_notes"]
    assert ours["vmcore_note_types"] == ref["vmcore_note_types"]


@pytest.mark.parametrize("cpus", CPUS)
@pytest.mark.parametrize("name", KDUMP)
def test_vmcore_low_64k_is_the_first_kernels(lab_runs: LabRuns, name: str, cpus: int) -> None:
    r = lab_runs.passed(name, cpus).results
    before = parse_crcs(r.get("low64k_before", ""), "first kernel's [0, 64 KiB) via /proc/kcore")
    vmcore = parse_crcs(r.get("low64k_vmcore", ""), "vmcore's [0, 64 KiB)")
    live = parse_crcs(r.get("low64k_live", ""), "crash kernel's [0, 64 KiB) via /proc/kcore")
    changed, live_changed = differing(before, vmcore), differing(vmcore, live)
    print(f"{name} {cpus} CPU: vmcore vs pre-crash differ in chunks {changed}; "
          f"vmcore vs crash kernel's live copy differ in {len(live_changed)}/64")  # fmt: skip
    assert [i for i in changed if i != 0] == [], "the backup of [1 KiB, 64 KiB) is not the old one"
