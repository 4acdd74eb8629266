# SPDX-License-Identifier: GPL-2.0-or-later
"""The one seam through which pykexec reads the running system.

:class:`SystemView` reads /proc and /sys under a root directory: ``/`` on a
live machine, or a captured snapshot (``--sysroot DIR``) in tests, so that a
whole load can be planned from a fixture on any machine.  Nothing else in
pykexec opens files under /proc or /sys.
"""

from __future__ import annotations

import posix  # not os: see pykexec.system.fileio (start-up)

from pykexec.errors import SystemInfoError
from pykexec.system import fileio

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)

if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path

    from pykexec.core.devicetree.tree import Node

#: How a file SystemView reads fails: a SystemInfoError with the message.
_ERROR = SystemInfoError  # fileio raises it with FILE_MESSAGES problems

DEVICE_TREE = "proc/device-tree"
#: arch/powerpc/platforms/Kconfig.cputype: NR_CPUS ranges up to 8192 on ppc64.
MAX_CPUS = 8192
U64_LIMIT = 1 << 64
DECIMAL_DIGITS = frozenset("0123456789")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def names_root(path: str) -> bool:
    """Whether ``path`` names ``/`` by its words alone (``.`` and ``..`` taken as the
    kernel takes them, relative to the working directory; symlinks not followed):
    ``os.path.abspath(path) == "/"``, but ``//`` names it too, and without os."""
    if not path.startswith("/"):
        path = posix.getcwd() + "/" + path
    depth = 0
    for word in path.split("/"):
        if word == "..":
            depth = max(depth - 1, 0)
        elif word not in ("", "."):
            depth += 1
    return depth == 0


class CpuNote:
    """A CPU's crash-notes buffer (/sys/devices/system/cpu/cpuN/crash_notes)."""

    __slots__ = ("address", "cpu", "size")

    def __init__(self, cpu: int, address: int, size: int) -> None:
        self.cpu, self.address, self.size = cpu, address, size

    def _key(self) -> tuple[int, int, int]:
        return self.cpu, self.address, self.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CpuNote) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"CpuNote({self.cpu}, {self.address:#x}, {self.size})"


class SystemView:
    """Reads the system under ``root``; every path is given relative to it.

    A plain class of strings, not a dataclass of ``Path``: ``pykexec -e``, ``-S`` and
    ``-u`` load this module, and in the emulated guest ``dataclasses`` and ``pathlib``
    cost a third of their start-up.
    """

    def __init__(self, root: str | PathLike[str] = "/") -> None:
        self.root = posix.fspath(root)
        if "\0" in self.root:  # no path can hold one: a KexecError, not open()'s ValueError
            raise SystemInfoError("nul-in-root", path=self.root)
        self._tree: Node | None = None

    def __repr__(self) -> str:
        return f"SystemView({self.root!r})"

    @property
    def live(self) -> bool:
        return names_root(self.root)

    def path(self, rel: str) -> str:
        """``rel`` under the root (os.path.join's result, without importing os)."""
        sep = "" if not self.root or self.root.endswith("/") else "/"
        return self.root + sep + rel.lstrip("/")

    def read_bytes(self, rel: str) -> bytes | None:
        """The bytes of a regular file under the root; ``None`` if it does not exist."""
        return fileio.read_regular(self.path(rel), "system file", _ERROR)

    def read_text(self, rel: str) -> str | None:
        data = self.read_bytes(rel)
        return None if data is None else data.decode("utf-8", "replace")

    def read_int(self, rel: str, base: int = 10) -> int | None:
        """The first word of the file as a non-negative number (``None`` if absent/empty)."""
        text = self.read_text(rel)
        if text is None or not text.strip():
            return None
        word = text.split()[0]
        digits = HEX_DIGITS if base == 16 else DECIMAL_DIGITS
        if base == 16 and word[:2].lower() == "0x":
            word = word[2:]
        if not word or not set(word) <= digits:
            raise SystemInfoError("not-hex" if base == 16 else "not-a-number",
                                  path=self.path(rel), text=text[:40])  # fmt: skip
        return int(word, base)

    def device_tree(self) -> Node:
        """The running kernel's device tree (read once)."""
        if self._tree is None:
            from pathlib import Path

            from pykexec.system.procfs import read_tree

            path = Path(self.path(DEVICE_TREE))
            if not path.is_dir():
                raise SystemInfoError("no-device-tree", path=str(path))
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
        rel = "sys/kernel/vmcoreinfo"
        text = self.read_text(rel)
        if not text or not text.strip():
            return None
        words = text.split()
        try:
            addr, size = (int(w, 16) for w in words[:2])
        except ValueError:
            addr = size = -1
        if len(words) < 2 or not 0 <= addr < U64_LIMIT or not 0 < size < U64_LIMIT:
            raise SystemInfoError("not-address-size", path=self.path(rel), text=text[:40])
        return addr, size

    def possible_cpus(self) -> list[int]:
        rel = "sys/devices/system/cpu/possible"
        text = self.read_text(rel)
        return parse_cpu_list(text.strip(), self.path(rel)) if text else []

    def crash_notes(self) -> list[CpuNote]:
        """Every possible CPU's crash notes (address and size), in CPU order."""
        notes = []
        for cpu in self.possible_cpus():
            base = f"sys/devices/system/cpu/cpu{cpu}"
            addr = self.read_int(f"{base}/crash_notes", 16)
            if addr is None:
                continue
            size = self.read_int(f"{base}/crash_notes_size") or 1024
            if addr >= U64_LIMIT or size >= U64_LIMIT:
                raise SystemInfoError(
                    "notes-beyond-64-bit", path=self.path(base), address=addr, size=size
                )
            notes.append(CpuNote(cpu, addr, size))
        return notes

    def kernel_end(self) -> int | None:
        """The end of the running kernel's image from /proc/iomem's "Kernel" lines."""
        return kernel_end_from_iomem(self.iomem(), self.path("proc/iomem"))

    def page_size(self) -> int:
        """The running kernel's page size; in a snapshot, what its /proc/meminfo shows
        (:func:`meminfo_page_size`), else 64 KiB."""
        if self.live:
            return posix.sysconf("SC_PAGE_SIZE")
        return meminfo_page_size(self.read_text("proc/meminfo") or "") or 65536

    def network_interfaces(self) -> list[str]:
        try:
            return sorted(posix.listdir(self.path("sys/class/net")))
        except OSError:
            return []

    def count_entries(self, rel: str, prefix: str) -> int:
        """How many entries of directory ``rel`` start with ``prefix`` (0 if none)."""
        try:
            return sum(1 for name in posix.listdir(self.path(rel)) if name.startswith(prefix))
        except OSError:
            return 0

    def read_at(self, rel: str, offset: int, size: int) -> bytes:
        """``size`` bytes of ``rel`` at ``offset`` (e.g. /proc/kcore); short reads are errors
        (:func:`pykexec.system.fileio.read_at`: a FIFO or device is never opened)."""
        return fileio.read_at(self.path(rel), "system file", _ERROR, offset, size)

    def cmdline_has(self, word: str) -> bool:
        return word in self.cmdline().split()


def parse_cpu_list(text: str, where: str = "CPU list") -> list[int]:
    """Parse the kernel's CPU list format (``0-3,8,10-11``); ids stop below :data:`MAX_CPUS`."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        lo, dash, hi = part.partition("-")
        if not lo or not set(lo + hi) <= DECIMAL_DIGITS or (dash and not hi):
            raise SystemInfoError("bad-cpu-list", path=where, text=part)
        first, last = int(lo), int(hi) if dash else int(lo)
        if not first <= last < MAX_CPUS:
            raise SystemInfoError("bad-cpu-range", path=where, text=part, limit=MAX_CPUS - 1)
        cpus.extend(range(first, last + 1))
        if len(cpus) > MAX_CPUS:
            raise SystemInfoError("too-many-cpus", path=where, limit=MAX_CPUS)
    return cpus


def kernel_end_from_iomem(iomem: str, where: str = "/proc/iomem") -> int | None:
    """The end of the running kernel's image, from /proc/iomem's "Kernel ..." lines."""
    end = None
    for line in iomem.splitlines():
        span, _, name = line.strip().partition(" : ")
        if not name.startswith("Kernel "):
            continue
        first, dash, last = span.partition("-")
        ok = dash and first and last and set(first + last) <= HEX_DIGITS
        value = int(last, 16) if ok else -1
        if not 0 <= value < U64_LIMIT:
            raise SystemInfoError("bad-iomem-line", path=where, text=line.strip()[:60])
        end = max(end or 0, value + 1)
    return end


# arch/powerpc/Kconfig "Page size" choice: CONFIG_PPC_<N>K_PAGES=y.
_CONFIG_PAGES = {b"CONFIG_PPC_4K_PAGES=y": 4096, b"CONFIG_PPC_16K_PAGES=y": 16384,
                 b"CONFIG_PPC_64K_PAGES=y": 65536, b"CONFIG_PPC_256K_PAGES=y": 262144}  # fmt: skip
_CONFIG_LIMIT = 4 << 20  # a distribution's config is ~250 KiB


def config_page_size(kernel: Path) -> int:
    """The page size in ``config-VERSION`` beside a ``vmlinux-VERSION`` (or vmlinuz-),
    as distributions install them in /boot; 0 when there is none or it does not say."""
    prefix, dash, version = kernel.name.partition("-")
    if not dash or prefix not in ("vmlinux", "vmlinuz") or not version:
        return 0
    try:
        text = fileio.read_regular(str(kernel.parent / f"config-{version}"), "kernel config",
                                   _ERROR, _CONFIG_LIMIT)  # fmt: skip
    except SystemInfoError:
        return 0
    lines = set((text or b"").splitlines())
    return next((size for line, size in _CONFIG_PAGES.items() if line in lines), 0)


# /proc/meminfo lines that count whole pages, shown in kB (fs/proc/meminfo.c
# show_val_kb: pages << (PAGE_SHIFT - 10)), so each is a multiple of the page size in kB.
_PAGE_COUNTS = ("MemTotal", "MemFree", "Buffers", "Cached", "Active", "Inactive",
                "AnonPages", "Mapped", "Shmem")  # fmt: skip


def meminfo_page_size(meminfo: str) -> int:
    """The page size (4 or 64 KiB) a /proc/meminfo was written with: 64 KiB when all of
    at least four page counts are multiples of 64 kB, 4 KiB when one is not; 0 when it
    cannot tell."""
    values = []
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        words = rest.split()
        if name in _PAGE_COUNTS and len(words) == 2 and words[1] == "kB" and words[0].isdigit():
            values.append(int(words[0]))
    if len([v for v in values if v]) < 4:
        return 0
    return 65536 if all(v % 64 == 0 for v in values) else 4096
