# SPDX-License-Identifier: GPL-2.0-or-later
"""Each committed snapshot's plan equals its reviewed golden plan (tests/golden.py)."""

from __future__ import annotations

import copy

import pytest

from tests.golden import (
    UPDATE,
    Case,
    cases,
    differences,
    dts_differences,
    load,
    load_dts,
    plan_dts,
    plan_record,
    stale_files,
)

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_plan_matches_golden(case: Case) -> None:
    golden = load(case)
    assert golden is not None, f"no golden plan {case.path.name}: review it, then `{UPDATE}`"
    diff = differences(golden, plan_record(case))
    diff += dts_differences(load_dts(case), plan_dts(case), case.dts_path.name)
    assert not diff, (
        f"{case.name} differs from {case.path.name} (golden -> planned):\n  "
        + "\n  ".join(diff)
        + f"\nif the change is intended: `{UPDATE}` and commit the diff"
    )


def test_every_golden_file_has_a_case_and_every_snapshot_a_golden() -> None:
    assert stale_files() == []
    snapshots = {c.snapshot for c in CASES}
    assert {c.snapshot for c in CASES if c.load == "-l"} == snapshots
    assert any(c.load == "-p" for c in CASES)


def test_differences_name_the_field_and_the_segment() -> None:
    """The test of the comparison: each kind of change is reported in one readable line."""
    golden = load(CASES[0])
    assert golden is not None
    assert differences(golden, copy.deepcopy(golden)) == []
    moved = copy.deepcopy(golden)
    moved["segments"][1]["mem"] = "0x1230000"
    kind = golden["segments"][1]["kind"]
    was = golden["segments"][1]["mem"]
    assert differences(golden, moved) == [f"segment 1 ({kind}): mem {was} -> 0x1230000"]
    entry = copy.deepcopy(golden)
    entry["entry"] = "0x0"
    assert differences(golden, entry) == [f"entry: {golden['entry']!r} -> '0x0'"]
    fewer = copy.deepcopy(golden)
    del fewer["segments"][-1]
    assert differences(golden, fewer)[0].startswith("segments: [")


def test_device_tree_change_shows_as_a_dts_diff() -> None:
    dts = load_dts(CASES[0])
    changed = dts.replace("console=hvc0", "console=hvc1", 1)
    diff = dts_differences(dts, changed, "x.dts")
    assert [line[0] for line in diff if line[:1] in "+-"] == ["-", "+"]
    assert "console=hvc1" in diff[-2] + diff[-1] + "".join(diff)
