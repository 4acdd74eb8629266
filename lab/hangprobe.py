# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a hung guest's vCPUs are: QEMU's registers over QMP, named by the kernel's symbols.

``lab run --probe`` (issue 18's second-thread crash) gives the guest a QMP socket;
when a step's deadline passes, :func:`sample` asks QEMU's monitor for every vCPU's
registers (HMP ``info registers -a`` through QMP ``human-monitor-command``) a few
times, and :func:`symbolize` names each NIP and LR by the guest vmlinux's symbol
table (pyelftools), so the report says which function each thread spins in.  QEMU
prints, per vCPU (target/ppc/cpu_init.c ppc_cpu_dump_state)::

    NIP c000000000012345   LR c000000000012300 CTR ... XER ... CPU#3
    MSR 8000000000001033 HID0 ... HF ... iidx 3 didx 3
"""

from __future__ import annotations

import bisect
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.qmp import Qmp, QmpError

_NIP = re.compile(r"NIP ([0-9a-f]+)\s+LR ([0-9a-f]+).*CPU#(\d+)")
_MSR = re.compile(r"^MSR ([0-9a-f]+)", re.M)
MSR_IR_DR = 0x30  # MSR[IR] 0x20, MSR[DR] 0x10: translation on (else real mode)


@dataclass(frozen=True)
class VcpuState:
    """One vCPU at one instant."""

    cpu: int  # QEMU's cpu_index (Linux's logical CPU number in the lab's guests)
    nip: int
    lr: int
    msr: int


def parse_registers(text: str) -> list[VcpuState]:
    """Every vCPU's NIP, LR and MSR in HMP ``info registers -a`` output."""
    out = []
    for block in re.split(r"(?m)^(?=NIP )", text):
        nip = _NIP.search(block)
        msr = _MSR.search(block)
        if nip is not None:
            msr_value = int(msr[1], 16) if msr else 0
            out.append(VcpuState(int(nip[3]), int(nip[1], 16), int(nip[2], 16), msr_value))
    return out


def sample(qmp_path: Path, paused: bool, count: int = 3, interval: float = 0.5) -> list[str]:
    """``count`` HMP ``info registers -a`` outputs, ``interval`` seconds apart.

    Under TCG a running vCPU's NIP in QEMU's state is where its current run of
    translated blocks started, so ``paused`` stops the machine (QMP ``stop``: every
    vCPU leaves its block) for each sample and continues it after; a ``stop`` that
    does not complete means a vCPU thread is blocked inside QEMU itself.
    """
    texts = []
    with Qmp(qmp_path, timeout=STOP_TIMEOUT) as qmp:
        for i in range(count):
            if i:
                time.sleep(interval)
            if paused:
                qmp.execute("stop")
            texts.append(str(qmp.execute("human-monitor-command", **_INFO_REGISTERS)))
            if paused:
                qmp.execute("cont")
    return texts


_INFO_REGISTERS = {"command-line": "info registers -a"}
STOP_TIMEOUT = 10.0  # seconds for QEMU to pause every vCPU


def host_threads(pid: int, interval: float = 1.0) -> dict[str, str]:
    """Each QEMU vCPU thread (``-name debug-threads=on`` names them ``CPU N/TCG``): its
    scheduler state, CPU time used over ``interval`` and kernel wait channel."""

    def ticks() -> dict[str, tuple[str, int, str]]:
        out = {}
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                comm = (task / "comm").read_text().strip()
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                wchan = (task / "wchan").read_text().strip()
            except OSError:
                continue
            if comm.startswith("CPU "):
                out[comm] = (fields[0], int(fields[11]) + int(fields[12]), wchan)
        return out

    before = ticks()
    time.sleep(interval)
    after = ticks()
    return {
        f"probe_thread_{name.split()[1].split('/')[0]}": (
            f"state {state} cpu {after[name][1] - before[name][1]}/{interval:.0f}s-ticks "
            f"wchan {wchan or '-'}"
        )
        for name, (state, _, wchan) in sorted(after.items())
        if name in before
    }


class Symbols:
    """A vmlinux's function and object symbols, sorted by address."""

    def __init__(self, vmlinux: Path) -> None:
        from elftools.elf.elffile import ELFFile  # the lab host's test dependency

        pairs: list[tuple[int, str]] = []
        with vmlinux.open("rb") as f:
            table = ELFFile(f).get_section_by_name(".symtab")
            for sym in table.iter_symbols() if table is not None else ():
                if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_NOTYPE", "STT_OBJECT"):
                    pairs.append((sym["st_value"], sym.name))
        pairs.sort()
        self._addrs = [a for a, _ in pairs]
        self._names = [n for _, n in pairs]

    def name(self, addr: int) -> str:
        """``function+0xoff`` for a kernel address (real-mode addresses map to 0xc000...)."""
        if addr < 1 << 60:
            addr |= 0xC000000000000000
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return hex(addr)
        return f"{self._names[i]}+{addr - self._addrs[i]:#x}"


def summary(snaps: list[list[VcpuState]], symbols: Symbols) -> dict[str, str]:
    """Per vCPU: the distinct NIPs and LRs over the snapshots (named), real mode or not."""
    out: dict[str, str] = {}
    for cpu in sorted({s.cpu for snap in snaps for s in snap}):
        states = [s for snap in snaps for s in snap if s.cpu == cpu]
        nips = list(dict.fromkeys(symbols.name(s.nip) for s in states))
        if len(nips) > 4:  # moving: name the functions only
            nips = list(dict.fromkeys(n.split("+")[0] for n in nips))
        lrs = dict.fromkeys(symbols.name(s.lr) for s in states)
        mode = "real" if all(not s.msr & MSR_IR_DR for s in states) else "virt"
        out[f"probe_cpu{cpu}"] = (
            f"nip {','.join(nips)} lr {','.join(lrs)} msr {states[-1].msr:#x} ({mode})"
        )
    return out


_THREAD = re.compile(r'^Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP \d+\) "([^"]+)"\)', re.M)
_FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][A-Za-z0-9_.]*) \(", re.M)
GDB_TIMEOUT = 60.0


def qemu_stacks(pid: int, raw_out: Path) -> dict[str, str]:
    """Each vCPU thread's QEMU call chain (innermost first), by gdb: Debian's QEMU is
    built with modules, so it exports its functions (--export-dynamic) and gdb names
    them without debug symbols.  Empty when gdb is not installed."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return {}
    argv = [gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 16"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=GDB_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"probe_gdb": f"gdb did not finish in {GDB_TIMEOUT:.0f} s"}
    raw_out.write_text(done.stdout)
    out = {}
    for block in re.split(r"(?m)^(?=Thread \d+ )", done.stdout):
        name = _THREAD.search(block)
        if name is None or not name[1].startswith("CPU "):
            continue
        chain = [f for f in _FRAME.findall(block) if not f.startswith(("__", "syscall"))]
        out[f"probe_stack_{name[1].split()[1].split('/')[0]}"] = " < ".join(chain[:8])
    return out


def probe(qmp_path: Path, vmlinux: Path, raw_out: Path, pid: int) -> dict[str, str]:
    """Sample a hung guest: its vCPU threads on the host (state, CPU time, QEMU stack),
    then its registers running and paused (QEMU's raw output kept beside ``raw_out``),
    named by ``vmlinux``'s symbols."""
    symbols = Symbols(vmlinux)
    out = host_threads(pid)
    out.update(qemu_stacks(pid, raw_out.with_suffix(".gdb")))
    running = sample(qmp_path, paused=False)
    out.update((f"{k}_running", v) for k, v in summary(_parsed(running), symbols).items())
    raw_out.write_text("\n\n".join(running))
    try:
        stopped = sample(qmp_path, paused=True)
    except QmpError as exc:
        out["probe_paused"] = f"QMP stop/info registers failed: {exc}"
        return out
    out.update(summary(_parsed(stopped), symbols))
    raw_out.write_text("\n\n".join([*running, "# paused", *stopped]))
    return out


def _parsed(texts: list[str]) -> list[list[VcpuState]]:
    return [parse_registers(t) for t in texts]
