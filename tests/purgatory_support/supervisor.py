# SPDX-License-Identifier: GPL-2.0-or-later
"""A pretend supervisor and a pretend OPAL for running the purgatory under qemu-user.

qemu-user runs problem-state code only: ``mfmsr``, ``mtspr`` of SRR0/1 and HSRR0/1,
``rfid`` and ``hrfid`` raise SIGILL there.  :func:`emit_install` makes the harness
install :func:`handler_code` as the SIGILL handler; it emulates exactly those
instructions on the interrupted context (the ``pt_regs`` behind the ucontext),
including MSR_LE: the kernel (and qemu-user's linux-user/ppc/signal.c) restores the
interrupted context's MSR_LE bit on sigreturn, so an emulated ``hrfid`` really switches
the CPU's byte order.  The handler itself always runs in the executable's byte order.
``mtmsrd`` is accepted and ignored.  Any other privileged instruction ends the program
with :data:`EXIT_UNKNOWN`.

:func:`opal_code` is a fake OPAL entry point, big-endian as OPAL is: it writes a record
of each call (r0, r3, r4, r5, its MSR_LE, r2: six big-endian u64) to stderr, writes the
buffer of an OPAL_CONSOLE_WRITE to stdout and returns OPAL_SUCCESS with the length
untouched (everything written).  Entered little-endian, it exits with
:data:`EXIT_OPAL_LE` instead.
"""

from __future__ import annotations

import struct

from pykexec.abi import Endian, struct_prefix
from pykexec.core.purgatory.asm import Assembler
from pykexec.core.purgatory.isa import (
    R0,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    R11,
    R12,
    SPR,
)

EXIT_UNKNOWN = 99  # a privileged instruction the supervisor does not emulate
EXIT_OPAL_LE = 97  # OPAL entered with MSR_LE set

# Linux powerpc syscalls (arch/powerpc/kernel/syscalls/syscall.tbl) and signal ABI
# (arch/powerpc/include/uapi/asm/{signal,ucontext,ptrace}.h): ucontext's uc_mcontext
# starts at 168 (flags, link, stack, sigmask, 15 unused sigsets); its ``regs`` pointer
# is at +56 of it; pt_regs holds gpr[0..31], then nip, msr.
SYS_EXIT, SYS_WRITE, SYS_RT_SIGACTION = 1, 4, 173
SIGILL, SA_SIGINFO = 4, 4
UC_REGS = 168 + 56
PT_NIP, PT_MSR = 32 * 8, 33 * 8
# MSR of the pretend machine: SF, HV, ME, RI (Power ISA Book III-S §4.2.1); LE is live.
FAKE_MSR = (1 << 63) | (1 << 60) | (1 << 12) | (1 << 1)
OPAL_CONSOLE_WRITE = 1
RECORD = 48  # bytes per OPAL call record on stderr

# Instruction patterns (primary opcode 31 / 19, extended opcode; Power ISA Book III-S).
_MFMSR, _MFMSR_MASK = 0x7C0000A6, 0xFC1FFFFF
_MTSPR, _MTSPR_MASK = 0x7C0003A6, 0xFC0007FF
_MTMSRD, _MTMSRD_MASK = 0x7C000164, 0xFC1EFFFF  # either L
_RFID, _HRFID = 0x4C000024, 0x4C000224


def _other(endian: Endian) -> Endian:
    return "big" if endian == "little" else "little"


def emit_install(a: Assembler, sigaction: int) -> None:
    """rt_sigaction(SIGILL, sigaction, NULL, 8): ``sigaction`` is :func:`sigaction_data`."""
    a.li(R0, SYS_RT_SIGACTION)
    a.li(R3, SIGILL)
    a.load_imm64(R4, sigaction)
    a.li(R5, 0)
    a.li(R6, 8)
    a.sc()


def sigaction_data(endian: Endian, handler: int) -> bytes:
    """struct sigaction as the kernel takes it: handler, flags, restorer, mask."""
    return struct.pack(struct_prefix(endian) + "4Q", handler, SA_SIGINFO, 0, 0)


def _exit(a: Assembler, status: int) -> None:
    a.li(R3, status)
    a.li(R0, SYS_EXIT)
    a.sc()


def handler_code(endian: Endian, sprs: int) -> bytes:
    """The SIGILL handler (r5 = ucontext); ``sprs`` is a 1024 x u64 emulated SPR file."""
    a = Assembler(endian)
    home_le = 1 if endian == "little" else 0
    a.ld(R6, UC_REGS, R5)  # pt_regs
    a.ld(R7, PT_NIP, R6)
    a.ld(R8, PT_MSR, R6)
    a.clrldi(R9, R8, 63)  # the interrupted context's MSR_LE
    a.cmpdi(R9, home_le)
    a.beq("native")
    a.lwbrx(R10, R0, R7)  # fetched in the other byte order than ours
    a.b("have")
    a.label("native")
    a.lwz(R10, 0, R7)
    a.label("have")
    a.load_imm64(R12, sprs)
    a.srwi(R11, R10, 21)
    a.clrlwi(R11, R11, 27)
    a.sldi(R11, R11, 3)  # 8 * the RT/RS field
    _match(a, _MFMSR_MASK, _MFMSR, "not_mfmsr")
    a.load_imm64(R10, FAKE_MSR)
    a.or_(R10, R10, R9)
    a.stdx(R10, R6, R11)
    a.b("advance")
    a.label("not_mfmsr")
    _match(a, _MTSPR_MASK, _MTSPR, "not_mtspr")
    a.srwi(R0, R10, 16)
    a.clrlwi(R0, R0, 27)  # spr[5:9] is the low half
    a.srwi(R2, R10, 11)
    a.clrlwi(R2, R2, 27)
    a.slwi(R2, R2, 5)
    a.or_(R0, R0, R2)
    a.sldi(R0, R0, 3)
    a.ldx(R2, R6, R11)
    a.stdx(R2, R12, R0)
    a.b("advance")
    a.label("not_mtspr")
    # mtmsrd: accepted and ignored (qemu-user runs with FP, VEC and VSX enabled; MSR_LE
    # changes only through (h)rfid here).
    _match(a, _MTMSRD_MASK, _MTMSRD, "not_mtmsrd")
    a.b("advance")
    a.label("not_mtmsrd")
    for word, srr0 in ((_RFID, SPR.SRR0), (_HRFID, SPR.HSRR0)):
        skip = a.new_label("not_rfi")
        _match(a, 0xFFFFFFFF, word, skip)
        a.ld(R7, 8 * srr0, R12)
        a.std(R7, PT_NIP, R6)
        a.ld(R2, 8 * (srr0 + 1), R12)
        a.clrldi(R2, R2, 63)
        a.rldicr(R8, R8, 0, 62)
        a.or_(R8, R8, R2)
        a.std(R8, PT_MSR, R6)
        a.blr()
        a.label(skip)
    _exit(a, EXIT_UNKNOWN)
    a.label("advance")
    a.addi(R7, R7, 4)
    a.std(R7, PT_NIP, R6)
    a.blr()
    return a.assemble().code


def _match(a: Assembler, mask: int, value: int, otherwise: str) -> None:
    """Branch to ``otherwise`` unless (r10 & mask) == value (r3, r4 scratch)."""
    a.load_imm64(R3, mask)
    a.and_(R3, R10, R3)
    a.load_imm64(R4, value)
    a.cmpd(R3, R4)
    a.bne(otherwise)


def opal_code(records: int) -> bytes:
    """The fake OPAL entry (big-endian code); ``records`` is a 48-byte scratch area."""
    a = Assembler("big")
    a.tdi(0, R0, 0x48)  # "b .+8" when fetched little-endian
    a.b("big_endian")
    probe = Assembler("little")
    _exit(probe, EXIT_OPAL_LE)
    a.bytes(probe.assemble().code)
    a.label("big_endian")
    a.mfmsr(R11)
    a.clrldi(R11, R11, 63)
    a.load_imm64(R12, records)
    for i, reg in enumerate((R0, R3, R4, R5, R11, R2)):
        a.std(reg, 8 * i, R12)
    a.mr(R6, R0)
    a.mr(R8, R4)
    a.mr(R9, R5)
    a.li(R0, SYS_WRITE)
    a.li(R3, 2)
    a.mr(R4, R12)
    a.li(R5, RECORD)
    a.sc()
    a.cmpdi(R6, OPAL_CONSOLE_WRITE)
    a.bne("done")
    a.ld(R5, 0, R8)  # the big-endian length
    a.li(R0, SYS_WRITE)
    a.li(R3, 1)
    a.mr(R4, R9)
    a.sc()
    a.label("done")
    a.li(R3, 0)  # OPAL_SUCCESS
    a.blr()
    return a.assemble().code


def records(stderr: bytes) -> list[tuple[int, ...]]:
    """The fake OPAL's call records: (r0, r3, r4, r5, msr_le, r2) each."""
    usable = len(stderr) - len(stderr) % RECORD
    return [
        tuple(int.from_bytes(stderr[i + 8 * k : i + 8 * k + 8], "big") for k in range(6))
        for i in range(0, usable, RECORD)
    ]
