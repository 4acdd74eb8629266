# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m bench host-plan``: a big pseries ``-p`` plan on the host, timed and weighed.

The machine is synthetic (:func:`tests.machines.pseries`): an RMA of 2 GiB and
``--lmbs`` LMBs of 256 MiB above it (crashkernel=1G@512M), each assigned
(``contiguous``) or every other one assigned (``fragmented``: no two usable
LMBs touch, so nothing merges), laid out as a sysroot.  The kernel is the lab's
vmlinux when the lab cache has one (else a synthetic image), the initrd a
sparse file of ``--initrd-mib`` MiB (0: none).

The plan, :func:`pykexec.system.loader.plan_load` (what a ``kexec_load`` of ``-p``
builds), runs in a fresh interpreter.  Memory: ``VmHWM`` (peak resident, file
pages included) from /proc/self/status, and the peak of ``RssAnon``
(anonymous resident: the file pages of the mapped inputs aside) sampled every
millisecond by a thread during the process's first plan, above its level
before.  The time is that of a second plan, without the sampler (which
competes for the GIL).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30
REPO = Path(__file__).resolve().parent.parent

LMB = 256 * MiB
DRCONF = "ibm,dynamic-reconfiguration-memory"
RMA = 2 * GiB
CRASH = (512 * MiB, 1 * GiB)  # crashkernel=1G@512M: room for a 512 MiB initrd
ASSIGNED = 0x8  # ibm,dynamic-memory flags: DRCONF_MEM_ASSIGNED (PAPR; Linux drmem.h)


def _status(field: str) -> int:
    """A ``kB`` field of /proc/self/status, in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class AnonPeak:
    """Samples RssAnon in a thread while the ``with`` block runs."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status("RssAnon"))
            time.sleep(self.interval)

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status("RssAnon"))


@dataclass(frozen=True)
class HostPlan:
    lmbs: int
    layout: str
    initrd_mib: int
    cold: float  # the first plan, with the sampler running
    seconds: float  # the second plan, alone
    anon_before: int
    anon_peak: int
    hwm: int

    def format(self) -> str:
        return (
            f"-p plan, {self.lmbs} LMBs ({self.layout}), {self.initrd_mib} MiB initrd: "
            f"{self.seconds:.3f} s (first plan {self.cold:.3f} s); anonymous memory peak "
            f"{(self.anon_peak - self.anon_before) / MiB:.1f} MiB above "
            f"{self.anon_before / MiB:.1f} MiB at start; VmHWM {self.hwm / MiB:.1f} MiB"
        )


def sysroot(root: Path, lmbs: int, layout: str) -> Path:
    from tests.machines import drmem_v1, pseries, write_sysroot

    tree = pseries(rma=RMA, lmbs=lmbs, drmem=1, crash=CRASH, cpus=4)
    if layout == "fragmented":
        dr = tree.child(DRCONF)
        assert dr is not None
        every_other = [(RMA + i * LMB, ASSIGNED if i % 2 == 0 else 0) for i in range(lmbs)]
        dr.props["ibm,dynamic-memory"] = drmem_v1([(0, ASSIGNED), *every_other])
    return write_sysroot(root, tree, cpus=4)


def _child(root: str, kernel: str, initrd: str) -> dict[str, float]:
    """In a fresh process: plan twice (sampled, then timed alone); the figures."""
    from pykexec.commands.cli import parse
    from pykexec.system.loader import plan_load
    from pykexec.system.sysinfo import SystemView

    argv = ["-p", kernel, "--append=console=hvc0", *([f"--initrd={initrd}"] if initrd else [])]
    cmd = parse(argv)
    assert cmd.options is not None
    view = SystemView(Path(root))
    before = _status("RssAnon")
    with AnonPeak() as peak:  # the first plan in this process: nothing pooled yet
        start = time.perf_counter()
        plan_load(cmd.options, view, purgatory_endian="little")
        cold = time.perf_counter() - start
    start = time.perf_counter()  # timed again alone: the sampler competes for the GIL
    plan_load(cmd.options, view, purgatory_endian="little")
    seconds = time.perf_counter() - start
    return {"cold": cold, "seconds": seconds, "anon_before": before, "anon_peak": peak.peak,
            "hwm": _status("VmHWM")}  # fmt: skip


def measure(lmbs: int, layout: str, initrd_mib: int, kernel: Path | None) -> HostPlan:
    """Lay the machine out here, plan it in a fresh interpreter (``python3 -m bench.hostplan``)."""
    from tests.kernels import make_vmlinux

    with tempfile.TemporaryDirectory() as tmp:
        root = sysroot(Path(tmp) / "root", lmbs, layout)
        if kernel is None:
            kernel = Path(tmp) / "vmlinux"
            kernel.write_bytes(make_vmlinux("little", size=0x120000, memsz=0x200000))
        initrd = ""
        if initrd_mib:
            initrd = str(Path(tmp) / "initrd.img")
            with open(initrd, "wb") as f:
                f.truncate(initrd_mib * MiB)
        out = subprocess.run(
            [sys.executable, "-m", "bench.hostplan", str(root), str(kernel), initrd],
            check=True, capture_output=True, text=True, cwd=REPO,
        )  # fmt: skip
    got = json.loads(out.stdout)
    return HostPlan(lmbs, layout, initrd_mib, got["cold"], got["seconds"],
                    int(got["anon_before"]), int(got["anon_peak"]), int(got["hwm"]))  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(_child(*sys.argv[1:4])))
