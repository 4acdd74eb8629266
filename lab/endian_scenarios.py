# SPDX-License-Identifier: GPL-2.0-or-later
"""Little-endian to big-endian kexec (issue 12): the purgatory's MSR_LE switch on a real kernel.

The first kernel is Debian's little-endian 6.1; the payload also carries the
lab's big-endian build (:data:`lab.model.Kernel.BE_61`, :mod:`lab.kbuild`'s
``BIG_ENDIAN`` recipe) at ``/boot/be-6.1/vmlinux`` with its own initramfs (a
static big-endian ``/init``, :mod:`lab.beinit`).  ``pykexec inspect`` describes
the image; ``pykexec -l`` + ``-e`` hands over; the big-endian init echoes the
marker and the byte order it runs in (``lab/be/init.c``).

The first kernel runs with the hash MMU (``disable_radix``): a pseries guest
takes interrupts in the byte order set by H_SET_MODE (LPCR[ILE]); the
little-endian kernel sets it little at boot (arch/powerpc/kernel/setup_64.c)
and resets it to big on kexec only in the hash MMU's teardown
(arch/powerpc/platforms/pseries/lpar.c pSeries_lpar_hptab_clear; Linux 6.1),
not under radix, so under radix the big-endian kernel stops at its first
interrupt (measured: silent after "printk: console [hvc0] enabled", with
kexec-tools and pykexec alike).
"""

from __future__ import annotations

from lab.model import Kernel, Loader, Scenario, Stage, Step

BE_DIR = f"/boot/{Kernel.BE_61}"
HASH_MMU = "disable_radix"  # Documentation/admin-guide/kernel-parameters.txt
BE_ARGS = f"{BE_DIR}/vmlinux --initrd={BE_DIR}/initrd.img"
# lab_marker without a dot: the kernel hands it to init as an environment variable.
BE_APPEND = '--append="console=hvc0 panic=-1 lab.scenario=$LAB_scenario lab_marker=$LAB_marker"'

_INSPECT = Step("inspect", f"sh /lab/steps/inspect.sh {BE_DIR}/vmlinux", timeout=20)
_LOAD = Step(
    "load",
    f"lab_try load $KEXEC -l {BE_ARGS} {BE_APPEND}\nrc=$?\n"
    'lab_result kexec_loaded "$(cat /sys/kernel/kexec_loaded)"\nreturn $rc',
    timeout=20,
    fatal=True,
)
_EXEC = Step("exec", "$KEXEC -e", timeout=60, fatal=True, leaves=True)
# Stage 2 runs lab/be/init.c, not /init.sh: it prints this step's markers itself.
_BE_MARKER = Step("marker", ": printed by the big-endian init, lab/be/init.c", timeout=10)


def _le_to_be(name: str, loader: Loader) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} -l of a big-endian kernel from the little-endian one, -e; "
        "the big-endian init echoes the marker",
        loader=loader,
        cpus=1,
        mem_mib=1024,
        extra_kernel=Kernel.BE_61,
        cmdline=(HASH_MMU,),
        stages=((Stage.FIRST, (_INSPECT, _LOAD, _EXEC)), (Stage.SECOND, (_BE_MARKER,))),
    )


# -p into the big-endian kernel: does its /proc/vmcore accept the little-endian
# kernel's ELF core header (and notes)?  The big-endian init records it.
BE_CRASH_APPEND = (
    '--append="console=hvc0 panic=-1 lab.scenario=$LAB_scenario irqpoll nr_cpus=1 '
    'reset_devices lab_stage=crash"'
)


def _crash_load(check: str) -> Step:
    """-p of the big-endian kernel; records kexec_crash_loaded, then ``check``."""
    return Step(
        "load",
        f"lab_try load $KEXEC -p {BE_ARGS} {BE_CRASH_APPEND}\nrc=$?\n"
        'lab_result kexec_crash_loaded "$(cat /sys/kernel/kexec_crash_loaded)"\n' + check,
        timeout=20,
        fatal=True,
    )


_SYSRQ = Step("crash", "echo c > /proc/sysrq-trigger", timeout=60, fatal=True, leaves=True)
_BE_VMCORE = Step("vmcore", ": printed by the big-endian init, lab/be/init.c", timeout=10)


def _le_to_be_kdump(name: str, loader: Loader, *, refused: bool = False) -> Scenario:
    """kexec-tools: -p of the big-endian kernel, sysrq crash, the big-endian crash kernel
    records whether /proc/vmcore exists.  pykexec (``refused``): the load is refused
    (pykexec/core/arch/ppc64.py _crash_parts: its /proc/vmcore could not read this kernel's
    notes) and nothing is loaded."""
    if refused:
        what = ": refused (its /proc/vmcore could not read this kernel's notes), nothing loaded"
        check = '[ $rc = 2 ] && [ "$(cat /sys/kernel/kexec_crash_loaded)" = 0 ]'
        stages: tuple[tuple[Stage, tuple[Step, ...]], ...] = ((Stage.FIRST, (_crash_load(check),)),)
    else:
        what = ", sysrq crash; the big-endian crash kernel records whether /proc/vmcore exists"
        stages = ((Stage.FIRST, (_crash_load("return $rc"), _SYSRQ)), (Stage.CRASH, (_BE_VMCORE,)))
    return Scenario(
        name=name,
        description=f"{loader} -p of the big-endian kernel from the little-endian one{what}",
        loader=loader,
        cpus=1,
        mem_mib=2048,
        crashkernel="512M",
        extra_kernel=Kernel.BE_61,
        cmdline=(HASH_MMU,),
        stages=stages,
    )


ENDIAN_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _le_to_be("reference-le-to-be", Loader.KEXEC),
        _le_to_be("le-to-be", Loader.PYKEXEC),
        _le_to_be_kdump("reference-le-to-be-kdump", Loader.KEXEC),
        _le_to_be_kdump("le-to-be-kdump", Loader.PYKEXEC, refused=True),
    )
}
