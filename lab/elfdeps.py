# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared-library closure check for the staged guest root.

Walks every ELF file under a staging root, reads its DT_NEEDED entries with
pyelftools and reports which sonames no file in the root's library
directories provides.  The dynamic loader's search path for Debian ppc64el is
the multiarch directory plus /lib64 (glibc's Debian multiarch patch), so
those directories are the only places looked in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

ELF_MAGIC = b"\x7fELF"

# Debian's ppc64el multiarch triplet and the ABI loader directory.
LIBRARY_DIRS: tuple[str, ...] = (
    "lib/powerpc64le-linux-gnu",
    "usr/lib/powerpc64le-linux-gnu",
    "lib64",
    "usr/lib64",
)


@dataclass(frozen=True)
class MissingLibrary:
    """One DT_NEEDED soname that nothing in the staging root provides."""

    soname: str
    needed_by: tuple[str, ...]


def _elf_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            if f.read(4) == ELF_MAGIC:
                yield path


def needed_sonames(path: Path) -> list[str]:
    """Return the DT_NEEDED entries of one ELF file (empty if static or unreadable)."""
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            names: list[str] = []
            for section in elf.iter_sections():
                if isinstance(section, DynamicSection):
                    # DynamicTag sets .needed dynamically for DT_NEEDED entries.
                    names.extend(
                        str(cast(Any, tag).needed) for tag in section.iter_tags("DT_NEEDED")
                    )
            return names
    except ELFError:
        return []


def _provided(root: Path) -> set[str]:
    provided: set[str] = set()
    for rel in LIBRARY_DIRS:
        directory = root / rel
        if directory.is_dir():
            provided.update(p.name for p in directory.iterdir())
    return provided


def missing_libraries(root: Path) -> list[MissingLibrary]:
    """Every soname needed by an ELF under ``root`` but absent from its library dirs."""
    provided = _provided(root)
    wanted: dict[str, list[str]] = {}
    for path in _elf_files(root):
        for soname in needed_sonames(path):
            if soname not in provided:
                wanted.setdefault(soname, []).append(str(path.relative_to(root)))
    return [MissingLibrary(name, tuple(users)) for name, users in sorted(wanted.items())]
