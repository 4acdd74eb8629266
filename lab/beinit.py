# SPDX-License-Identifier: GPL-2.0-or-later
"""The big-endian kernel's initramfs: a static ppc64 (big-endian) /init and /dev/console.

``lab/be/init.c`` is cross-compiled on the host with ``powerpc64-linux-gnu-gcc
-static`` (glibc from ``libc6-dev-ppc64-cross``) and packed as a newc archive
with ``/dev/console`` (the kernel opens it for init's stdio) and ``/proc``.
Both are cached under ``<cache>/kbuild/`` keyed by the source, the compiler and
this module's format; nothing is compiled at run time in the product.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

from lab.cpio import NewcWriter
from lab.errors import LabError

SOURCE = Path(__file__).resolve().parent / "be" / "init.c"
CC = "powerpc64-linux-gnu-gcc"
CFLAGS = ("-static", "-O2", "-Wall", "-Werror", "-s")
HOST_PACKAGES = ("gcc-powerpc64-linux-gnu", "libc6-dev-ppc64-cross")
FORMAT = "1"  # bumped when the archive layout below changes
CONSOLE_DEV = (5, 1)  # Documentation/admin-guide/devices.txt: /dev/console
EM_PPC64, ELFDATA2MSB = 21, 2  # ELF gABI: e_machine, e_ident[EI_DATA]


class BeInitError(LabError):
    """The big-endian init could not be built; the message says why and what to install."""


def _cc(*argv: str) -> str:
    try:
        done = subprocess.run([CC, *argv], text=True, capture_output=True, check=False)
    except FileNotFoundError:
        raise BeInitError(f"{CC} not found: apt-get install {' '.join(HOST_PACKAGES)}") from None
    if done.returncode != 0:
        raise BeInitError(f"{CC} {' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def check_binary(data: bytes) -> None:
    """Raise unless ``data`` is a big-endian ELF64 for PowerPC64."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != ELFDATA2MSB:
        raise BeInitError(
            f"{CC} made no big-endian ELF64 ({data[:8].hex()})", problem="not-be-elf64"
        )
    if int.from_bytes(data[18:20], "big") != EM_PPC64:
        raise BeInitError("the big-endian init is not EM_PPC64")


def archive(init: bytes) -> bytes:
    """The newc archive: /init, /dev/console, /proc."""
    out = io.BytesIO()
    w = NewcWriter(out)
    for d in ("dev", "proc"):
        w.directory(d)
    w.chardev("dev/console", *CONSOLE_DEV)
    w.file("init", init, 0o755)
    w.finish()
    return out.getvalue()


def ensure_initrd(cache_root: Path) -> Path:
    """The cached initramfs of the big-endian kernel, built if its inputs changed."""
    key = hashlib.sha256(
        FORMAT.encode()
        + SOURCE.read_bytes()
        + _cc("--version").encode()
        + " ".join(CFLAGS).encode()
    ).hexdigest()[:16]
    path = cache_root / "kbuild" / f"be-initrd-{key}.cpio"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = path.with_suffix(f".init-{os.getpid()}")
    try:
        _cc(*CFLAGS, "-o", str(binary), str(SOURCE))
        data = binary.read_bytes()
    finally:
        binary.unlink(missing_ok=True)
    check_binary(data)
    for old in path.parent.glob("be-initrd-*.cpio"):
        old.unlink()
    partial = path.with_suffix(f".partial-{os.getpid()}")
    partial.write_bytes(archive(data))
    partial.rename(path)
    return path
