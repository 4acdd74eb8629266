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

from lab.initramfs import KDUMP_INITRD
from lab.model import BOOT_TIMEOUT, ConsoleRule, Loader, Machine, Scenario, Stage, Step, render

# The steps other scenario modules share (file_scenarios, hotplug_scenarios) are public.
__all__ = [
    "EXEC",
    "FILL",
    "KDUMP_CRASH",
    "KDUMP_STAGE1",
    "KEXEC_STAGE2",
    "LOW64K",
    "MEMMAP",
    "SCENARIOS",
    "SYSRQ_CRASH",
    "ConsoleRule",
    "Loader",
    "Machine",
    "Scenario",
    "Stage",
    "Step",
    "render",
    "shell_scenario",
]

# Words every next kernel gets, on top of the lab.* words the steps add.
NEXT_CMDLINE = "console=hvc0 panic=-1 lab.scenario=$LAB_scenario"
CRASH_WORDS = "irqpoll nr_cpus=1 reset_devices"  # what a crash kernel gets besides NEXT_CMDLINE
CRASH_CMDLINE = f"{NEXT_CMDLINE} {CRASH_WORDS}"
CRASH_STAGE = "lab.stage=crash lab.nonce=$LAB_nonce lab.fill=$LAB_fill"  # read by the crash stage
KERNEL_ARGS = "/boot/vmlinux --initrd=/boot/initrd.img"
NEXT_APPEND = f'--append="{NEXT_CMDLINE} lab.stage=2 lab.marker=$LAB_marker lab.cpus=$LAB_cpus"'
CRASH_APPEND = f'--append="{CRASH_CMDLINE} {CRASH_STAGE}"'
PURGATORY_HELLO = "I'm in purgatory"  # pykexec/core/purgatory/ppc64.py msg_hello
DIGEST_MISMATCH = "purgatory: sha256 mismatch"  # pykexec/core/purgatory/ppc64.py msg_mismatch
# pykexec with one fault put in from outside the product (it has no test switch)
INJECT = "python3 /lab/inject.py"
DIGEST_VERIFIED = "sha256 of the segments verified"  # pykexec/core/purgatory/ppc64.py, -d
FALLBACK_NOTE = "fell back to kexec_load"  # pykexec/system/loader.py, -a with -d
# What the dead kernel's exception vectors print if the purgatory traps into them
# (arch/powerpc/kernel/traps.c, process.c show_regs, xmon).
OLD_KERNEL_TRAP = r"Oops:|Kernel panic|Unable to handle|Vector: [0-9a-f]{3,}|Unrecoverable"

_LOADER = 'lab_result loader "$(command -v "$KEXEC")"\n'


def _kexec_load(flags: str = "-l", kexec: str = "$KEXEC") -> Step:
    return Step(
        "load",
        _LOADER + f"lab_try load {kexec} {flags} {KERNEL_ARGS} {NEXT_APPEND}\n"
        'rc=$?\nlab_result kexec_loaded "$(cat /sys/kernel/kexec_loaded)"\nreturn $rc',
        timeout=15,
        fatal=True,
    )


def _status(when: str) -> Step:
    """``-S`` (crash kernel) and ``-l -S`` exit codes of $KEXEC and of kexec-tools.

    kexec-tools exits 1 when the kernel of that kind is loaded, 0 when not
    (kexec/kexec.c, do_status); -l -S must agree with /sys/kernel/kexec_loaded.
    """
    return Step(f"status_{when}", f"sh /lab/steps/status_codes.sh {when}", timeout=10)


EXEC = Step("exec", "$KEXEC -e", timeout=40, fatal=True, leaves=True)

KEXEC_STAGE2 = (
    Step("marker", 'lab_result marker "$LAB_marker"\n[ -n "$LAB_marker" ]', timeout=10),
    Step(
        "cpus",
        'online=$(cat /sys/devices/system/cpu/online)\nlab_result cpus_online "$online"\n'
        'lab_result nproc "$(nproc)"\n[ "$(nproc)" = "$LAB_cpus" ]',
        timeout=10,
    ),
)

_CRASH_LOAD = f"$KEXEC -p {KERNEL_ARGS} {CRASH_APPEND}"
_CRASH_LOADED = '"$(cat /sys/kernel/kexec_crash_loaded)"'

MEMMAP = Step("memmap", "python3 /lab/memcheck.py ram", timeout=10, fatal=True)
FILL = Step("fill", "sh /lab/steps/fill.sh", timeout=10, fatal=True)
LOW64K = Step("low64k", "python3 /lab/memcheck.py kcore low64k_before", timeout=10)
SYSRQ_CRASH = Step("crash", "echo c > /proc/sysrq-trigger", timeout=40, fatal=True, leaves=True)


def _kdump_stage1(load: str = _CRASH_LOAD) -> tuple[Step, ...]:
    """Load the crash kernel with ``load``, -p -S, unload and reload, fill, crash."""
    return (
        MEMMAP,
        Step(
            "load",
            _LOADER + f"{load}\nrc=$?\nlab_result kexec_crash_loaded {_CRASH_LOADED}\nreturn $rc",
            timeout=15,
            fatal=True,
        ),
        Step("loaded", "sh /lab/steps/crash_loaded_status.sh", timeout=10, fatal=True),
        Step(
            "reload",
            f"$KEXEC -p -u || return 1\nlab_result unloaded_crash_loaded {_CRASH_LOADED}\n"
            f"[ {_CRASH_LOADED} = 0 ] || return 1\n{load} || return 1\n"
            f"lab_result reloaded_crash_loaded {_CRASH_LOADED}\n[ {_CRASH_LOADED} = 1 ]",
            timeout=15,
            fatal=True,
        ),
        FILL,
        LOW64K,
        SYSRQ_CRASH,
    )


KDUMP_STAGE1 = _kdump_stage1()

KDUMP_CRASH = (
    Step("vmcore", 'python3 /lab/vmcore_check.py "$LAB_nonce" "$LAB_fill"', timeout=70),
    Step("elfcore", "python3 /lab/memcheck.py vmcore", timeout=10),
    Step("low64k_live", "python3 /lab/memcheck.py kcore low64k_live", timeout=10),
    Step("cat_vmcore", "cat /proc/vmcore > /dev/null", timeout=15),
    Step("makedumpfile", "sh /lab/steps/makedumpfile.sh", timeout=40),
)


def _kexec(name: str, loader: Loader, cpus: int) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} -l + -e into a second kernel; -S codes; marker and CPUs online",
        loader=loader,
        cpus=cpus,
        mem_mib=1024,
        stages=(
            (Stage.FIRST, (_status("before"), _kexec_load(), _status("after"), EXEC)),
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
    load: str = _CRASH_LOAD,
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
        stages=((Stage.FIRST, _kdump_stage1(load)), (Stage.CRASH, KDUMP_CRASH + crash_extra)),
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
            (Stage.FIRST, (_kexec_load(f"-l --dtb={FIRMWARE_FDT}"), EXEC)),
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
                    _kexec_load(),
                    Step(
                        "crash_load",
                        f"{_CRASH_LOAD} || return 1\n{_BOTH_LOADED}",
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
        f"lab_result {key}_crash_loaded {_CRASH_LOADED}\n{record}[ $rc = 0 ] && {check}",
        timeout=20,
        fatal=True,
    )


def _kdump_config_load(key: str) -> Step:
    """``kdump-config load`` and the kexec command it ran (kdump_load writes it to
    $KDUMP_COREDIR/kexec_cmd)."""
    record = f'lab_result {key}_kexec_cmd "$(cat /var/crash/kexec_cmd)"\n'
    return _kdump_config(key, "load", f"[ {_CRASH_LOADED} = 1 ]", record)


_STATE = "grep -q 'current state *: {}' /tmp/{}.out"
_KDUMP_TOOLS_STAGE1 = (
    _KDUMP_TOOLS_INSTALL,
    MEMMAP,
    _kdump_config_load("kdump_load"),
    _kdump_config("kdump_status", "status", _STATE.format("ready to kdump", "kdump_status")),
    _kdump_config("kdump_unload", "unload", f"[ {_CRASH_LOADED} = 0 ]"),
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
        stages=((Stage.FIRST, (_kexec_load("-d -l"), EXEC)), (Stage.SECOND, KEXEC_STAGE2)),
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
            (Stage.FIRST, (_kexec_load("-l", INJECT + " corrupt-digest"), exec_)),
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
        stages=((Stage.FIRST, (_kexec_load("-a -d -l"), EXEC)), (Stage.SECOND, KEXEC_STAGE2)),
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


# Issue 9: a crash kernel you can trust.  The lab's full payload needs about 500 MiB of
# crash region (lab/calibration/crashkernel.json); pykexec refuses what cannot boot.
HEADROOM_REFUSAL = "refusing the crash kernel"  # pykexec/core/planner.py crash_headroom
RELOADED_NOTE = "reloaded it"  # pykexec/system/loader.py _recover_crash
NOT_OURS = "record does NOT describe what is loaded"  # pykexec/core/crash/loaded.py Verdict
# The full payload keeps its dump in its tmpfs root and needs 496M in the lab
# (lab/calibration/crashkernel.json); 576M leaves room for its 4-CPU twin too.
TRUST_CRASHKERNEL = "576M"
_CRASH_ARGS = f"{KERNEL_ARGS} {CRASH_APPEND}"


def _crash_refused() -> Step:
    """-p into a region too small: exit 1, the figures and a crashkernel= on stderr,
    nothing loaded; --recommend-crashkernel names a size."""
    return Step(
        "refused",
        f"lab_try refused $KEXEC -p {_CRASH_ARGS}\nrc=$?\n"
        f"lab_result refused_crash_loaded {_CRASH_LOADED}\n"
        f'lab_result recommended "$($KEXEC --recommend-crashkernel {_CRASH_ARGS})"\n'
        f"[ $rc = 1 ] && [ {_CRASH_LOADED} = 0 ] && "
        f"grep -q '{HEADROOM_REFUSAL}.*needs about.*crashkernel=[0-9]*M would' "
        "/tmp/lab-refused.err",
        timeout=30,
        fatal=True,
    )


def _kdump_small(size: str) -> Scenario:
    return Scenario(
        name=f"kdump-small-{size.lower()}",
        description=f"crashkernel={size}: pykexec -p refuses with the figures and the "
        "crashkernel= that would do; nothing loaded",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=2048,
        crashkernel=size,
        stages=((Stage.FIRST, (_crash_refused(),)),),
    )


def _out(key: str, command: str) -> str:
    """Run COMMAND with stdout and stderr in /tmp/KEY.out; record its rc and output."""
    return (
        f"{command} > /tmp/{key}.out 2>&1\nrc=$?\nlab_result {key}_rc $rc\n"
        f"lab_result {key}_out \"$(tr '\\n' '|' < /tmp/{key}.out | cut -c1-700)\"\n"
    )


def _crash_load(args: str, *, quiet: bool) -> Step:
    """``$KEXEC -p ARGS``: exit 0 and a crash kernel loaded; with ``quiet``, not a word on
    stdout or stderr either (kexec-tools prints "Modified cmdline:" for every ppc64 -p)."""
    return Step(
        "load",
        _LOADER
        + _out("load", f"$KEXEC -p {args}")
        + f"lab_result kexec_crash_loaded {_CRASH_LOADED}\n"
        + ("[ ! -s /tmp/load.out ] && " if quiet else "")
        + f"[ $rc = 0 ] && [ {_CRASH_LOADED} = 1 ]",
        timeout=30,
        fatal=True,
    )


_TRUST_STAGE1 = (
    MEMMAP,
    Step(
        "corrupt",
        _out("corrupt_load", f"{INJECT} corrupt-digest -p {_CRASH_ARGS}")
        + "[ $rc = 0 ] || return 1\n"
        + _out("verify_corrupt", "$KEXEC --verify")
        + "[ $rc = 1 ] && grep -q 'NOT intact: purgatory digest' /tmp/verify_corrupt.out",
        timeout=60,
        fatal=True,
    ),
    Step(
        # kexec-tools loads over pykexec's image: pykexec's record no longer describes it
        "other_loader",
        f"kexec -p {_CRASH_ARGS} > /tmp/kexec_tools_load.out 2>&1\nkt=$?\n"
        "lab_result other_loader_rc $kt\n[ $kt = 0 ] || return 1\n"
        + _out("other_status_d", "$KEXEC -S -d")
        + "src=$rc\n"
        + _out("other_verify", "$KEXEC --verify")
        + f'[ $src = 1 ] && [ $rc = 1 ] && grep -q "{NOT_OURS}" /tmp/other_status_d.out && '
        f'grep -q "{NOT_OURS}" /tmp/other_verify.out',
        timeout=180,
        fatal=True,
    ),
    _crash_load(_CRASH_ARGS, quiet=True),
    Step(
        "verify",
        _out("verify", "$KEXEC --verify") + "[ $rc = 0 ] && grep -q 'image intact' /tmp/verify.out",
        timeout=60,
        fatal=True,
    ),
    Step(
        "status_d",
        _out("status_d", "$KEXEC -S -d") + "kexec -S; ks=$?\nlab_result status_kexec_tools $ks\n"
        "[ $rc = 1 ] && [ $ks = 1 ] && grep -q 'kernel: /boot/vmlinux' /tmp/status_d.out && "
        "grep -q '^loaded at ' /tmp/status_d.out && grep -q 'machine: unchanged' /tmp/status_d.out",
        timeout=20,
        fatal=True,
    ),
    Step(
        "reject",
        f"lab_try reject {INJECT} reject-load -p {_CRASH_ARGS}\nrc=$?\n"
        f"lab_result reject_crash_loaded {_CRASH_LOADED}\n"
        f"[ $rc = 1 ] && [ {_CRASH_LOADED} = 1 ] && grep -q '{RELOADED_NOTE}' /tmp/lab-reject.err",
        timeout=60,
        fatal=True,
    ),
    Step(
        "verify_after",
        _out("verify_after", "$KEXEC --verify") + "[ $rc = 0 ]",
        timeout=60,
        fatal=True,
    ),
    FILL,
    SYSRQ_CRASH,
)


def _kdump_trust() -> Scenario:
    return Scenario(
        name="kdump-trust",
        description=f"crashkernel={TRUST_CRASHKERNEL}: --verify names a corrupted digest; after "
        "kexec-tools' -p, -S -d and --verify say pykexec's record is not what is loaded; -p "
        "loads without a warning, --verify intact, -S -d; a -p reload the kernel rejects "
        "leaves the previous one loaded; sysrq crash; vmcore with the nonce",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=2048,
        crashkernel=TRUST_CRASHKERNEL,
        stages=((Stage.FIRST, _TRUST_STAGE1), (Stage.CRASH, KDUMP_CRASH)),
    )


SCENARIOS.update((s.name, s) for s in (_kdump_small("128M"), _kdump_small("256M"), _kdump_trust()))


# The lean kdump payload (lab.initramfs.KDUMP_PROGRAMS: busybox and makedumpfile, no
# Python), dumping off the machine through the dump port as kdump's network targets
# do: what a distribution's kdump initramfs looks like.  crashkernel=256M holds it.
LEAN_CRASHKERNEL = "256M"
LEAN_ARGS = f"/boot/vmlinux --initrd=/{KDUMP_INITRD} {CRASH_APPEND}"
LEAN_DUMP = Step("dump", "sh /lab/steps/dump_out.sh", timeout=120, fatal=True)


def _lean_stage1(loader: Loader) -> tuple[Step, ...]:
    """Load the lean payload (pykexec: with no word on stdout or stderr), fill, crash;
    pykexec also says what it recommends and shows the headroom in a dry run."""
    ours = loader is Loader.PYKEXEC
    headroom = Step(
        "headroom",
        _out("recommend", f"$KEXEC --recommend-crashkernel {LEAN_ARGS}")
        + _out("dry_run", f"$KEXEC -p --dry-run {LEAN_ARGS}")
        + 'lab_result dry_run_headroom "$(grep -i -m1 "crash kernel needs" '
        '/tmp/dry_run.out | cut -c1-500)"\n[ $rc = 0 ]',
        timeout=30,
        fatal=True,
    )
    return (
        MEMMAP,
        *((headroom,) if ours else ()),
        _crash_load(LEAN_ARGS, quiet=ours),
        FILL,
        SYSRQ_CRASH,
    )


def kdump_lean(name: str, loader: Loader, crashkernel: str = LEAN_CRASHKERNEL) -> Scenario:
    """The lean payload at ``crashkernel``: loads without a word, the crash kernel boots
    and streams a dump that the host finds the nonce in (lab.dumpcheck)."""
    return Scenario(
        name=name,
        description=f"crashkernel={crashkernel}, the lean kdump payload (busybox, "
        f"makedumpfile): {loader} -p loads without a warning; sysrq crash; makedumpfile "
        "-E -F streams the vmcore to the host, which finds the nonce in it",
        loader=loader,
        cpus=1,
        mem_mib=2048,
        crashkernel=crashkernel,
        stages=((Stage.FIRST, _lean_stage1(loader)), (Stage.CRASH, (LEAN_DUMP,))),
        lean_kdump=True,
    )


SCENARIOS.update(
    (s.name, s)
    for s in (
        kdump_lean("kdump-lean-256m", Loader.PYKEXEC),
        kdump_lean("reference-kdump-lean", Loader.KEXEC),
    )
)
