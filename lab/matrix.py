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

from lab import smt_scenarios
from lab.catalog import ALL_SCENARIOS
from lab.hotplug_scenarios import SMT_THREADS
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
    **smt_scenarios.matrix_pairs(),  # QEMU 10: SMT, POWER10 (lab.smt_scenarios)
    # QEMU 10: a core of 2 or 4 threads added live, the crash on it (nonmi-6.12)
    **{
        (Machine.PSERIES, f"smt{t}-hotplug-nonmi"): (
            f"reference-pseries-smt{t}-hotplug-nonmi",
            f"pseries-smt{t}-hotplug-nonmi",
        )
        for t in SMT_THREADS
    },
}
# (CPUs, threads per core)
SHAPES: tuple[tuple[int, int], ...] = ((1, 1), (4, 1))
SMT_SHAPE = (4, 2)  # powernv's smt-* scenarios: 2 cores x 2 threads
_QEMU72_MACHINES = (Machine.PSERIES, Machine.POWERNV)  # the machines of the 1-thread cells
DISTRO_KERNELS = (Kernel.DEBIAN_61, Kernel.BPO_612, Kernel.BPO_612_64K)


def _shape(name: str) -> tuple[int, int]:
    s = ALL_SCENARIOS[name]
    return s.cpus, s.threads


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
    *_cells(DISTRO_KERNELS, _QEMU72_MACHINES, ("kexec", "kdump", "kdump-lean"), SHAPES),
    *_cells(DISTRO_KERNELS, _QEMU72_MACHINES, ("smt-kexec", "smt-kdump"), [SMT_SHAPE]),
    Cell(Kernel.KEXEC_FILE_61, Machine.PSERIES, "file-kexec", 1, 1),
    *(  # the other QEMU 10 cells on Debian 12's kernel, each in the shape its name says
        Cell(Kernel.DEBIAN_61, m, name, *_shape(pair[1]))
        for (m, name), pair in smt_scenarios.matrix_pairs().items()
        if name not in ("smt-kexec", "smt-kdump")  # above, on every distribution kernel
    ),
    *(  # SMT crash hotplug (lab.hotplug_scenarios), 1 core at boot
        Cell(Kernel.NONMI_612, Machine.PSERIES, f"smt{t}-hotplug-nonmi", t, t) for t in SMT_THREADS
    ),
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
    scenario = ALL_SCENARIOS.get(report.scenario)
    known = " (known failure)" if scenario is not None and scenario.known_failure else ""
    return ("pass" if report.passed else f"FAIL{known}") + seconds


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
