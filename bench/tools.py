# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest tools the bench builds on the host: the timebase reader ``/lab/mftb``, and
pykexec laid out as the Debian package installs it (:func:`package_layout`).

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
from lab.initramfs import GUEST_PYC_TAG, GuestFile, host_can_compile
from lab.paths import CacheLayout
from pykexec.build import ROOT, runtime_files, unchecked_pyc

SOURCE = Path(__file__).with_name("mftb.S")
GUEST_PATH = "lab/mftb"  # the scripts call /lab/mftb
CROSS = "powerpc64le-linux-gnu-"
# The Debian package's layout (debian/rules): the modules under /usr/share/pykexec, which
# debian/launcher puts first on sys.path; the launcher itself (at /usr/sbin/pykexec in
# the package) here, beside the lab's zipapp at /usr/sbin/pykexec.
PACKAGE_MODULES = "usr/share/pykexec"
PACKAGE_LAUNCHER = "usr/lib/pykexec-deb/pykexec"
LAUNCHER_SOURCE = ROOT / "debian" / "launcher"


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


def package_layout() -> tuple[GuestFile, ...]:
    """pykexec as the .deb installs it: the launcher, the modules (``pykexec/build.py``
    aside, as debian/rules leaves it out) and their .pyc files, which the package's
    py3compile makes at install time (here unchecked-hash files for the guest's Python,
    when the host's is the same version: lab.initramfs.host_can_compile)."""
    out = [GuestFile(PACKAGE_LAUNCHER, LAUNCHER_SOURCE.read_bytes(), 0o755)]
    for rel in runtime_files(ROOT):
        if rel.suffix != ".py":
            continue
        source, guest = (ROOT / rel).read_bytes(), f"{PACKAGE_MODULES}/{rel.as_posix()}"
        out.append(GuestFile(guest, source))
        if host_can_compile():
            pyc = rel.parent / "__pycache__" / f"{rel.stem}.{GUEST_PYC_TAG}.pyc"
            out.append(GuestFile(f"{PACKAGE_MODULES}/{pyc.as_posix()}",
                                 unchecked_pyc(source, f"/{guest}")))  # fmt: skip
    return tuple(out)
