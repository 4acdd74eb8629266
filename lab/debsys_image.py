# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab build-debsys``: a real Debian 12 ppc64el system as a disk image.

The root is bootstrapped by ``mmdebstrap`` from Debian 12's own ppc64el packages
(a foreign-architecture bootstrap: the maintainer scripts run through qemu-user,
registered with binfmt_misc by qemu-user-static), with systemd as init, the
kernel the lab boots (``lab.assets.kernel_package``), kdump-tools, makedumpfile,
kexec-tools and python3 (for the project's .deb).  What is slow under emulation
happens here, once: initramfs-tools builds the boot initramfs and kdump-tools'
kernel hook builds its own kdump initramfs (``/var/lib/kdump/initrd.img-KVER``).

The tree becomes a raw ext4 image (``mke2fs -d``, no partition table, so the
host reads it back with ``debugfs``), the kernel and initramfs are copied beside
it for QEMU's ``-kernel``/``-initrd``.  Everything is cached in
``<cache>/debsys/<key>/`` where the key hashes the recipe (:func:`recipe_key`: the
packages, debconf answers, dpkg filters, hooks and the files they bake in);
``done`` is written last.  A variant with the
project's .deb installed (``with_deb``) is built from the same tree, keyed also
by the .deb's digest.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab.errors import AssetError
from lab.paths import GUEST_DIR, CacheLayout

RECIPE_VERSION = "1"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
ARCH = "ppc64el"
IMAGE_MIB = 2048  # room for a few makedumpfile dumps of a 2 GiB guest
GUEST_FILES = GUEST_DIR / "debsys"  # the guest side: run.sh and its parts (on the lab disk)
UNIT = GUEST_FILES / "pykexec-lab.service"  # baked into the image
HOST_PACKAGES = ("mmdebstrap", "arch-test", "qemu-user-static", "binfmt-support", "e2fsprogs")

# Packages beyond mmdebstrap's "apt" variant (Essential + apt); the kernel is added
# by version.  udev: systemd's device units (the root and the lab's disk);
# kmod: modprobe for udev and initramfs-tools.
PACKAGES = (
    "systemd-sysv",
    "udev",
    "kmod",
    "initramfs-tools",
    "kdump-tools",
    "makedumpfile",
    "kexec-tools",
    "python3",
    "procps",
)
# Debconf answers given before the packages configure: kdump enabled (kdump-tools'
# own default, made explicit), kexec reboot off until a scenario turns it on.
DEBCONF = (
    "kdump-tools kdump-tools/use_kdump boolean true",
    "kexec-tools kexec-tools/load_kexec boolean false",
)
# No documentation, manuals or translations in the image (dpkg path filters).
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
)
# initramfs-tools: MODULES=list and a hook that adds (and loads at boot) the modules
# this machine's root needs (virtio-blk on pseries' PCI, ext4), instead of MODULES=most,
# so both initramfs stay small and the chroot's host-side /sys never matters
# (MODULES=dep would read the amd64 host's).  kdump-tools' hook copies
# /etc/initramfs-tools, this hook included, for its own initramfs.
INITRAMFS_HOOK = GUEST_FILES / "lab-virtio-root"


@dataclass(frozen=True)
class DebianSystem:
    """A built image: the raw ext4 root, the kernel and initramfs QEMU boots, facts."""

    image: Path
    vmlinux: Path
    initrd: Path
    kernel_version: str
    crashkernel: str  # kdump-tools' recommendation for ppc64el (its grub.d snippet)


def _run(argv: list[str], **kw: object) -> None:
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    done = subprocess.run(argv, text=True, capture_output=True, check=False, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise AssetError(f"`{' '.join(argv[:3])} ...` exited {done.returncode}:\n"
                         f"{(done.stdout + done.stderr).strip()[-3000:]}")  # fmt: skip


def recipe_key(kernel_package: str, kernel_version: str) -> str:
    """The cache key: everything the image is made of (packages, answers, hooks, the unit)."""
    h = hashlib.sha256(RECIPE_VERSION.encode())
    words = (SUITE, ARCH, str(IMAGE_MIB), *PACKAGES, *DEBCONF, *DPKG_EXCLUDES,
             *_hooks(kernel_version), kernel_package)  # fmt: skip
    for word in words:
        h.update(word.replace(str(GUEST_FILES), "GUEST").encode() + b"\0")
    h.update(UNIT.read_bytes() + INITRAMFS_HOOK.read_bytes())
    return h.hexdigest()[:16]


def ensure_binfmt() -> None:
    """qemu-ppc64le registered with binfmt_misc (qemu-user-static's F flag: chroot-safe)."""
    mnt = Path("/proc/sys/fs/binfmt_misc")
    if not (mnt / "status").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(mnt)])
    if not (mnt / "qemu-ppc64le").exists():
        _run(["update-binfmts", "--enable", "qemu-ppc64le"])
    if not (mnt / "qemu-ppc64le").exists():
        raise AssetError(
            "qemu-ppc64le is not registered in binfmt_misc: "
            "install qemu-user-static and binfmt-support (tools/setup-host.sh)"
        )


def _hooks(kernel_version: str) -> list[str]:
    preseed = "\n".join(DEBCONF)
    unit_dir = "$1/etc/systemd/system"
    kdump_dir = "$1/var/lib/kdump"
    return [
        # before the packages: debconf answers; initramfs-tools' modules (a hook of
        # the local admin's, so every initramfs built during the install has them)
        "--essential-hook=printf '%s\\n' '" + preseed + "' | chroot \"$1\" debconf-set-selections",
        "--setup-hook=mkdir -p \"$1/etc/initramfs-tools/conf.d\" \"$1/etc/initramfs-tools/hooks\"",
        "--setup-hook=echo MODULES=list > \"$1/etc/initramfs-tools/conf.d/lab-modules\"",
        f"--setup-hook=cp {INITRAMFS_HOOK} \"$1/etc/initramfs-tools/hooks/\"",
        # after: kdump-tools' initramfs, if its hook ran before the kernel was there,
        # and the sysctl record kdump-config compares (else it rebuilds at first boot)
        f"--customize-hook=[ -e {kdump_dir}/initrd.img-{kernel_version} ] || "
        f"chroot \"$1\" /etc/kernel/postinst.d/kdump-tools {kernel_version}",
        f"--customize-hook=cp \"$1/etc/kdump/sysctl.conf\" "
        f"{kdump_dir}/latest_sysctls-{kernel_version}",
        # the system: root on the first virtio disk, a host name, no password for root
        "--customize-hook=echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > \"$1/etc/fstab\"",
        "--customize-hook=echo debsys > \"$1/etc/hostname\"",
        "--customize-hook=chroot \"$1\" passwd -d root",
        # the lab's unit (runs the scenario from the second disk)
        f"--customize-hook=cp {UNIT} {unit_dir}/",
        f"--customize-hook=ln -sf ../pykexec-lab.service "
        f"{unit_dir}/multi-user.target.wants/pykexec-lab.service",
        # no login prompts on the console the host reads
        f"--customize-hook=ln -sf /dev/null {unit_dir}/serial-getty@hvc0.service",
        f"--customize-hook=ln -sf /dev/null {unit_dir}/getty@tty1.service",
        "--customize-hook=rm -rf \"$1/var/cache/apt\"/*.bin \"$1/var/lib/apt/lists\"/*_Packages",
    ]  # fmt: skip


def bootstrap(tree_tar: Path, kernel_package: str, kernel_version: str) -> None:
    """mmdebstrap the root into a tarball (root mode: we are root on the host)."""
    sources = f"deb {MIRROR} {SUITE} main\ndeb {SECURITY} {SUITE}-security main\n"
    _run([
        "mmdebstrap", "--mode=root", "--variant=apt", f"--architectures={ARCH}",
        "--aptopt=APT::Install-Recommends \"false\"",
        *(f"--dpkgopt={o}" for o in DPKG_EXCLUDES),
        f"--include={','.join((*PACKAGES, kernel_package))}",
        *_hooks(kernel_version),
        SUITE, str(tree_tar), sources,
    ])  # fmt: skip


def _extract(tree_tar: Path, into: Path) -> None:
    _run(["tar", "-C", str(into), "--numeric-owner", "-xpf", str(tree_tar)])


def _crashkernel(root: Path) -> str:
    """The crashkernel= kdump-tools' grub.d snippet sets (its recommendation for the arch)."""
    text = (root / "etc/default/grub.d/kdump-tools.cfg").read_text()
    for word in text.replace('"', " ").split():
        if word.startswith("crashkernel="):
            return word.split("=", 1)[1]
    raise AssetError("kdump-tools' grub.d snippet names no crashkernel=")


def make_image(root: Path, out: Path, kernel_version: str) -> DebianSystem:
    """The raw ext4 image of ``root`` plus the boot files, written into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    vmlinux, initrd = out / "vmlinux", out / "initrd.img"
    shutil.copyfile(root / f"boot/vmlinux-{kernel_version}", vmlinux)
    shutil.copyfile(root / f"boot/initrd.img-{kernel_version}", initrd)
    if not (root / f"var/lib/kdump/initrd.img-{kernel_version}").is_file():
        raise AssetError("kdump-tools built no kdump initramfs (its kernel hook failed)")
    image = out / "root.img"
    image.unlink(missing_ok=True)
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "debsys", "-E", "root_owner=0:0",
          "-d", str(root), str(image), f"{IMAGE_MIB}M"])  # fmt: skip
    crash = _crashkernel(root)
    (out / "facts").write_text(f"{kernel_version}\n{crash}\n")
    return DebianSystem(image, vmlinux, initrd, kernel_version, crash)


def _stored(out: Path) -> DebianSystem:
    version, crash = (out / "facts").read_text().split()
    return DebianSystem(out / "root.img", out / "vmlinux", out / "initrd.img", version, crash)


def base_system(layout: CacheLayout, kernel_package: str, kernel_version: str) -> DebianSystem:
    """The cached image (built on first use): kexec-tools as the system's kexec."""
    out = layout.root / "debsys" / recipe_key(kernel_package, kernel_version)
    if (out / "done").is_file():
        return _stored(out)
    ensure_binfmt()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tree_tar = out / "tree.tar"
    bootstrap(tree_tar, kernel_package, kernel_version)
    with tempfile.TemporaryDirectory(prefix="debsys-", dir=out) as tmp:
        _extract(tree_tar, Path(tmp))
        system = make_image(Path(tmp), out, kernel_version)
    took = time.monotonic() - started
    (out / "build-seconds").write_text(f"{took:.0f}\n")
    (out / "done").write_text("")
    print(f"debsys: built {out} in {took:.0f} s", file=sys.stderr)
    return system


def deb_system(layout: CacheLayout, base: DebianSystem, deb: Path) -> DebianSystem:
    """The base tree with the project's .deb installed (dpkg -i through qemu-user), cached."""
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()[:16]
    out = base.image.parent / f"deb-{digest}"
    if (out / "done").is_file():
        return _stored(out)
    ensure_binfmt()
    with tempfile.TemporaryDirectory(prefix="debsys-", dir=base.image.parent) as tmp:
        root = Path(tmp)
        _extract(base.image.parent / "tree.tar", root)
        shutil.copyfile(deb, root / "tmp/pykexec.deb")
        _run(["chroot", str(root), "dpkg", "-i", "/tmp/pykexec.deb"])
        (root / "tmp/pykexec.deb").unlink()
        system = make_image(root, out, base.kernel_version)
    (out / "done").write_text("")
    return system


def pack_lab_disk(files: dict[str, bytes], out: Path) -> None:
    """The second disk: a bare tar (no file system) the guest unpacks with tar -xf /dev/vdb."""
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, fileobj=io.BytesIO(data))
    # virtio-blk wants whole 512-byte sectors
    size = out.stat().st_size
    with out.open("ab") as f:
        f.write(b"\0" * (-size % 512 + 1024 * 1024))
