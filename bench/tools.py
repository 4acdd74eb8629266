# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest tools the bench builds on the host: the timebase reader ``/lab/mftb``.

The reader is assembled from ``bench/mftb.S`` with the cross binutils the lab
installs (``powerpc64le-linux-gnu-as``/``ld``, tools/setup-host.sh) and cached
under the lab cache by the source's digest.  It exists only in the lab's guest;
the product never builds or runs code at load time.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab.errors import AssetError
from lab.initramfs import GuestFile
from lab.paths import CacheLayout

SOURCE = Path(__file__).with_name("mftb.S")
GUEST_PATH = "lab/mftb"  # the scripts call /lab/mftb
CROSS = "powerpc64le-linux-gnu-"


def _tool(name: str) -> str:
    path = shutil.which(CROSS + name)
    if path is None:
        raise AssetError(f"{CROSS}{name} not found: run tools/setup-host.sh (binutils for ppc64le)")
    return path


def mftb_binary(layout: CacheLayout) -> bytes:
    """The static ppc64le timebase reader, built once per source digest."""
    source = SOURCE.read_bytes()
    out = layout.root / "bench" / f"mftb-{hashlib.sha256(source).hexdigest()[:16]}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            obj, exe = Path(tmp) / "mftb.o", Path(tmp) / "mftb"
            subprocess.run([_tool("as"), "-o", str(obj), str(SOURCE)], check=True)
            subprocess.run(
                [_tool("ld"), "-static", "-s", "-e", "_start", "-o", str(exe), str(obj)],
                check=True,
            )
            shutil.copyfile(exe, out)
    return out.read_bytes()


def guest_files(layout: CacheLayout) -> tuple[GuestFile, ...]:
    return (GuestFile(GUEST_PATH, mftb_binary(layout), 0o755),)
