# SPDX-License-Identifier: GPL-2.0-or-later
"""The pykexec lab: a real ppc64le Linux under QEMU where kexec and kdump are proven.

Host-side tooling only (never imported by the ``pykexec`` runtime).  Modules:
``paths`` (cache layout), ``assets`` (Debian packages -> staging root),
``elfdeps`` (shared-library closure), ``cpio`` (newc writer), ``initramfs``
(guest archives), ``vm`` (QEMU process + console), ``scenarios`` (scenarios as
data), ``runner`` (drives a scenario, times it), ``capture`` (guest snapshots),
``__main__`` (CLI).
"""
