# SPDX-License-Identifier: GPL-2.0-or-later
"""Measured boot across kexec (issue 18, item 5): a pseries guest with a vTPM and IMA.

QEMU's ``tpm-spapr`` device (the PowerVM vTPM's interface) talks to a software TPM
2.0, ``swtpm`` (Debian packages swtpm, swtpm-tools; :func:`swtpm` runs one per run in
the run directory).  The guest kernel is :data:`lab.model.Kernel.MEASURED_61` (the
kexec-file kernel with ``CONFIG_TCG_IBMVTPM``, ``CONFIG_IMA`` and
``CONFIG_IMA_KEXEC``), booted with ``ima_policy=tcb`` so that IMA measures every
program run and file read by root, except on tmpfs (the initramfs) and other pseudo
file systems; the first stage therefore reads three files on a ramfs (``ima_files``).
The machine boots with SLOF (:attr:`lab.model.Firmware.SLOF`, plain ``-M pseries``).

Why SLOF (2026-12-07): under VOF (``-M pseries,x-vof=on``, the lab's default) the
probe's TPM commands do reach swtpm, but nobody has started the TPM: swtpm's level-20
log shows QEMU's CMD_INIT (ctrl 0x02) at reset, then tpm_ibmvtpm_probe()'s
tpm2_get_cc_attrs_tbl() TPM2_GetCapability(TPM_PT_TOTAL_COMMANDS) (``80 01 00 00 00 16
00 00 01 7A ...``) answered ``80 01 00 00 00 0A 00 00 01 00``, TPM_RC_INITIALIZE.  That
function turns a TPM error into -ENODEV, which the driver core does not print, so the
probe ends silently after "CRQ initialization completed" and no chip registers (IMA:
"No TPM chip found, activating TPM-bypass!").  ``swtpm --flags startup-clear`` does not
help: CMD_INIT re-initialises the TPM after swtpm's own TPM2_Startup (the same reply).
SLOF's vTPM code sends TPM2_Startup and TPM2_SelfTest, measures the boot (TPM2_PCR_Extend)
and hands its event log over (prom_init.c prom_instantiate_sml(): linux,sml-base/-size
on /vdevice/vtpm@71000002); then tpm0 registers in both kernels.  SLOF costs about
5.5 s of boot under TCG (userspace at 6.9 s after QEMU's start, 1.2 s under VOF), hence
the scenarios' longer boot_timeout.  Logs: the VOF experiment
in <cache>/logs/swtpm-vof-experiment-20261207.log and vof-experiment-20261207.log, each
run's swtpm log in <cache>/logs/swtpm-<scenario>-<pid>.log.

Each stage records its IMA measurement list (entry count, the SHA-256 of the list's
text, first and last entry), PCR 10 in the SHA-256 and SHA-1 banks, the list replayed
against PCR 10's SHA-1 bank (lab/guest/imareplay.py: what a verifier checks), the
firmware event log (``binary_bios_measurements``: size and SHA-256) and the vtpm node's
linux,sml-base/-size; the first stage passes the count and hash to the next kernel on
its command line.  Figures (2026-12-07, QEMU 7.2, SLOF, swtpm 0.7.1, 1 CPU):

* ``vtpm-ima-file`` (``pykexec -s``, kexec_file_load): 4 entries (boot_aggregate + 3
  files; SHA-256 a52d2f1b...) become 5, the first 4 hashing the same (the old list,
  then the next kernel's boot_aggregate, the same digest since PCRs 0-9 are unchanged);
  the list replays to PCR 10 before (SHA-1 3266421c...) and after (f2ff1b2a...); the
  event log is 502 bytes (SHA-256 2e5348cd...) in both kernels, linux,sml-base
  0x2ffb0000 and -size 0x400 kept (the kernel copies its boot tree and its reservations,
  drivers/of/kexec.c).  Judged: the list continues (``ima_continues``).
* ``vtpm-ima-load`` (``pykexec -c``, kexec_load): 4 entries (07844d0d...) become 1 (a
  new boot_aggregate, SHA-256 1c1f129d...); PCR 10 keeps its value and extends, so the
  new list no longer replays to it (replay 4e9ba0bd..., PCR 4e17af70...): the break
  pykexec's warning names (:func:`pykexec.core.planner.attestation_line`).  The next
  kernel's vtpm node has no linux,sml-base/-size (pykexec drops them,
  pykexec.core.devicetree.nexttree STALE_ADDRESSES) and no event log.

tests/e2e/test_measured_boot.py asserts both (lab-marked; skipped until measured-6.1
is built, which CI does not do).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.errors import LabError
from lab.model import Firmware, Kernel, Loader, Scenario, Stage, Step
from lab.scenarios import EXEC, KERNEL_ARGS, NEXT_CMDLINE

SWTPM = "swtpm"
SOCKET_WAIT = 10.0  # seconds for swtpm to create its socket
IMA = "/sys/kernel/security/ima"
PCR10 = "/sys/class/tpm/tpm0/pcr-sha256/10"  # drivers/char/tpm/tpm-sysfs.c (5.12+)
EVENT_LOG = "/sys/kernel/security/tpm0/binary_bios_measurements"
# The vTPM's node; prom_init.c prom_instantiate_sml() adds linux,sml-base/-size to it.
VTPM_NODE = "/proc/device-tree/vdevice/vtpm@*"


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
    # Level 20 logs every control command and TPM command/response in hex.  No
    # --flags startup-clear: QEMU's CMD_INIT at machine reset re-initialises the TPM and
    # undoes it; the firmware (SLOF) sends TPM2_Startup, as PowerVM's does.
    argv = [SWTPM, "socket", "--tpm2", "--tpmstate", f"dir={state}",
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
        proc.terminate()  # usually gone already: QEMU's CMD_SHUTDOWN at exit ends it
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log.is_file():  # the run directory is removed after the run; swtpm has written
            shutil.copyfile(
                log, state.parent.parent.parent / "logs" / f"swtpm-{state.parent.name}.log"
            )


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
    f'lab_result "ima_last_$1" "$(tail -n1 {IMA}/ascii_runtime_measurements | cut -c1-120)"\n'
    f'lab_result "pcr10_$1" "$(cat {PCR10} 2>/dev/null || echo none)"\n'
    "python3 /lab/imareplay.py $1\n"  # the list replayed against PCR 10's SHA-1 bank
    f'if [ -r {EVENT_LOG} ]; then lab_result "eventlog_$1" "$(wc -c < {EVENT_LOG}) bytes '
    f'$(sha256sum < {EVENT_LOG} | cut -c1-64)"; else lab_result "eventlog_$1" none; fi\n'
    f'lab_result "vtpm_props_$1" "$(ls {VTPM_NODE} 2>/dev/null | tr "\\n" " ")"\n'
    f"for p in linux,sml-base linux,sml-size; do f=$(ls -d {VTPM_NODE}/$p 2>/dev/null)\n"
    '  v=none; [ -n "$f" ] && v=$(od -An -tx1 "$f" | tr -d " \\n")\n'
    '  lab_result "$(echo $p | tr ",-" "__")_$1" "$v"\ndone\n'
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

# ima_policy=tcb skips tmpfs (security/integrity/ima/ima_policy.c dont_measure_rules),
# which the initramfs is, but not ramfs: files root reads there are measured (FILE_CHECK),
# so the list has entries of this run's own (the marker is in them) to carry over.
IMA_FILES = "/mnt/ima"
_IMA_FILES = Step(
    "ima_files",
    f"mkdir -p {IMA_FILES} && mount -t ramfs none {IMA_FILES} || exit 1\n"
    f'for i in 1 2 3; do echo "lab $LAB_marker $i" > {IMA_FILES}/f$i; '
    f"cat {IMA_FILES}/f$i > /dev/null; done\n"
    f"m=$(grep -c ' {IMA_FILES}/' {IMA}/ascii_runtime_measurements)\n"
    'lab_result ima_files "$m"\n[ "$m" -ge 3 ]',
    timeout=20,
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


def _vtpm(name: str, flags: str, judged: tuple[Step, ...], kernel: Kernel,
          loader: Loader = Loader.PYKEXEC) -> Scenario:  # fmt: skip
    tool = "pykexec" if loader is Loader.PYKEXEC else "kexec"
    return Scenario(
        name=name,
        description=f"vTPM + IMA (tcb): {tool} {flags} + -e; IMA list and PCR 10 compared",
        loader=loader,
        cpus=1,
        mem_mib=1024,
        kernel=kernel,
        cmdline=("ima_policy=tcb",),
        vtpm=True,
        firmware=Firmware.SLOF,
        boot_timeout=40.0,  # SLOF: userspace 6.9 s after QEMU's start on an idle host
        stages=(
            (Stage.FIRST, (_TPM, _IMA_FILES, _load(flags), EXEC)),
            (Stage.SECOND, (_MARKER, _TPM, _SECOND_MEASURE, *judged)),
        ),
    )


VTPM_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        # kexec_file_load carries the IMA list only with CONFIG_IMA_KEXEC, which no
        # Debian ppc64el kernel has (nor CONFIG_KEXEC_FILE): the lab's measured build.
        _vtpm("vtpm-ima-file", "-d -s -l", (_CONTINUES,), Kernel.MEASURED_61),
        # kexec_load: Debian's 6.1 has IMA and the vTPM driver built in (CI runs it).
        # Recorded: the list restarts (continuity is not judged, it cannot hold).
        _vtpm("vtpm-ima-load", "-d -c -l", (), Kernel.DEBIAN_61),
        # kexec-tools beside it: what its copy of /proc/device-tree hands on.
        _vtpm("reference-vtpm-ima-load", "-d -c -l", (), Kernel.DEBIAN_61, Loader.KEXEC),
    )
}
