# SPDX-License-Identifier: GPL-2.0-or-later
"""What a load asks for: the frozen record the CLI and the API both build, and the
rules its fields obey among themselves, checked here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from pykexec.errors import OptionError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

ADDRESS_LIMIT = 1 << 64  # --mem-min/--mem-max are 64-bit physical addresses


class SyscallChoice(str, Enum):
    """Which system call loads the image (kexec-tools' -s, -c, -a)."""

    FILE = "file"  # -s: kexec_file_load only
    LOAD = "load"  # -c: kexec_load only
    AUTO = "auto"  # -a: kexec_file_load, falling back to kexec_load

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class LoadOptions:
    """One load: the image, its companions, and how to place and enter it."""

    kernel: Path
    initrd: Path | None = None
    command_line: str | None = None
    reuse_cmdline: bool = False
    dtb: Path | None = None
    crash: bool = False
    mem_min: int = 0
    mem_max: int | None = None
    debug: bool = False
    skip_checks: bool = False
    dt_no_old_root: bool = False
    reuse_initrd: bool = False
    hotplug: bool = False
    syscall: SyscallChoice = SyscallChoice.AUTO
    no_cma: bool = False
    force_dtb: bool = False
    # With -p: load even when the headroom estimate says it will not fit (a warning).
    ignore_headroom: bool = False


def file_syscall_obstacle(opts: LoadOptions) -> str | None:
    """Why kexec_file_load cannot do this load (the kernel builds the tree and takes the
    initrd as a file there), or None when it can."""
    if opts.dtb is not None:
        return "--dtb needs kexec_load: kexec_file_load builds the device tree in the kernel"
    if opts.reuse_initrd:
        return "--reuseinitrd needs kexec_load: kexec_file_load takes the initrd as a file"
    return None


def check(opts: LoadOptions) -> None:
    """The rules between options; raises :class:`UsageError` naming the conflict."""
    obstacle = file_syscall_obstacle(opts)
    if opts.syscall is SyscallChoice.FILE and obstacle is not None:
        culprit = "--dtb" if opts.dtb is not None else "--reuseinitrd"
        raise OptionError("file-load-obstacle", option=culprit, reason=obstacle)
    if opts.reuse_initrd and opts.initrd is not None:
        raise OptionError("reuseinitrd-with-initrd", option="--reuseinitrd")
    if opts.hotplug and not opts.crash:
        raise OptionError("hotplug-needs-crash", option="--hotplug")
    for name, value in (("--mem-min", opts.mem_min), ("--mem-max", opts.mem_max)):
        if value is not None and not 0 <= value < ADDRESS_LIMIT:
            raise OptionError("not-physical", option=name, value=value)
    if opts.mem_max is not None and opts.mem_max <= opts.mem_min:
        raise OptionError("mem-max-not-above-min", option="--mem-max", value=opts.mem_max,
                          low=opts.mem_min)  # fmt: skip
    for name, path in (("KERNEL", opts.kernel), ("--initrd", opts.initrd), ("--dtb", opts.dtb)):
        if path is not None and "\0" in str(path):
            raise OptionError("nul-in-option-path", option=name, path=str(path))
    if opts.command_line is not None and "\0" in opts.command_line:
        raise UsageError("nul-in-command-line")
