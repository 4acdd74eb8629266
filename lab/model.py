# SPDX-License-Identifier: GPL-2.0-or-later
"""The scenario vocabulary (loader, stage, step, console rule, scenario) and its rendering.

A scenario is a machine (kind: pseries or powernv; CPUs, memory, crashkernel
reservation, extra kernel words), a loader (``kexec`` from kexec-tools or
``pykexec``) and, per boot stage (``1`` for the first kernel, ``2`` after kexec,
``crash`` in the kdump kernel), a list of steps.  Each step is a busybox-sh snippet run between
``LAB-BEGIN``/``LAB-END`` markers; ``$KEXEC`` names the loader and
``$LAB_<key>`` holds every ``lab.<key>=`` word of the kernel command line.

Console rules say what the host must (or must not) see on the console while a
step runs; for a hand-over step (``kexec -e``, the sysrq crash) that window
lasts until the next kernel's userspace marker, so it covers what the old
kernel, the purgatory and the new kernel print in between.  A step with
``stops_with`` ends the run: the host passes it once that pattern is seen and
the machine then stays quiet (no marker) for a grace period.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import Enum

from lab.errors import ScenarioError
from lab.hotplug import Hotplug

_SH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Loader(str, Enum):
    """Which program loads the next kernel inside the guest."""

    KEXEC = "kexec"  # kexec-tools, the reference
    PYKEXEC = "pykexec"

    def __str__(self) -> str:
        return self.value


class Machine(str, Enum):
    """Which QEMU machine the guest runs on (:mod:`lab.vm` builds its argv)."""

    PSERIES = "pseries"  # PAPR guest: VOF or SLOF (Scenario.firmware), RTAS, spapr-vty console
    POWERNV = "powernv"  # bare metal: skiboot (OPAL), the OPAL console on the LPC UART
    POWERNV10 = "powernv10"  # the same on POWER10 (QEMU 10: Qemu.V10)

    def __str__(self) -> str:
        return self.value


class Firmware(str, Enum):
    """What a pseries guest boots its ``-kernel`` with (:mod:`lab.vm` builds ``-M``)."""

    # QEMU's Virtual Open Firmware (-M pseries,x-vof=on): the client interface a -kernel
    # boot needs and little else; it leaves a vTPM unstarted (no TPM2_Startup, no log).
    VOF = "vof"
    # SLOF (QEMU's slof.bin, plain -M pseries): full Open Firmware, a few seconds slower
    # under TCG; its vTPM code starts the TPM, measures the boot and hands its event log
    # over (the vtpm node's sml-handover method, arch/powerpc/kernel/prom_init.c).
    SLOF = "slof"

    def __str__(self) -> str:
        return self.value


class Qemu(str, Enum):
    """Which QEMU runs the guest (:func:`lab.assets.qemu_files`): the host's, or a newer one
    fetched into the lab cache for what the host's cannot emulate."""

    HOST = "7.2"  # Debian 12's qemu-system-ppc, installed on the host
    V10 = "10"  # bookworm-backports' 10.0: POWER SMT under TCG (pseries too), powernv10

    def __str__(self) -> str:
        return self.value


class Kernel(str, Enum):
    """Which lab kernel boots first and is loaded next (:func:`lab.assets.kernel_layout`)."""

    DEBIAN_61 = "debian-6.1"  # Debian 12's linux-image-powerpc64le (64k pages), staged by setup
    BPO_612 = "bpo-6.12"  # bookworm-backports linux-image-*-powerpc64le (4k pages)
    BPO_612_64K = "bpo-6.12-64k"  # bookworm-backports linux-image-*-powerpc64le-64k
    KEXEC_FILE_61 = "kexec-file-6.1"  # lab.kbuild's build: CONFIG_KEXEC_FILE=y
    BE_61 = "be-6.1"  # lab.kbuild's big-endian build (with its own tiny init)
    NOKEXEC_61 = "nokexec-6.1"  # lab.kbuild's CONFIG_KEXEC=n build: kexec_file_load only
    MEASURED_61 = "measured-6.1"  # lab.kbuild's kexec-file build with the vTPM driver and IMA
    # lab.kbuild's kexec-file build with pseries' H_SIGNAL_SYS_RESET NMI IPI patched out: an
    # emulation workaround for QEMU 10's SMT crash deadlock (lab/README.md "SMT")
    NONMI_61 = "nonmi-6.1"
    # the same patch on bookworm-backports' 6.12 source, with CONFIG_CRASH_HOTPLUG: SMT
    # crash hotplug on QEMU 10 (lab.hotplug_scenarios)
    NONMI_612 = "nonmi-6.12"

    def __str__(self) -> str:
        return self.value


# QEMU start to the first userspace marker, per machine: the slowest boot seen x ~3.
BOOT_TIMEOUT: dict[Machine, float] = {
    Machine.PSERIES: 20.0,  # slowest 5.4 s
    # skiboot ~0.1 s + kernel: 3.7-4.1 s idle (x3 = 12.4 s); pseries boots got 2.3x
    # slower next to a kernel build on the same 2 cores, hence the pseries margin.
    Machine.POWERNV: 20.0,
    Machine.POWERNV10: 20.0,
}


class Stage(str, Enum):
    """Boot stage, passed to the guest as ``lab.stage=``."""

    FIRST = "1"
    SECOND = "2"
    CRASH = "crash"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Step:
    """One guest step.

    ``timeout`` bounds LAB-BEGIN to LAB-END; for a step that ``leaves`` (hands
    over to another kernel) it bounds LAB-BEGIN to the next kernel's userspace
    marker, or, with ``stops_with``, to that console pattern.  ``fatal`` stops
    the stage on failure.
    """

    name: str
    script: str
    timeout: float = 10.0
    fatal: bool = False
    leaves: bool = False
    stops_with: str | None = None  # regex: the machine stops for good after printing it

    def __post_init__(self) -> None:
        if not _SH_NAME.fullmatch(self.name):
            raise ScenarioError(
                f"step name {self.name!r} must be a shell identifier", problem="step-name"
            )
        if self.stops_with is not None:
            re.compile(self.stops_with)
            if not self.leaves:
                raise ScenarioError(
                    f"step {self.name}: stops_with needs leaves=True", problem="stops-with"
                )


@dataclass(frozen=True)
class ConsoleRule:
    """A console regex that must (``present``) or must not appear while ``step`` runs."""

    pattern: str
    step: str
    present: bool = True

    def __post_init__(self) -> None:
        re.compile(self.pattern)

    def describe(self) -> str:
        must = "must" if self.present else "must not"
        return f"/{self.pattern}/ {must} appear during {self.step}"


@dataclass(frozen=True)
class Scenario:
    """A named lab experiment."""

    name: str
    description: str
    loader: Loader
    cpus: int
    mem_mib: int
    stages: tuple[tuple[Stage, tuple[Step, ...]], ...]
    crashkernel: str | None = None
    fill_mib: int = 32
    cmdline: tuple[str, ...] = ()  # extra words for the first kernel
    console: tuple[ConsoleRule, ...] = ()
    boot_timeout: float = 20.0  # QEMU start to the first userspace marker (slowest 5.4 s)
    machine: Machine = Machine.PSERIES
    emulation_knobs: bool = True  # export EMULATION_KNOBS (the bench measures without them)
    kernel: Kernel = Kernel.DEBIAN_61  # the first kernel and the payload's /boot/vmlinux
    threads: int = 1  # SMT threads per core (QEMU -smp cpus,cores=cpus/threads,threads=N)
    hotplug: Hotplug | None = None  # room to grow and the host's QMP actions (lab.hotplug)
    extra_kernel: Kernel | None = None  # also in the payload: /boot/<kernel>/{vmlinux,initrd.img}
    # The lean kdump payload: /boot/initrd-kdump.img (busybox, makedumpfile, no Python;
    # lab.initramfs.kdump_base_archive) and a dump port to the host (lab.vm.DUMP_PORT),
    # whose stream the host checks after the run (lab.dumpcheck: ELF vmcore, nonce).
    lean_kdump: bool = False
    vtpm: bool = False  # a vTPM (tpm-spapr on swtpm, lab.vtpm), pseries with SLOF only
    firmware: Firmware = Firmware.VOF  # pseries only: what boots -kernel (lab.vm)
    qemu: Qemu = Qemu.HOST  # the QEMU that can emulate this machine (lab.vm picks its binary)
    cpu_model: str | None = None  # QEMU's -cpu (e.g. "POWER10"), else the machine's default
    tcg_single: bool = False  # QEMU's single-threaded TCG (lab.vm: -accel tcg,thread=single)
    # The reference loader is sid's kexec-tools 2.0.32 (lab.corpus.sid_kexec_tools, in the
    # guest under SID_KEXEC_DIR) instead of bookworm's 2.0.25: $KEXEC is SID_KEXEC.
    sid_kexec: bool = False
    # The host requires the vmcore's [1 KiB, 64 KiB) to be what the guest read just before
    # the crash (results low64k_vmcore and low64k_before; lab.judge.low64k_problem).
    low64k_check: bool = False
    # Why this scenario fails today (an open issue): the lab reports its failure as known
    # and the e2e tests expect it (xfail, not strict), so it turns green once fixed.
    known_failure: str = ""

    def __post_init__(self) -> None:
        if self.threads < 1 or self.cpus % self.threads:
            raise ScenarioError(
                f"{self.name}: {self.cpus} CPUs are not whole cores of {self.threads}",
                problem="threads",
            )
        if self.firmware is not Firmware.VOF and self.machine is not Machine.PSERIES:
            raise ScenarioError(
                f"{self.name}: firmware {self.firmware} is for pseries, not {self.machine}",
                problem="firmware",
            )
        if self.vtpm and self.firmware is not Firmware.SLOF:
            raise ScenarioError(
                f"{self.name}: a vTPM needs SLOF (VOF never sends TPM2_Startup, so "
                "tpm_ibmvtpm registers no chip): firmware=Firmware.SLOF",
                problem="vtpm-firmware",
            )
        names = {step.name for _, steps in self.stages for step in steps}
        for rule in self.console:
            if rule.step not in names:
                raise ScenarioError(
                    f"{self.name}: console rule names unknown step {rule.step}",
                    problem="console-rule",
                )

    def steps(self, stage: Stage) -> tuple[Step, ...]:
        return dict(self.stages).get(stage, ())

    def with_overrides(
        self,
        *,
        loader: Loader | None = None,
        cpus: int | None = None,
        kernel: Kernel | None = None,
        threads: int | None = None,
    ) -> Scenario:
        return dataclasses.replace(
            self,
            loader=loader or self.loader,
            cpus=cpus if cpus is not None else self.cpus,
            kernel=kernel or self.kernel,
            threads=threads if threads is not None else self.threads,
        )


# Lab settings that only speed up the emulator, never shipped in the product: under
# TCG, OpenSSL's POWER8 vector SHA-256 runs about 10x slower than its generic code
# (2.5 s against 0.25 s for 50 MB in the lab's guest), while on hardware it is far
# faster.  Scenarios export them for their wall-clock time; the bench does not.
# Likewise the purgatory's vector SHA-256 (vshasigmaw): 960 instructions a block
# against 2210 for the scalar code, but about 9x slower under TCG (1.35 s against
# 0.15 s per 16 MiB under qemu-user).
EMULATION_KNOBS = (("OPENSSL_ppccap", "0"), ("PYKEXEC_PURGATORY_SHA256", "scalar"))


# sid's kexec-tools in the guest, run by sid's own dynamic loader and libc (it needs
# glibc 2.38; the guest is bookworm's 2.36): lab.corpus puts the three files there.
SID_KEXEC_DIR = "/opt/kexec-tools-sid"
SID_KEXEC = f"{SID_KEXEC_DIR}/ld64.so.2 --library-path {SID_KEXEC_DIR} {SID_KEXEC_DIR}/kexec"


def render(scenario: Scenario) -> str:
    """The guest's /lab/scenario.sh: loader variable, step functions, stage functions."""
    kexec = f'"{SID_KEXEC}"' if scenario.sid_kexec else str(scenario.loader)
    lines = [
        f"# scenario {scenario.name}: {scenario.description}",
        f"export KEXEC={kexec}  # for the step files (lab/guest/steps) too",
    ]
    if scenario.emulation_knobs:
        lines += [
            f"export {name}={value}  # lab.model.EMULATION_KNOBS" for name, value in EMULATION_KNOBS
        ]
    for stage, steps in scenario.stages:
        body: list[str] = ["    failed="]
        for step in steps:
            lines += [f"lab_step_{step.name}() {{", step.script, "}"]
            on_fail = (
                f'lab_fail "step {step.name} rc=$?"'
                if step.fatal
                else f'failed="$failed {step.name}"'
            )
            body.append(f"    lab_run {step.name} || {on_fail}")
            if step.leaves:
                body.append(f'    lab_fail "step {step.name} returned"')
        body.append('    [ -z "$failed" ] || lab_fail "failed:$failed"')
        body.append("    lab_pass")
        lines += [f"lab_stage_{stage}() {{", *body, "}"]
    return "\n".join(lines) + "\n"
