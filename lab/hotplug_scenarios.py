# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash hotplug proven live (issue 12): CPUs and memory added after ``pykexec -p``.

On a kernel with ``CONFIG_CRASH_HOTPLUG`` (Linux >= 6.10 on powerpc; the lab's
bookworm-backports 6.12), ``pykexec -p --hotplug`` loads a crash image the kernel
itself updates when CPUs or memory come and go.  The host then adds one pseries
CPU core and one 512 MiB pc-dimm over QMP (:mod:`lab.hotplug`); the kernel's
pseries DLPAR code brings them online (the first kernel boots with
``memhp_default_state=online_movable``, so user pages come from the new memory);
the nonce is written into the hot-added memory (checked through pagemap) and the
crash is taken on the hot-added CPU (``taskset``).  The crash kernel then finds
the nonce in /proc/vmcore and one CPU note per CPU, the hot-added one included.

``hotplug-stale`` is the same without ``--hotplug``: the image keeps the
machine as it was at load time, so the vmcore misses the new memory and the new
CPU's note; that scenario passes when the dump shows exactly that.

``pseries-smt{2,4}-hotplug-nonmi`` (issue 18) are ``hotplug`` with SMT: QEMU 10,
one core of 2 or 4 threads at boot, a whole core of as many threads added
(:func:`smt_hotplug`), the crash on the new core's last thread, and the vmcore must
hold one CPU note per thread (``CORE/1:4``, ``CORE/1:8``).  They run on ``nonmi-6.12``
(:data:`lab.model.Kernel.NONMI_612`): stock pseries SMT crashes deadlock QEMU 10
(:mod:`lab.smt_scenarios`) and 6.1, the other nonmi kernel, has no crash hotplug.
Both loaders use ``kexec_load`` (``-c``): the ``reference-`` twins run sid's
kexec-tools 2.0.32 (``Scenario.sid_kexec``; bookworm's 2.0.25 has no ``--hotplug``).
"""

from __future__ import annotations

import dataclasses

from lab.hotplug import PSERIES10_CORE, HostAction, Hotplug, add_core, add_dimm
from lab.model import (
    BOOT_TIMEOUT,
    ConsoleRule,
    Kernel,
    Loader,
    Machine,
    Qemu,
    Scenario,
    Stage,
    Step,
)
from lab.scenarios import (  # the kdump scenario's steps, shared as they are
    CRASH_APPEND,
    KDUMP_CRASH,
    KERNEL_ARGS,
    LOW64K,
    MEMMAP,
)

BOOT_CPUS, MAX_CPUS = 1, 2
HOT_DIMM_MIB = 512
HOTPLUG_WAIT = 30.0  # seconds the guest waits for the kernel to online what QEMU added
HOTPLUG = Hotplug(
    max_cpus=MAX_CPUS,
    slots=2,
    max_mem_mib=4096,
    actions=(HostAction("hotplug", (add_core(1), *add_dimm(0, HOT_DIMM_MIB))),),
)
_LOADED = '"$(cat /sys/kernel/kexec_crash_loaded)"'


def _load(flags: str) -> Step:
    return Step(
        "load",
        f"lab_try load $KEXEC {flags} {KERNEL_ARGS} {CRASH_APPEND}\nrc=$?\n"
        f"lab_result kexec_crash_loaded {_LOADED}\n[ $rc = 0 ] && [ {_LOADED} = 1 ] || return 1\n"
        "python3 /lab/hotplug.py facts loaded",
        timeout=20,
        fatal=True,
    )


_FACTS = Step("facts", "python3 /lab/hotplug.py facts boot", timeout=10, fatal=True)


def _hotplug_wait(cpus: int, seconds: float) -> Step:
    """Wait until ``cpus`` CPUs are online and the DIMM's memory is there."""
    return Step(
        "hotplug",
        f"sh /lab/steps/hotplug_wait.sh {cpus} {HOT_DIMM_MIB} {seconds:.0f}",
        timeout=seconds + 15,
        fatal=True,
    )


_HOTPLUG = _hotplug_wait(MAX_CPUS, HOTPLUG_WAIT)
_FILL_HOT = Step("fill_hot", "sh /lab/steps/fill_hot.sh", timeout=15, fatal=True)
# After the hotplug event: the image is still intact (a --hotplug image's tree and core
# header, which the kernel rewrote, are named as such); -S -d's verdict on the record.
_VERIFY_HOT = Step(
    "verify_hot",
    "$KEXEC -S -d > /tmp/status_hot.out 2>&1\n"
    "lab_result status_hot_out \"$(tr '\\n' '|' < /tmp/status_hot.out | cut -c1-600)\"\n"
    "$KEXEC --verify > /tmp/verify_hot.out 2>&1\nrc=$?\nlab_result verify_hot_rc $rc\n"
    "lab_result verify_hot_out \"$(tr '\\n' '|' < /tmp/verify_hot.out | cut -c1-900)\"\n"
    "[ $rc = 0 ]",
    timeout=60,
    fatal=True,
)
SYSRQ_CRASH_LINE = "sysrq: Trigger a crash"  # drivers/tty/sysrq.c sysrq_handle_crash's key op
NEXT_KERNEL_BANNER = "Linux version"  # init/version.c linux_banner: the crash kernel starts


def _crash_on(cpu: str, stops_with: str | None = None) -> Step:
    """sysrq-c from CPU ``cpu`` (a number, or ``last``); with ``stops_with``, the
    machine is expected to stop there (no crash kernel)."""
    return Step(
        "crash",
        f"sh /lab/steps/crash_on_cpu.sh {cpu}",
        timeout=60,
        fatal=True,
        leaves=True,
        stops_with=stops_with,
    )


_CRASH_ON_HOT_CPU = _crash_on("last")
_CRASH_FACTS = Step(
    "crash_facts",
    'lab_result crash_cmdline "$(cat /proc/cmdline)"',
)


def _scenario(
    name: str,
    flags: str,
    description: str,
    crash: tuple[Step, ...],
    crash_step: Step = _CRASH_ON_HOT_CPU,
    console: tuple[ConsoleRule, ...] = (),
    low64k: bool = False,
) -> Scenario:
    """With ``low64k``, [0, 64 KiB) is read just before the crash and the host requires the
    vmcore's to be the same (``Scenario.low64k_check``): the kernel rewrites a --hotplug
    image's core header, whose backup PT_LOAD it takes from the loaded one."""
    before_crash = (LOW64K,) if low64k else ()
    first = (_FACTS, MEMMAP, _load(flags), _HOTPLUG, _VERIFY_HOT, _FILL_HOT, *before_crash)
    return Scenario(
        name=name,
        description=description,
        loader=Loader.PYKEXEC,
        cpus=BOOT_CPUS,
        mem_mib=2048,
        crashkernel="512M",
        cmdline=("memhp_default_state=online_movable",),
        kernel=Kernel.BPO_612,
        hotplug=HOTPLUG,
        stages=((Stage.FIRST, (*first, crash_step)), (Stage.CRASH, (_CRASH_FACTS, *crash))),
        console=(ConsoleRule(r"Kernel panic|Oops", "hotplug", present=False), *console),
        low64k_check=low64k,
    )


# The stale image: the nonce in hot-added memory must be absent from the dump.
_STALE_CRASH = (
    Step(
        "vmcore",
        'python3 /lab/vmcore_check.py "$LAB_nonce" "$LAB_fill"\nlab_result vmcore_check_rc $?',
        timeout=70,
    ),
    Step("elfcore", "python3 /lab/memcheck.py vmcore", timeout=10),
)

HOTPLUG_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _scenario(
            "hotplug",
            "-p --hotplug",
            "pykexec -p --hotplug on 6.12; QEMU adds a CPU core and a DIMM; nonce in the new "
            "memory, crash on the new CPU; the vmcore holds both",
            KDUMP_CRASH,
            low64k=True,
        ),
        _scenario(
            "hotplug-stale",
            "-p",
            "pykexec -p (no --hotplug) on 6.12, the same hotplug, crash on the boot CPU: the "
            "stale image's vmcore misses the new memory (and the nonce in it) and CPU",
            _STALE_CRASH,
            crash_step=_crash_on("0"),
        ),
        _scenario(
            "hotplug-stale-hot-cpu",
            "-p",
            "pykexec -p (no --hotplug) on 6.12, the same hotplug, crash on the new CPU: the "
            "stale image's crash kernel never starts",
            _STALE_CRASH,
            crash_step=_crash_on("last", stops_with=SYSRQ_CRASH_LINE),
            console=(ConsoleRule(NEXT_KERNEL_BANNER, "crash", present=False),),
        ),
    )
}


# --- SMT: a whole core of threads added (issue 18) -------------------------------------
# Threads per core of the SMT scenarios: one core at boot, one added (cores 0 and 1).
SMT_THREADS: tuple[int, ...] = (2, 4)
# QEMU 10's multi-threaded TCG runs 4-8 vCPUs on the host's 2 cores: deadlines with room
# (lab.smt_scenarios grows its own the same way, per CPU).
SMT_HOTPLUG_WAIT = 60.0
_SMT_CRASH_TIMEOUT = 120.0
_PYKEXEC_ONLY = frozenset({"verify_hot"})  # pykexec -S -d / --verify
SMT_NONMI = "-nonmi"


def smt_hotplug(threads: int) -> Hotplug:
    """Room for a second core of ``threads`` threads (spapr's core-id of core 1 is its
    first thread, ``threads``; lab.hotplug.PSERIES10_CORE) and the DIMM, added together."""
    core = add_core(threads, threads, PSERIES10_CORE)
    return Hotplug(
        max_cpus=2 * threads,
        slots=2,
        max_mem_mib=4096,
        actions=(HostAction("hotplug", (core, *add_dimm(0, HOT_DIMM_MIB))),),
    )


def _cpu_notes(cpus: int) -> Step:
    """One CPU note (NT_PRSTATUS, "CORE"/1) per thread in the crash kernel's vmcore, the
    new core's included: memcheck's results, then the count checked."""
    return Step(
        "elfcore",
        "python3 /lab/memcheck.py vmcore > /tmp/elfcore.out\nrc=$?\ncat /tmp/elfcore.out\n"
        f'grep -q "vmcore_note_types=CORE/1:{cpus}," /tmp/elfcore.out && [ $rc = 0 ]',
        timeout=10,
    )


def _topology_hot(cpus: int, threads: int) -> Step:
    """After the hotplug: every CPU's thread siblings are whole cores (the new core is CPUs
    ``threads``..``cpus``-1, so the crash on the last CPU is on its last thread), and the
    tree has a node per core (lab.smt_scenarios records the same before each hand-over)."""
    return Step(
        "topology_hot", f"sh /lab/steps/thread_siblings.sh siblings_hot {cpus} {threads}",
        timeout=10,
    )  # fmt: skip


def _smt_steps(step: Step, threads: int) -> tuple[Step, ...]:
    cpus = 2 * threads
    if step.name == "hotplug":
        return (_hotplug_wait(cpus, SMT_HOTPLUG_WAIT), _topology_hot(cpus, threads))
    if step.name == "crash":
        return (dataclasses.replace(step, timeout=_SMT_CRASH_TIMEOUT),)
    return (_cpu_notes(cpus) if step.name == "elfcore" else step,)


def _smt_hotplug(loader: Loader, threads: int) -> Scenario:
    """``hotplug`` on one core of ``threads`` threads under QEMU 10 on nonmi-6.12, a core
    added, the crash on its last thread; kexec_load (``-c``) with both loaders."""
    reference = loader is Loader.KEXEC
    tool = "kexec-tools 2.0.32 (sid)" if reference else "pykexec"
    name = f"{'reference-' if reference else ''}pseries-smt{threads}-hotplug{SMT_NONMI}"
    base = _scenario(
        name,
        "-c -p --hotplug",
        f"{tool} -c -p --hotplug on {Kernel.NONMI_612}, pseries 1 core x {threads} "
        f"threads (QEMU 10); QEMU adds a {threads}-thread core and a DIMM; nonce in the "
        "new memory, crash on the new core's last thread; the vmcore holds both and one CPU "
        "note per thread",
        KDUMP_CRASH,
        crash_step=_CRASH_ON_HOT_CPU,
        low64k=True,
    )
    kept = (
        (stage, [s for s in steps if not (reference and s.name in _PYKEXEC_ONLY)])
        for stage, steps in base.stages
    )
    return dataclasses.replace(
        base,
        loader=loader,
        sid_kexec=reference,
        cpus=threads,
        threads=threads,
        qemu=Qemu.V10,
        kernel=Kernel.NONMI_612,
        hotplug=smt_hotplug(threads),
        boot_timeout=BOOT_TIMEOUT[Machine.PSERIES] + 8.0 * 2 * threads,
        stages=tuple(
            (stage, tuple(x for s in steps for x in _smt_steps(s, threads)))
            for stage, steps in kept
        ),
    )


SMT_HOTPLUG_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for threads in SMT_THREADS
    for s in (_smt_hotplug(Loader.KEXEC, threads), _smt_hotplug(Loader.PYKEXEC, threads))
}
HOTPLUG_SCENARIOS.update(SMT_HOTPLUG_SCENARIOS)
