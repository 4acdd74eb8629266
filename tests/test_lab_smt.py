# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 18 without QEMU: the QEMU 10 choice, the SMT/POWER10 scenarios, the hang probe."""

from __future__ import annotations

import re
from pathlib import Path

from lab import hangprobe, matrix
from lab.assets import missing_host_libraries, qemu_files
from lab.catalog import ALL_SCENARIOS
from lab.model import Kernel, Loader, Machine, Qemu, Stage, render
from lab.paths import CacheLayout, QemuFiles
from lab.smt_scenarios import NONMI, SECOND_THREAD, SHAPES, SMT_SCENARIOS
from lab.vm import MachineConfig

# ldd's two forms (glibc elf/ldd.bash.in): a found library, and one it cannot find.
LDD = """\tlinux-vdso.so.1 (0x00007ffd1c5f2000)
\tlibfdt.so.1 => /lib/x86_64-linux-gnu/libfdt.so.1 (0x00007f3f0c9d1000)
\tliburing.so.2 => not found
\tlibslirp.so.0 => not found
\tliburing.so.2 => not found
"""

# Two vCPUs as QEMU's HMP `info registers -a` prints them (target/ppc/cpu_init.c,
# ppc_cpu_dump_state: "NIP %016lx   LR %016lx CTR ... XER ... CPU#%d", then "MSR ...").
REGISTERS = """CPU#0
NIP c00000000012f2b0   LR c00000000012f3d4 CTR 0000000000000000 XER 0000000000000000 CPU#0
MSR 8000000000001033 HID0 0000000000000000  HF 6c000004 iidx 3 didx 3
TB 00000000 00000000 DECR 0
CPU#1
NIP 0000000000000060   LR 000000000000001c CTR 0000000000000000 XER 0000000000000000 CPU#1
MSR 8000000000001001 HID0 0000000000000000  HF 6c000004 iidx 3 didx 3
"""


def test_missing_host_libraries_from_ldd_output() -> None:
    assert missing_host_libraries(LDD) == ["libslirp.so.0", "liburing.so.2"]
    assert missing_host_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_host_qemu_needs_no_files() -> None:
    assert qemu_files(CacheLayout(Path("/nonexistent")), Qemu.HOST) is None


def test_cached_qemu_argv_and_environment(tmp_path: Path) -> None:
    files = QemuFiles(tmp_path / "qemu-system-ppc64", tmp_path / "fw", tmp_path / "libs")
    config = MachineConfig(
        kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=(), cpus=8, threads=4,
        machine=Machine.POWERNV10, qemu=files, cpu_model="POWER10", tcg_single=True,
    )  # fmt: skip
    argv = config.argv()
    assert argv[0] == str(files.binary)
    assert argv[argv.index("-L") + 1] == str(files.firmware)
    assert argv[argv.index("-M") + 1] == "powernv10"
    assert argv[argv.index("-cpu") + 1] == "POWER10"
    assert argv[argv.index("-accel") + 1] == "tcg,thread=single"
    assert argv[argv.index("-smp") + 1] == "8,cores=2,threads=4"
    env = config.env()
    assert env is not None and env["LD_LIBRARY_PATH"] == str(files.libs)
    assert not config.available()  # no binary at that path
    host = MachineConfig(kernel=tmp_path, initrd=tmp_path, cmdline=())
    assert host.argv()[0] == "qemu-system-ppc64" and "-L" not in host.argv()
    assert host.env() is None and "-cpu" not in host.argv()


def _crash_cpu(name: str) -> int:
    script = render(ALL_SCENARIOS[name])
    found = re.search(r"crash_on_cpu\.sh (\d+)", script)
    assert found is not None, name
    return int(found[1])


def test_smt_scenarios_run_on_qemu_10_in_their_shape() -> None:
    for name, s in SMT_SCENARIOS.items():
        assert s.qemu is Qemu.V10, name
        stem = name.removeprefix("reference-").rsplit("-k", 1)[0]
        shape = SHAPES[stem]
        assert (s.cpus, s.threads, s.machine) == (shape.cpus, shape.threads, shape.machine)
        assert s.loader is (Loader.KEXEC if name.startswith("reference-") else Loader.PYKEXEC)
        siblings = f"thread_siblings.sh siblings_1 {shape.cpus} {shape.threads}"
        assert siblings in render(s), name
        if s.steps(Stage.SECOND):  # kexec: the next kernel's topology too, every CPU online
            assert f"siblings_2 {shape.cpus} {shape.threads}" in render(s), name


def test_crash_lands_on_core_1() -> None:
    """First thread of core 1 (CPU ``threads``); the second-thread twins one further."""
    for name, s in SMT_SCENARIOS.items():
        if "kdump" not in name:
            continue
        cores = s.cpus // s.threads
        first = s.threads if cores > 1 else 0
        want = first + 1 if SECOND_THREAD in name else first
        assert _crash_cpu(name) == want, name


def test_known_failures_are_the_pseries_smt_crashes() -> None:
    """QEMU 10's deadlock: every pseries SMT crash, the second-thread twins included;
    powernv's second-thread crash passes with both tools (not a known failure)."""
    known = {n for n, s in ALL_SCENARIOS.items() if s.known_failure}
    pseries_smt_crashes = {
        n for n, s in SMT_SCENARIOS.items()
        if s.machine is Machine.PSERIES and s.threads > 1 and "kdump" in n
        and s.kernel is not Kernel.NONMI_61
    }  # fmt: skip
    second = {n for n in SMT_SCENARIOS if n.endswith(SECOND_THREAD)}
    assert known == pseries_smt_crashes
    assert len(second) == 4 and len(pseries_smt_crashes) == 8
    pseries_second = {
        "pseries-smt2-kdump-second-thread",
        "reference-pseries-smt2-kdump-second-thread",
    }
    assert {n for n in second if n in known} == pseries_second
    assert not any(s.tcg_single for s in ALL_SCENARIOS.values())  # an experiment's option


def test_nonmi_twins_are_the_deadlocking_crashes_on_the_nonmi_kernel() -> None:
    """Both tools, 2 x 4 first thread and 2 x 2 second thread: the same steps and crash
    CPU as the known failures they shadow, on nonmi-6.1, expected to pass."""
    nonmi = {n for n in SMT_SCENARIOS if n.endswith(NONMI)}
    assert nonmi == {
        f"{prefix}{stem}{NONMI}"
        for prefix in ("reference-", "")
        for stem in ("pseries-smt4-kdump", "pseries-smt2-kdump-second-thread")
    }
    for name in nonmi:
        s, twin = SMT_SCENARIOS[name], SMT_SCENARIOS[name.removesuffix(NONMI)]
        assert s.kernel is Kernel.NONMI_61 and twin.kernel is Kernel.DEBIAN_61
        assert twin.known_failure and not s.known_failure
        assert (s.stages, s.loader, s.cpus, s.threads) == (
            twin.stages,
            twin.loader,
            twin.cpus,
            twin.threads,
        )
        assert _crash_cpu(name) == _crash_cpu(twin.name)


def test_matrix_has_both_tools_for_every_smt_scenario() -> None:
    named = {n for c in matrix.FULL for n in c.names}
    assert set(SMT_SCENARIOS) <= named


def test_hangprobe_reads_qemu_registers() -> None:
    states = hangprobe.parse_registers(REGISTERS)
    assert [(s.cpu, s.nip, s.lr, s.msr) for s in states] == [
        (0, 0xC00000000012F2B0, 0xC00000000012F3D4, 0x8000000000001033),
        (1, 0x60, 0x1C, 0x8000000000001001),
    ]


class _Names(hangprobe.Symbols):
    """Two symbols, as a vmlinux's .symtab would give them."""

    def __init__(self) -> None:
        self._addrs = [0xC000000000000000, 0xC00000000012F2B0]
        self._names = ["_stext", "crash_ipi_callback"]


def test_hangprobe_names_addresses_and_real_mode() -> None:
    names = _Names()
    assert names.name(0xC00000000012F2B0 + 0x9C) == "crash_ipi_callback+0x9c"
    assert names.name(0x60) == "_stext+0x60"  # real mode: the kernel's linear map
    states = hangprobe.parse_registers(REGISTERS)
    out = hangprobe.summary([states, states], names)
    assert out["probe_cpu0"].startswith("nip crash_ipi_callback+0x0 lr crash_ipi_callback+0x124")
    assert out["probe_cpu0"].endswith("(virt)") and out["probe_cpu1"].endswith("(real)")
