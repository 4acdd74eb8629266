# SPDX-License-Identifier: GPL-2.0-or-later
"""SMT (issue 12): kexec and kdump on machines whose cores run two hardware threads.

The lab's other scenarios boot single-threaded cores; POWER machines run with
SMT.  These are the powernv kexec/kdump twins on ``-smp 4,cores=2,threads=2``:
after kexec every thread is online again (the second kernel's ``nproc`` = 4,
and CPU 1 is CPU 0's sibling thread), and the crash is
taken on a secondary thread (CPU 3, core 1's second thread, via ``taskset``),
so the crash kernel starts from a thread that was not its core's first.

pseries cannot take part under the lab's QEMU (Debian 12's 7.2): it refuses
``threads=2`` with "TCG cannot support more than 1 thread/core on a pseries
machine" (hw/ppc/spapr.c, KVM only there).
"""

from __future__ import annotations

import dataclasses

from lab.model import Scenario, Stage, Step
from lab.scenarios import SCENARIOS

CPUS, THREADS = 4, 2
SECONDARY_THREAD = 3  # core 1, thread 1 (Linux numbers a core's threads consecutively)

_TOPOLOGY = Step("topology", f"sh /lab/steps/thread_siblings.sh {CPUS}", timeout=10)
_CRASH_ON_THREAD = Step(
    "crash",
    f"sh /lab/steps/crash_on_cpu.sh {SECONDARY_THREAD}",
    timeout=60,
    fatal=True,
    leaves=True,
)


def _smt(scenario: Scenario, name: str) -> Scenario:
    """``scenario`` on 2 cores x 2 threads, topology recorded, crash on a secondary thread."""
    stages = []
    for stage, steps in scenario.stages:
        swapped = tuple(_CRASH_ON_THREAD if s.name == "crash" else s for s in steps)
        if stage is not Stage.CRASH:  # the crash kernel runs with nr_cpus=1
            swapped = (_TOPOLOGY, *swapped)
        stages.append((stage, swapped))
    return dataclasses.replace(
        scenario,
        name=name,
        description=f"SMT 2x2: {scenario.description}",
        cpus=CPUS,
        threads=THREADS,
        stages=tuple(stages),
    )


SMT_TWINS = {  # SMT scenario: the scenario it runs on threads
    "reference-powernv-smt-kexec": "reference-powernv-kexec",
    "powernv-smt-kexec": "powernv-kexec",
    "reference-powernv-smt-kdump": "reference-powernv-kdump",
    "powernv-smt-kdump": "powernv-kdump",
}
SMT_SCENARIOS: dict[str, Scenario] = {
    name: _smt(SCENARIOS[twin], name) for name, twin in SMT_TWINS.items()
}
