# SPDX-License-Identifier: GPL-2.0-or-later
"""What the lab knows about each of its kernels (:class:`lab.model.Kernel`), as data.

Where a kernel comes from is :mod:`lab.assets`' business (download or build);
this module holds the facts scenarios depend on: page size, byte order, whether
the kernel updates a loaded crash image on CPU/memory hotplug, and whether the
guest's makedumpfile can filter its vmcore.  :func:`for_kernel` adapts a
scenario's steps to them (today: the makedumpfile step on a kernel it does not
support records why it was skipped instead of failing the run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lab.model import Kernel, Scenario, Step

MAKEDUMPFILE = "makedumpfile"  # the step name of the kdump checks' makedumpfile run


@dataclass(frozen=True)
class KernelFacts:
    """One lab kernel's properties (each from its config or a lab run, named beside it)."""

    release: str  # major.minor
    page_kib: int  # CONFIG_PPC_4K_PAGES / CONFIG_PPC_64K_PAGES
    big_endian: bool = False  # CONFIG_CPU_BIG_ENDIAN
    crash_hotplug: bool = False  # CONFIG_CRASH_HOTPLUG (Linux >= 6.10 on powerpc)
    kexec_file: bool = False  # CONFIG_KEXEC_FILE
    kexec_load: bool = True  # CONFIG_KEXEC (RHEL 10 kernels: kexec_file_load only)
    makedumpfile_skip: str | None = None  # why the guest's makedumpfile cannot run on it


# Debian 12's makedumpfile 1.7.2 (no newer one in bookworm-backports: `apt-cache policy
# makedumpfile` against it lists bookworm's 1:1.7.2-1 only) on a 6.12 vmcore, with
# kexec-tools as with pykexec (lab run reference-kdump --kernel bpo-6.12):
# "The kernel version is not supported." then "readpage_elf: Attempt to read
# non-existent page at 0xc000000000000." / "Can't read the buffer of struct page".
# The lean kdump payload carries trixie's makedumpfile 1.7.6 instead, which reads these
# vmcores (needs_newer_makedumpfile; lab run reference-kdump-lean --kernel bpo-6.12:
# "makedumpfile Completed", the nonce in the dump).
_MAKEDUMPFILE_612 = (
    "makedumpfile 1.7.2 (Debian 12; bookworm-backports has none newer) does not support "
    "Linux 6.12: 'Can't read the buffer of struct page' (kdump-lean runs trixie's 1.7.6)"
)

KERNEL_FACTS: dict[Kernel, KernelFacts] = {
    Kernel.DEBIAN_61: KernelFacts("6.1", 64),
    Kernel.BPO_612: KernelFacts("6.12", 4, crash_hotplug=True, makedumpfile_skip=_MAKEDUMPFILE_612),
    Kernel.BPO_612_64K: KernelFacts(
        "6.12", 64, crash_hotplug=True, makedumpfile_skip=_MAKEDUMPFILE_612
    ),
    Kernel.KEXEC_FILE_61: KernelFacts("6.1", 64, kexec_file=True),
    Kernel.BE_61: KernelFacts("6.1", 64, big_endian=True),
    Kernel.NOKEXEC_61: KernelFacts("6.1", 64, kexec_file=True, kexec_load=False),
    Kernel.MEASURED_61: KernelFacts("6.1", 64, kexec_file=True),
    Kernel.NONMI_61: KernelFacts("6.1", 64, kexec_file=True),
    Kernel.NONMI_612: KernelFacts(
        "6.12", 64, crash_hotplug=True, kexec_file=True, makedumpfile_skip=_MAKEDUMPFILE_612
    ),
}


def _skipped(step: Step, why: str) -> Step:
    return dataclasses.replace(
        step, script=f'lab_result {step.name}_skipped "{why}"', fatal=False, leaves=False
    )


def needs_newer_makedumpfile(scenario: Scenario) -> bool:
    """Whether the guest's makedumpfile cannot read this kernel's vmcore, so that the
    lean kdump payload carries trixie's (lab.assets.newer_makedumpfile) instead."""
    return KERNEL_FACTS[scenario.kernel].makedumpfile_skip is not None


def _runs_makedumpfile(step: Step) -> bool:
    """The makedumpfile step, and the steps named after it that run it too."""
    return step.name == MAKEDUMPFILE or step.name.startswith(MAKEDUMPFILE + "_")


def for_kernel(scenario: Scenario) -> Scenario:
    """``scenario`` with the steps its kernel cannot run replaced by a recorded skip."""
    why = KERNEL_FACTS[scenario.kernel].makedumpfile_skip
    if why is None:
        return scenario
    stages = tuple(
        (stage, tuple(_skipped(s, why) if _runs_makedumpfile(s) else s for s in steps))
        for stage, steps in scenario.stages
    )
    return dataclasses.replace(scenario, stages=stages)
