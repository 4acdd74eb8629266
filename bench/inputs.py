# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's initramfs inputs: the lab's base archive as distributions compress it.

The lab's base archive (``lab.initramfs.base_archive``: the Debian root, Python and
its ``.pyc`` files, 51 MB of newc cpio) compressed as initramfs-tools and dracut
do: ``gzip -n -6``, ``zstd -q -3`` (the host's zstd tool) and ``xz --check=crc32``
(the kernel's xz decoder checks CRC-32 only).  Built once per base archive in the
lab cache's ``bench/`` directory; the guest gets them as ``/boot/initrd-<codec>.img``
beside the uncompressed ``/boot/initrd.img``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lab.errors import AssetError
from lab.initramfs import GuestFile, base_archive
from lab.paths import CacheLayout

#: codec -> the compressor's command line (reads stdin, writes stdout)
CODECS: dict[str, tuple[str, ...]] = {
    "gzip": ("gzip", "-n", "-6"),
    "zstd": ("zstd", "-q", "-3", "-c"),
    "xz": ("xz", "--check=crc32", "-6", "-c"),
}
GUEST_DIR = "boot"


def guest_path(codec: str) -> str:
    return f"/{GUEST_DIR}/initrd-{codec}.img"


def compressed(layout: CacheLayout, codec: str) -> Path:
    """The base archive compressed with ``codec``, built once per base archive."""
    base = base_archive(layout)
    out = layout.root / "bench" / f"{base.stem}.{codec}"
    if out.exists():
        return out
    tool = shutil.which(CODECS[codec][0])
    if tool is None:
        raise AssetError(f"{CODECS[codec][0]} not found: the bench's {codec} input needs it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(f".partial-{os.getpid()}")
    with base.open("rb") as src, partial.open("wb") as dst:
        subprocess.run([tool, *CODECS[codec][1:]], stdin=src, stdout=dst, check=True)
    partial.rename(out)
    return out


def guest_inputs(layout: CacheLayout, codecs: tuple[str, ...]) -> tuple[GuestFile, ...]:
    return tuple(
        GuestFile(guest_path(c).lstrip("/"), compressed(layout, c).read_bytes()) for c in codecs
    )
