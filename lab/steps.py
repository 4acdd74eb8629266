# SPDX-License-Identifier: GPL-2.0-or-later
"""The words and steps the lab's scenario modules share: the next kernel's and the crash
kernel's command lines, the notes pykexec prints that steps look for, and the kexec and
kdump steps (load, status, exec, fill, crash, the vmcore checks).  :mod:`lab.scenarios`
re-exports them.
"""

from __future__ import annotations

from lab.model import Step

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

LOADER = 'lab_result loader "$(command -v "$KEXEC")"\n'


def kexec_load(flags: str = "-l", kexec: str = "$KEXEC") -> Step:
    return Step(
        "load",
        LOADER + f"lab_try load {kexec} {flags} {KERNEL_ARGS} {NEXT_APPEND}\n"
        'rc=$?\nlab_result kexec_loaded "$(cat /sys/kernel/kexec_loaded)"\nreturn $rc',
        timeout=15,
        fatal=True,
    )


def status_step(when: str) -> Step:
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

CRASH_LOAD = f"$KEXEC -p {KERNEL_ARGS} {CRASH_APPEND}"
CRASH_LOADED = '"$(cat /sys/kernel/kexec_crash_loaded)"'

MEMMAP = Step("memmap", "python3 /lab/memcheck.py ram", timeout=10, fatal=True)
FILL = Step("fill", "sh /lab/steps/fill.sh", timeout=10, fatal=True)
LOW64K = Step("low64k", "python3 /lab/memcheck.py kcore low64k_before", timeout=10)
SYSRQ_CRASH = Step("crash", "echo c > /proc/sysrq-trigger", timeout=40, fatal=True, leaves=True)


def kdump_stage1(load: str = CRASH_LOAD) -> tuple[Step, ...]:
    """Load the crash kernel with ``load``, -p -S, unload and reload, fill, crash."""
    return (
        MEMMAP,
        Step(
            "load",
            LOADER + f"{load}\nrc=$?\nlab_result kexec_crash_loaded {CRASH_LOADED}\nreturn $rc",
            timeout=15,
            fatal=True,
        ),
        Step("loaded", "sh /lab/steps/crash_loaded_status.sh", timeout=10, fatal=True),
        Step(
            "reload",
            f"$KEXEC -p -u || return 1\nlab_result unloaded_crash_loaded {CRASH_LOADED}\n"
            f"[ {CRASH_LOADED} = 0 ] || return 1\n{load} || return 1\n"
            f"lab_result reloaded_crash_loaded {CRASH_LOADED}\n[ {CRASH_LOADED} = 1 ]",
            timeout=15,
            fatal=True,
        ),
        FILL,
        LOW64K,
        SYSRQ_CRASH,
    )


KDUMP_STAGE1 = kdump_stage1()

KDUMP_CRASH = (
    Step("vmcore", 'python3 /lab/vmcore_check.py "$LAB_nonce" "$LAB_fill"', timeout=70),
    Step("elfcore", "python3 /lab/memcheck.py vmcore", timeout=10),
    Step("low64k_live", "python3 /lab/memcheck.py kcore low64k_live", timeout=10),
    Step("cat_vmcore", "cat /proc/vmcore > /dev/null", timeout=15),
    Step("makedumpfile", "sh /lab/steps/makedumpfile.sh", timeout=40),
)
