# SPDX-License-Identifier: GPL-2.0-or-later
"""The headroom model against the lab's calibration table, and its refusals and warnings.

lab/calibration/crashkernel.json holds, per row, the smallest crashkernel= (to
8 MiB) with which one of the lab's kdump payloads booted and dumped, measured by
``python3 -m lab calibrate-crashkernel`` together with the payload's facts (the
kernel's memsz by pyelftools, the initrd by a cpio walk of the lab's own): the
lean payload dumps off the machine (row "dump": "off-machine"), the full one
into its tmpfs root ("ram-root", with the dump's size measured in the same runs).  The
model must never call a failing size enough, and must not ask for more than
:data:`MARGIN_MIB` above the smallest passing size.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pykexec.crash import headroom
from pykexec.crash.headroom import (
    DUMP_WORK_BYTES,
    MIB,
    HeadroomInput,
    crash_cpus,
    estimate,
    recommend,
    rootfs_is_tmpfs,
)
from pykexec.errors import CrashRegionTooSmall
from pykexec.formats.initramfs import Initramfs, Part
from pykexec.planner import FILE_LOAD_EXTRA

TABLE = Path(__file__).parent.parent / "lab" / "calibration" / "crashkernel.json"
DOC = json.loads(TABLE.read_text())
ROWS = [r for r in DOC["rows"] if r["min_passing_mib"] is not None]
LEAN = [r for r in ROWS if r["dump"] == "off-machine"]
MARGIN_MIB = 24  # three bisection steps


def _input(row: dict[str, Any], region_mib: int) -> HeadroomInput:
    initrd = row["initrd"]
    pages = initrd["pages_64k_bytes"] if row["page_size"] == 65536 else initrd["pages_4k_bytes"]
    part = Part(initrd["format"], 0, initrd["file_bytes"], initrd["stream_bytes"], True,
                (pages,), initrd["entries"])  # fmt: skip
    words = DOC["crash_words"].replace("nr_cpus=1", f"nr_cpus={row['crash_nr_cpus']}")
    line = f"console=hvc0 {words}"
    return HeadroomInput(
        region=region_mib * MIB,
        footprint=row["kernel_image"]["memsz"] + initrd["file_bytes"] + FILE_LOAD_EXTRA,
        initramfs=Initramfs(initrd["file_bytes"], (part,)),
        page_size=row["page_size"],
        cpus=crash_cpus(line, row["cpus"]),
        tmpfs_root=rootfs_is_tmpfs(line),
        dump_in_ram=row.get("dump_in_ram_bytes", 0) if row["dump"] == "ram-root" else 0,
    )


def _id(row: dict[str, Any]) -> str:
    cpus = f"{row['cpus']}cpu-nr{row['crash_nr_cpus']}"
    return f"{row['kernel']}-{row['payload']}-{cpus}-{row['initrd']['format']}"


def test_table_has_rows_for_one_and_four_cpus() -> None:
    assert DOC["command"] == "python3 -m lab calibrate-crashkernel"
    for dump in ("off-machine", "ram-root"):
        assert {1, 4} <= {r["cpus"] for r in ROWS if r["dump"] == dump}
    assert all(r["dump_in_ram_bytes"] > 0 for r in ROWS if r["dump"] == "ram-root")


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_model_against_the_table(row: dict[str, Any]) -> None:
    passing, failing = row["min_passing_mib"], row["max_failing_mib"]
    needed = estimate(_input(row, passing)).needed
    assert needed > failing * MIB, "the model calls a size enough that failed in the lab"
    assert needed <= (passing + MARGIN_MIB) * MIB, "the model asks for far more than needed"
    at_failing = estimate(_input(row, failing))
    assert at_failing.tight or not at_failing.fits, "a size that failed passes unwarned"
    assert estimate(_input(row, passing + MARGIN_MIB)).fits
    roomy = estimate(_input(row, recommend(needed) // MIB))
    assert roomy.fits and not roomy.tight


def _booted(probe: dict[str, Any]) -> bool:
    """Whether the crash kernel reached its userspace: it passed, or failed in the crash
    stage (makedumpfile); a failure "in stage 1" is a crash kernel that never booted."""
    return bool(probe["passed"]) or "stage crash" in probe["reason"]


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_refusals_match_what_booted(row: dict[str, Any]) -> None:
    """A load is refused only below what booting takes: every probed size at which the
    crash kernel booted is accepted (perhaps warned), every one at which it did not
    boot is refused or warned about."""
    probes = row["probes"]
    assert any(_booted(p) for p in probes) and any(not _booted(p) for p in probes)
    for probe in probes:
        est = estimate(_input(row, probe["crashkernel_mib"]))
        if _booted(probe):
            assert est.fits, (probe, est.summary())
        else:
            assert not est.fits or est.tight, (probe, est.summary())


def test_refusals_cover_most_sizes_that_did_not_boot() -> None:
    """Warned about, not refused, only where kernels differ (RUN_TIME_BYTES' comment):
    at most one in five of the sizes the lab saw a crash kernel fail to boot at."""
    failed = [(r, p) for r in ROWS for p in r["probes"] if not _booted(p)]
    missed = [(r["kernel"], p["crashkernel_mib"]) for r, p in failed
              if estimate(_input(r, p["crashkernel_mib"])).fits]  # fmt: skip
    assert len(missed) * 5 <= len(failed), missed


def test_per_cpu_covers_the_tables_slope() -> None:
    """Rows that differ in the crash kernel's nr_cpus= bound the per-CPU figure of their
    page size, to the table's resolution: each minimum is known to one bisection step."""
    ones = {(r["kernel"], r["initrd"]["format"], r["payload"]): r
            for r in ROWS if r["crash_nr_cpus"] == 1}  # fmt: skip
    many = [r for r in ROWS if r["crash_nr_cpus"] > 1]
    assert many
    for row in many:
        one = ones[(row["kernel"], row["initrd"]["format"], row["payload"])]
        extra = row["min_passing_mib"] - one["min_passing_mib"]
        per_cpu = headroom.PER_CPU_BYTES[row["page_size"]]
        assert per_cpu * (row["crash_nr_cpus"] - 1) >= (extra - DOC["step_mib"]) * MIB, row


def test_dump_work_is_the_lean_rows_fit() -> None:
    """DUMP_WORK_BYTES per page size is the largest "smallest passing size minus the
    other terms" over the rows that dump off the machine with that page size; a page
    size without such rows uses the 64 KiB figure."""
    for page_size, work in DUMP_WORK_BYTES.items():
        fits = []
        for row in (r for r in LEAN if r["page_size"] == page_size):
            est = estimate(_input(row, row["min_passing_mib"]))
            fits.append(row["min_passing_mib"] * MIB - (est.needed - work))
        if not fits:
            assert work == DUMP_WORK_BYTES[65536]
            continue
        assert work == -(-max(fits) // MIB) * MIB, (page_size, [f / MIB for f in fits])


def test_refusal_and_warning_at_the_edges() -> None:
    row = ROWS[0]
    needed = estimate(_input(row, 512)).needed
    small = estimate(_input(row, needed // MIB - 1))
    assert small.fits and small.tight and "short by" in small.summary()
    floor = estimate(_input(row, small.boot_needed // MIB - 1))
    assert not floor.fits and "short by" in floor.summary()
    assert f"crashkernel={small.recommended // MIB}M" in small.summary()
    tight = estimate(replace(_input(row, 0), region=needed + needed // 20))
    assert tight.fits and tight.tight
    roomy = estimate(replace(_input(row, 0), region=recommend(needed) + 2 * MIB))
    assert roomy.fits and not roomy.tight


def test_crash_cpus_and_root_kind() -> None:
    assert crash_cpus("nr_cpus=1 maxcpus=4", 8) == 1
    assert crash_cpus("maxcpus=2", 8) == 2
    assert crash_cpus("quiet", 8) == 8 and crash_cpus("quiet", 0) == 1
    assert rootfs_is_tmpfs("console=hvc0 irqpoll")
    assert not rootfs_is_tmpfs("root=/dev/sda2") and not rootfs_is_tmpfs("root=UUID=abc")
    assert rootfs_is_tmpfs("root=/dev/sda2 rootfstype=tmpfs")


def test_unknown_per_file_sizes_use_the_stated_rounding() -> None:
    part = Part("zstd", 0, 10 * MIB, 40 * MIB, True, None)
    got, exact = headroom.unpacked_bytes(Initramfs(10 * MIB, (part,)), 65536)
    assert not exact and got == int(40 * MIB * headroom.UNKNOWN_ROUNDING[65536])


def test_planner_refuses_with_figures(tmp_path: Path) -> None:
    """A -p dry run into a 64 MiB region: CrashRegionTooSmall, naming crashkernel=."""
    from pykexec import loader
    from pykexec.options import LoadOptions, SyscallChoice
    from pykexec.sysinfo import SystemView
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    root = write_sysroot(tmp_path / "root", pseries(crash=(512 * MIB, 64 * MIB)))
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x40000, memsz=48 * MIB))
    opts = LoadOptions(kernel=k, crash=True, syscall=SyscallChoice.LOAD, command_line="x")
    with pytest.raises(CrashRegionTooSmall) as err:
        loader.plan(opts, SystemView(root))
    assert "crashkernel=" in str(err.value) and err.value.needed > 64 * MIB
    plan = loader.plan(replace(opts, ignore_headroom=True), SystemView(root))
    assert plan.warnings and "will not fit" in plan.warnings[0]


def test_recommendation_loads_without_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--recommend-crashkernel's size: a -p dry run into it plans without a warning,
    and into a quarter of it is refused."""
    from pykexec.cli import main
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x40000, memsz=40 * MIB))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"not an archive: a ramdisk image" * 100_000)
    args = [str(k), f"--initrd={initrd}", "--append=nr_cpus=1"]
    probe = write_sysroot(tmp_path / "probe", pseries(crash=(512 * MIB, 256 * MIB)))
    assert main(["--recommend-crashkernel", *args, f"--sysroot={probe}"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("crashkernel=") and out.endswith("M")
    size = int(out[len("crashkernel=") : -1]) * MIB
    fits = write_sysroot(tmp_path / "fits", pseries(crash=(512 * MIB, size)))
    assert main(["-p", "-c", *args, f"--sysroot={fits}", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "headroom: " in text and "warning" not in text
    boot = 48 * MIB  # room for the 40 MiB kernel, short of what its crash kernel boots in
    small = write_sysroot(tmp_path / "small", pseries(crash=(512 * MIB, boot)))
    assert main(["-p", "-c", *args, f"--sysroot={small}", "--dry-run"]) == 1
    assert "crashkernel=" in capsys.readouterr().err
