# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's guest program, as a lab scenario: what is counted, in which order.

One boot of the first kernel (``crashkernel=512M``) runs, per round, each of
kexec-tools (``kt``) and pykexec (``py``) through ``-l`` and ``-p`` loads (each
followed by an untimed unload with kexec-tools) of the lab's uncompressed initrd
and of the same archive compressed with gzip, zstd and xz (:mod:`bench.inputs`),
in round 0 of the first boot the reload storm (``storm`` successive ``-p`` of the
gzip initrd, per tool), then ``-S``, ``-u`` and ``-e``
with nothing loaded (``-e`` then fails fast: start-up only), pykexec's from the zipapp
and from the Debian package's layout (:data:`PACKAGE`), plus two floors
(the reader alone, ``python3 -c pass``).  The tools' order flips every round.

Every count is the timebase (``/lab/mftb``, :mod:`bench.tools`) read by a
process started right before and one started right after the command; the
reader's own cost is the ``null`` floor, subtracted later (:mod:`bench.figures`).

Then the boot hands over, with one tool: ``exec`` (``-l``, then ``-e`` into the
next kernel, whose first step reads the timebase) or ``crash`` (``-p``, then the
sysrq panic into the crash kernel, which does the same).  The timebase keeps
counting through kexec and panic, so a hand-over is a difference of two readings
in two kernels.  One per boot: only the first kernel's initramfs carries
/boot/vmlinux and /boot/initrd.img (lab/initramfs.py), so the next kernel has
nothing to load; the bench alternates the tool and the kind over its boots.

Result keys: ``b_<what>_<tool>_<n>_0`` / ``_1`` (the two readings), ``_rc``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.inputs import guest_path
from bench.tools import GUEST_PATH, PACKAGE_LAUNCHER
from lab.model import Loader, Scenario, Stage, Step

TOOLS: dict[str, str] = {"kt": Loader.KEXEC.value, "py": Loader.PYKEXEC.value}
KERNEL = "/boot/vmlinux --initrd=/boot/initrd.img"
# The compressed inputs (bench.inputs: the lab's base archive as distributions pack it):
# codec -> the suffix of its steps' keys (letters only: bench.figures.KEY).
CODECS: dict[str, str] = {"gzip": "gz", "zstd": "zst", "xz": "xz"}
STORM_CODEC = "gzip"  # the reload storm's input
LOAD_APPEND = "--append=x"  # the next kernel's command line does not matter for a load
UNLOAD = {"l": "kexec -u", "p": "kexec -p -u"}  # untimed, with kexec-tools
START_UPS = ("S", "u", "e")  # with nothing loaded: -e fails fast ("Nothing has been loaded")
# pykexec's start-ups again as the Debian package starts them (bench.tools.package_layout):
# step key suffix and command.
PACKAGE = ("deb", f"/{PACKAGE_LAUNCHER}")
FLOORS = {"null": ":", "python": "python3 -c pass"}
CRASHKERNEL = "512M"
NEXT = "console=hvc0 panic=-1 lab.scenario=$LAB_scenario"
CRASH_WORDS = "irqpoll nr_cpus=1 reset_devices"

# bm KEY CMD...: the timebase before and after CMD (output discarded) as results.
_BM = """bm() {
    k=$1; shift
    t=$(MFTB); lab_result "b_${k}_0" "$t"
    "$@" >/dev/null 2>&1; rc=$?
    t=$(MFTB); lab_result "b_${k}_1" "$t"
    lab_result "b_${k}_rc" "$rc"
}""".replace("MFTB", f"/{GUEST_PATH}")
_NOTHING_LOADED = '[ "$(cat /sys/kernel/kexec_loaded)$(cat /sys/kernel/kexec_crash_loaded)" = 00 ]'


@dataclass(frozen=True)
class BenchPlan:
    """What one bench boot measures."""

    rounds: int = 2
    kinds: tuple[str, ...] = ("l", "p")  # loads
    codecs: tuple[str, ...] = tuple(CODECS)  # the same loads of each compressed initrd
    storm: int = 0  # successive -p loads of the same files per tool, in round 0 (0: none)
    start_ups: tuple[str, ...] = START_UPS
    hand_over: str | None = "exec"  # "exec", "crash" or None (the boot ends in stage 1)
    hand_tool: str = "py"
    hand_flags: str = ""  # e.g. "-i": the purgatory skips its digest check
    first: int = 0  # which tool goes first in round 0 (index into TOOLS)
    cpus: int = 1
    mem_mib: int = 2048
    round_timeout: float = 400.0
    boot_timeout: float = 60.0  # QEMU start to userspace (33 s seen with maxmem=4T)

    def order(self, n: int) -> tuple[str, str]:
        a, b = tuple(TOOLS)
        return (a, b) if (n + self.first) % 2 == 0 else (b, a)


def kernel_args(codec: str | None) -> str:
    return KERNEL if codec is None else f"/boot/vmlinux --initrd={guest_path(codec)}"


def storm_script(plan: BenchPlan, tool: str) -> list[str]:
    """``plan.storm`` successive ``-p`` loads of the same files (a CPU-online storm), one
    reading around them all; the loop is the shell's (busybox), the same for both tools."""
    load = f"{TOOLS[tool]} -p {kernel_args(STORM_CODEC)} {LOAD_APPEND}"
    loop = f"i=0; while [ $i -lt {plan.storm} ]; do {load} || exit 1; i=$((i+1)); done"
    return [f"bm storm_{tool}_0 sh -c '{loop}'", f"{UNLOAD['p']} >/dev/null 2>&1"]


def round_script(plan: BenchPlan, n: int) -> str:
    lines = [_BM]
    for codec in (None, *plan.codecs):
        suffix = "" if codec is None else CODECS[codec]
        for kind in plan.kinds:
            for tool in plan.order(n):
                lines.append(f"bm {kind}{suffix}_{tool}_{n} {TOOLS[tool]} -{kind} "
                             f"{kernel_args(codec)} {LOAD_APPEND}")  # fmt: skip
                lines.append(f"{UNLOAD[kind]} >/dev/null 2>&1")
    if plan.storm and n == 0:
        for tool in plan.order(n):
            lines += storm_script(plan, tool)
    lines.append(f"{_NOTHING_LOADED} || return 1")
    for kind in plan.start_ups:
        for tool in plan.order(n):
            lines.append(f"bm {kind}_{tool}_{n} {TOOLS[tool]} -{kind}")
        lines.append(f"bm {kind}{PACKAGE[0]}_py_{n} {PACKAGE[1]} -{kind}")
    for name, command in FLOORS.items():
        lines.append(f"bm {name}_all_{n} {command}")
    return "\n".join(lines)


def hand_over_script(plan: BenchPlan) -> str:
    """Load with the boot's tool, read the timebase, hand over (never returns)."""
    tool = TOOLS[plan.hand_tool]
    key = f"{plan.hand_over}_{plan.hand_tool}_0"
    if plan.hand_over == "exec":
        load = f'{tool} -l {plan.hand_flags} {KERNEL} --append="{NEXT} lab.stage=2 lab.key={key}"'
        go = f"{tool} -e"
    else:
        words = f"{NEXT} {CRASH_WORDS} lab.stage=crash lab.key={key}"
        load = f'{tool} -p {plan.hand_flags} {KERNEL} --append="{words}"'
        go = "echo c > /proc/sysrq-trigger"
    return f'{load} || return 1\nt=$(/{GUEST_PATH}); lab_result b_{key}_0 "$t"\n{go}'


ARRIVED = f't=$(/{GUEST_PATH}); lab_result "b_${{LAB_key}}_1" "$t"'  # first step after it


def scenario(plan: BenchPlan) -> Scenario:
    rounds = [
        Step(f"round{n}", round_script(plan, n), timeout=plan.round_timeout, fatal=True)
        for n in range(plan.rounds)
    ]
    first = (
        Step("tbfreq", "lab_result tbfreq \"$(awk '/^timebase/ {print $3; exit}' /proc/cpuinfo)\""),
        *rounds,
    )
    stages: tuple[tuple[Stage, tuple[Step, ...]], ...] = ((Stage.FIRST, first),)
    if plan.hand_over is not None:
        go = Step("hand_over", hand_over_script(plan), timeout=plan.round_timeout, fatal=True,
                  leaves=True)  # fmt: skip
        next_stage = Stage.SECOND if plan.hand_over == "exec" else Stage.CRASH
        stages = ((Stage.FIRST, (*first, go)), (next_stage, (Step("arrived", ARRIVED),)))
    return Scenario(
        name="bench",
        description="kexec-tools and pykexec alternating, counted on the timebase under icount",
        loader=Loader.PYKEXEC,
        cpus=plan.cpus,
        mem_mib=plan.mem_mib,
        crashkernel=CRASHKERNEL,
        stages=stages,
        boot_timeout=plan.boot_timeout,
        emulation_knobs=False,  # the product as it ships
    )
