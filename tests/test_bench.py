# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's pieces that need no guest: the timebase reader under qemu-user, the
guest script under a POSIX shell, the arithmetic from readings to instructions,
and the QEMU arguments for the instruction-count clock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.figures import KEY, BenchError, Samples, collect, table
from bench.plan import PACKAGE, TOOLS, BenchPlan, hand_over_script, round_script, scenario
from bench.tools import mftb_binary
from lab.model import render
from lab.paths import CacheLayout
from lab.vm import ICOUNT_ARGS, MachineConfig

QEMU_USER = shutil.which("qemu-ppc64le")
OBJDUMP = shutil.which("powerpc64le-linux-gnu-objdump")
needs_cross = pytest.mark.skipif(
    QEMU_USER is None or shutil.which("powerpc64le-linux-gnu-as") is None,
    reason="qemu-ppc64le and binutils for ppc64le (tools/setup-host.sh)",
)


@pytest.fixture(scope="module")
def mftb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    path = root / "mftb"
    path.write_bytes(mftb_binary(CacheLayout(root=root)))
    path.chmod(0o755)
    return path


@needs_cross
def test_mftb_prints_a_rising_timebase(mftb: Path) -> None:
    assert QEMU_USER is not None
    readings = []
    for _ in range(2):
        run = subprocess.run([QEMU_USER, str(mftb)], capture_output=True, check=True)
        assert run.stdout.endswith(b"\n") and run.stdout[:-1].isdigit(), run.stdout
        readings.append(int(run.stdout))
    assert 0 < readings[0] < readings[1]


@needs_cross
@pytest.mark.skipif(OBJDUMP is None, reason="objdump for ppc64le")
def test_mftb_reads_the_timebase_and_only_writes_and_exits(mftb: Path) -> None:
    assert OBJDUMP is not None
    text = subprocess.run([OBJDUMP, "-d", str(mftb)], capture_output=True, text=True, check=True)
    mnemonics = [line.split("\t")[2].split()[0] for line in text.stdout.splitlines()
                 if line.count("\t") >= 2]  # fmt: skip
    assert mnemonics[0] == "mftb"
    assert mnemonics.count("sc") == 2


def _shell() -> str:
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell is not None
    return shell


@pytest.mark.parametrize("hand_over", ["exec", "crash", None])
def test_guest_script_parses(tmp_path: Path, hand_over: str | None) -> None:
    script = tmp_path / "scenario.sh"
    script.write_text(render(scenario(BenchPlan(rounds=2, hand_over=hand_over))))
    subprocess.run([_shell(), "-n", str(script)], check=True)


def test_round_runs_every_tool_and_kind_with_readings_the_figures_parse(tmp_path: Path) -> None:
    """Run a round under the host's shell, the tools and the reader replaced by stubs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    counter = tmp_path / "tb"
    counter.write_text("100")
    for name in (*TOOLS.values(), "python3", "pykexec-deb"):
        stub = bin_dir / name
        rc = 1 if name == TOOLS["kt"] else 2
        stub.write_text(  # each command costs 1024 ticks
            f'#!/bin/sh\necho "{name} $*" >> {log}\n'
            f"n=$(cat {counter}); echo $((n + 1024)) > {counter}\n"
            f'case "$*" in -e) exit {rc};; esac\n'
        )
        stub.chmod(0o755)
    reader = bin_dir / "mftb"
    reader.write_text(f"#!/bin/sh\nn=$(cat {counter}); echo $((n + 512)) > {counter}; echo $n\n")
    reader.chmod(0o755)
    plan = BenchPlan(rounds=1)
    body = round_script(plan, 1).replace("/lab/mftb", str(reader))
    body = body.replace(PACKAGE[1], str(bin_dir / "pykexec-deb"))
    body = body.replace('[ "$(cat /sys/kernel/kexec_loaded)$(cat /sys/kernel/kexec_crash_loaded)"'
                        ' = 00 ] || return 1', ":")  # fmt: skip
    shell = f'lab_result() {{ echo "$1=$2"; }}\nf() {{\n{body}\n}}\nf\n'
    out = subprocess.run([_shell(), "-c", shell], capture_output=True, text=True, check=True,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"})  # fmt: skip
    results = dict(line.split("=", 1) for line in out.stdout.splitlines())
    calls = log.read_text().splitlines()
    # round 1 starts with pykexec (the order flips every round)
    assert calls[0].startswith("pykexec -l ") and calls[1] == "kexec -u"
    loads = [
        f"{tool} -{kind} /boot/vmlinux --initrd=/boot/initrd{codec}.img"
        for codec in ("", "-gzip", "-zstd", "-xz")
        for kind in "lp"
        for tool in ("pykexec", "kexec")
    ]
    unloads = {"l": "kexec -u", "p": "kexec -p -u"}
    expected = [c for load in loads for c in (load, unloads[load.split()[1][1]])]
    assert [" ".join(c.split()[:4]) for c in calls if not c.startswith("python3")] == [
        *expected,
        "pykexec -S", "kexec -S", "pykexec-deb -S", "pykexec -u", "kexec -u", "pykexec-deb -u",
        "pykexec -e", "kexec -e", "pykexec-deb -e",
    ]  # fmt: skip
    assert calls[-1] == "python3 -c pass"
    assert all(KEY.match(k) for k in results if k.startswith("b_") and not k.endswith("_rc"))
    samples: dict[str, Samples] = {}
    collect({**results, "tbfreq": "512000000"}, {}, samples)
    # a reading costs 512 ticks (the null floor), a command 1024 more: 2000 instructions
    assert samples["null"].counts["all"] == [512 * 1e9 / 512e6]
    assert samples["l"].counts == {"py": [2000.0], "kt": [2000.0]}
    assert samples["e"].counts == {"py": [2000.0], "kt": [2000.0]}
    assert samples["edeb"].counts == {"py": [2000.0]}
    assert sorted(samples) == ["S", "Sdeb", "e", "edeb", "l", "lgz", "lxz", "lzst", "null", "p",
                               "pgz", "pxz", "python", "pzst", "u", "udeb"]  # fmt: skip


def test_the_storm_is_successive_crash_loads_of_the_gzip_initrd() -> None:
    """Round 0 of a plan with a storm: one reading around N -p loads per tool."""
    script = round_script(BenchPlan(rounds=1, storm=64), 0)
    for tool in TOOLS.values():
        assert (f"while [ $i -lt 64 ]; do {tool} -p /boot/vmlinux "
                f"--initrd=/boot/initrd-gzip.img --append=x || exit 1") in script  # fmt: skip
    assert script.count("bm storm_") == 2
    assert "bm storm_" not in round_script(BenchPlan(rounds=2, storm=64), 1)


def test_counts_are_ticks_over_frequency_net_of_the_floor() -> None:
    results = {"tbfreq": "500000000"}
    readings = {
        "null_all_0": (0, 100),
        "l_kt_0": (1000, 3_001_000),
        "l_py_0": (5_000_000, 6_000_100),
        "exec_py_0": (10_000_000, 12_000_000),
    }
    for key, (t0, t1) in readings.items():
        results[f"b_{key}_0"], results[f"b_{key}_1"] = str(t0), str(t1)
        if not key.startswith("exec"):
            results[f"b_{key}_rc"] = "0"
    samples: dict[str, Samples] = {}
    collect(results, {"b_l_kt_0_0": 1.0, "b_l_kt_0_1": 3.5}, samples)
    assert samples["l"].counts == {"kt": [(3_000_000 - 100) * 2.0], "py": [1_000_000 * 2.0]}
    assert samples["l"].wall == {"kt": [2.5]}
    assert samples["exec"].counts == {"py": [2_000_000 * 2.0]}  # across a jump: no floor taken
    line = next(t for t in table(samples) if t.startswith("-l load"))
    assert "0.33" in line  # 2e6 / 5_999_800


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [("b_l_py_0_rc", "1", "exit-code"), ("b_e_kt_0_rc", "0", "exit-code"),
     ("b_l_py_0_1", None, "unfinished"), ("tbfreq", None, "no-timebase")],
)  # fmt: skip
def test_bad_readings_are_refused(key: str, value: str | None, problem: str) -> None:
    results = {"tbfreq": "512000000", "b_l_py_0_0": "1", "b_l_py_0_1": "2", "b_l_py_0_rc": "0",
               "b_e_kt_0_0": "1", "b_e_kt_0_1": "2", "b_e_kt_0_rc": "1"}  # fmt: skip
    if value is None:
        del results[key]
    else:
        results[key] = value
    with pytest.raises(BenchError) as err:
        collect(results, {}, {})
    assert err.value.problem == problem


def test_hand_over_reads_the_timebase_after_the_load_and_before_the_jump() -> None:
    for what, go in (("exec", "pykexec -e"), ("crash", "echo c > /proc/sysrq-trigger")):
        lines = hand_over_script(BenchPlan(hand_over=what, hand_tool="py")).splitlines()
        assert lines[0].startswith(f"pykexec -{'l' if what == 'exec' else 'p'} ")
        assert f"lab.key={what}_py_0" in lines[0]
        assert lines[1].startswith("t=$(/lab/mftb)") and lines[2] == go


def test_icount_and_hotplug_memory_arguments(tmp_path: Path) -> None:
    config = MachineConfig(kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=(),
                           mem_mib=2048, icount=True, maxmem="4T")  # fmt: skip
    argv = config.argv()
    i = argv.index(ICOUNT_ARGS[0])
    assert argv[i : i + 2] == list(ICOUNT_ARGS) and ICOUNT_ARGS[1].startswith("shift=0,")
    assert argv[argv.index("-m") + 1] == "2048M,slots=4,maxmem=4T"
    plain = MachineConfig(kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=()).argv()
    assert ICOUNT_ARGS[0] not in plain and plain[plain.index("-m") + 1] == "1024M"
