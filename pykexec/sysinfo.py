"""The one seam through which pykexec reads the running system.

:class:`SystemView` reads /proc and /sys under a root directory: ``/`` on a
live machine, or a captured snapshot (``--sysroot DIR``) in tests, so that a
whole load can be planned from a fixture on any machine.  Nothing else in
pykexec opens files under /proc or /sys.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from pykexec.errors import SystemInfoError

if TYPE_CHECKING:
    from pykexec.devicetree.fdt import Node

DEVICE_TREE = "proc/device-tree"


class CpuNote(NamedTuple):
    """A CPU's crash-notes buffer (/sys/devices/system/cpu/cpuN/crash_notes)."""

    cpu: int
    address: int
    size: int


class SystemView:
    """Reads the system under ``root``; every path is given relative to it.

    A plain class of strings, not a dataclass of ``Path``: ``pykexec -e``, ``-S`` and
    ``-u`` load this module, and in the emulated guest ``dataclasses`` and ``pathlib``
    cost a third of their start-up.
    """

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = os.fspath(root)
        self._tree: Node | None = None

    def __repr__(self) -> str:
        return f"SystemView({self.root!r})"

    @property
    def live(self) -> bool:
        return os.path.abspath(self.root) == "/"

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            with open(self.path(rel), "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise SystemInfoError(f"cannot read {self.path(rel)}: {err.strerror}") from None

    def read_text(self, rel: str) -> str | None:
        data = self.read_bytes(rel)
        return None if data is None else data.decode("utf-8", "replace")

    def read_int(self, rel: str, base: int = 10) -> int | None:
        text = self.read_text(rel)
        if text is None or not text.strip():
            return None
        try:
            return int(text.split()[0], base)
        except ValueError:
            raise SystemInfoError(f"{self.path(rel)}: expected a number, found {text!r}") from None

    def device_tree(self) -> Node:
        """The running kernel's device tree (read once)."""
        if self._tree is None:
            from pathlib import Path

            from pykexec.devicetree.procfs import read_tree

            path = Path(self.path(DEVICE_TREE))
            if not path.is_dir():
                raise SystemInfoError(
                    f"no device tree at {path}: pykexec needs /proc/device-tree "
                    "(a POWER machine, or --sysroot pointing at a snapshot)"
                )
            self._tree = read_tree(path)
        return self._tree

    def dt_prop(self, node: str, name: str) -> bytes | None:
        """One property of the device tree, read without walking the whole tree."""
        return self.read_bytes(f"{DEVICE_TREE}/{node.strip('/')}/{name}")

    def cmdline(self) -> str:
        text = self.read_text("proc/cmdline")
        return "" if text is None else text.strip("\0\n ")

    def iomem(self) -> str:
        return self.read_text("proc/iomem") or ""

    def kexec_int(self, name: str, old: str) -> int | None:
        """A kexec sysfs number: /sys/kernel/kexec/NAME first (Linux 6.19's layout,
        Documentation/ABI/testing/sysfs-kernel-kexec-kdump), then /sys/kernel/OLD."""
        value = self.read_int(f"sys/kernel/kexec/{name}")
        return value if value is not None else self.read_int(f"sys/kernel/{old}")

    def kexec_loaded(self) -> bool:
        return self.kexec_int("loaded", "kexec_loaded") == 1

    def kexec_crash_loaded(self) -> bool:
        return self.kexec_int("crash_loaded", "kexec_crash_loaded") == 1

    def kexec_crash_size(self) -> int | None:
        return self.kexec_int("crash_size", "kexec_crash_size")

    def crash_elfcorehdr_size(self) -> int | None:
        return self.kexec_int("crash_elfcorehdr_size", "crash_elfcorehdr_size")

    def vmcoreinfo(self) -> tuple[int, int] | None:
        """(physical address, size) of the vmcoreinfo note, from /sys/kernel/vmcoreinfo."""
        text = self.read_text("sys/kernel/vmcoreinfo")
        if not text:
            return None
        addr, size = text.split()[:2]
        return int(addr, 16), int(size, 16)

    def possible_cpus(self) -> list[int]:
        text = self.read_text("sys/devices/system/cpu/possible")
        return parse_cpu_list(text.strip()) if text else []

    def crash_notes(self) -> list[CpuNote]:
        """Every possible CPU's crash notes (address and size), in CPU order."""
        notes = []
        for cpu in self.possible_cpus():
            base = f"sys/devices/system/cpu/cpu{cpu}"
            addr = self.read_int(f"{base}/crash_notes", 16)
            if addr is None:
                continue
            size = self.read_int(f"{base}/crash_notes_size") or 1024
            notes.append(CpuNote(cpu, addr, size))
        return notes

    def page_size(self) -> int:
        if self.live:
            return os.sysconf("SC_PAGE_SIZE")
        return 65536

    def network_interfaces(self) -> list[str]:
        try:
            return sorted(os.listdir(self.path("sys/class/net")))
        except OSError:
            return []

    def count_entries(self, rel: str, prefix: str) -> int:
        """How many entries of directory ``rel`` start with ``prefix`` (0 if none)."""
        try:
            return sum(1 for name in os.listdir(self.path(rel)) if name.startswith(prefix))
        except OSError:
            return 0

    def read_at(self, rel: str, offset: int, size: int) -> bytes:
        """``size`` bytes of ``rel`` at ``offset`` (e.g. /proc/kcore); short reads are errors."""
        try:
            fd = os.open(self.path(rel), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise SystemInfoError(f"cannot open {self.path(rel)}: {err.strerror}") from None
        try:
            chunks = []
            while size > 0:
                data = os.pread(fd, min(size, 1 << 24), offset)
                if not data:
                    raise SystemInfoError(f"{self.path(rel)}: nothing to read at {offset:#x}")
                chunks.append(data)
                offset, size = offset + len(data), size - len(data)
            return b"".join(chunks)
        except OSError as err:
            raise SystemInfoError(f"cannot read {self.path(rel)}: {err.strerror}") from None
        finally:
            os.close(fd)

    def cmdline_has(self, word: str) -> bool:
        return word in self.cmdline().split()


def parse_cpu_list(text: str) -> list[int]:
    """Parse the kernel's CPU list format (``0-3,8,10-11``)."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
