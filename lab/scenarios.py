"""Lab scenarios, declared as data, and their rendering into the guest's scenario.sh.

A scenario is a machine (CPUs, memory, crashkernel reservation), a loader
(``kexec`` from kexec-tools or ``pykexec``) and, per boot stage (``1`` for the
first kernel, ``2`` after kexec, ``crash`` in the kdump kernel), a list of
steps.  Each step is a busybox-sh snippet run between ``LAB-BEGIN``/``LAB-END``
markers; ``$KEXEC`` names the loader and ``$LAB_<key>`` holds every
``lab.<key>=`` word of the kernel command line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum

_SH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Loader(StrEnum):
    """Which program loads the next kernel inside the guest."""

    KEXEC = "kexec"  # kexec-tools, the reference
    PYKEXEC = "pykexec"


class Stage(StrEnum):
    """Boot stage, passed to the guest as ``lab.stage=``."""

    FIRST = "1"
    SECOND = "2"
    CRASH = "crash"


@dataclass(frozen=True)
class Step:
    """One guest step; ``fatal`` stops the stage on failure, ``leaves`` never returns."""

    name: str
    script: str
    timeout: float = 60.0
    fatal: bool = False
    leaves: bool = False  # hands over to another kernel (kexec -e, sysrq crash)

    def __post_init__(self) -> None:
        if not _SH_NAME.fullmatch(self.name):
            raise ValueError(f"step name {self.name!r} must be a shell identifier")


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

    def steps(self, stage: Stage) -> tuple[Step, ...]:
        return dict(self.stages).get(stage, ())

    def with_overrides(self, *, loader: Loader | None = None, cpus: int | None = None) -> Scenario:
        return dataclasses.replace(
            self, loader=loader or self.loader, cpus=cpus if cpus is not None else self.cpus
        )


# Words every next kernel gets, on top of the lab.* words the steps add.
NEXT_CMDLINE = "console=hvc0 panic=-1 lab.scenario=$LAB_scenario"
CRASH_CMDLINE = f"{NEXT_CMDLINE} irqpoll nr_cpus=1 reset_devices"

_KEXEC_STAGE1 = (
    Step(
        "load",
        'lab_result loader "$(command -v "$KEXEC")"\n'
        "$KEXEC -l /boot/vmlinux --initrd=/boot/initrd.img "
        f'--append="{NEXT_CMDLINE} lab.stage=2 lab.marker=$LAB_marker lab.cpus=$LAB_cpus"\n'
        'rc=$?\nlab_result kexec_loaded "$(cat /sys/kernel/kexec_loaded)"\nreturn $rc',
        timeout=120,
        fatal=True,
    ),
    Step("exec", "$KEXEC -e", timeout=60, fatal=True, leaves=True),
)

_KEXEC_STAGE2 = (
    Step("marker", 'lab_result marker "$LAB_marker"\n[ -n "$LAB_marker" ]'),
    Step(
        "cpus",
        'online=$(cat /sys/devices/system/cpu/online)\nlab_result cpus_online "$online"\n'
        'lab_result nproc "$(nproc)"\n[ "$(nproc)" = "$LAB_cpus" ]',
    ),
)

_KDUMP_STAGE1 = (
    Step(
        "load",
        'lab_result loader "$(command -v "$KEXEC")"\n'
        "$KEXEC -p /boot/vmlinux --initrd=/boot/initrd.img "
        f'--append="{CRASH_CMDLINE} lab.stage=crash lab.nonce=$LAB_nonce lab.fill=$LAB_fill"\n'
        'rc=$?\nlab_result kexec_crash_loaded "$(cat /sys/kernel/kexec_crash_loaded)"\n'
        "return $rc",
        timeout=120,
        fatal=True,
    ),
    Step(
        "loaded",
        '[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ]',
        fatal=True,
    ),
    Step(
        "fill",
        'python3 /lab/fill.py "$LAB_nonce" "$LAB_fill" /tmp/filled &\n'
        "n=0\nwhile [ ! -s /tmp/filled ] && [ $n -lt 600 ]; do sleep 0.2; n=$((n+1)); done\n"
        'lab_result filled "$(cat /tmp/filled 2>/dev/null)"\n[ -s /tmp/filled ]',
        timeout=120,
        fatal=True,
    ),
    Step("crash", "echo c > /proc/sysrq-trigger", timeout=60, fatal=True, leaves=True),
)

_KDUMP_CRASH = (
    Step("vmcore", 'python3 /lab/vmcore_check.py "$LAB_nonce" "$LAB_fill"', timeout=600),
    Step(
        "cat_vmcore",
        "cat /proc/vmcore > /dev/null",
        timeout=600,
    ),
    Step(
        "makedumpfile",
        "makedumpfile -d 31 /proc/vmcore /tmp/dump\nrc=$?\n"
        'lab_result dump_bytes "$(wc -c < /tmp/dump 2>/dev/null)"\nreturn $rc',
        timeout=600,
    ),
)


def _kexec(name: str, loader: Loader, cpus: int) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} -l + -e into a second kernel; marker and {cpus} CPUs online",
        loader=loader,
        cpus=cpus,
        mem_mib=1024,
        stages=((Stage.FIRST, _KEXEC_STAGE1), (Stage.SECOND, _KEXEC_STAGE2)),
    )


def _kdump(name: str, loader: Loader) -> Scenario:
    return Scenario(
        name=name,
        description=f"{loader} -p, sysrq crash, vmcore has the nonce, makedumpfile -d 31",
        loader=loader,
        cpus=1,
        mem_mib=2048,
        crashkernel="512M",
        stages=((Stage.FIRST, _KDUMP_STAGE1), (Stage.CRASH, _KDUMP_CRASH)),
    )


def shell_scenario(command: str, *, cpus: int = 1, mem_mib: int = 1024) -> Scenario:
    """An ad-hoc scenario that runs one command in the first kernel (debugging)."""
    return Scenario(
        name="shell-cmd",
        description="run an ad-hoc command",
        loader=Loader.KEXEC,
        cpus=cpus,
        mem_mib=mem_mib,
        stages=((Stage.FIRST, (Step("cmd", command, timeout=600),)),),
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _kexec("reference-kexec", Loader.KEXEC, 1),
        _kdump("reference-kdump", Loader.KEXEC),
        _kexec("kexec", Loader.PYKEXEC, 1),
        _kdump("kdump", Loader.PYKEXEC),
    )
}


def render(scenario: Scenario) -> str:
    """The guest's /lab/scenario.sh: loader variable, step functions, stage functions."""
    lines = [f"# scenario {scenario.name}: {scenario.description}", f"KEXEC={scenario.loader}"]
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
