#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: sets up Debian's kdump-tools (kdump-config) to drive a given loader.

Usage:
  kdump_tools.py install LOADER CMDLINE APPEND   (stage 1, before kdump-config runs)
  kdump_tools.py file PATH...                    (the file(1) stand-in kdump-config calls)

``install`` makes ``/sbin/kexec`` (kdump-config's ``KEXEC=/sbin/kexec``) be
LOADER unless LOADER is kexec-tools' ``kexec`` itself, writes
``/etc/default/kdump-tools``, and provides what the lab's root lacks and
kdump-config needs:

* ``/lib/lsb/init-functions`` (sourced unconditionally; lsb-base is not
  staged): the ``log_*_msg`` functions, printing Debian's ``[ ok ]``/``[FAIL]``
  tags so the host can watch for failures.
* ``file`` (busybox has none): ``kdump_load`` adds ``--args-linux`` only when
  ``file "$KDUMP_KERNEL" | grep ELF`` matches; ``check_symlink`` takes the last
  word of ``file LINK`` as the link target.  The stand-in answers exactly those
  two questions (ELF identification, symbolic link target).
* The state kdump-tools' kernel postinst hook leaves (it would run
  mkinitramfs, absent here, and exits 0 without it): ``/boot/vmlinux-$KVER``,
  ``/var/lib/kdump/initrd.img-$KVER`` (the lab's next-kernel initrd) and
  ``latest_sysctls-$KVER``, so ``kdump_create_symlinks``/``manage_symlinks``
  find valid links instead of printing failures.  They are irrelevant to the
  load itself: KDUMP_KERNEL and KDUMP_INITRD are given explicitly.
"""

from __future__ import annotations

import os
import shutil
import sys

SBIN_KEXEC = "/usr/sbin/kexec"  # /sbin is a symlink to usr/sbin in the lab's usr-merged root
DEFAULTS = "/etc/default/kdump-tools"
INIT_FUNCTIONS = "/lib/lsb/init-functions"
FILE_WRAPPER = "/usr/bin/file"
KDUMP_DIR = "/var/lib/kdump"  # kdump-config KDUMP_DIR
SYSCTL_FILE = "/etc/kdump/sysctl.conf"  # kdump-config KDUMP_SYSCTL_FILE
KERNEL = "/boot/vmlinux"
INITRD = "/boot/initrd.img"
KEXEC_TOOLS = "kexec"

# Debian's lsb-base prints these tags with fancy output (/lib/lsb/init-functions).
LSB_FUNCTIONS = """\
# /lib/lsb/init-functions stand-in for the pykexec lab (lab/guest/kdump_tools.py)
log_success_msg() { echo "[ ok ] $*"; }
log_failure_msg() { echo "[FAIL] $*"; }
log_warning_msg() { echo "[warn] $*"; }
log_action_msg() { echo "[info] $*."; }
log_daemon_msg() { printf '[....] %s' "$*"; }
log_end_msg() { if [ "$1" = 0 ]; then echo " ok"; else echo " failed"; fi; return "$1"; }
"""
FILE_SH = '#!/bin/sh\nexec python3 /lab/kdump_tools.py file "$@"\n'

ELF_MAGIC = b"\x7fELF"
_CLASS = {1: "32-bit", 2: "64-bit"}  # e_ident[EI_CLASS]
_DATA = {1: "LSB", 2: "MSB"}  # e_ident[EI_DATA]
_TYPE = {1: "relocatable", 2: "executable", 3: "shared object", 4: "core file"}  # e_type


def describe(path: str) -> str:
    """One ``file``-style line: ELF class, byte order and type, or a link target."""
    if os.path.islink(path):
        return f"{path}: symbolic link to {os.readlink(path)}"
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError as exc:
        return f"{path}: cannot open `{path}' ({exc.strerror})"
    if len(head) < 18 or head[:4] != ELF_MAGIC:
        return f"{path}: data"
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    kind = _TYPE.get(e_type, f"type {e_type}")
    return f"{path}: ELF {_CLASS.get(head[4], '?-bit')} {_DATA.get(head[5], '?')} {kind}"


def defaults(cmdline: str, append: str) -> str:
    """/etc/default/kdump-tools: explicit kernel, initrd and command line.

    kdump-config (kdump_load) passes ``--command-line="$KDUMP_CMDLINE
    $KDUMP_CMDLINE_APPEND"``; setting APPEND also drops its default
    ``systemd.unit=kdump-tools-dump.service`` (the lab's crash stage checks the dump).
    """
    return (
        "# written by lab/guest/kdump_tools.py\n"
        "USE_KDUMP=1\n"
        f"KDUMP_KERNEL={KERNEL}\n"
        f"KDUMP_INITRD={INITRD}\n"
        'KDUMP_COREDIR="/var/crash"\n'
        f'KDUMP_CMDLINE="{cmdline}"\n'
        f'KDUMP_CMDLINE_APPEND="{append}"\n'
    )


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _symlink(target: str, link: str) -> None:
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)


def install(loader: str, cmdline: str, append: str) -> None:
    """Put LOADER at /sbin/kexec, write the defaults, the helpers and the postinst state."""
    if loader != KEXEC_TOOLS:
        path = shutil.which(loader)
        if path is None:
            raise SystemExit(f"kdump_tools.py: loader {loader!r} not on PATH")
        _symlink(path, SBIN_KEXEC)
    _write(DEFAULTS, defaults(cmdline, append))
    _write(INIT_FUNCTIONS, LSB_FUNCTIONS)
    _write(FILE_WRAPPER, FILE_SH, 0o755)
    kver = os.uname().release
    _symlink(os.path.basename(KERNEL), f"{KERNEL}-{kver}")
    os.makedirs(KDUMP_DIR, exist_ok=True)
    _symlink(INITRD, f"{KDUMP_DIR}/initrd.img-{kver}")
    shutil.copyfile(SYSCTL_FILE, f"{KDUMP_DIR}/latest_sysctls-{kver}")
    print(f"LAB-RESULT sbin_kexec={os.path.realpath('/sbin/kexec')}", flush=True)
    print(f"LAB-RESULT kernel_release={kver}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "install":
        install(argv[1], argv[2], argv[3])
        return 0
    if len(argv) >= 2 and argv[0] == "file":
        for path in argv[1:]:
            print(describe(path))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
