# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's kexec interface numbers (include/uapi/linux/kexec.h,
include/uapi/linux/reboot.h), as plain integers.

Plain ints, no enums: this module is on the quick actions' fast path (see
:mod:`pykexec.system.control`).  :mod:`pykexec.core.layout` builds its ``KexecFlags`` from these.
"""

from __future__ import annotations

import errno

# kexec_load(2) flags
KEXEC_ON_CRASH = 0x1
KEXEC_PRESERVE_CONTEXT = 0x2
KEXEC_UPDATE_ELFCOREHDR = 0x4
KEXEC_CRASH_HOTPLUG_SUPPORT = 0x8
KEXEC_DEBUG = 0x10
KEXEC_ARCH_PPC64 = 21 << 16  # KEXEC_ARCH_PPC64 = EM_PPC64 << 16
KEXEC_SEGMENT_MAX = 16

# kexec_file_load(2) flags
KEXEC_FILE_UNLOAD = 0x1
KEXEC_FILE_ON_CRASH = 0x2
KEXEC_FILE_NO_INITRAMFS = 0x4
KEXEC_FILE_DEBUG = 0x8
KEXEC_FILE_NO_CMA = 0x10
KEXEC_FILE_FORCE_DTB = 0x20
KEXEC_FILE_FLAG_NAMES = (
    (KEXEC_FILE_UNLOAD, "UNLOAD"),
    (KEXEC_FILE_ON_CRASH, "ON_CRASH"),
    (KEXEC_FILE_NO_INITRAMFS, "NO_INITRAMFS"),
    (KEXEC_FILE_DEBUG, "DEBUG"),
    (KEXEC_FILE_NO_CMA, "NO_CMA"),
    (KEXEC_FILE_FORCE_DTB, "FORCE_DTB"),
)

# kexec-tools' do_kexec_file_load(): with -a, only these errors of kexec_file_load mean
# "try kexec_load".  524 is the kernel-internal ENOTSUPP (include/linux/errno.h) that
# ppc64 kexec_file_load returned for crash images before Linux 5.9.
ENOTSUPP_KERNEL = 524
FILE_LOAD_FALLBACK = frozenset(
    {errno.ENOSYS, errno.EINVAL, errno.ENOEXEC, errno.ENOTSUP, ENOTSUPP_KERNEL}
)

# reboot(2)
LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 672274793
LINUX_REBOOT_CMD_KEXEC = 0x45584543


def file_flag_names(flags: int) -> str:
    """``ON_CRASH|NO_INITRAMFS`` for a kexec_file_load flags word (``0`` for none)."""
    names = [name for bit, name in KEXEC_FILE_FLAG_NAMES if flags & bit]
    return "|".join(names) or "0"
