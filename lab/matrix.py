# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab matrix``: kernel x machine x scenario x CPUs/threads, both loaders.

Each cell runs a scenario pair, kexec-tools (the reference) and pykexec, on one
lab kernel, one machine and one CPU/thread shape, and the table puts the two
side by side: pass and total seconds on the host clock.  :data:`FULL` is the
whole matrix; :data:`CI` the part CI runs besides the 6.1 tests (6.12 with 4k
and 64k pages, kexec, kdump and the lean kdump payload, 1 CPU).  With ``--lock
PATH`` every run holds that lock file (``flock``) only while its QEMU runs, so
other users of the one emulator can interleave.
"""

from __future__ import annotations

import fcntl
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.catalog import ALL_SCENARIOS
from lab.judge import Report
from lab.model import Kernel, Machine, Scenario

# (machine, scenario) -> (reference, pykexec) scenario names.
PAIRS: dict[tuple[Machine, str], tuple[str, str]] = {
    (Machine.PSERIES, "kexec"): ("reference-kexec", "kexec"),
    (Machine.PSERIES, "kdump"): ("reference-kdump", "kdump"),
    (Machine.PSERIES, "kdump-lean"): ("reference-kdump-lean", "kdump-lean-256m"),
    (Machine.POWERNV, "kexec"): ("reference-powernv-kexec", "powernv-kexec"),
    (Machine.POWERNV, "kdump"): ("reference-powernv-kdump", "powernv-kdump"),
    (Machine.PSERIES, "file-kexec"): ("reference-file-kexec", "file-kexec"),
    (Machine.POWERNV, "smt-kexec"): ("reference-powernv-smt-kexec", "powernv-smt-kexec"),
    (Machine.POWERNV, "smt-kdump"): ("reference-powernv-smt-kdump", "powernv-smt-kdump"),
}
# (CPUs, threads per core)
SHAPES: tuple[tuple[int, int], ...] = ((1, 1), (4, 1))
SMT_SHAPE = (4, 2)  # the smt-* scenarios: 2 cores x 2 threads, crash on a secondary thread
# (powernv only: QEMU 7.2's pseries refuses threads under TCG, see lab.smt_scenarios)
DISTRO_KERNELS = (Kernel.DEBIAN_61, Kernel.BPO_612, Kernel.BPO_612_64K)


@dataclass(frozen=True)
class Cell:
    """One row of the matrix."""

    kernel: Kernel
    machine: Machine
    scenario: str  # a key of PAIRS' second half
    cpus: int
    threads: int

    @property
    def names(self) -> tuple[str, str]:
        return PAIRS[(self.machine, self.scenario)]

    def label(self) -> str:
        shape = f"{self.cpus}" if self.threads == 1 else f"{self.cpus} ({self.threads} thr/core)"
        return f"| {self.kernel} | {self.machine} | {self.scenario} | {shape} |"


def _cells(
    kernels: Iterable[Kernel], machines: Iterable[Machine], scenarios: Iterable[str],
    shapes: Iterable[tuple[int, int]],
) -> list[Cell]:  # fmt: skip
    return [
        Cell(k, m, s, cpus, threads)
        for k, m, s, (cpus, threads) in itertools.product(kernels, machines, scenarios, shapes)
        if (m, s) in PAIRS
    ]


FULL: tuple[Cell, ...] = (
    *_cells(DISTRO_KERNELS, Machine, ("kexec", "kdump", "kdump-lean"), SHAPES),
    *_cells(DISTRO_KERNELS, Machine, ("smt-kexec", "smt-kdump"), [SMT_SHAPE]),
    Cell(Kernel.KEXEC_FILE_61, Machine.PSERIES, "file-kexec", 1, 1),
)
# kdump-lean on 6.12: its crash kernel dumps with trixie's makedumpfile (lab.kernels).
_CI_KERNELS = (Kernel.BPO_612, Kernel.BPO_612_64K)
CI: tuple[Cell, ...] = tuple(
    _cells(_CI_KERNELS, (Machine.PSERIES,), ("kexec", "kdump", "kdump-lean"), [(1, 1)])
)


@contextmanager
def _held(lock: Path | None) -> Iterator[None]:
    if lock is None:
        yield
        return
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


Run = Callable[[str, Cell], Report]


def _verdict(report: Report) -> str:
    total = dict(report.timings).get("total")
    seconds = f" {total:.1f} s" if total is not None else ""
    return ("pass" if report.passed else "FAIL") + seconds


def run_matrix(cells: Iterable[Cell], run: Run, lock: Path | None = None) -> Iterator[str]:
    """The table, one line per cell as soon as both of its runs are done."""
    yield "| kernel | machine | scenario | CPUs | kexec-tools | pykexec |"
    yield "|---|---|---|---|---|---|"
    for cell in cells:
        verdicts = []
        for name in cell.names:
            with _held(lock):
                verdicts.append(_verdict(run(name, cell)))
        yield f"{cell.label()} {verdicts[0]} | {verdicts[1]} |"


def scenario_for(name: str, cell: Cell) -> Scenario:
    """The catalog's scenario ``name`` on ``cell``'s kernel and CPU shape."""
    return ALL_SCENARIOS[name].with_overrides(
        kernel=cell.kernel, cpus=cell.cpus, threads=cell.threads
    )
