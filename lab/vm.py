# SPDX-License-Identifier: GPL-2.0-or-later
"""One QEMU guest (pseries or powernv): start it, read its console line by line, always kill it.

The machine is ``qemu-system-ppc64 -M pseries,x-vof=on`` (a PAPR guest booted by
VOF, or by SLOF with plain ``-M pseries``; the console is spapr-vty, the guest's
hvc0) or ``-M powernv9`` (bare metal: QEMU's
skiboot.lid as firmware, which reads ``-kernel``/``-initrd``/``-append`` from
the tree QEMU hands it; skiboot drives the LPC UART and the kernel's
hvc_opal makes that hvc0 too), under TCG with no network, no graphics and
the serial console on QEMU's stdout.  ``-no-reboot`` with ``panic=-1`` on the
guest command line makes a guest panic end QEMU.  A reader thread timestamps
every console line with the host's monotonic clock and writes it to a log
file; :meth:`Guest.next_line` waits for one with a timeout.  The QEMU process
is killed by its own pid in :meth:`Guest.close` (the context manager's exit),
also on exceptions.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from lab import vtpm
from lab.errors import AssetError
from lab.hotplug import Hotplug
from lab.model import Firmware, Machine
from lab.paths import QemuFiles

QEMU = "qemu-system-ppc64"
BASE_CMDLINE = ("console=hvc0", "panic=-1")
TAIL_LINES = 40
# -M per machine kind.  pseries: VOF instead of SLOF by default (faster; a -kernel boot
# needs no more of Open Firmware), SLOF where a scenario says so (PSERIES_FIRMWARE).
# powernv9 (= `powernv` in QEMU 7.2): POWER9 with skiboot.lid from QEMU's data
# directory (its default -bios).
MACHINE_ARGS: dict[Machine, tuple[str, ...]] = {
    Machine.PSERIES: ("-M", "pseries"),
    Machine.POWERNV: ("-M", "powernv9"),
    Machine.POWERNV10: ("-M", "powernv10"),  # QEMU 10 only
}
# What -M pseries gets appended per firmware (hw/ppc/spapr.c: x-vof=on loads vof.bin,
# otherwise slof.bin).
PSERIES_FIRMWARE: dict[Firmware, str] = {Firmware.VOF: ",x-vof=on", Firmware.SLOF: ""}
# QEMU 7.2 hw/ppc/pnv.c loads -initrd at INITRD_LOAD_ADDR 0x28000000 with at most
# INITRD_MAX_SIZE (128 MiB) ("Could not load initial ram disk" beyond); the lab's
# uncompressed first initramfs is ~150 MB, so powernv runs gzip it (~85 MB).
INITRD_MAX_BYTES: dict[Machine, int] = {Machine.POWERNV: 128 << 20, Machine.POWERNV10: 128 << 20}
# The instruction-count clock (QEMU docs/devel/tcg-icount.rst, qemu-options.hx -icount):
# shift=0 advances the virtual clock 1 ns per guest instruction, and the ppc
# timebase follows the virtual clock (hw/ppc/ppc.c cpu_ppc_get_tb on
# QEMU_CLOCK_VIRTUAL), so timebase and /proc/uptime differences count
# instructions.  sleep=off: an idle guest jumps to its next timer instead of
# waiting for the host's clock, so idle time is deterministic too.  icount
# forces single-threaded TCG (accel/tcg/tcg-all.c default_mttcg_enabled).
ICOUNT_ARGS = ("-icount", "shift=0,sleep=off")
# -accel tcg,thread=single: QEMU's round-robin TCG, every vCPU on one host thread (instead
# of a thread per vCPU).  There a vCPU's synchronous run_on_cpu() on another vCPU runs at
# once (cpus-common.c do_run_on_cpu: qemu_cpu_is_self), so the deadlock of
# H_SIGNAL_SYS_RESET against an exclusive section (lab/README.md "SMT") cannot happen.
# -m SIZE,slots=N,maxmem=MAX: pseries describes the whole of maxmem as LMBs
# (256 MiB each, hw/ppc/spapr.c SPAPR_MEMORY_BLOCK_SIZE) in
# ibm,dynamic-memory(-v2): maxmem=4T gives 16384 LMBs.
HOTPLUG_SLOTS = 4
# The dump port: a virtio serial port (virtio-serial-pci; the guest kernels have
# CONFIG_VIRTIO_CONSOLE=y) named lab.dump, which QEMU writes into a host file.  The
# lean kdump payload streams its dump there (lab/guest/steps/dump_out.sh), the way
# kdump's network targets send it off the machine; lab.dumpcheck reads it.
DUMP_PORT = "lab.dump"


@dataclass(frozen=True)
class MachineConfig:
    """What QEMU boots: machine kind, kernel, initrd, command line, CPUs, memory."""

    kernel: Path
    initrd: Path
    cmdline: tuple[str, ...]
    cpus: int = 1
    mem_mib: int = 1024
    machine: Machine = Machine.PSERIES
    threads: int = 1  # SMT threads per core
    hotplug: Hotplug | None = None  # maxcpus, memory slots
    qmp: Path | None = None  # -qmp unix socket
    icount: bool = False  # QEMU's instruction-count clock (see ICOUNT_ARGS)
    maxmem: str | None = None  # hotpluggable memory size (-m ...,slots=,maxmem=), e.g. "4T"
    dump_file: Path | None = None  # host file behind the guest's dump port (DUMP_PORT)
    tpm_socket: Path | None = None  # swtpm's control socket: a tpm-spapr vTPM (lab.vtpm)
    firmware: Firmware = Firmware.VOF  # pseries only (PSERIES_FIRMWARE)
    qemu: QemuFiles | None = None  # a QEMU from the lab cache (lab.assets.qemu_files); None: QEMU
    cpu_model: str | None = None  # -cpu
    tcg_single: bool = False  # one host thread for every vCPU (see TCG_SINGLE)

    def check(self) -> None:
        """Refuse an initrd the machine's QEMU loader would reject, before starting QEMU."""
        limit = INITRD_MAX_BYTES.get(self.machine)
        size = self.initrd.stat().st_size
        if limit is not None and size > limit:
            raise AssetError(
                f"initrd {self.initrd} is {size} bytes; QEMU's {self.machine} loads at most "
                f"{limit} (hw/ppc/pnv.c INITRD_MAX_SIZE): gzip it (--gzip)",
                problem="initrd-too-large",
            )

    def smp(self) -> str:
        """``-smp``: CPUs, as cores of ``threads`` SMT threads when threads > 1."""
        most = self.cpus if self.hotplug is None else self.hotplug.max_cpus
        smp = str(self.cpus) if self.hotplug is None else f"{self.cpus},maxcpus={most}"
        if self.threads > 1:
            smp += f",cores={most // self.threads},threads={self.threads}"
        return smp

    def memory(self) -> str:
        """``-m``: boot RAM, and with hotplug (or ``maxmem``) the pc-dimm slots and maximum."""
        if self.hotplug is not None:
            hot = self.hotplug
            return f"{self.mem_mib}M,slots={hot.slots},maxmem={hot.max_mem_mib}M"
        if self.maxmem is not None:
            return f"{self.mem_mib}M,slots={HOTPLUG_SLOTS},maxmem={self.maxmem}"
        return f"{self.mem_mib}M"

    def argv(self) -> list[str]:
        return [
            QEMU if self.qemu is None else str(self.qemu.binary),
            *(() if self.qemu is None else ("-L", str(self.qemu.firmware))),
            "-name", "debug-threads=on",  # vCPU threads named "CPU N/TCG" (lab.hangprobe)
            *self.machine_args(),
            *(() if self.cpu_model is None else ("-cpu", self.cpu_model)),
            "-accel", "tcg,thread=single" if self.tcg_single else "tcg",
            "-smp", self.smp(),
            "-m", self.memory(),
            *(ICOUNT_ARGS if self.icount else ()),
            "-nodefaults",
            "-display", "none",
            "-serial", "stdio",
            "-no-reboot",
            "-kernel", str(self.kernel),
            "-initrd", str(self.initrd),
            "-append", " ".join((*BASE_CMDLINE, *self.cmdline)),
            *(("-qmp", f"unix:{self.qmp},server=on,wait=off") if self.qmp else ()),
            *(self.dump_port_args() if self.dump_file else ()),
            *(vtpm.qemu_args(self.tpm_socket) if self.tpm_socket else ()),
        ]  # fmt: skip

    def machine_args(self) -> tuple[str, ...]:
        """``-M``: the machine kind, and for pseries its firmware."""
        flag, machine = MACHINE_ARGS[self.machine]
        if self.machine is Machine.PSERIES:
            machine += PSERIES_FIRMWARE[self.firmware]
        return flag, machine

    def env(self) -> dict[str, str] | None:
        """QEMU's environment: the host's, plus LD_LIBRARY_PATH for a cached QEMU."""
        if self.qemu is None:
            return None
        return {**os.environ, "LD_LIBRARY_PATH": str(self.qemu.libs)}

    def available(self) -> bool:
        return qemu_available() if self.qemu is None else self.qemu.binary.is_file()

    def dump_port_args(self) -> tuple[str, ...]:
        return (
            "-device", "virtio-serial-pci,id=labserial",
            "-chardev", f"file,id=labdump,path={self.dump_file}",
            "-device", f"virtserialport,bus=labserial.0,chardev=labdump,name={DUMP_PORT}",
        )  # fmt: skip


@dataclass(frozen=True)
class ConsoleLine:
    """A console line and the host time (seconds since QEMU started) it arrived."""

    at: float
    text: str


def qemu_available() -> bool:
    return shutil.which(QEMU) is not None


class Guest:
    """A running QEMU; use as a context manager so the process is always killed."""

    def __init__(self, config: MachineConfig, log_path: Path) -> None:
        if not config.available():
            raise AssetError(f"{config.argv()[0]} not found; run `python3 -m lab setup` as root")
        config.check()
        self.config = config
        self.log_path = log_path
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lines: queue.Queue[ConsoleLine | None] = queue.Queue()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w", encoding="utf-8", errors="replace")
        self._log.write("# " + " ".join(config.argv()) + "\n")
        self.started = time.monotonic()
        self._proc = subprocess.Popen(
            config.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=config.env(),
        )
        assert self._proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def now(self) -> float:
        return time.monotonic() - self.started

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\r", "")
            line = ConsoleLine(self.now(), text)
            self._log.write(f"[{line.at:8.3f}] {text}\n")
            self._log.flush()
            self.tail.append(text)
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self, timeout: float) -> ConsoleLine | None:
        """The next console line; None when QEMU has exited; TimeoutError after ``timeout``."""
        try:
            return self._lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise TimeoutError from None

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def close(self) -> None:
        """Kill QEMU by pid (if still running) and reap it; idempotent."""
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.wait(timeout=30)
        finally:
            self._reader.join(timeout=5)
            if not self._log.closed:
                self._log.close()

    def __enter__(self) -> Guest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
