"""lab.matrix, lab.kernels and lab.assets' kernel lookups, without QEMU or a network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab import matrix
from lab.assets import BACKPORTS_KERNELS, image_package, kernel_layout
from lab.catalog import ALL_SCENARIOS
from lab.errors import AssetError
from lab.judge import Report
from lab.kernels import KERNEL_FACTS, MAKEDUMPFILE, for_kernel
from lab.model import Kernel, Machine, Stage, render
from lab.paths import CacheLayout

# `apt-cache depends linux-image-powerpc64le-64k:ppc64el` against bookworm-backports.
DEPENDS_64K = """linux-image-powerpc64le-64k:ppc64el
  Depends: linux-image-6.12.95+deb12-powerpc64le-64k:ppc64el
"""


def test_image_package_from_apt_cache_depends() -> None:
    assert image_package(DEPENDS_64K, "m") == "linux-image-6.12.95+deb12-powerpc64le-64k"
    four_k = DEPENDS_64K.replace("-64k", "")
    assert image_package(four_k, "m") == "linux-image-6.12.95+deb12-powerpc64le"
    with pytest.raises(AssetError, match="cannot find the kernel behind m"):
        image_package("linux-image-powerpc64le:ppc64el\n", "m")


def test_every_kernel_has_facts_and_a_source() -> None:
    assert set(KERNEL_FACTS) == set(Kernel)
    assert set(BACKPORTS_KERNELS) == {Kernel.BPO_612, Kernel.BPO_612_64K}
    layout = CacheLayout(Path("/nonexistent"))
    assert kernel_layout(layout, Kernel.DEBIAN_61) is layout


def test_makedumpfile_skipped_with_its_reason_only_where_unsupported() -> None:
    kdump = ALL_SCENARIOS["kdump"]
    assert for_kernel(kdump) is kdump
    on_612 = for_kernel(kdump.with_overrides(kernel=Kernel.BPO_612))
    step = next(s for s in on_612.steps(Stage.CRASH) if s.name == MAKEDUMPFILE)
    assert "makedumpfile -d 31 /proc/vmcore" in render(kdump)
    assert "makedumpfile -d 31 /proc/vmcore" not in render(on_612)
    assert step.script.startswith(f"lab_result {MAKEDUMPFILE}_skipped ")
    assert [s.name for s in on_612.steps(Stage.CRASH)] == [s.name for s in kdump.steps(Stage.CRASH)]


def test_matrix_cells_name_catalog_scenarios() -> None:
    for cell in (*matrix.FULL, *matrix.CI):
        for name in cell.names:
            s = matrix.scenario_for(name, cell)
            assert (s.kernel, s.cpus, s.threads) == (cell.kernel, cell.cpus, cell.threads)
            assert s.machine is cell.machine
    assert {c.kernel for c in matrix.CI} == {Kernel.BPO_612, Kernel.BPO_612_64K}
    assert len(matrix.FULL) == len(set(matrix.FULL))


def test_run_matrix_puts_both_loaders_side_by_side(tmp_path: Path) -> None:
    cell = matrix.Cell(Kernel.BPO_612, Machine.PSERIES, "kdump", 1, 1)
    seen: list[str] = []

    def fake(name: str, c: matrix.Cell) -> Report:
        seen.append(name)
        r = Report(name, "v", tmp_path / "log", {}, passed=name == "reference-kdump")
        r.timings.append(("total", 12.34))
        return r

    lines = list(matrix.run_matrix([cell], fake, tmp_path / "lock"))
    assert seen == ["reference-kdump", "kdump"]
    assert lines[-1] == "| bpo-6.12 | pseries | kdump | 1 | pass 12.3 s | FAIL 12.3 s |"


@pytest.mark.parametrize("name", sorted(ALL_SCENARIOS))
def test_every_rendered_scenario_parses_as_shell(name: str) -> None:
    """``sh -n`` (the host's POSIX shell) reads every scenario the guest's /init sources."""
    done = subprocess.run(
        ["sh", "-n"], input=render(ALL_SCENARIOS[name]), text=True, capture_output=True
    )
    assert done.returncode == 0, done.stderr
