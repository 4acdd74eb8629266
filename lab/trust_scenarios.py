# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash kernels you can trust (issue 9) and the lean kdump payload: pykexec refuses a
region too small, --verify and -S -d tell its record from what is loaded, and the lean
payload (busybox, makedumpfile) dumps from crashkernel=256M.  :mod:`lab.scenarios`
registers them (TRUST_SCENARIOS) and re-exports their names.
"""

from __future__ import annotations

from lab.initramfs import KDUMP_INITRD
from lab.model import Loader, Scenario, Stage, Step
from lab.steps import (
    CRASH_APPEND,
    CRASH_LOADED,
    FILL,
    INJECT,
    KDUMP_CRASH,
    KERNEL_ARGS,
    LOADER,
    MEMMAP,
    SYSRQ_CRASH,
)

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
        f"lab_result refused_crash_loaded {CRASH_LOADED}\n"
        f'lab_result recommended "$($KEXEC --recommend-crashkernel {_CRASH_ARGS})"\n'
        f"[ $rc = 1 ] && [ {CRASH_LOADED} = 0 ] && "
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
        LOADER
        + _out("load", f"$KEXEC -p {args}")
        + f"lab_result kexec_crash_loaded {CRASH_LOADED}\n"
        + ("[ ! -s /tmp/load.out ] && " if quiet else "")
        + f"[ $rc = 0 ] && [ {CRASH_LOADED} = 1 ]",
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
        f"lab_result reject_crash_loaded {CRASH_LOADED}\n"
        f"[ $rc = 1 ] && [ {CRASH_LOADED} = 1 ] && grep -q '{RELOADED_NOTE}' /tmp/lab-reject.err",
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


#: In the order lab.scenarios.SCENARIOS lists them.
TRUST_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _kdump_small("128M"),
        _kdump_small("256M"),
        _kdump_trust(),
        kdump_lean("kdump-lean-256m", Loader.PYKEXEC),
        kdump_lean("reference-kdump-lean", Loader.KEXEC),
    )
}
