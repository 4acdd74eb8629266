# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab setup``: host tools and the Debian ppc64el guest assets.

Installs the host tools, downloads Debian 12 ppc64el packages with
``apt-get download`` into the cache, extracts them with ``dpkg-deb -x`` into a
staging root, prunes what the guest never needs, checks the shared-library
closure (every DT_NEEDED must be provided) and records the kernel version.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from lab import beinit, kbuild
from lab.elfdeps import missing_libraries
from lab.errors import AssetError
from lab.model import Kernel, Qemu
from lab.paths import CacheLayout, KernelFiles, QemuFiles

GUEST_ARCH = "ppc64el"
HOST_PACKAGES: tuple[str, ...] = ("qemu-system-ppc", "cpio", "dpkg")
KERNEL_META = "linux-image-powerpc64le"

# User space of the guest; the library closure is verified after extraction.
GUEST_PACKAGES: tuple[str, ...] = (
    "busybox-static",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3-pyelftools",  # Architecture: all (no :ppc64el qualifier)
    "makedumpfile",
    "kexec-tools",
    "kdump-tools",
    "libc6",
    "libffi8",
    "libssl3",
    "liblzma5",
    "zlib1g",
    "libbz2-1.0",
    "libexpat1",
    "libdw1",
    "libelf1",
    "liblzo2-2",
    "libzstd1",
)

ARCH_ALL_PACKAGES = frozenset({"python3-pyelftools"})

# Removed from the staging root: documentation, translations, and Python
# modules (with their C extensions) the guest never imports.
_PY = "usr/lib/python3.11"
_DYN = f"{_PY}/lib-dynload"
PRUNE_GLOBS: tuple[str, ...] = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
    "usr/lib/powerpc64le-linux-gnu/gconv",
    f"{_PY}/test",
    f"{_PY}/idlelib",
    f"{_PY}/tkinter",
    f"{_PY}/turtledemo",
    f"{_PY}/ensurepip",
    f"{_PY}/lib2to3",
    f"{_PY}/pydoc_data",
    f"{_PY}/unittest/test",
    f"{_PY}/ctypes/test",
    f"{_PY}/sqlite3",
    f"{_PY}/curses",
    f"{_PY}/dbm",
    f"{_DYN}/_test*",
    f"{_DYN}/_ctypes_test*",
    f"{_DYN}/_xx*",
    f"{_DYN}/xxlimited*",
    f"{_DYN}/_curses*",
    f"{_DYN}/_dbm*",
    f"{_DYN}/_sqlite3*",
    f"{_DYN}/_crypt*",
    f"{_DYN}/_uuid*",
    f"{_DYN}/nis*",
    f"{_DYN}/readline*",
    f"{_DYN}/ossaudiodev*",
    f"{_DYN}/audioop*",
)


def _run(argv: list[str], *, cwd: Path | None = None, check: bool = True) -> str:
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    done = subprocess.run(argv, cwd=cwd, text=True, capture_output=True, check=False)
    if check and done.returncode != 0:
        raise AssetError(
            f"`{' '.join(argv)}` exited {done.returncode}:\n{done.stderr.strip()[-2000:]}"
        )
    return done.stdout


def _ensure_foreign_arch() -> None:
    if GUEST_ARCH not in _run(["dpkg", "--print-foreign-architectures"]).split():
        _run(["dpkg", "--add-architecture", GUEST_ARCH])


def _apt_update() -> None:
    # A partially failing mirror (e.g. the security suite mid-sync) is not
    # fatal: the download step below fails clearly if a package is missing.
    done = subprocess.run(["apt-get", "update"], text=True, capture_output=True, check=False)
    if done.returncode != 0:
        print(f"warning: apt-get update: {done.stderr.strip()[-800:]}", file=sys.stderr)


def kernel_package() -> str:
    """The versioned kernel package the meta package currently depends on."""
    out = _run(["apt-cache", "depends", f"{KERNEL_META}:{GUEST_ARCH}"])
    match = re.search(r"Depends:\s+(linux-image-[0-9][^\s:]*-powerpc64le)", out)
    if match is None:
        raise AssetError(f"cannot find the kernel behind {KERNEL_META}:{GUEST_ARCH}:\n{out}")
    return match.group(1)


def _download(layout: CacheLayout, packages: list[str]) -> None:
    if layout.debs.exists():
        shutil.rmtree(layout.debs)
    layout.debs.mkdir(parents=True)
    names = [p if p in ARCH_ALL_PACKAGES else f"{p}:{GUEST_ARCH}" for p in packages]
    _run(["apt-get", "download", *names], cwd=layout.debs)


def _prune(root: Path) -> None:
    for pattern in PRUNE_GLOBS:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _stage_userspace(layout: CacheLayout, kernel_deb: Path) -> None:
    if layout.staging.exists():
        shutil.rmtree(layout.staging)
    layout.staging.mkdir(parents=True)
    for deb in sorted(layout.debs.glob("*.deb")):
        if deb != kernel_deb:
            _run(["dpkg-deb", "-x", str(deb), str(layout.staging)])
    _prune(layout.staging)
    python3 = layout.staging / "usr/bin/python3"
    if not python3.exists():
        python3.symlink_to("python3.11")
    missing = missing_libraries(layout.staging)
    if missing:
        lines = [f"  {m.soname} (needed by {', '.join(m.needed_by[:3])})" for m in missing]
        raise AssetError(
            "shared libraries missing from the guest root; add their packages to "
            "lab.assets.GUEST_PACKAGES or prune their users:\n" + "\n".join(lines)
        )


def _stage_kernel(layout: CacheLayout, kernel_deb: Path, package: str) -> None:
    extracted = layout.root / "kernel-extract"
    if extracted.exists():
        shutil.rmtree(extracted)
    _run(["dpkg-deb", "-x", str(kernel_deb), str(extracted)])
    release = package.removeprefix("linux-image-")
    vmlinux = extracted / "boot" / f"vmlinux-{release}"
    if not vmlinux.is_file():
        raise AssetError(f"{kernel_deb.name} has no boot/vmlinux-{release}")
    layout.kernel_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vmlinux, layout.vmlinux)
    deb_version = _run(["dpkg-deb", "-f", str(kernel_deb), "Version"]).strip()
    layout.kernel_version_file.write_text(f"{release} ({deb_version})\n")
    shutil.rmtree(extracted)


def setup(layout: CacheLayout, *, install_host: bool = True) -> None:
    """Idempotently (re)build the whole asset cache; needs root for apt."""
    _ensure_foreign_arch()
    _apt_update()
    if install_host:
        _run(["apt-get", "install", "-y", "--no-install-recommends", *HOST_PACKAGES])
    package = kernel_package()
    layout.stamp.unlink(missing_ok=True)
    _download(layout, [package, *GUEST_PACKAGES])
    kernel_debs = sorted(layout.debs.glob(f"{package}_*.deb"))
    if len(kernel_debs) != 1:
        raise AssetError(f"expected one {package} .deb in {layout.debs}, found {kernel_debs}")
    _stage_userspace(layout, kernel_debs[0])
    _stage_kernel(layout, kernel_debs[0], package)
    layout.stamp.write_text(layout.kernel_version())
    for kernel in BACKPORTS_KERNELS:  # refreshed here; otherwise fetched on first use
        fetch_backports_kernel(layout, kernel)
    newer_makedumpfile(layout)  # the lean kdump payload's on 6.12 (else on first use)
    trixie_kexec_tools(layout)  # the package tests' (else on first use)
    fetch_qemu10(layout)  # the SMT and POWER10 scenarios' (else on first use)


def require(layout: CacheLayout) -> None:
    """Raise unless ``setup`` completed."""
    if not layout.ready():
        raise AssetError(f"lab assets missing in {layout.root}; run `python3 -m lab setup` as root")


# --- the lab's kernels --------------------------------------------------------------
# bookworm-backports, read through apt with a private sources file and state under
# <cache>/apt-bpo/ (the host's apt configuration stays as it is): Debian's archive and
# keyring, ppc64el only.
BACKPORTS_SUITE = "bookworm-backports"
BACKPORTS_SOURCES = f"""Types: deb
URIs: http://deb.debian.org/debian
Suites: {BACKPORTS_SUITE}
Components: main
Architectures: {GUEST_ARCH}
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
# Kernel -> the meta package whose dependency names the versioned image package.
BACKPORTS_KERNELS: dict[Kernel, str] = {
    Kernel.BPO_612: "linux-image-powerpc64le",  # 4k pages
    Kernel.BPO_612_64K: "linux-image-powerpc64le-64k",
}
_IMAGE_DEPENDS = re.compile(r"Depends:\s+(linux-image-[0-9][^\s:]*-powerpc64le(?:-64k)?)\b")


def _apt_bpo_options(layout: CacheLayout) -> list[str]:
    """apt options that see only bookworm-backports, with lists and debs under the cache."""
    return _apt_suite_options(layout, BACKPORTS_SUITE, "apt-bpo")


# A makedumpfile that reads 6.12 vmcores, for the lean kdump payload only (which is
# self-contained, so it may carry a newer program than the guest's root): Debian 13
# (trixie) has makedumpfile 1:1.7.6-1, which needs libc6 >= 2.34 (bookworm has 2.36)
# and libzstd1 >= 1.5.5 (bookworm has 1.5.4, so trixie's comes along); its other
# libraries keep their sonames and come from the staged root.
TRIXIE_SUITE = "trixie"
TRIXIE_MAKEDUMPFILE: tuple[str, ...] = ("makedumpfile", "libzstd1")


def _apt_suite_options(
    layout: CacheLayout, suite: str, state: str, arch: str = GUEST_ARCH
) -> list[str]:
    """apt options that see only ``suite`` for ``arch``, with lists and debs under
    <cache>/``state``."""
    root = layout.root / state
    parts = root / "sources.list.d"
    for d in (parts, root / "lists" / "partial", root / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    sources = BACKPORTS_SOURCES.replace(f"Suites: {BACKPORTS_SUITE}", f"Suites: {suite}")
    sources = sources.replace(f"Architectures: {GUEST_ARCH}", f"Architectures: {arch}")
    (parts / f"{suite}.sources").write_text(sources)
    return [
        "-o", f"Dir::Etc::SourceList={root / 'none.list'}",
        "-o", f"Dir::Etc::SourceParts={parts}",
        "-o", f"Dir::State::Lists={root / 'lists'}",
        "-o", f"Dir::Cache={root / 'cache'}",
        "-o", f"APT::Architecture={arch}",
    ]  # fmt: skip


def download_debs(
    layout: CacheLayout, suite: str, packages: tuple[str, ...], into: Path
) -> list[Path]:
    """``packages`` for the guest's architecture, as ``suite`` has them today, downloaded
    into ``into`` (emptied first; apt's lists under <cache>/apt-``suite``): the .debs."""
    apt = _apt_suite_options(layout, suite, f"apt-{suite}")
    _run(["apt-get", *apt, "update"])
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    _run(["apt-get", *apt, "download", *(f"{p}:{GUEST_ARCH}" for p in packages)], cwd=into)
    return sorted(into.glob("*.deb"))


def newer_makedumpfile(layout: CacheLayout) -> Path:
    """A root holding trixie's makedumpfile and libzstd (fetched on first use, cached)."""
    d = layout.root / "makedumpfile-trixie"
    root, done = d / "root", d / "done"
    if done.is_file() and (root / "usr/bin/makedumpfile").is_file():
        return root
    debs = d / "debs"
    download_debs(layout, TRIXIE_SUITE, TRIXIE_MAKEDUMPFILE, debs)
    if root.exists():
        shutil.rmtree(root)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    done.write_text("\n".join(sorted(p.name for p in debs.glob("*.deb"))) + "\n")
    return root


def image_package(depends_output: str, meta: str) -> str:
    """The versioned image package in ``apt-cache depends META`` output."""
    match = _IMAGE_DEPENDS.search(depends_output)
    if match is None:
        raise AssetError(
            f"cannot find the kernel behind {meta}:\n{depends_output}", problem="no-image-package"
        )
    return match.group(1)


def fetch_backports_deb(layout: CacheLayout, package: str, into: Path) -> Path:
    """bookworm-backports' newest ``package`` (an Architecture: all one, e.g. a
    ``linux-source-*`` for lab.kbuild), downloaded into ``into`` (emptied first) with the
    lab's private apt configuration: the .deb."""
    apt = _apt_bpo_options(layout)
    _run(["apt-get", *apt, "update"])
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    _run(["apt-get", *apt, "download", package], cwd=into)
    found = sorted(into.glob(f"{package}_*.deb"))
    if len(found) != 1:
        raise AssetError(f"expected one {package} .deb in {into}, found {found}")
    return found[0]


def kernel_dir(layout: CacheLayout, kernel: Kernel) -> Path:
    return layout.root / "kernels" / str(kernel)


def _stored(layout: CacheLayout, kernel: Kernel) -> KernelFiles:
    d = kernel_dir(layout, kernel)
    return KernelFiles(d / "vmlinux", d / "version")


def fetch_backports_kernel(layout: CacheLayout, kernel: Kernel) -> KernelFiles:
    """Download (or refresh) ``kernel`` from bookworm-backports into the cache.

    Keyed by the .deb's file name (package and version): an unchanged package
    is not extracted again.  The config is kept beside the vmlinux.
    """
    meta = BACKPORTS_KERNELS[kernel]
    apt = _apt_bpo_options(layout)
    _run(["apt-get", *apt, "update"])
    package = image_package(_run(["apt-cache", *apt, "depends", f"{meta}:{GUEST_ARCH}"]), meta)
    d = kernel_dir(layout, kernel)
    debs = d / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", *apt, "download", f"{package}:{GUEST_ARCH}"], cwd=debs)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if len(found) != 1:
        raise AssetError(f"expected one {package} .deb in {debs}, found {found}")
    files = _stored(layout, kernel)
    key = d / "key"
    if files.vmlinux.is_file() and key.is_file() and key.read_text().strip() == found[0].name:
        return files
    for old in debs.glob("*.deb"):
        if old != found[0]:
            old.unlink()
    extracted = d / "extract"
    if extracted.exists():
        shutil.rmtree(extracted)
    _run(["dpkg-deb", "-x", str(found[0]), str(extracted)])
    release = package.removeprefix("linux-image-")
    shutil.copyfile(extracted / "boot" / f"vmlinux-{release}", files.vmlinux)
    shutil.copyfile(extracted / "boot" / f"config-{release}", d / "config")
    deb_version = _run(["dpkg-deb", "-f", str(found[0]), "Version"]).strip()
    files.version_file.write_text(f"{release} ({deb_version}, {BACKPORTS_SUITE})\n")
    shutil.rmtree(extracted)
    key.write_text(found[0].name + "\n")
    return files


def kernel_files(layout: CacheLayout, kernel: Kernel) -> KernelFiles | None:
    """``kernel``'s vmlinux and version file, fetched or built on first use; None for
    the kernel ``setup`` staged (Debian 12's)."""
    if kernel is Kernel.DEBIAN_61:
        return None
    if kernel in BACKPORTS_KERNELS:
        files = _stored(layout, kernel)
        if files.vmlinux.is_file() and files.version_file.is_file():
            return files
        return fetch_backports_kernel(layout, kernel)
    return kbuild.ensure_files(layout, kernel)  # slow: built on first use only


def payload_files(layout: CacheLayout, kernel: Kernel) -> tuple[tuple[str, Path], ...]:
    """``kernel`` as extra payload files: /boot/<kernel>/vmlinux and, for a kernel with
    an initramfs of its own (the big-endian one), /boot/<kernel>/initrd.img."""
    files = kernel_files(layout, kernel)
    vmlinux = layout.vmlinux if files is None else files.vmlinux
    out = [(f"boot/{kernel}/vmlinux", vmlinux)]
    if kernel is Kernel.BE_61:
        out.append((f"boot/{kernel}/initrd.img", beinit.ensure_initrd(layout.root)))
    return tuple(out)


def kernel_layout(layout: CacheLayout, kernel: Kernel) -> CacheLayout:
    """``layout`` booting ``kernel`` (as the first kernel and the payload's /boot/vmlinux)."""
    files = kernel_files(layout, kernel)
    return layout if files is None else layout.with_kernel(files)


# kexec-tools as trixie packages it (kexec in /usr/sbin, where bookworm's is in /sbin):
# tests/test_deb.py steps the project's .deb through bookworm's and trixie's packages.
def trixie_kexec_tools(layout: CacheLayout) -> Path:
    """trixie's kexec-tools .deb for ppc64el, in <cache>/kexec-tools-trixie/ (fetched on
    first use, cached: ``done`` marks a complete download)."""
    d = layout.root / "kexec-tools-trixie"
    found = sorted(d.glob(f"kexec-tools_*_{GUEST_ARCH}.deb"))
    if (d / "done").is_file() and found:
        return found[-1]
    download_debs(layout, TRIXIE_SUITE, ("kexec-tools",), d)
    (d / "done").write_text("")
    return sorted(d.glob(f"kexec-tools_*_{GUEST_ARCH}.deb"))[-1]


# --- QEMU 10 (issue 18) ---------------------------------------------------------------
# bookworm-backports' QEMU for the host's architecture, extracted into <cache>/qemu-10/
# (never installed: the host's QEMU 7.2 stays the default): its TCG runs POWER SMT on
# pseries and powernv, and it has powernv10.  qemu-system-data holds the firmware it is
# pointed at with -L (slof.bin, vof.bin, skiboot.lid); its libraries are the host's
# (the same Depends as 7.2's qemu-system-ppc, which setup installs), checked with ldd;
# one the host lacks would come from QEMU10_LIB_PACKAGES (linked into <cache>/qemu-10/libs,
# QEMU's LD_LIBRARY_PATH).
QEMU10_PACKAGES: tuple[str, ...] = ("qemu-system-ppc", "qemu-system-data")
QEMU10_LIB_PACKAGES: tuple[str, ...] = ()
QEMU10_VERSION = "10."  # what `qemu-system-ppc64 --version` must say


def _qemu10_dir(layout: CacheLayout) -> Path:
    return layout.root / "qemu-10"


def _qemu10_stored(layout: CacheLayout) -> QemuFiles:
    d = _qemu10_dir(layout)
    return QemuFiles(d / "root/usr/bin/qemu-system-ppc64", d / "root/usr/share/qemu", d / "libs")


def missing_host_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as ``not found``."""
    return sorted({line.split()[0] for line in ldd_output.splitlines() if "not found" in line})


def fetch_qemu10(layout: CacheLayout) -> QemuFiles:
    """Download (or refresh) QEMU 10 from bookworm-backports into the cache; keyed by the
    .debs' file names, so an unchanged download is not extracted again."""
    host_arch = _run(["dpkg", "--print-architecture"]).strip()
    d = _qemu10_dir(layout)
    apt = _apt_suite_options(layout, BACKPORTS_SUITE, "apt-bpo-host", host_arch)
    _run(["apt-get", *apt, "update"])
    debs = d / "debs"
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir(parents=True)
    _run(["apt-get", *apt, "download", *QEMU10_PACKAGES, *QEMU10_LIB_PACKAGES], cwd=debs)
    key_text = "\n".join(sorted(p.name for p in debs.glob("*.deb"))) + "\n"
    files, key = _qemu10_stored(layout), d / "key"
    if files.binary.is_file() and key.is_file() and key.read_text() == key_text:
        return files
    key.unlink(missing_ok=True)
    shutil.rmtree(d / "root", ignore_errors=True)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(d / "root")])
    _check_qemu10(files)
    key.write_text(key_text)
    return files


def _check_qemu10(files: QemuFiles) -> None:
    files.libs.mkdir(parents=True, exist_ok=True)
    root = files.binary.parent.parent.parent
    for lib in (*root.glob("usr/lib/*-linux-gnu/*.so*"), *root.glob("lib/*-linux-gnu/*.so*")):
        (files.libs / lib.name).unlink(missing_ok=True)
        (files.libs / lib.name).symlink_to(lib)
    env = {"LD_LIBRARY_PATH": str(files.libs), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["ldd", str(files.binary)], env=env, text=True,
                          capture_output=True, check=False)  # fmt: skip
    missing = missing_host_libraries(done.stdout)
    if missing:
        raise AssetError(
            f"{files.binary} needs libraries this host lacks: {', '.join(missing)}; "
            "add their packages to lab.assets.QEMU10_LIB_PACKAGES"
        )
    version = subprocess.run([str(files.binary), "--version"], env=env, text=True,
                             capture_output=True, check=False).stdout  # fmt: skip
    if f"version {QEMU10_VERSION}" not in version:
        raise AssetError(f"{files.binary} --version says {version.strip()[:80]!r}, not 10.x")
    for firmware in ("slof.bin", "vof.bin", "skiboot.lid"):
        if not (files.firmware / firmware).is_file():
            raise AssetError(f"QEMU 10's firmware {files.firmware / firmware} is missing")


def qemu_files(layout: CacheLayout, qemu: Qemu) -> QemuFiles | None:
    """``qemu``'s files, fetched on first use; None for the host's (on PATH)."""
    if qemu is Qemu.HOST:
        return None
    files = _qemu10_stored(layout)
    if files.binary.is_file() and (_qemu10_dir(layout) / "key").is_file():
        return files
    return fetch_qemu10(layout)
