"""Kernel modules for the lean kdump payload, taken from the kernel's own .deb.

Debian's 6.1 kernel builds the virtio transport and console as modules
(CONFIG_VIRTIO=m, CONFIG_VIRTIO_PCI=m, CONFIG_VIRTIO_CONSOLE=m in its config-*
file; bookworm-backports' 6.12 builds them in), so a crash kernel that dumps
through the dump port (lab.vm.DUMP_PORT) must load them first, as a
distribution's kdump initramfs carries the modules of its dump target.  The
.ko files come out of the linux-image .deb (ar archive, data.tar.xz); their load
order follows each module's ``depends=`` in its ``.modinfo`` section (read with
pyelftools), since no depmod ran.
"""

from __future__ import annotations

import io
import lzma
import tarfile
from pathlib import Path

from elftools.elf.elffile import ELFFile

from lab.errors import AssetError

DUMP_PORT_MODULES = ("virtio_pci", "virtio_console")  # and what they depend on
AR_MAGIC = b"!<arch>\n"


def _deb_member(deb: Path, prefix: str) -> bytes:
    data = deb.read_bytes()
    if not data.startswith(AR_MAGIC):
        raise AssetError(f"{deb} is not an ar archive")
    pos = len(AR_MAGIC)
    while pos + 60 <= len(data):
        name = data[pos : pos + 16].decode().strip().rstrip("/")
        size = int(data[pos + 48 : pos + 58].decode().strip())
        if name.startswith(prefix):
            return data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
    raise AssetError(f"{deb} has no {prefix}* member")


def _modinfo(ko: bytes) -> dict[str, str]:
    elf = ELFFile(io.BytesIO(ko))
    section = elf.get_section_by_name(".modinfo")
    if section is None:
        return {}
    text = section.data().decode(errors="replace")
    return dict(f.split("=", 1) for f in text.split("\0") if "=" in f)


def modules(deb: Path, wanted: tuple[str, ...] = DUMP_PORT_MODULES) -> list[tuple[str, bytes]]:
    """``wanted`` and every module they depend on, in load order: (file name, bytes)."""
    data = _deb_member(deb, "data.tar")
    kos: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(data) if data[:6] == b"\xfd7zXZ\0"
                                          else data)) as tar:  # fmt: skip
        for member in tar:
            if member.isfile() and member.name.endswith(".ko"):
                name = member.name.rsplit("/", 1)[-1][:-3].replace("-", "_")
                f = tar.extractfile(member)
                if f is not None:
                    kos[name] = f.read()
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path or name not in kos:
            raise AssetError(f"{deb.name}: module {name} missing or in a dependency cycle")
        for dep in filter(None, _modinfo(kos[name]).get("depends", "").split(",")):
            visit(dep.replace("-", "_"), (*path, name))
        order.append(name)

    for name in wanted:
        if name in kos:
            visit(name, ())
    return [(f"{name}.ko", kos[name]) for name in order]
