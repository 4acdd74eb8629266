# SPDX-License-Identifier: GPL-2.0-or-later
"""The steps of the scenarios on a kernel without kexec_load (issue 18, item 4).

RHEL 10 builds its kernels with CONFIG_KEXEC=n and CONFIG_KEXEC_FILE=y; the lab's
:data:`lab.model.Kernel.NOKEXEC_61` (:data:`lab.krecipes.NOKEXEC`) is such a kernel.
On it (:func:`lab.file_scenarios.file_scenarios` builds the scenarios):

* pykexec's default ``-a`` loads through kexec_file_load, for ``-l`` and ``-p``,
  and its ``-d`` output names the syscall and why (:data:`PYKEXEC_AFTER_LOAD`);
* ``-c`` and ``--dtb`` fail before anything is loaded, with one line that names the
  missing syscall and the fix, and ``--dry-run`` says which syscall and why
  (:func:`pykexec_first`);
* kexec-tools' default, ``-c`` and ``-a`` are run and recorded, not judged
  (:data:`REFERENCE_FIRST`): Debian 12's 2.0.25 predates ``-a`` as the default.
"""

from __future__ import annotations

from lab.model import Step
from lab.scenarios import KERNEL_ARGS

# The first kernel is the one without kexec_load, with kexec_file_load (/proc/config.gz).
NO_KEXEC_LOAD = Step(
    "first_kernel",
    "sh /lab/steps/kexec_file_kernel.sh || return 1\n"
    "lab_result kexec_load \"$(grep -E '^(# )?CONFIG_KEXEC[= ]' /tmp/config)\"\n"
    "grep -qx '# CONFIG_KEXEC is not set' /tmp/config",
    timeout=30,
    fatal=True,
)
NOTHING_LOADED = '[ "$(cat /sys/kernel/kexec_loaded)$(cat /sys/kernel/kexec_crash_loaded)" = 00 ]'


def _refused(name: str, flags: str, fix: str) -> Step:
    """``$KEXEC flags``: must fail with one line naming kexec_load's absence and ``fix``,
    leaving nothing loaded."""
    out = f"/tmp/{name}.out"
    return Step(
        name,
        f"$KEXEC {flags} {KERNEL_ARGS} > {out} 2>&1\nrc=$?\ncat {out}\n"
        f'lab_result {name}_rc "$rc"\n'
        f"lab_result {name} \"$(tr '\\n' '|' < {out} | cut -c1-600)\"\n"
        f'[ "$rc" != 0 ] && [ "$(wc -l < {out})" = 1 ] && grep -q "no kexec_load" {out} '
        f'&& grep -q -- "{fix}" {out} && {NOTHING_LOADED}',
        timeout=60,
        fatal=True,
    )


def _dry_run(action: str) -> Step:
    """``--dry-run``: the plan's syscall line says kexec_file_load, for want of kexec_load."""
    return Step(
        "plan",
        f"$KEXEC --dry-run {action} {KERNEL_ARGS} > /tmp/plan.out 2>&1\nrc=$?\n"
        "lab_result plan_syscall \"$(grep '^syscall:' /tmp/plan.out)\"\n"
        '[ "$rc" = 0 ] && grep -q "^syscall: kexec_file_load: this kernel has no kexec_load" '
        f"/tmp/plan.out && {NOTHING_LOADED}",
        timeout=60,
        fatal=True,
    )


def pykexec_first(action: str) -> tuple[Step, ...]:
    """The first kernel's steps before pykexec's load with ``action`` (-l or -p)."""
    return (
        NO_KEXEC_LOAD,
        _refused("refuse_c", f"-c {action}", "drop -c"),
        Step("save_fdt", "cp /sys/firmware/fdt /tmp/fdt.dtb", timeout=10, fatal=True),
        _refused("refuse_dtb", f"--dtb=/tmp/fdt.dtb {action}", "drop --dtb"),
        _dry_run(action),
    )


# After pykexec -d's load (its output in /tmp/load.out): the syscall and why.
PYKEXEC_AFTER_LOAD = (
    Step(
        "load_syscall",
        "lab_result load_syscall \"$(grep '^syscall:' /tmp/load.out)\"\n"
        'grep -q "^syscall: kexec_file_load: this kernel has no kexec_load" /tmp/load.out',
        fatal=True,
    ),
)


def _tried(name: str, flags: str) -> Step:
    """kexec-tools with ``flags``: exit code and output recorded, then unloaded (-s -u)."""
    out = f"/tmp/{name}.out"
    return Step(
        name,
        f"$KEXEC {flags + ' ' if flags else ''}-l {KERNEL_ARGS} > {out} 2>&1\n"
        f'lab_result {name}_rc "$?"\nlab_result {name}_loaded "$(cat /sys/kernel/kexec_loaded)"\n'
        f"lab_result {name} \"$(tr '\\n' '|' < {out} | cut -c1-600)\"\n"
        "$KEXEC -s -u > /dev/null 2>&1\ntrue",
        timeout=60,
    )


KEXEC_TOOLS_TRIES = (("kt_default", ""), ("kt_c", "-c"), ("kt_a", "-a"))
REFERENCE_FIRST = (NO_KEXEC_LOAD, *(_tried(name, flags) for name, flags in KEXEC_TOOLS_TRIES))
