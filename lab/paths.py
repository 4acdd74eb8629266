# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the lab keeps its downloaded and generated files (outside the repo)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GUEST_DIR = Path(__file__).resolve().parent / "guest"
SNAPSHOT_DIR = REPO_ROOT / "tests" / "fixtures" / "snapshots"


@dataclass(frozen=True)
class KernelFiles:
    """A guest kernel other than the staged Debian one: its vmlinux and version file."""

    vmlinux: Path
    version_file: Path


@dataclass(frozen=True)
class QemuFiles:
    """A QEMU other than the host's (lab.assets.qemu_files): its qemu-system-ppc64, the
    firmware directory it must be pointed at (-L: SLOF, VOF, skiboot) and a library
    directory for LD_LIBRARY_PATH (empty when the host provides every library)."""

    binary: Path
    firmware: Path
    libs: Path


@dataclass(frozen=True)
class CacheLayout:
    """Directory layout of the lab cache (``$PYKEXEC_LAB_CACHE``).

    ``kernel`` replaces the staged Debian kernel (what QEMU boots and what the
    payload archive carries as ``/boot/vmlinux``), e.g. ``lab.kbuild``'s.
    """

    root: Path
    kernel: KernelFiles | None = None

    def with_kernel(self, kernel: KernelFiles) -> CacheLayout:
        return dataclasses.replace(self, kernel=kernel)

    @property
    def debs(self) -> Path:
        return self.root / "debs"

    @property
    def staging(self) -> Path:
        """Extracted user-space packages (the guest root before busybox and /init)."""
        return self.root / "root"

    @property
    def kernel_dir(self) -> Path:
        return self.root / "kernel"

    @property
    def vmlinux(self) -> Path:
        return self.kernel.vmlinux if self.kernel else self.kernel_dir / "vmlinux"

    @property
    def kernel_version_file(self) -> Path:
        return self.kernel.version_file if self.kernel else self.kernel_dir / "version"

    @property
    def stamp(self) -> Path:
        """Written last by ``setup``: its presence means the assets are complete."""
        return self.root / "setup.done"

    @property
    def initramfs(self) -> Path:
        return self.root / "initramfs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def kernel_version(self) -> str:
        return self.kernel_version_file.read_text().strip()

    def ready(self) -> bool:
        return self.stamp.is_file() and self.vmlinux.is_file()


def cache() -> CacheLayout:
    """The cache named by ``PYKEXEC_LAB_CACHE``, default ``~/.cache/pykexec-lab``."""
    env = os.environ.get("PYKEXEC_LAB_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "pykexec-lab"
    return CacheLayout(root)
