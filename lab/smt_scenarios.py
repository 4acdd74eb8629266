# SPDX-License-Identifier: GPL-2.0-or-later
"""SMT and POWER10 (issues 12 and 18): kexec and kdump where cores run hardware threads.

POWER servers run with SMT on (4 or 8 threads per core), and a crash lands on
whatever thread was running.  Debian 12's QEMU 7.2 cannot emulate that under
TCG (pseries refuses ``threads=2``: "TCG cannot support more than 1 thread/core
on a pseries machine", hw/ppc/spapr.c; powernv9's skiboot stops before the
kernel), so every scenario here runs on bookworm-backports' QEMU 10
(:class:`lab.model.Qemu`, fetched into the lab cache by :mod:`lab.assets`).

Each is a twin of a 1-thread scenario on ``cores`` x ``threads`` CPUs
(:class:`Shape`): every stage but the crash kernel's (``nr_cpus=1``) first
records each CPU's thread siblings (they must be whole cores, the same after
kexec), the kexec's next kernel must have every thread online, and the crash
is taken (``taskset``) on the first thread of core 1, which is not CPU 0.
The kdump twins leave out the pykexec-only vmcore-dmesg steps (the 1-thread
``kdump`` runs them), so kexec-tools and pykexec run the same steps.

Known failures (``Scenario.known_failure``: the lab reports them as such, and they
turn green when fixed): every pseries SMT crash, which deadlocks QEMU 10's
multi-threaded TCG (:data:`PSERIES_SMT_CRASH_DEADLOCK`), and the crash on a core's
second thread (issue 18, both tools).  Their ``-nonmi`` twins (:data:`NONMI`) crash the
same way on a kernel that sends no H_SIGNAL_SYS_RESET (:data:`lab.model.Kernel.NONMI_61`,
an emulation workaround), so they show what the loaders do once QEMU is out of the way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lab.model import BOOT_TIMEOUT, Kernel, Machine, Qemu, Scenario, Stage, Step
from lab.scenarios import SCENARIOS

# What every pykexec-only step of the 1-thread kdump adds (lab.scenarios.VMCOREDMESG).
_PYKEXEC_ONLY = frozenset({"vmcore_dmesg", "makedumpfile_dmesg"})
# Hand-over and boot deadlines grow with the threads TCG runs on the host's 2 cores;
# measured (lab/README.md, "SMT"), the slowest seen x ~3: powernv10 2 x 4 booted in
# 27.9 s, pseries 2 x 4 in 5.2-9.7 s.
_SECONDS_PER_CPU = 2.5
_BOOT_SECONDS_PER_CPU = 8.0
# A pseries crash with SMT deadlocks QEMU 10's multi-threaded TCG: the crashing CPU's
# H_SIGNAL_SYS_RESET (the kernel's NMI IPI, pseries_cause_nmi_ipi) waits in run_on_cpu()
# for a vCPU that waits in start_exclusive() for it (lab/README.md "SMT", the evidence).
# Single-threaded TCG (Scenario.tcg_single, `lab run --tcg-single`) gets past it, but
# the old kernel's threads then spin in the hold loop on the one host thread and the
# crash kernel crawls (2 x 2: one console line per ~17 s), so the lab keeps
# multi-threaded TCG and records those scenarios as known failures.
PSERIES_SMT_CRASH_DEADLOCK = (
    "QEMU 10.0 multi-threaded TCG deadlocks in H_SIGNAL_SYS_RESET (run_on_cpu against "
    "start_exclusive) when a pseries SMT guest crashes (issue 18)"
)


@dataclass(frozen=True)
class Shape:
    """A machine's CPUs: ``cores`` of ``threads`` threads, a -cpu model, and the machine."""

    machine: Machine
    threads: int
    cores: int = 2
    cpu_model: str | None = None

    @property
    def cpus(self) -> int:
        return self.cores * self.threads

    def crash_cpu(self, thread: int) -> int:
        """Linux's number of core 1's ``thread`` (Linux numbers a core's threads
        consecutively: core 1's first thread is CPU ``threads``); CPU 0 on one core."""
        return 0 if self.cores == 1 else self.threads + thread


def _topology(stage: Stage, shape: Shape) -> Step:
    return Step(
        f"topology_{stage}",
        f"sh /lab/steps/thread_siblings.sh siblings_{stage} {shape.cpus} {shape.threads}",
        timeout=10,
    )


def _crash_on(cpu: int, timeout: float) -> Step:
    return Step(
        "crash", f"sh /lab/steps/crash_on_cpu.sh {cpu}", timeout=timeout, fatal=True, leaves=True
    )


def _stretched(step: Step, shape: Shape) -> Step:
    """A hand-over step's deadline, grown for the next kernel's thread bring-up."""
    if not step.leaves:
        return step
    return dataclasses.replace(step, timeout=step.timeout + _SECONDS_PER_CPU * shape.cpus)


# The crash kernel's view of its boot CPU: the boot_cpuid_phys its flattened tree arrived
# with (the purgatory writes it: header word 7, big-endian; /sys/firmware/fdt is the blob
# the kernel booted from) and the CPUs it brought up.
_CRASH_BOOT_CPU = Step(
    "boot_cpu",
    'lab_result crash_boot_cpuid_phys "$(od -An -tx1 -j28 -N4 /sys/firmware/fdt'
    ' 2>&1 | tr -d " ")"\n'
    'lab_result crash_cpus_online "$(cat /sys/devices/system/cpu/online)"\n'
    'lab_result crash_cpu_nodes "$(find /proc/device-tree/cpus -maxdepth 1 -name "*@*"'
    ' | sed "s,.*/,," | tr "\\n" " ")"\n'
    'lab_result crash_fdt_cpu_order "$(strings /sys/firmware/fdt | grep "^PowerPC,.*@"'
    ' | tr "\\n" " ")"\ntrue',
    timeout=20,
)


def on_threads(
    scenario: Scenario, name: str, shape: Shape, crash_thread: int = 0, what: str = ""
) -> Scenario:
    """``scenario`` on ``shape`` under QEMU 10: topology recorded before every hand-over and
    after kexec, the crash on core 1's ``crash_thread``."""
    crashes = any(s.name == "crash" for _, steps in scenario.stages for s in steps)
    deadlocks = crashes and shape.machine is Machine.PSERIES and shape.threads > 1
    crash_step = _crash_on(shape.crash_cpu(crash_thread), 40 + _SECONDS_PER_CPU * shape.cpus)
    stages = []
    for stage, steps in scenario.stages:
        kept = [s for s in steps if s.name not in _PYKEXEC_ONLY]
        swapped = tuple(crash_step if s.name == "crash" else _stretched(s, shape) for s in kept)
        if stage is not Stage.CRASH:  # the crash kernel runs with nr_cpus=1
            swapped = (_topology(stage, shape), *swapped)
        else:
            swapped = (_CRASH_BOOT_CPU, *swapped)
        stages.append((stage, swapped))
    return dataclasses.replace(
        scenario,
        name=name,
        description=f"{what or shape_label(shape)}: {scenario.description}",
        cpus=shape.cpus,
        threads=shape.threads,
        machine=shape.machine,
        cpu_model=shape.cpu_model,
        qemu=Qemu.V10,
        boot_timeout=BOOT_TIMEOUT[shape.machine] + _BOOT_SECONDS_PER_CPU * shape.cpus,
        known_failure=PSERIES_SMT_CRASH_DEADLOCK if deadlocks else "",
        stages=tuple(stages),
    )


def shape_label(shape: Shape) -> str:
    cpu = f" {shape.cpu_model}" if shape.cpu_model else ""
    return f"{shape.machine}{cpu} {shape.cores} cores x {shape.threads} threads (QEMU 10)"


# The 1-thread scenarios each machine's twins run: (reference, pykexec) per action.
_BASES: dict[tuple[Machine, str], tuple[str, str]] = {
    (Machine.PSERIES, "kexec"): ("reference-kexec", "kexec"),
    (Machine.PSERIES, "kdump"): ("reference-kdump", "kdump"),
    (Machine.POWERNV, "kexec"): ("reference-powernv-kexec", "powernv-kexec"),
    (Machine.POWERNV, "kdump"): ("reference-powernv-kdump", "powernv-kdump"),
    # powernv10: the powernv9 scenarios' steps (platform facts, rootfs room) on -M powernv10
    (Machine.POWERNV10, "kexec"): ("reference-powernv-kexec", "powernv-kexec"),
    (Machine.POWERNV10, "kdump"): ("reference-powernv-kdump", "powernv-kdump"),
}
# Scenario name stem -> its shape.  QEMU 10's default pseries CPU is POWER10
# (power10_v2.0; the guest says "POWER10 (architected)"), so every pseries shape runs
# POWER10; pseries-power10 names it with -cpu.
SHAPES: dict[str, Shape] = {
    "pseries-smt2": Shape(Machine.PSERIES, 2),
    "pseries-smt4": Shape(Machine.PSERIES, 4),
    "pseries-smt8": Shape(Machine.PSERIES, 8),
    "powernv10-smt4": Shape(Machine.POWERNV10, 4),
    "pseries-power10": Shape(Machine.PSERIES, 1, cores=1, cpu_model="POWER10"),
    "powernv10": Shape(Machine.POWERNV10, 1, cores=1),
    "powernv-smt": Shape(Machine.POWERNV, 2),  # issue 12's powernv9 2 x 2
}


def _twins(stem: str, shape: Shape, crash_thread: int = 0, suffix: str = "") -> list[Scenario]:
    out = []
    for action in ("kexec", "kdump"):
        if action == "kexec" and crash_thread:
            continue
        for prefix, base in zip(("reference-", ""), _BASES[(shape.machine, action)]):
            name = f"{prefix}{stem}-{action}{suffix}"
            out.append(on_threads(SCENARIOS[base], name, shape, crash_thread))
    return out


# The crash on core 1's second thread.  On pseries it meets QEMU 10's deadlock like every
# pseries SMT crash (PSERIES_SMT_CRASH_DEADLOCK, a known failure: reported as such by
# lab run and lab matrix, xfail in the e2e tests); on powernv (NMI IPIs through OPAL) it
# passes with both tools (lab/README.md "SMT"; tests/e2e/test_smt.py runs that pair).
SECOND_THREAD = "-second-thread"
_SECOND_THREAD_STEMS = ("pseries-smt2", "powernv-smt")

_ALL = [s for stem, shape in SHAPES.items() for s in _twins(stem, shape)] + [
    s for stem in _SECOND_THREAD_STEMS for s in _twins(stem, SHAPES[stem], 1, SECOND_THREAD)
]
SMT_SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}

# The pseries SMT crashes again on nonmi-6.1 (lab.krecipes.NONMI: the kexec-file kernel whose
# pseries_cause_nmi_ipi returns 0, so the crash path stops the other CPUs with ordinary
# IPIs and QEMU's H_SIGNAL_SYS_RESET run_on_cpu never happens).  Not known failures: with
# the deadlock out of the way, these are the loaders' SMT kdump (lab/README.md "SMT").
NONMI = "-nonmi"
_NONMI_OF = ("pseries-smt4-kdump", "pseries-smt2-kdump-second-thread")


def _nonmi(s: Scenario) -> Scenario:
    return dataclasses.replace(
        s,
        name=s.name + NONMI,
        description=f"{Kernel.NONMI_61} kernel (no NMI IPI hcall): {s.description}",
        kernel=Kernel.NONMI_61,
        known_failure="",
    )


SMT_SCENARIOS.update(
    (s.name, s)
    for s in (_nonmi(SMT_SCENARIOS[p + n]) for n in _NONMI_OF for p in ("reference-", ""))
)


def matrix_pairs() -> dict[tuple[Machine, str], tuple[str, str]]:
    """(machine, scenario) -> (reference, pykexec) for lab.matrix: the scenario is the
    name without the machine, e.g. (pseries, "smt4-kdump")."""
    out: dict[tuple[Machine, str], tuple[str, str]] = {}
    for name, s in SMT_SCENARIOS.items():
        if not name.startswith("reference-"):
            continue
        ours = name.removeprefix("reference-")
        short = ours.removeprefix(f"{s.machine}-").removeprefix(str(s.machine))
        out[(s.machine, short.lstrip("-") or ours)] = (name, ours)
    return out
