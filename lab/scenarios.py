# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's scenarios, declared as data (vocabulary and rendering in :mod:`lab.model`).

Every step script is busybox sh run by the guest's /init, which provides
``lab_result KEY VALUE`` and ``lab_try KEY CMD...`` (records ``KEY_rc`` and
``KEY_err``; lab/guest/lib.sh).  Longer steps live in lab/guest/steps/*.sh (run
as ``sh /lab/steps/NAME.sh ARGS``, checked by shellcheck).  Reference scenarios
use kexec-tools; their pykexec twins differ only in ``$KEXEC``.
"""

from __future__ import annotations

import dataclasses

from lab.model import BOOT_TIMEOUT, ConsoleRule, Loader, Machine, Scenario, Stage, Step, render
from lab.steps import (  # shared with the other scenario modules; re-exported
    CRASH_APPEND,
    CRASH_CMDLINE,
    CRASH_LOAD,
    CRASH_LOADED,
    CRASH_STAGE,
    CRASH_WORDS,
    DIGEST_MISMATCH,
    DIGEST_VERIFIED,
    EXEC,
    FALLBACK_NOTE,
    FILL,
    INJECT,
    KDUMP_CRASH,
    KDUMP_STAGE1,
    KERNEL_ARGS,
    KEXEC_STAGE2,
    LOADER,
    LOW64K,
    MEMMAP,
    NEXT_APPEND,
    NEXT_CMDLINE,
    OLD_KERNEL_TRAP,
    PURGATORY_HELLO,
    SYSRQ_CRASH,
    kdump_stage1,
    kexec_load,
    status_step,
)
from lab.trust_scenarios import (  # re-exported
    HEADROOM_REFUSAL,
    LEAN_ARGS,
    LEAN_CRASHKERNEL,
    LEAN_DUMP,
    NOT_OURS,
    RELOADED_NOTE,
    TRUST_CRASHKERNEL,
    TRUST_SCENARIOS,
    kdump_lean,
)

# The names other modules import from here (steps shared by file_scenarios, hotplug_scenarios
# and others; lab.steps and lab.trust_scenarios re-exported).
__all__ = [
    "CRASH_APPEND",
    "CRASH_CMDLINE",
    "CRASH_LOAD",
    "CRASH_LOADED",
    "CRASH_STAGE",
    "CRASH_WORDS",
    "DIGEST_MISMATCH",
    "DIGEST_VERIFIED",
    "EXEC",
    "FALLBACK_NOTE",
    "FILL",
    "HEADROOM_REFUSAL",
    "INJECT",
    "KDUMP_CRASH",
    "KDUMP_STAGE1",
    "KERNEL_ARGS",
    "KEXEC_STAGE2",
    "LEAN_ARGS",
    "LEAN_CRASHKERNEL",
    "LEAN_DUMP",
    "LOADER",
    "LOW64K",
    "MEMMAP",
    "NEXT_APPEND",
    "NEXT_CMDLINE",
    "NOT_OURS",
    "OLD_KERNEL_TRAP",
    "PURGATORY_HELLO",
    "RELOADED_NOTE",
    "SCENARIOS",
    "SYSRQ_CRASH",
    "TRUST_CRASHKERNEL",
    "TRUST_SCENARIOS",
    "ConsoleRule",
    "Loader",
    "Machine",
    "Scenario",
    "Stage",
    "Step",
    "kdump_lean",
    "kdump_stage1",
    "kexec_load",
    "render",
    "shell_scenario",
    "status_step",
]


def _kexec(name: str, loader: Loader, cpus: int) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} -l + -e into a second kernel; -S codes; marker and CPUs online",
        loader=loader,
        cpus=cpus,
        mem_mib=1024,
        stages=(
            (Stage.FIRST, (status_step("before"), kexec_load(), status_step("after"), EXEC)),
            (Stage.SECOND, KEXEC_STAGE2),
        ),
    )


# Issue 19: the dead kernel's log by kexec-tools' vmcore-dmesg and pykexec's, compared,
# from /proc/vmcore and from a makedumpfile -E dump (skipped where makedumpfile cannot).
VMCOREDMESG = (
    Step("vmcore_dmesg", "sh /lab/steps/vmcore_dmesg.sh proc", timeout=60),
    Step("makedumpfile_dmesg", "sh /lab/steps/vmcore_dmesg.sh saved", timeout=150),
)


def _kdump(
    name: str,
    loader: Loader,
    load: str = CRASH_LOAD,
    what: str = "-p",
    crash_extra: tuple[Step, ...] = (),
) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} {what}, -p -S, -p -u + reload, sysrq crash; vmcore layout, "
        "low 64 KiB and nonce; makedumpfile -d 31",
        loader=loader,
        cpus=1,
        mem_mib=2048,
        crashkernel="512M",
        stages=((Stage.FIRST, kdump_stage1(load)), (Stage.CRASH, KDUMP_CRASH + crash_extra)),
    )


# petitboot's and op-build's form: the boot-time blob, with the default syscall choice.
FIRMWARE_FDT = "/sys/firmware/fdt"
_DTB_CRASH_LOAD = f"$KEXEC -p --dtb={FIRMWARE_FDT} {KERNEL_ARGS} {CRASH_APPEND}"


def _kexec_dtb() -> Scenario:
    return Scenario(
        name="kexec-dtb",
        description=f"pykexec -l --dtb={FIRMWARE_FDT} --initrd --append (petitboot's form, "
        "default -a) + -e into a second kernel",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        stages=(
            (Stage.FIRST, (kexec_load(f"-l --dtb={FIRMWARE_FDT}"), EXEC)),
            (Stage.SECOND, KEXEC_STAGE2),
        ),
    )


# Every harmless twin of an action: (result key, arguments). With an image and a
# crash image loaded, each must leave both loaded and the machine running.
DRY_RUNS = (
    ("dry_e", "-e --dry-run"),
    ("dry_f", "-f --dry-run"),
    ("dry_ef", "-e -f --dry-run"),
    ("dry_u", "-u --dry-run"),
    ("dry_pu", "-p -u --dry-run"),
)
_BOTH_LOADED = '[ "$(cat /sys/kernel/kexec_loaded)$(cat /sys/kernel/kexec_crash_loaded)" = 11 ]'
# A snapshot of this machine, laid out as a sysroot (as lab/capture.py does).
_SNAPSHOT = (
    "d=/tmp/snap; mkdir -p $d/proc $d/sys/kernel\n"
    "cp -r /sys/firmware/devicetree/base $d/proc/device-tree || return 1\n"
    "for f in iomem cmdline meminfo; do cat /proc/$f > $d/proc/$f; done\n"
)


def _dry_run_safety() -> Scenario:
    dry = "".join(
        f"$KEXEC {args} > /tmp/{key}.out 2>&1; lab_result {key}_rc $?\n"
        f"lab_result {key}_out \"$(head -c 300 /tmp/{key}.out | tr '\\n' '|')\"\n"
        f"{_BOTH_LOADED} || return 1\n"
        for key, args in DRY_RUNS
    )
    sysroot = (
        _SNAPSHOT + "$KEXEC -u || return 1\n"
        f"lab_try sysroot_live $KEXEC -l --sysroot=/tmp/snap {KERNEL_ARGS} {NEXT_APPEND}\n"
        'lab_result sysroot_live_loaded "$(cat /sys/kernel/kexec_loaded)"\n'
        f"lab_try sysroot_dry $KEXEC -l --sysroot=/tmp/snap --dry-run {KERNEL_ARGS} {NEXT_APPEND}\n"
        'lab_result sysroot_dry_loaded "$(cat /sys/kernel/kexec_loaded)"\n'
        '[ "$(cat /sys/kernel/kexec_loaded)" = 0 ]'
    )
    return Scenario(
        name="dry-run",
        description="with -l and -p images loaded: -e/-f/-e -f/-u/-p -u --dry-run leave both "
        "loaded; -l --sysroot without --dry-run refused, with it planned",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=2048,
        crashkernel="512M",
        stages=(
            (
                Stage.FIRST,
                (
                    kexec_load(),
                    Step(
                        "crash_load",
                        f"{CRASH_LOAD} || return 1\n{_BOTH_LOADED}",
                        timeout=15,
                        fatal=True,
                    ),
                    Step("dry_runs", dry + "lab_result still_running yes", timeout=30, fatal=True),
                    Step("sysroot", sysroot, timeout=30),
                ),
            ),
        ),
    )


# Debian's kdump-tools driving $KEXEC as /sbin/kexec (lab/guest/kdump_tools.py sets it up).
# kdump-config must print no log_failure_msg / log_warning_msg, but one known warning:
# apply_panic_triggers checks `[ -x "$(command -v sysctl)" ]`, and busybox ash
# (FEATURE_SH_STANDALONE) prints an applet's bare name for `command -v`, so
# kernel.panic_on_oops is not set.  Irrelevant here: sysrq-c panics directly.
PANIC_TRIGGER_WARNING = "kdump-config couldn't set panic trigger"
KDUMP_CONFIG_FAILED = rf"\[FAIL\] |\[warn\] (?!{PANIC_TRIGGER_WARNING})"
_KDUMP_TOOLS_INSTALL = Step(
    "kdump_tools",
    f'python3 /lab/kdump_tools.py install "$KEXEC" "{NEXT_CMDLINE} {CRASH_STAGE}" '
    f'"{CRASH_WORDS}" || return 1\n'
    'lab_result sbin_kexec_version "$(/sbin/kexec --version 2>&1 | head -n 1)"\n'
    "cat /etc/default/kdump-tools\n[ -x /sbin/kexec ]",
    timeout=10,
    fatal=True,
)


def _kdump_config(key: str, command: str, check: str, record: str = "") -> Step:
    """``kdump-config COMMAND``: its output on the console and as ``KEY_out``; RECORD; CHECK."""
    return Step(
        key,
        f"kdump-config {command} > /tmp/{key}.out 2>&1\nrc=$?\ncat /tmp/{key}.out\n"
        f'lab_result {key}_rc "$rc"\n'
        f"lab_result {key}_out \"$(tr '\\n' '|' < /tmp/{key}.out | cut -c1-600)\"\n"
        f"lab_result {key}_crash_loaded {CRASH_LOADED}\n{record}[ $rc = 0 ] && {check}",
        timeout=20,
        fatal=True,
    )


def _kdump_config_load(key: str) -> Step:
    """``kdump-config load`` and the kexec command it ran (kdump_load writes it to
    $KDUMP_COREDIR/kexec_cmd)."""
    record = f'lab_result {key}_kexec_cmd "$(cat /var/crash/kexec_cmd)"\n'
    return _kdump_config(key, "load", f"[ {CRASH_LOADED} = 1 ]", record)


_STATE = "grep -q 'current state *: {}' /tmp/{}.out"
_KDUMP_TOOLS_STAGE1 = (
    _KDUMP_TOOLS_INSTALL,
    MEMMAP,
    _kdump_config_load("kdump_load"),
    _kdump_config("kdump_status", "status", _STATE.format("ready to kdump", "kdump_status")),
    _kdump_config("kdump_unload", "unload", f"[ {CRASH_LOADED} = 0 ]"),
    _kdump_config(
        "kdump_status_unloaded", "status", _STATE.format("Not ready", "kdump_status_unloaded")
    ),
    _kdump_config_load("kdump_reload"),
    FILL,
    LOW64K,
    SYSRQ_CRASH,
)
_CRASH_CMDLINE_STEP = Step("crash_cmdline", 'lab_result crash_cmdline "$(cat /proc/cmdline)"')


def _kdump_tools(name: str, loader: Loader) -> Scenario:
    config_steps = [s.name for s in _KDUMP_TOOLS_STAGE1 if s.name.startswith("kdump_")]
    return Scenario(
        name=name,
        description=f"Debian's kdump-config load/status/unload/load with /sbin/kexec = {loader}; "
        "sysrq crash; the kdump checks on the vmcore",
        loader=loader,
        cpus=1,
        mem_mib=2048,
        crashkernel="512M",
        stages=(
            (Stage.FIRST, _KDUMP_TOOLS_STAGE1),
            (Stage.CRASH, (_CRASH_CMDLINE_STEP, *KDUMP_CRASH)),
        ),
        console=(
            *(ConsoleRule(KDUMP_CONFIG_FAILED, step, present=False) for step in config_steps),
            ConsoleRule(r"\[ ok \] loaded kdump kernel", "kdump_load"),
            ConsoleRule(r"\[ ok \] unloaded kdump kernel", "kdump_unload"),
            ConsoleRule(r"\[ ok \] loaded kdump kernel", "kdump_reload"),
        ),
    )


def _kexec_debug() -> Scenario:
    return Scenario(
        name="kexec-debug",
        description="pykexec -d -l + -e: plan on stderr, the purgatory says hello, 2nd kernel",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        stages=((Stage.FIRST, (kexec_load("-d -l"), EXEC)), (Stage.SECOND, KEXEC_STAGE2)),
        console=(
            ConsoleRule(PURGATORY_HELLO, "exec"),
            ConsoleRule(DIGEST_MISMATCH, "exec", present=False),
        ),
    )


def _kexec_shipped() -> Scenario:
    """The product exactly as it ships: no lab emulation knobs (lab.model.EMULATION_KNOBS),
    so the loader hashes with OpenSSL's POWER8 code and the purgatory with vshasigmaw
    (QEMU's POWER9 has vector crypto in AT_HWCAP2)."""
    return dataclasses.replace(
        _kexec_debug(),
        name="kexec-shipped",
        description="pykexec -d -l + -e as shipped (no emulation knobs): vector SHA-256 in "
        "the purgatory verifies, 2nd kernel",
        emulation_knobs=False,
        console=(
            ConsoleRule(PURGATORY_HELLO, "exec"),
            ConsoleRule(DIGEST_VERIFIED, "exec"),
            ConsoleRule(DIGEST_MISMATCH, "exec", present=False),
        ),
    )


def _kexec_bad_digest() -> Scenario:
    exec_ = Step(
        "exec", "$KEXEC -e", timeout=10, fatal=True, leaves=True, stops_with=DIGEST_MISMATCH
    )
    return Scenario(
        name="kexec-bad-digest",
        description="pykexec with a wrong digest injected by the lab (lab/guest/inject.py): "
        "the purgatory reports the mismatch and stops; the 2nd kernel never runs",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        stages=(
            (Stage.FIRST, (kexec_load("-l", INJECT + " corrupt-digest"), exec_)),
            (Stage.SECOND, KEXEC_STAGE2),
        ),
        console=(
            ConsoleRule("expected: [0-9a-f]{64}", "exec"),
            ConsoleRule("computed: [0-9a-f]{64}", "exec"),
            ConsoleRule(PURGATORY_HELLO, "exec", present=False),  # no -d: no hello
            ConsoleRule(OLD_KERNEL_TRAP, "exec", present=False),
        ),
    )


def _kexec_auto() -> Scenario:
    return Scenario(
        name="kexec-auto",
        description="pykexec -a -d -l: kexec_file_load ENOSYS, falls back to kexec_load, boots",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        stages=((Stage.FIRST, (kexec_load("-a -d -l"), EXEC)), (Stage.SECOND, KEXEC_STAGE2)),
        console=(ConsoleRule(FALLBACK_NOTE, "load"),),
    )


def _refused(key: str, command: str) -> Step:
    """A load that lockdown must refuse, leaving nothing loaded."""
    return Step(
        key,
        f"lab_try {key} {command} -l {KERNEL_ARGS} {NEXT_APPEND}\nrc=$?\n"
        f'lab_result {key}_loaded "$(cat /sys/kernel/kexec_loaded)"\n'
        '[ $rc != 0 ] && [ "$(cat /sys/kernel/kexec_loaded)" = 0 ]',
        timeout=10,
    )


def _lockdown() -> Scenario:
    return Scenario(
        name="lockdown",
        description="lockdown=integrity: pykexec -c, pykexec -a and kexec -l all refused",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        cmdline=("lockdown=integrity",),
        stages=(
            (
                Stage.FIRST,
                (
                    Step(
                        "lockdown",
                        "mount -t securityfs securityfs /sys/kernel/security\n"
                        'mode=$(cat /sys/kernel/security/lockdown)\nlab_result lockdown "$mode"\n'
                        'case "$mode" in *"[integrity]"*) ;; *) return 1 ;; esac',
                        timeout=10,
                        fatal=True,
                    ),
                    _refused("pykexec_c", "pykexec -c"),
                    _refused("pykexec_a", "pykexec -a"),
                    _refused("kexec_tools", "kexec"),
                ),
            ),
        ),
    )


# powernv: the same scenarios on QEMU's PowerNV machine (skiboot/OPAL firmware).
SKIBOOT_START = r"OPAL v\S+ starting"  # skiboot core/init.c main_cpu_entry: the firmware (re)starts
POWERNV_MEM_MIB = 2048  # QEMU 7.2 pnv.c: -initrd at 0x28000000, skiboot at 0x30000000 (>1 GiB)


def _platform(key: str) -> Step:
    """What says powernv: /ibm,opal's compatible, /proc/cpuinfo's platform, /sys/firmware/opal."""
    return Step(key, f"sh /lab/steps/powernv_platform.sh {key}", timeout=10, fatal=True)


# The rootfs is a tmpfs of half the RAM by default (mm/shmem.c shmem_default_max_blocks).
# A powernv crash kernel in crashkernel=512M has MemTotal 445568 kB (pseries: ~1 GiB,
# its RMA is added), so the 52 MB unpacked initramfs, Python's work files and the
# ~77 MB of `makedumpfile -d 31` hit ENOSPC at 73 MB; give the rootfs 90 % of RAM.
_ROOTFS_ROOM = Step("rootfs_room", "sh /lab/steps/rootfs_room.sh", timeout=10, fatal=True)
_POWERNV_EXTRA: dict[Stage, tuple[Step, ...]] = {Stage.CRASH: (_ROOTFS_ROOM,)}


def _on_powernv(scenario: Scenario, name: str) -> Scenario:
    """``scenario``'s steps on ``-M powernv9``, each stage starting with its platform facts
    (and, in a crash kernel, room on the rootfs for the dump).

    A kexec or a crash hands over from kernel to kernel through the purgatory
    (r8/r9 = OPAL base/entry); skiboot must not start again in between.
    """
    stages = tuple(
        (stage, (_platform(f"platform_{stage}"), *_POWERNV_EXTRA.get(stage, ()), *steps))
        for stage, steps in scenario.stages
    )
    leaving = [step.name for _, steps in scenario.stages for step in steps if step.leaves]
    return dataclasses.replace(
        scenario,
        name=name,
        description=f"powernv: {scenario.description}",
        machine=Machine.POWERNV,
        mem_mib=max(scenario.mem_mib, POWERNV_MEM_MIB),
        boot_timeout=BOOT_TIMEOUT[Machine.POWERNV],
        stages=stages,
        console=(
            *scenario.console,
            *(ConsoleRule(SKIBOOT_START, step, present=False) for step in leaving),
        ),
    )


def shell_scenario(
    command: str, *, cpus: int = 1, mem_mib: int = 1024, machine: Machine = Machine.PSERIES
) -> Scenario:
    """An ad-hoc scenario that runs one command in the first kernel (debugging)."""
    return Scenario(
        name="shell-cmd",
        description="run an ad-hoc command",
        loader=Loader.KEXEC,
        cpus=cpus,
        mem_mib=mem_mib,
        stages=((Stage.FIRST, (Step("cmd", command, timeout=600),)),),
        machine=machine,
        boot_timeout=BOOT_TIMEOUT[machine],
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _kexec("reference-kexec", Loader.KEXEC, 1),
        _kdump("reference-kdump", Loader.KEXEC),
        _kexec("kexec", Loader.PYKEXEC, 1),
        _kdump("kdump", Loader.PYKEXEC, crash_extra=VMCOREDMESG),
        _kdump_tools("reference-kdump-tools", Loader.KEXEC),
        _kdump_tools("kdump-tools", Loader.PYKEXEC),
        _kexec_debug(),
        _kexec_bad_digest(),
        _kexec_shipped(),
        _kexec_auto(),
        _lockdown(),
        _kexec_dtb(),
        _kdump("kdump-dtb", Loader.PYKEXEC, _DTB_CRASH_LOAD, f"-p --dtb={FIRMWARE_FDT}"),
        _dry_run_safety(),
    )
}
POWERNV_TWINS = {  # powernv scenario: the pseries scenario it runs
    "reference-powernv-kexec": "reference-kexec",
    "powernv-kexec": "kexec",
    "reference-powernv-kdump": "reference-kdump",
    "powernv-kdump": "kdump",
    "powernv-dry-run": "dry-run",
    "powernv-kexec-debug": "kexec-debug",
    "powernv-kexec-bad-digest": "kexec-bad-digest",
}
SCENARIOS.update((n, _on_powernv(SCENARIOS[twin], n)) for n, twin in POWERNV_TWINS.items())
SCENARIOS.update(TRUST_SCENARIOS)  # kdump-small-*, kdump-trust, kdump-lean (lab.trust_scenarios)
