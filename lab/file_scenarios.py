# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenarios of kexec_file_load(2), on the lab's own KEXEC_FILE kernel (:mod:`lab.kbuild`).

Debian's ppc64el kernel has no ``CONFIG_KEXEC_FILE``, so these scenarios boot
the kernel ``python3 -m lab build-kernel`` makes, both as the first kernel
(QEMU ``-kernel``) and as the next one (the payload's ``/boot/vmlinux``):
their ``kernel`` field says so (:data:`lab.model.Kernel.KEXEC_FILE_61`), and
:func:`lab.assets.kernel_layout` builds it on demand.

* ``reference-file-kexec``: kexec-tools ``kexec -s -l`` + ``-e`` (proves the lab);
* ``file-kexec`` / ``file-kexec-auto``: ``pykexec -s -l`` / ``pykexec -d -l``
  (``-a``, the default) + ``-e``: the second kernel echoes the marker;
* ``file-kdump`` / ``file-kdump-auto``: ``pykexec -s -p`` / ``-d -p``, sysrq
  crash, the memory facts and vmcore checks of ``kdump``.

Every load step also proves the file syscall did the load: with ``-a`` the
``-d`` output must not carry pykexec's fallback note, and the first kernel
must be the KEXEC_FILE one (``/proc/config.gz``).
"""

from __future__ import annotations

from lab.model import Kernel
from lab.scenarios import (  # the kdump scenario's steps, shared as they are
    CRASH_APPEND,
    EXEC,
    FALLBACK_NOTE,
    FILL,
    KDUMP_CRASH,
    KERNEL_ARGS,
    LOW64K,
    MEMMAP,
    NEXT_APPEND,
    SYSRQ_CRASH,
    VMCOREDMESG,
    Loader,
    Scenario,
    Stage,
    Step,
)

KEXEC_MEM_MIB = 1024
KDUMP_MEM_MIB = 2048
CRASHKERNEL = "512M"

# Step names are shell function names shared by all stages: keep them unique.
_KERNEL = Step("first_kernel", "sh /lab/steps/kexec_file_kernel.sh", timeout=30, fatal=True)


def _load(flags: str, loaded_file: str, append: str) -> Step:
    """``$KEXEC <flags>``; fails on a nonzero exit, on nothing loaded, on the fallback note."""
    return Step(
        "load",
        'lab_result loader "$(command -v "$KEXEC")"\n'
        f'lab_result load_flags "{flags}"\n'
        f"$KEXEC {flags} {KERNEL_ARGS} {append} > /tmp/load.out 2>&1\n"
        "rc=$?\ncat /tmp/load.out\n"
        f'loaded="$(cat {loaded_file})"\nlab_result loaded "$loaded"\n'
        f'if grep -q "{FALLBACK_NOTE}" /tmp/load.out; then lab_result fallback yes; return 1; fi\n'
        'lab_result fallback no\n[ $rc = 0 ] && [ "$loaded" = 1 ]',
        timeout=120,
        fatal=True,
    )


_SECOND = (
    Step("marker", 'lab_result marker "$LAB_marker"\n[ -n "$LAB_marker" ]'),
    Step(
        "next_kernel",
        'lab_result next_kernel "$(uname -r)"\n'
        "zcat /proc/config.gz | grep -q '^CONFIG_KEXEC_FILE=y'",
    ),
)


def _kexec(
    name: str,
    loader: Loader,
    flags: str,
    kernel: Kernel = Kernel.KEXEC_FILE_61,
    before: tuple[Step, ...] = (_KERNEL,),
    after: tuple[Step, ...] = (),
) -> Scenario:
    load = _load(flags, "/sys/kernel/kexec_loaded", NEXT_APPEND)
    return Scenario(
        name=name,
        description=f"{kernel} kernel: {loader} {flags} + -e; marker in the second kernel",
        loader=loader,
        cpus=1,
        mem_mib=KEXEC_MEM_MIB,
        kernel=kernel,
        stages=((Stage.FIRST, (*before, load, *after, EXEC)), (Stage.SECOND, _SECOND)),
    )


def _kdump(
    name: str,
    loader: Loader,
    flags: str,
    kernel: Kernel = Kernel.KEXEC_FILE_61,
    before: tuple[Step, ...] = (_KERNEL,),
    after: tuple[Step, ...] = (),
    crash_extra: tuple[Step, ...] = (),
) -> Scenario:
    load = _load(flags, "/sys/kernel/kexec_crash_loaded", CRASH_APPEND)
    return Scenario(
        name=name,
        description=f"{kernel} kernel: {loader} {flags}, sysrq crash, vmcore checks",
        loader=loader,
        cpus=1,
        mem_mib=KDUMP_MEM_MIB,
        crashkernel=CRASHKERNEL,
        kernel=kernel,
        stages=(
            (Stage.FIRST, (*before, MEMMAP, load, *after, FILL, LOW64K, SYSRQ_CRASH)),
            (Stage.CRASH, KDUMP_CRASH + crash_extra),
        ),
    )


def file_scenarios() -> list[Scenario]:
    """The scenarios of the file syscall, on the KEXEC_FILE kernel and on the one
    without kexec_load (:mod:`lab.nokexec`)."""
    from lab import nokexec

    no_load = Kernel.NOKEXEC_61
    return [
        _kexec("reference-file-kexec", Loader.KEXEC, "-s -l"),
        _kexec("file-kexec", Loader.PYKEXEC, "-s -l"),
        _kexec("file-kexec-auto", Loader.PYKEXEC, "-d -l"),  # -a is the default
        # issue 19: vmcore-dmesg on the KEXEC_FILE kernel's vmcore, both tools compared
        _kdump("file-kdump", Loader.PYKEXEC, "-s -p", crash_extra=VMCOREDMESG),
        _kdump("file-kdump-auto", Loader.PYKEXEC, "-d -p"),
        # kexec-tools 2.0.25 (Debian 12) loads with kexec_load unless told -s: its
        # default, -c and -a are recorded (nokexec.KEXEC_TOOLS_TRIES), then -s loads.
        _kexec("reference-nokexec-kexec", Loader.KEXEC, "-s -l", no_load, nokexec.REFERENCE_FIRST),
        _kexec(
            "nokexec-kexec",
            Loader.PYKEXEC,
            "-d -l",
            no_load,
            nokexec.pykexec_first("-l"),
            nokexec.PYKEXEC_AFTER_LOAD,
        ),
        _kdump("reference-nokexec-kdump", Loader.KEXEC, "-s -p", no_load, (nokexec.NO_KEXEC_LOAD,)),
        _kdump(
            "nokexec-kdump",
            Loader.PYKEXEC,
            "-d -p",
            no_load,
            nokexec.pykexec_first("-p"),
            nokexec.PYKEXEC_AFTER_LOAD,
        ),
    ]


FILE_SCENARIOS: dict[str, Scenario] = {s.name: s for s in file_scenarios()}
