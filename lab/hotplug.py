# SPDX-License-Identifier: GPL-2.0-or-later
"""Live CPU and memory hotplug in the lab: the machine's room and the host's QMP actions.

A scenario with a :class:`Hotplug` boots with room to grow (``-smp N,maxcpus=M``,
``-m SIZE,slots=S,maxmem=MAX``) and a QMP socket; when the guest begins the
step an action names, the host sends that action's QMP commands (``device_add``
of a CPU core, ``object_add`` of a RAM backend + ``device_add`` of a pc-dimm)
before the guest's step script waits for the kernel to bring them online.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.errors import ScenarioError

# QEMU 7.2 hw/ppc/spapr.c: the default pseries CPU is power9_v2.0; its core device
# type is "<cpu model>-spapr-cpu-core" (hw/ppc/spapr_cpu_core.c); a core's core-id
# is its first thread's index (a multiple of threads per core).
PSERIES_CORE = "power9_v2.0-spapr-cpu-core"
# QEMU 10's default pseries CPU is power10_v2.0; with -smp 2,maxcpus=4,cores=2,threads=2
# its query-hotpluggable-cpus lists core-id 0 (present) and core-id 2, each
# "vcpus-count": 2, "type": "power10_v2.0-spapr-cpu-core" (hw/ppc/spapr.c
# spapr_possible_cpu_arch_ids: core_id = i * smp_threads).
PSERIES10_CORE = "power10_v2.0-spapr-cpu-core"
# hw/ppc/spapr.c SPAPR_MEMORY_BLOCK_SIZE: pc-dimm sizes are multiples of 256 MiB.
DIMM_ALIGN_MIB = 256


@dataclass(frozen=True)
class QmpCommand:
    """One QMP command and its arguments (a tuple of pairs, so the scenario stays hashable)."""

    name: str
    arguments: tuple[tuple[str, Any], ...] = ()

    def kwargs(self) -> dict[str, Any]:
        return dict(self.arguments)


@dataclass(frozen=True)
class HostAction:
    """QMP commands the host sends when the guest prints ``LAB-BEGIN <step>``."""

    step: str
    commands: tuple[QmpCommand, ...]


@dataclass(frozen=True)
class Hotplug:
    """Room for hot-added CPUs and memory, and what the host adds when."""

    max_cpus: int
    slots: int
    max_mem_mib: int
    actions: tuple[HostAction, ...]

    def action(self, step: str) -> HostAction | None:
        return next((a for a in self.actions if a.step == step), None)


def add_core(core_id: int, threads: int = 1, core: str = PSERIES_CORE) -> QmpCommand:
    """``device_add`` of one pseries CPU core (of type ``core``) whose first thread is CPU
    ``core_id``."""
    if core_id % threads:
        raise ScenarioError(
            f"core-id {core_id} is not a multiple of {threads} threads", problem="core-id"
        )
    return QmpCommand(
        "device_add", (("driver", core), ("id", f"core{core_id}"), ("core-id", core_id))
    )


def add_dimm(index: int, mib: int) -> tuple[QmpCommand, QmpCommand]:
    """A RAM backend and the pc-dimm on it (``mib`` a multiple of 256)."""
    if mib % DIMM_ALIGN_MIB:
        raise ScenarioError(
            f"pseries DIMMs are multiples of {DIMM_ALIGN_MIB} MiB, not {mib}", problem="dimm-size"
        )
    backend = f"hotmem{index}"
    return (
        QmpCommand(
            "object-add",  # QMP's name (HMP's is object_add); qapi/qom.json
            (("qom-type", "memory-backend-ram"), ("id", backend), ("size", mib << 20)),
        ),
        QmpCommand(
            "device_add", (("driver", "pc-dimm"), ("id", f"dimm{index}"), ("memdev", backend))
        ),
    )
