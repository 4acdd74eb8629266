# SPDX-License-Identifier: GPL-2.0-or-later
"""Measured boot across kexec (issue 18, item 5): a pseries guest with a vTPM and IMA.

QEMU's ``tpm-spapr`` device (the PowerVM vTPM's interface) talks to a software TPM
2.0, ``swtpm`` (Debian packages swtpm, swtpm-tools; :func:`swtpm` runs one per run in
the run directory).  The guest kernel is :data:`lab.model.Kernel.MEASURED_61` (the
kexec-file kernel with ``CONFIG_TCG_IBMVTPM``, ``CONFIG_IMA`` and
``CONFIG_IMA_KEXEC``), booted with ``ima_policy=tcb`` so that IMA measures every
program run and file read by root.

Status (2026-12-07): under the lab's QEMU 7.2 with VOF firmware, ``tpm_ibmvtpm``
sets up its CRQ ("CRQ initialization completed") but registers no chip, in the
Debian 6.1 kernel and the measured one alike, with swtpm started plainly and with
``--flags startup-clear``; IMA then runs in TPM-bypass. Not yet known whether the
probe's first TPM commands reach swtpm (its log, now at level 20, says) or whether
SLOF (``-M pseries`` without ``x-vof``, which has the vTPM's sml-handover) is needed.

The first kernel records its IMA measurement list (entry count, the SHA-256 of
the list's text), PCR 10 (IMA's) and the firmware event log
(``binary_bios_measurements``, if the firmware handed one over), then passes the
count and hash to the next kernel on its command line and kexecs:

* ``vtpm-ima-file`` (``pykexec -s``): the next kernel's list must begin with the old
  one (its first N entries hash the same): the list continues;
* ``vtpm-ima-load`` (``pykexec -c``): recorded, not judged on continuity: the list
  restarts (boot_aggregate first) while PCR 10 keeps its value, what pykexec's
  plan line says (:func:`pykexec.core.planner.attestation_line`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.errors import LabError
from lab.model import Kernel, Loader, Scenario, Stage, Step
from lab.scenarios import EXEC, KERNEL_ARGS, NEXT_CMDLINE

SWTPM = "swtpm"
SOCKET_WAIT = 10.0  # seconds for swtpm to create its socket
IMA = "/sys/kernel/security/ima"
PCR10 = "/sys/class/tpm/tpm0/pcr-sha256/10"  # drivers/char/tpm/tpm-sysfs.c (5.12+)
EVENT_LOG = "/sys/kernel/security/tpm0/binary_bios_measurements"


class SwtpmError(LabError):
    """swtpm is missing or did not start."""


@contextmanager
def swtpm(state: Path) -> Iterator[Path]:
    """A TPM 2.0 emulator with its state in ``state``; yields its control socket (QEMU's
    ``-chardev socket,path=``). Stopped on exit."""
    if shutil.which(SWTPM) is None:
        raise SwtpmError("swtpm is not installed: apt-get install swtpm swtpm-tools")
    state.mkdir(parents=True, exist_ok=True)
    sock = state / "swtpm.sock"
    log = state / "swtpm.log"
    # startup-clear: swtpm sends TPM2_Startup itself once QEMU initialises it, which
    # SLOF's vTPM code would do; under VOF nobody does, and tpm_ibmvtpm_probe()'s
    # TPM2_GetCapability (tpm2_get_cc_attrs_tbl) then fails and no chip registers
    # (seen: "CRQ initialization completed", then no /sys/class/tpm, IMA in TPM-bypass).
    argv = [SWTPM, "socket", "--tpm2", "--flags", "startup-clear", "--tpmstate", f"dir={state}",
            "--ctrl", f"type=unixio,path={sock}", "--log", f"file={log},level=20"]  # fmt: skip
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + SOCKET_WAIT
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SwtpmError(f"swtpm did not create {sock} (see {log})")
            time.sleep(0.05)
        yield sock
    finally:
        if log.is_file():  # the run directory is removed after the run
            shutil.copyfile(
                log, state.parent.parent.parent / "logs" / f"swtpm-{state.parent.name}.log"
            )
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def qemu_args(sock: Path) -> tuple[str, ...]:
    """QEMU's vTPM: the pseries ``tpm-spapr`` device on an swtpm ``emulator`` backend."""
    return (
        "-chardev", f"socket,id=labtpm,path={sock}",
        "-tpmdev", "emulator,id=labtpm0,chardev=labtpm",
        "-device", "tpm-spapr,tpmdev=labtpm0",
    )  # fmt: skip


_SECURITYFS = "[ -d /sys/kernel/security/ima ] || mount -t securityfs none /sys/kernel/security\n"
_MEASURE = (  # sh: count, list hash, PCR 10, event log, for stage $1 (sets n and h)
    f"n=$(cat {IMA}/runtime_measurements_count)\n"
    f"h=$(sha256sum < {IMA}/ascii_runtime_measurements | cut -c1-64)\n"
    'lab_result "ima_count_$1" "$n"\nlab_result "ima_sha256_$1" "$h"\n'
    f'lab_result "ima_first_$1" "$(head -n1 {IMA}/ascii_runtime_measurements | cut -c1-120)"\n'
    f'lab_result "pcr10_$1" "$(cat {PCR10} 2>/dev/null || echo none)"\n'
    f'if [ -r {EVENT_LOG} ]; then lab_result "eventlog_$1" "$(wc -c < {EVENT_LOG}) bytes '
    f'$(sha256sum < {EVENT_LOG} | cut -c1-64)"; else lab_result "eventlog_$1" none; fi\n'
)
_TPM = Step(  # tpm_ibmvtpm registers the chip after its CRQ exchanges: wait up to 20 s
    "vtpm",
    _SECURITYFS + "i=0; while [ ! -e /sys/class/tpm/tpm0 ] && [ $i -lt 40 ]; do "
    "sleep 0.5; i=$((i+1)); done\n"
    'lab_result tpm "$(ls /sys/class/tpm 2>/dev/null | tr "\\n" " ")"\n'
    "lab_result tpm_dmesg \"$(dmesg | grep -i -e tpm -e ima: | tr '\\n' '|' | cut -c1-900)\"\n"
    f"[ -e /sys/class/tpm/tpm0 ] && [ -r {IMA}/ascii_runtime_measurements ]",
    timeout=30,
    fatal=True,
)


def _load(flags: str) -> Step:
    """Measure, then load with ``flags``: the count and hash go on the next command line."""
    return Step(
        "load",
        "set -- 1\n" + _MEASURE + f"$KEXEC {flags} {KERNEL_ARGS} "
        f'--append="{NEXT_CMDLINE} lab.stage=2 lab.marker=$LAB_marker lab.cpus=$LAB_cpus '
        'lab.ima_count=$n lab.ima_sha256=$h" > /tmp/load.out 2>&1\nrc=$?\ncat /tmp/load.out\n'
        "lab_result attestation_line \"$(grep 'attestation:' /tmp/load.out | cut -c1-300)\"\n"
        "lab_result load_syscall \"$(grep '^syscall:' /tmp/load.out | cut -c1-300)\"\n"
        '[ $rc = 0 ] && [ "$(cat /sys/kernel/kexec_loaded)" = 1 ]',
        timeout=180,
        fatal=True,
    )


_SECOND_MEASURE = Step("measure", "set -- 2\n" + _MEASURE + "true", timeout=20, fatal=True)
_MARKER = Step("marker", 'lab_result marker "$LAB_marker"\n[ -n "$LAB_marker" ]')
_CONTINUES = Step(
    "ima_continues",
    f'h=$(head -n "$LAB_ima_count" {IMA}/ascii_runtime_measurements | sha256sum | cut -c1-64)\n'
    'lab_result ima_head_sha256_2 "$h"\n[ "$h" = "$LAB_ima_sha256" ]',
    timeout=20,
)


def _vtpm(name: str, flags: str, judged: tuple[Step, ...]) -> Scenario:
    return Scenario(
        name=name,
        description=f"vTPM + IMA (tcb): pykexec {flags} + -e; IMA list and PCR 10 compared",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=1024,
        kernel=Kernel.MEASURED_61,
        cmdline=("ima_policy=tcb",),
        vtpm=True,
        stages=(
            (Stage.FIRST, (_TPM, _load(flags), EXEC)),
            (Stage.SECOND, (_MARKER, _TPM, _SECOND_MEASURE, *judged)),
        ),
    )


VTPM_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _vtpm("vtpm-ima-file", "-d -s -l", (_CONTINUES,)),
        # recorded: the list restarts (continuity is not judged, it cannot hold)
        _vtpm("vtpm-ima-load", "-d -c -l", ()),
    )
}
