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
"""

from __future__ import annotations

from lab.hotplug import HostAction, Hotplug, add_core, add_dimm
from lab.model import ConsoleRule, Kernel, Loader, Scenario, Stage, Step
from lab.scenarios import (  # the kdump scenario's steps, shared as they are
    CRASH_APPEND,
    KDUMP_CRASH,
    KERNEL_ARGS,
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
_HOTPLUG = Step(
    "hotplug",
    f"sh /lab/steps/hotplug_wait.sh {MAX_CPUS} {HOT_DIMM_MIB} {HOTPLUG_WAIT:.0f}",
    timeout=HOTPLUG_WAIT + 15,
    fatal=True,
)
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
) -> Scenario:
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
        stages=(
            (
                Stage.FIRST,
                (_FACTS, MEMMAP, _load(flags), _HOTPLUG, _VERIFY_HOT, _FILL_HOT, crash_step),
            ),
            (Stage.CRASH, (_CRASH_FACTS, *crash)),
        ),
        console=(ConsoleRule(r"Kernel panic|Oops", "hotplug", present=False), *console),
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
