# SPDX-License-Identifier: GPL-2.0-or-later
"""Run a scenario in the Debian system image and check what it left on the disk.

QEMU boots the image's own kernel and initramfs (``-kernel``/``-initrd``, copied
out of the image at build time) with the root on the first virtio disk (a fresh
copy of the cached image per run) and the scenario on the second (a bare tar of
``lab/guest/debsys``, which the image's ``pykexec-lab.service`` unpacks and runs).
Unlike the busybox lab QEMU may reboot (no ``-no-reboot``): kdump-tools reboots
after saving the dump, and the system must come back.  The guest powers off when
its scenario is over (``LAB-DONE`` on the console); the host then reads the result
and the dump from the ext4 image with ``debugfs`` (e2fsprogs), without mounting it.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.debsys_image import GUEST_FILES, DebianSystem, pack_lab_disk
from lab.dumpcheck import DumpError, DumpFacts, unflatten
from lab.errors import LabError
from lab.paths import CacheLayout
from lab.vm import QEMU, Guest, MachineConfig

MEM_MIB = 2048  # kdump-tools' crashkernel= table starts at 2G (2G-4G:320M)
CPUS = 2
#: The CPU a kdump scenario panics on.  CPU 0: under QEMU's TCG the crash kernel booted
#: from a panic on CPU 1 of this pseries machine never gets its first virtio-blk
#: interrupt (udev's partition scan hangs in virtblk_probe), with kexec-tools as with
#: pykexec; lab/README.md "kdump from another CPU" has the runs.  The busybox lab's SMT
#: scenarios panic on other CPUs (their crash kernels need no disk).
CRASH_CPU = 0
KDUMP_SIGNATURE = b"KDUMP   "  # makedumpfile's kdump-compressed header (diskdump_mod.h)
DONE = "LAB-DONE "


@dataclass(frozen=True)
class DebsysMachine(MachineConfig):
    """A pseries guest booting the Debian image: two virtio disks, rebooting allowed."""

    root_image: Path = Path()
    lab_disk: Path = Path()
    #: QEMU's pseries ``ic-mode`` (interrupt controller): "" is QEMU's default (XIVE
    #: negotiated with a POWER9 guest), "xics" the POWER8 one (lab experiments).
    ic_mode: str = ""

    def argv(self) -> list[str]:
        machine = "pseries,x-vof=on" + (f",ic-mode={self.ic_mode}" if self.ic_mode else "")
        return [
            QEMU, "-M", machine, "-accel", "tcg",
            "-smp", str(self.cpus), "-m", f"{self.mem_mib}M",
            "-nodefaults", "-display", "none", "-serial", "stdio",
            "-kernel", str(self.kernel), "-initrd", str(self.initrd),
            "-append", " ".join(self.cmdline),
            "-drive", f"file={self.root_image},format=raw,if=none,id=root",
            "-device", "virtio-blk-pci,drive=root",
            "-drive", f"file={self.lab_disk},format=raw,if=none,id=lab,readonly=on",
            "-device", "virtio-blk-pci,drive=lab",
        ]  # fmt: skip


@dataclass
class DebsysReport:
    """What one run showed: the verdict, the guest's LAB- lines, timings, the log."""

    scenario: str
    loader: str
    marker: str
    passed: bool = False
    reason: str = ""
    info: list[str] = field(default_factory=list)
    seconds: float = 0.0
    boots: int = 0
    log: Path = Path()

    def format(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        lines = [f"{head} debsys {self.scenario} ({self.loader}) in {self.seconds:.0f} s, "
                 f"{self.boots} kernel boots: {self.reason}", f"log: {self.log}"]  # fmt: skip
        return "\n".join(lines + [f"  {i}" for i in self.info])


def debugfs(image: Path, request: str) -> str:
    """``debugfs -R REQUEST`` on the image (read-only), its standard output."""
    done = subprocess.run(["debugfs", "-R", request, str(image)],
                          capture_output=True, check=False)  # fmt: skip
    return done.stdout.decode("utf-8", errors="replace")


def guest_file(image: Path, path: str) -> str:
    return debugfs(image, f"cat {path}")


def lab_disk_files() -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(GUEST_FILES.iterdir()) if f.suffix == ".sh"}


def boot(system: DebianSystem, work: Path, scenario: str, *, extra: dict[str, bytes] | None = None,
         cmdline: tuple[str, ...] = (), timeout: float = 1500.0,
         crashkernel: str | None = None, cpus: int = CPUS, crash_cpu: int = CRASH_CPU,
         ic_mode: str = "") -> DebsysReport:  # fmt: skip
    """One run: fresh image copy, boot, watch the console to LAB-DONE and the power-off.

    A kdump scenario crashes the machine from ``crash_cpu`` (run.sh's lab.crash_cpu)."""
    marker = secrets.token_hex(6)
    work.mkdir(parents=True, exist_ok=True)
    image, lab_disk = work / "root.img", work / "lab.tar"
    subprocess.run(["cp", "--sparse=always", str(system.image), str(image)], check=True)
    pack_lab_disk({**lab_disk_files(), **(extra or {})}, lab_disk)
    crash = crashkernel or system.crashkernel
    words = ("console=hvc0", "root=/dev/vda", "rw", f"crashkernel={crash}",
             "lab.run", f"lab.scenario={scenario}", f"lab.marker={marker}",
             f"lab.crash_cpu={crash_cpu}", *cmdline)  # fmt: skip
    config = DebsysMachine(system.vmlinux, system.initrd, words, cpus=cpus, mem_mib=MEM_MIB,
                           root_image=image, lab_disk=lab_disk, ic_mode=ic_mode)  # fmt: skip
    report = DebsysReport(scenario, "", marker, log=work / "console.log")
    started = time.monotonic()
    with Guest(config, report.log) as guest:
        _watch(guest, report, started + timeout)
    report.seconds = time.monotonic() - started
    return report


#: The kernel's hung-task report for a virtio-blk probe whose first read never completes
#: (tests/e2e/test_debian_system.py VIRTIO_HANG): the run cannot finish, stop it there.
HUNG_TASK, VIRTIO_PROBE = "blocked for more than", "virtblk_probe"
VIRTIO_HANG = f"a task hung in {VIRTIO_PROBE} (virtio-blk's first read never ended)"


def _watch(guest: Guest, report: DebsysReport, deadline: float) -> None:
    hung = False
    while True:
        try:
            line = guest.next_line(deadline - time.monotonic())
        except TimeoutError:
            report.reason = f"timed out; last lines: {list(guest.tail)[-5:]}"
            return
        if line is None:
            if not report.reason:
                report.reason = f"QEMU exited before LAB-DONE; last: {list(guest.tail)[-5:]}"
            return
        text = line.text
        hung = hung or HUNG_TASK in text
        if hung and VIRTIO_PROBE in text:
            report.reason = VIRTIO_HANG
            return
        if "Linux version" in text and "] Linux version" in text:
            report.boots += 1
        if text.startswith("LAB-INFO "):
            report.info.append(f"[{line.at:6.0f}] {text[9:]}")
        elif text.startswith(DONE):
            verdict, _, why = text[len(DONE) :].partition(" ")
            report.passed, report.reason = verdict == "pass", why
            _await_poweroff(guest, deadline)
            return


def _await_poweroff(guest: Guest, deadline: float) -> None:
    """The guest powers off after LAB-DONE; QEMU exits (the image is then consistent)."""
    while guest.exit_code() is None and time.monotonic() < min(deadline, time.monotonic() + 300):
        try:
            if guest.next_line(5.0) is None:
                return
        except TimeoutError:
            continue


def check_result(report: DebsysReport, image: Path) -> None:
    """The result the guest wrote on its disk must agree with its console."""
    on_disk = guest_file(image, "/var/lib/pykexec-lab/result").strip()
    report.info.append(f"on disk: {on_disk!r}")
    if report.passed and not on_disk.startswith("pass"):
        report.passed, report.reason = False, f"console said pass, disk says {on_disk!r}"


def check_dump(report: DebsysReport, image: Path, work: Path) -> None:
    """/var/crash/<stamp>/ holds a makedumpfile dump and a dmesg with this run's marker.

    kdump-config saves ``makedumpfile -F -c -d 31`` output (its MAKEDUMP_ARGS always
    has -F, and KDUMP_COMPRESSION is unset): a flattened stream, which
    :func:`lab.dumpcheck.unflatten` rebuilds into the kdump-compressed file that
    must start with :data:`KDUMP_SIGNATURE`.
    """
    where = guest_file(image, "/var/lib/pykexec-lab/dump-dir").strip()
    if not where.startswith("/var/crash/"):
        report.passed, report.reason = False, f"no dump directory recorded ({where!r})"
        return
    stamp = where.rsplit("/", 1)[1]
    dmesg = guest_file(image, f"{where}/dmesg.{stamp}")
    stream, dump = work / "dump.flat", work / "dump"
    debugfs(image, f"dump {where}/dump.{stamp} {stream}")
    facts = DumpFacts()
    try:
        unflatten(stream, dump, facts)
        head = dump.read_bytes()[:8]
    except (DumpError, OSError) as exc:
        report.passed, report.reason = False, f"dump.{stamp}: {exc}"
        return
    finally:
        stream.unlink(missing_ok=True)
        dump.unlink(missing_ok=True)
    report.info.append(f"{where}: dump.{stamp} {facts.stream_bytes} bytes flattened, "
                       f"{facts.file_bytes} rebuilt, header {head!r}; "
                       f"dmesg.{stamp} {len(dmesg)} bytes")  # fmt: skip
    if head != KDUMP_SIGNATURE:
        report.passed, report.reason = False, f"dump.{stamp} is not a kdump-compressed dump"
    elif f"LAB-CRASH-MARKER {report.marker}" not in dmesg:
        report.passed, report.reason = False, f"dmesg.{stamp} lacks this run's marker"


def run_scenario(layout: CacheLayout, system: DebianSystem, scenario: str, loader: str,
                 **kw: object) -> DebsysReport:  # fmt: skip
    """Boot, then the disk checks the scenario calls for; the work dir goes on success."""
    work = layout.logs / "debsys" / f"{scenario}-{loader}-{time.strftime('%H%M%S')}"
    report = boot(system, work, scenario, **kw)  # type: ignore[arg-type]
    report = dataclasses.replace(report, loader=loader)
    image = work / "root.img"
    if report.passed:
        check_result(report, image)
    if report.passed and scenario == "kdump":
        check_dump(report, image, work)
    if report.passed:
        image.unlink()
    else:
        report.info.append(f"image kept: {image}")
    return report


def require_tools() -> None:
    for tool in ("debugfs", QEMU):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found: run tools/setup-host.sh")
