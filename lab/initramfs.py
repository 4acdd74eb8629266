# SPDX-License-Identifier: GPL-2.0-or-later
"""Builds the guest's initramfs archives from the staged root and the working tree.

Three concatenated newc archives make the first kernel's initrd:

* ``base``: the staged Debian root (usr-merged), busybox as ``/bin/sh``, device
  and mount-point directories, and precompiled ``.pyc`` files; large, cached in
  the lab cache under a key of its inputs.
* ``overlay``: ``/init``, the guest helper scripts, the rendered scenario and
  the working tree's ``pykexec`` as its one-file zipapp, ``/usr/sbin/pykexec``; small,
  rebuilt at every run because pykexec changes constantly.
* ``payload``: ``/boot/vmlinux`` and ``/boot/initrd.img`` (= base + overlay),
  what the guest hands to its loader for the next kernel.

The kernel unpacks concatenated archives in order (later entries win), see
Linux ``init/initramfs.c`` ``unpack_to_rootfs``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import lzma
import os
import py_compile
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from elftools.elf.elffile import ELFFile

from lab import kmods
from lab.cpio import NewcWriter
from lab.elfdeps import LIBRARY_DIRS, needed_sonames
from lab.errors import AssetError
from lab.paths import GUEST_DIR, REPO_ROOT, CacheLayout

# Bumped whenever the base layout below changes (part of the cache key).
BASE_FORMAT = "4"
# Python 3.11's bytecode magic (Lib/importlib/_bootstrap_external.py, 3495):
# host-compiled .pyc files are only shipped when the host speaks the same one.
GUEST_PYC_MAGIC = (3495).to_bytes(2, "little") + b"\r\n"
GUEST_PYC_TAG = "cpython-311"  # its sys.implementation.cache_tag: __pycache__/NAME.TAG.pyc
GUEST_PYTHON_DIRS: tuple[str, ...] = ("usr/lib/python3.11", "usr/lib/python3/dist-packages")
# Debian 12 is not usr-merged inside its .debs; the guest is (top dir -> usr/dir).
USR_MERGED: tuple[str, ...] = ("bin", "sbin", "lib", "lib64")
MOUNT_POINTS: tuple[str, ...] = ("proc", "sys", "dev", "tmp", "run", "root", "mnt", "boot")
CONSOLE_DEV = (5, 1)  # Documentation/admin-guide/devices.txt: /dev/console


@dataclass(frozen=True)
class GuestFile:
    """One extra file for the overlay: guest path, contents, mode."""

    path: str
    data: bytes
    mode: int = 0o644


class _Tree:
    """A NewcWriter that creates parent directories on demand."""

    def __init__(self, writer: NewcWriter) -> None:
        self.w = writer

    def parents(self, name: str) -> None:
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if not self.w.has(d):
                self.w.directory(d)

    def file(self, name: str, data: bytes, mode: int) -> None:
        self.parents(name)
        self.w.file(name, data, mode)

    def symlink(self, name: str, target: str) -> None:
        self.parents(name)
        self.w.symlink(name, target)


def _guest_name(rel: Path) -> str:
    parts = rel.parts
    if parts and parts[0] in USR_MERGED:
        return "/".join(("usr", *parts))
    return rel.as_posix()


def _add_tree(tree: _Tree, src: Path, dest: str, names: Iterable[Path] | None = None) -> None:
    for path in sorted(names if names is not None else src.rglob("*")):
        rel = path.relative_to(src)
        name = f"{dest}/{_guest_name(rel)}".strip("/")
        if path.is_symlink():
            tree.symlink(name, str(path.readlink()))
        elif path.is_dir():
            tree.parents(name + "/x")
        else:
            tree.file(name, path.read_bytes(), path.stat().st_mode & 0o7777)


def host_can_compile() -> bool:
    return importlib.util.MAGIC_NUMBER == GUEST_PYC_MAGIC


def _compile_into(tree: _Tree, src_root: Path, guest_root: str) -> None:
    """Add unchecked-hash .pyc files (PEP 552) for every .py under ``src_root``."""
    if not host_can_compile():
        return
    with tempfile.TemporaryDirectory() as tmp:
        for py in sorted(src_root.rglob("*.py")):
            rel = py.relative_to(src_root)
            pyc = rel.parent / "__pycache__" / f"{py.stem}.{GUEST_PYC_TAG}.pyc"
            out = Path(tmp) / pyc
            try:
                py_compile.compile(
                    str(py),
                    cfile=str(out),
                    dfile=f"/{guest_root}/{rel.as_posix()}",
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue
            tree.file(f"{guest_root}/{pyc.as_posix()}", out.read_bytes(), 0o644)


def _base_key(layout: CacheLayout) -> str:
    h = hashlib.sha256()
    h.update(BASE_FORMAT.encode())
    h.update(importlib.util.MAGIC_NUMBER)
    h.update(layout.stamp.read_bytes())
    for deb in sorted(layout.debs.glob("*.deb")):
        h.update(deb.name.encode())
    for module in ("initramfs.py", "cpio.py", "kmods.py"):
        h.update((Path(__file__).parent / module).read_bytes())
    return h.hexdigest()[:16]


def _skeleton(writer: NewcWriter) -> _Tree:
    """A tree with the mount points, /dev/console and the usr-merge links."""
    tree = _Tree(writer)
    for d in MOUNT_POINTS:
        tree.w.directory(d)
    tree.w.chardev("dev/console", *CONSOLE_DEV)
    tree.w.directory("usr")
    for top in USR_MERGED:
        tree.parents(f"usr/{top}/x")
        tree.symlink(top, f"usr/{top}")
    return tree


def _write_base(layout: CacheLayout, out: Path) -> None:
    with out.open("wb") as f:
        tree = _skeleton(NewcWriter(f))
        _add_tree(tree, layout.staging, "")
        tree.symlink("usr/bin/sh", "busybox")
        for d in GUEST_PYTHON_DIRS:
            if (layout.staging / d).is_dir():
                _compile_into(tree, layout.staging / d, d)
        tree.w.finish()


def _cached(layout: CacheLayout, name: str, stale: str, write: Callable[[Path], None]) -> Path:
    """``name`` in the lab's initramfs cache, written by ``write`` if absent (after
    removing the ``stale`` glob's older versions); a partial file is renamed into place."""
    if not layout.ready():
        raise AssetError(f"no lab assets in {layout.root}; run `python3 -m lab setup`")
    layout.initramfs.mkdir(parents=True, exist_ok=True)
    path = layout.initramfs / name
    if not path.exists():
        for old in layout.initramfs.glob(stale):
            old.unlink()
        partial = path.with_suffix(f".partial-{os.getpid()}")
        write(partial)
        partial.rename(path)
    return path


def base_archive(layout: CacheLayout) -> Path:
    """The cached base archive, built if its inputs changed."""
    return _cached(layout, f"base-{_base_key(layout)}.cpio", "base-*.cpio",
                   lambda out: _write_base(layout, out))  # fmt: skip


# The lean kdump payload: what a distribution's kdump initramfs keeps (busybox for
# the shell, makedumpfile and the libraries it loads), no Python and no Debian root.
KDUMP_PROGRAMS: tuple[str, ...] = ("bin/busybox", "usr/bin/makedumpfile")
KDUMP_INITRD = "boot/initrd-kdump.img"  # where the payload puts it in the first kernel
KDUMP_MODULES = "usr/lib/modules/lab"  # lab.kmods' modules and their load order (file order)


def _interp(path: Path) -> str | None:
    """PT_INTERP of an ELF file (its dynamic loader), if any."""
    with path.open("rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_INTERP":
                return str(seg.get_interp_name())
    return None


def _closure(roots: tuple[Path, ...], programs: Iterable[str]) -> list[tuple[Path, Path]]:
    """``programs`` with every library they load (DT_NEEDED, found in the loader's
    directories, lab.elfdeps.LIBRARY_DIRS) and their loader, symlinks and their targets
    included, as (root, path) pairs: each name from the first of ``roots`` holding it."""

    def find(rel: str) -> tuple[Path, Path] | None:
        for root in roots:
            if (root / rel).exists() or (root / rel).is_symlink():
                return root, root / rel
        return None

    found: set[tuple[Path, Path]] = set()
    todo: list[tuple[Path, Path]] = []
    for program in programs:
        hit = find(program)
        if hit is None:
            raise AssetError(f"{program}: not in {', '.join(map(str, roots))}")
        todo.append(hit)
    while todo:
        root, path = todo.pop()
        if (root, path) in found:
            continue
        found.add((root, path))
        if path.is_symlink():
            target = path.readlink()
            rel = str(target).lstrip("/") if target.is_absolute() else str(
                (path.parent / target).relative_to(root))  # fmt: skip
            hit = find(rel)
            if hit is not None:
                todo.append(hit)
            continue
        interp = _interp(path)
        wanted = [interp.lstrip("/")] if interp is not None else []
        for soname in needed_sonames(path):
            libs = [f"{d}/{soname}" for d in LIBRARY_DIRS]
            hits = [h for h in map(find, libs) if h is not None]
            if not hits:
                raise AssetError(f"{path.relative_to(root)} needs {soname}: not in the roots")
            wanted.append(str(hits[0][1].relative_to(hits[0][0])))
        todo += [h for h in map(find, wanted) if h is not None]
    return sorted(found)


def _write_kdump_base(layout: CacheLayout, out: Path, newer: Path | None) -> None:
    roots = (newer, layout.staging) if newer is not None else (layout.staging,)
    with out.open("wb") as f:
        tree = _skeleton(NewcWriter(f))
        for root, path in _closure(roots, KDUMP_PROGRAMS):
            _add_tree(tree, root, "", [path])
        tree.symlink("usr/bin/sh", "busybox")
        order = []
        if layout.kernel is None:  # the staged Debian kernel: its modules from its .deb
            for deb in sorted(layout.debs.glob("linux-image-*.deb")):
                for name, data in kmods.modules(deb):
                    tree.file(f"{KDUMP_MODULES}/{name}", data, 0o644)
                    order.append(name)
        tree.file(f"{KDUMP_MODULES}/order", "".join(f"{n}\n" for n in order).encode(), 0o644)
        tree.w.finish()


def kdump_base_archive(layout: CacheLayout, newer: Path | None = None) -> Path:
    """The cached base of the lean kdump initramfs: busybox, makedumpfile, their
    libraries, and the kernel's modules for the dump port; with ``newer`` (a root from
    lab.assets.newer_makedumpfile), its makedumpfile and libraries come first."""
    kernel = hashlib.sha256(f"{layout.kernel} {newer}".encode()).hexdigest()[:8]
    return _cached(layout, f"kdump-{_base_key(layout)}-{kernel}.cpio", f"kdump-*-{kernel}.cpio",
                   lambda out: _write_kdump_base(layout, out, newer))  # fmt: skip


def overlay_archive(extra: Iterable[GuestFile], *, with_pyc: bool = True) -> bytes:
    """The per-run archive: /init, lab helpers, scenario files, pykexec."""
    with tempfile.TemporaryFile() as f:
        tree = _Tree(NewcWriter(f))
        tree.file("init", (GUEST_DIR / "init.sh").read_bytes(), 0o755)
        for helper in sorted([*GUEST_DIR.glob("*.py"), GUEST_DIR / "lib.sh"]):
            tree.file(f"lab/{helper.name}", helper.read_bytes(), 0o755)
        for step in sorted(GUEST_DIR.glob("steps/*.sh")):  # shell steps, run as sh FILE ARGS
            tree.file(f"lab/steps/{step.name}", step.read_bytes(), 0o755)
        for item in extra:
            tree.file(item.path.strip("/"), item.data, item.mode)
        tree.file("usr/sbin/pykexec", zipapp_bytes(with_pyc and host_can_compile()), 0o755)
        tree.w.finish()
        f.seek(0)
        return f.read()


def zipapp_bytes(compiled: bool) -> bytes:
    """pykexec as users get it: the one-file zipapp (``python3 -m pykexec.build zipapp``),
    with .pyc files for the guest's Python when the host's is the same version."""
    from pykexec.build import build_zipapp

    with tempfile.TemporaryDirectory() as tmp:
        return build_zipapp(Path(tmp) / "pykexec", REPO_ROOT, compiled=compiled).read_bytes()


def payload_archive(
    vmlinux: Path, next_initrd: Path, extra: Iterable[tuple[str, Path]] = ()
) -> bytes:
    """The archive carrying /boot/vmlinux and /boot/initrd.img for the next kernel, and
    ``extra`` (guest path, host file) pairs such as another kernel under /boot/<name>/."""
    with tempfile.TemporaryFile() as f:
        w = NewcWriter(f)
        w.file("boot/vmlinux", vmlinux.read_bytes(), 0o644)
        w.file("boot/initrd.img", next_initrd.read_bytes(), 0o644)
        for name, path in extra:
            for i in range(1, name.count("/") + 1):
                parent = "/".join(name.split("/")[:i])
                if not w.has(parent):
                    w.directory(parent)
            w.file(name, path.read_bytes(), 0o644)
        w.finish()
        f.seek(0)
        return f.read()


@dataclass(frozen=True)
class BootImages:
    """Files handed to QEMU for one run, and their sizes for the report."""

    initrd: Path
    next_initrd: Path
    kdump_initrd: Path | None = None

    def sizes(self) -> dict[str, int]:
        sizes = {
            "initramfs (first kernel)": self.initrd.stat().st_size,
            "initramfs (next kernel)": self.next_initrd.stat().st_size,
        }
        if self.kdump_initrd is not None:
            sizes["initramfs (lean kdump)"] = self.kdump_initrd.stat().st_size
        return sizes


# The compressors the lab can write an initrd with, each as the kernel reads it:
# init/initramfs.c unpack_to_rootfs -> lib/decompress.c decompress_method (gzip, xz,
# zstd magic); xz only with a CRC32 or no check (lib/xz/xz_dec_stream.c without
# XZ_DEC_ANY_CHECK), so the writer asks for CRC32 as scripts/xz_wrap.sh does.
CODECS = ("gzip", "xz", "zstd")


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


class _Zstd:
    """A write-only zstd stream through the host's ``zstd`` (level 1, as Debian's
    initramfs-tools' default ``zstd -q -1 -T0``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._proc = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE,
                                      stdout=raw)  # fmt: skip

    def write(self, data: bytes) -> int:
        assert self._proc.stdin is not None
        return self._proc.stdin.write(data)

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise AssetError(f"zstd exited with {self._proc.returncode}")


def _compressor(raw: BinaryIO, codec: str) -> _Sink:
    if codec == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)
    if codec == "xz":
        return lzma.LZMAFile(raw, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                             preset=0)  # fmt: skip
    if codec == "zstd":
        return _Zstd(raw)
    raise AssetError(f"unknown initrd codec {codec!r} (one of {', '.join(CODECS)})")


def _concat(out: Path, parts: Iterable[Path | bytes], compress: bool | str) -> None:
    """Write ``parts`` into ``out``, compressed with ``compress`` (True: gzip)."""
    with out.open("wb") as raw:
        codec = "gzip" if compress is True else compress
        sink: _Sink = _compressor(raw, codec) if codec else raw
        for part in parts:
            if isinstance(part, bytes):
                sink.write(part)
            else:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        sink.write(chunk)
        if sink is not raw:
            sink.close()
            raw.seek(0, os.SEEK_END)
            # An archive appended after this one must start 4-byte aligned: Linux
            # init/initramfs.c unpack_to_rootfs takes '0' as a cpio header only when
            # `!(this_header & 3)`, else tries to decompress it ("invalid magic at
            # start of compressed archive") and drops the rest.  Zeros are skipped.
            raw.write(bytes(-raw.tell() % 4))


def build(
    layout: CacheLayout,
    run_dir: Path,
    extra: Iterable[GuestFile],
    *,
    compress: bool | str = False,
    payload: Iterable[tuple[str, Path]] = (),
    kdump: bool = False,
    kdump_newer: Path | None = None,
    kdump_compress: str = "",
) -> BootImages:
    """Write ``initrd.img`` (first kernel) and ``next-initrd.img`` into ``run_dir``; with
    ``kdump``, also ``kdump-initrd.img`` (the lean kdump base, with ``kdump_newer``'s
    makedumpfile if given, and the same overlay, compressed with ``kdump_compress``
    if given), which the payload carries as /:data:`KDUMP_INITRD`."""
    base = base_archive(layout)
    overlay = overlay_archive(extra)
    run_dir.mkdir(parents=True, exist_ok=True)
    nxt = run_dir / "next-initrd.img"
    _concat(nxt, [base, overlay], compress)
    lean = None
    if kdump:
        lean = run_dir / "kdump-initrd.img"
        _concat(lean, [kdump_base_archive(layout, kdump_newer), overlay], kdump_compress)
        payload = (*payload, (KDUMP_INITRD, lean))
    first = run_dir / "initrd.img"
    _concat(first, [nxt, payload_archive(layout.vmlinux, nxt, payload)], False)
    return BootImages(first, nxt, lean)
