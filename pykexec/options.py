"""What a load asks for: the frozen record the CLI and the API both build."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


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
    # Test only: store a digest that cannot match, to prove the purgatory's check.
    corrupt_digest: bool = False
