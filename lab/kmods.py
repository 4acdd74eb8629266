# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel modules for the lean kdump payload, taken from the kernel's own .deb.

Debian's 6.1 kernel builds the virtio transport and console as modules
(CONFIG_VIRTIO=m, CONFIG_VIRTIO_PCI=m, CONFIG_VIRTIO_CONSOLE=m in its config-*
file; bookworm-backports' 6.12 builds them in), so a crash kernel that dumps
through the dump port (lab.vm.DUMP_PORT) must load them first, as a
distribution's kdump initramfs carries the modules of its dump target.  The
.ko files come out of the linux-image .deb (``dpkg-deb --fsys-tarfile``); their load
order follows each module's ``depends=`` in its ``.modinfo`` section (read with
pyelftools), since no depmod ran.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from elftools.elf.elffile import ELFFile

from lab.errors import AssetError

DUMP_PORT_MODULES = ("virtio_pci", "virtio_console")  # and what they depend on


def _data_tar(deb: Path) -> bytes:
    """The .deb's file system as a tar stream, read by dpkg-deb as lab.assets reads debs."""
    done = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise AssetError(f"dpkg-deb --fsys-tarfile {deb}: {done.stderr.decode()[-500:]}")
    return done.stdout


def _modinfo(ko: bytes) -> dict[str, str]:
    elf = ELFFile(io.BytesIO(ko))
    section = elf.get_section_by_name(".modinfo")
    if section is None:
        return {}
    text = section.data().decode(errors="replace")
    return dict(f.split("=", 1) for f in text.split("\0") if "=" in f)


def modules(deb: Path, wanted: tuple[str, ...] = DUMP_PORT_MODULES) -> list[tuple[str, bytes]]:
    """``wanted`` and every module they depend on, in load order: (file name, bytes)."""
    kos: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(_data_tar(deb))) as tar:
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
