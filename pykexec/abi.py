# SPDX-License-Identifier: GPL-2.0-or-later
"""The ppc64 kernel-entry ABI and the purgatory contract, each fact declared once. Pure.

Who relies on what: :mod:`pykexec.core.formats.elf` reads the new kernel's first 256 bytes
and its run-at-load word, :mod:`pykexec.core.crash.kdump` sizes the backup region,
:mod:`pykexec.core.arch.ppc64` applies the crash kernel's run-at-load rule, and the
purgatory (:mod:`pykexec.core.purgatory.ppc64`) implements the contract between them.
"""

from __future__ import annotations

from typing import Literal

#: Byte order of a kernel image, of the running kernel, of a purgatory: the spelling
#: ``int.from_bytes`` takes.
Endian = Literal["little", "big"]


def struct_prefix(endian: Endian) -> str:
    """The :mod:`struct` byte-order prefix for ``endian``."""
    return "<" if endian == "little" else ">"


# ---- the new kernel's head (arch/powerpc/kernel/head_64.S, first_256B section) ---------------
RUN_AT_LOAD_OFFSET = 0x5C  # __run_at_load: u32 in the kernel's byte order
RUN_AT_LOAD_MAGIC = 0x72756E30  # "run0", RUN_AT_LOAD_DEFAULT: relocate to 0 (CONFIG_RELOCATABLE)
RUN_AT_LOAD_STAY = 1  # "set to 1 by a loader if the kernel should run at the loaded address"
SECONDARY_HOLD_OFFSET = 0x60  # __secondary_hold: where kexec_sequence releases the other CPUs
# kexec_sequence (arch/powerpc/kernel/misc_64.S) copies this many bytes of the entry point
# (the purgatory) to physical 0 before jumping to it (copy_and_flush).
HEAD_SIZE = 0x100


def run_at_load_for_crash(word: int) -> int | None:
    """The run-at-load word for a crash kernel whose own word is ``word``: a relocatable
    kernel ("run0") is told to stay where it is loaded, inside the crash region; any other
    word is left as it is (kexec-tools kexec/arch/ppc64/kexec-elf-ppc64.c,
    ``elf_ppc64_load``: "fixed offset image")."""
    return RUN_AT_LOAD_STAY if word == RUN_AT_LOAD_MAGIC else None


# ---- the purgatory contract --------------------------------------------------------------------
# The crash kernel runs where it is loaded but still uses the first 64 KiB for its exception
# vectors: the purgatory copies them to a backup segment first (kexec-tools
# kexec/arch/ppc64/crashdump-ppc64.h BACKUP_SRC_SIZE; purgatory/arch/ppc64/purgatory-ppc64.c).
BACKUP_SIZE = 0x10000
SHA256_REGIONS = 16  # kexec-tools include/kexec-sha256.h SHA256_REGIONS
SHA256_DIGEST_SIZE = 32  # FIPS 180-4
# kexec_sequence enters the purgatory with r3 = this CPU's hardware id, r4 = the entry
# address, r5 = 0, MMU off, in the running kernel's byte order; the purgatory enters the
# kernel with r3 = device tree, r4 = kernel, r5 = 0 (the "kexec-style" entry of head_64.S
# __start_initialization_multiplatform), r8/r9 = OPAL base/entry on PowerNV.
