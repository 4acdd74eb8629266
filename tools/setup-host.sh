#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Host set-up for a fresh Debian 12 machine (root): the packages the tests and the lab
# need, pykexec with its test extras, and the lab's guest assets (cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
# A partly failing index (a mirror mid-sync, seen for the ppc64el security index) is
# not fatal here: the installs below fail clearly if a package is really missing.
$SUDO apt-get update -q || echo "setup-host: apt-get update reported errors; continuing" >&2
# The test oracles: qemu-user runs the purgatory, the cross binutils check the encoder,
# dtc checks the device trees; swig, gcc, python3-dev (and libfdt-dev) build pylibfdt;
# kmod's modinfo checks the lean kdump payload's module order (lab.kmods); swtpm is the
# software TPM behind the measured-boot guest's vTPM (lab/vtpm.py).
$SUDO apt-get install -y -q --no-install-recommends \
    python3 python3-pip python3-venv python3-dev git ca-certificates \
    qemu-system-ppc qemu-user swtpm \
    binutils-powerpc64le-linux-gnu binutils-powerpc64-linux-gnu \
    device-tree-compiler libfdt-dev swig gcc \
    cpio xz-utils zstd dpkg-dev man-db groff-base shellcheck kmod
PY=${PYTHON:-python3}
$PY -m pip install -q --upgrade pip 2>/dev/null || true
$PY -m pip install -q -e '.[test]' || $PY -m pip install -q --break-system-packages -e '.[test]'
$SUDO $PY -m lab setup
# The Debian package's build and checks (tests/test_deb.py: dpkg-buildpackage from a clean
# export, lintian; the package-life tests use dpkg, unshare and chroot, which Debian has).
$SUDO apt-get install -y -q --no-install-recommends debhelper dh-python lintian
# The Debian system lab (lab/debsys.py): mmdebstrap bootstraps a ppc64el Debian 12 root
# through qemu-user (qemu-user-static and binfmt-support register it with binfmt_misc;
# arch-test is mmdebstrap's check of it), debugfs (e2fsprogs) reads results off the
# image; debhelper and dh-python build the project's .deb the image installs.
$SUDO apt-get install -y -q --no-install-recommends \
    mmdebstrap arch-test qemu-user-static binfmt-support e2fsprogs debhelper dh-python
