# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the purgatory prints, as a parameter: the pSeries hypervisor terminal, OPAL's
console on PowerNV, nothing, or (test builds) Linux's write(2).

:func:`emit_putc` emits ``putc`` (r3 = character) for a :class:`Console`; for
:attr:`Console.OPAL` it also needs :func:`emit_opal_call`, the OPAL entry sequence.  No
``sc`` instruction is emitted except for :attr:`Console.HVTERM` (a hypervisor call) and
:attr:`Console.LINUX_WRITE`: where there is no hypervisor, ``sc 1`` would trap into the
dead kernel's vectors.  The slots the routines read (``opal_base``, ``opal_entry``,
``opal_terminal``) belong to :mod:`.ppc64`.  Pure: no I/O.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from pykexec.core.purgatory.asm import Assembler, Ref
from pykexec.core.purgatory.isa import (
    GPR,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R11,
    R12,
    R31,
    SPR,
)
from pykexec.core.purgatory.sha256 import emit_address_of, emit_epilogue, emit_prologue


class Console(str, Enum):
    """Where the purgatory prints (debug progress and the digest mismatch report)."""

    HVTERM = "hvterm"  # pSeries: H_PUT_TERM_CHAR, a hypervisor call (sc 1)
    OPAL = "opal"  # PowerNV: OPAL_CONSOLE_WRITE through OPAL's entry point, no sc
    NONE = "none"  # no known console: print nothing
    LINUX_WRITE = "linux-write"  # write(1, ...) syscall: only for tests under qemu-user

    def __str__(self) -> str:
        return self.value


def console_for(*, hvterm: bool, opal_terminal: int | None, opal_entry: int) -> Console:
    """The console kind for a machine: hvterm stdout, else an OPAL console, else none."""
    if hvterm:
        return Console.HVTERM
    if opal_terminal is not None and opal_entry:
        return Console.OPAL
    return Console.NONE


# ABI numbers and offsets, named in class namespaces: nothing iterates them or looks them up
# by value, and each Enum class would cost ~0.1 ms to create at import (~3 ms in a guest).


class HCall:
    """PAPR hypervisor call numbers (LoPAPR §14.5.4.3.5 "H_PUT_TERM_CHAR")."""

    H_PUT_TERM_CHAR: Final = 0x58


class OpalCall:
    """OPAL tokens and return codes (skiboot include/opal-api.h; doc/opal-api/
    opal-console-read-write-1-2.rst), and what the caller must set up (skiboot
    asm/head.S ``opal_entry``: r0 = token, r2 = OPAL base, r3..r10 = arguments,
    r11/r12 scratch, r13..r31 preserved, OPAL switches to its own per-CPU stack and
    returns with blr; Linux arch/powerpc/platforms/powernv/opal-wrappers.S
    ``opal_call_realmode``: enter with hrfid, HSRR1 = MSR with MSR_LE cleared).
    """

    CONSOLE_WRITE: Final = 1  # (int64 term, __be64 *length, const u8 *buffer)
    POLL_EVENTS: Final = 10  # (__be64 *outstanding_event_mask), NULL allowed
    CONSOLE_FLUSH: Final = 117  # (int64 term)
    SUCCESS: Final = 0
    BUSY: Final = -2
    PARTIAL: Final = -3
    BUSY_EVENT: Final = -12
    RETRIES: Final = 1000  # bounded: a dead console must not keep the next kernel waiting


class Msr:
    """MSR bits (Power ISA v2.07 Book III-S §4.2.1, bit 63 is the least significant)."""

    LE: Final = 1 << 0
    DR: Final = 1 << 4
    IR: Final = 1 << 5
    EE: Final = 1 << 15


class LinuxSyscall:
    """powerpc syscall numbers (arch/powerpc/kernel/syscalls/syscall.tbl), for test builds."""

    EXIT: Final = 1
    WRITE: Final = 4


def emit_putc(a: Assembler, console: Console) -> None:
    """``putc``: r3 = character.  Clobbers r0, r2-r12 (r2 only for OPAL)."""
    if console is Console.OPAL:
        _emit_opal_putc(a)
        return
    a.label("putc")
    if console is Console.HVTERM:
        # hvCall ABI (LoPAPR §14.5.4.3.5): r3 = opcode, r4 = termno, r5 = length,
        # r6/r7 = up to 16 bytes, big-endian, first byte in r6's most significant byte.
        crlf = a.new_label("crlf")
        a.mr(R8, R3)
        a.cmpwi(R3, ord("\n"))
        a.bne(crlf)
        a.li(R8, ord("\r") << 8 | ord("\n"))  # "\r\n" in two bytes
        a.li(R5, 2)
        a.sldi(R6, R8, 48)
        a.b(crlf + "_call")
        a.label(crlf)
        a.li(R5, 1)
        a.sldi(R6, R8, 56)
        a.label(crlf + "_call")
        a.li(R3, HCall.H_PUT_TERM_CHAR)
        a.li(R4, 0)
        a.li(R7, 0)
        a.sc(1)  # hypervisor call, 0x44000022
    elif console is Console.LINUX_WRITE:
        a.stb(R3, -8, R1)  # in the ABI's red zone below the stack pointer
        a.li(R0, LinuxSyscall.WRITE)
        a.li(R3, 1)
        a.addi(R4, R1, -8)
        a.li(R5, 1)
        a.sc(0)
    a.blr()


# opal_byte's frame: back chain, LR, saved r31, the big-endian length, the byte.
_OPAL_FRAME, _OPAL_LEN, _OPAL_BUF = 48, 24, 32


def _emit_opal_putc(a: Assembler) -> None:
    """``putc`` through OPAL_CONSOLE_WRITE, "\n" as "\r\n" (as Linux's udbg_opal_putc in
    drivers/tty/hvc/hvc_opal.c does, since no tty layer adds the carriage return)."""
    plain = a.new_label("plain")
    a.label("putc")
    emit_prologue(a, 32, (R31,))
    a.mr(R31, R3)
    a.cmpwi(R3, ord("\n"))
    a.bne(plain)
    a.li(R3, ord("\r"))
    a.bl("opal_byte")
    a.label(plain)
    a.mr(R3, R31)
    a.bl("opal_byte")
    emit_epilogue(a, 32, (R31,))
    _emit_opal_byte(a)


def _opal(a: Assembler, token: int) -> None:
    """Call OPAL with ``token``, the console's terminal number as first argument (r4 here,
    r3 for OPAL), further arguments in r5, r6."""
    a.li(R3, token)
    emit_address_of(a, R4, "opal_terminal")
    a.ld(R4, 0, R4)
    a.bl("opal_call")


def _emit_opal_byte(a: Assembler) -> None:
    """``opal_byte``: write r3's low byte with OPAL_CONSOLE_WRITE, then OPAL_CONSOLE_FLUSH.

    A busy console (OPAL_BUSY, OPAL_BUSY_EVENT, or nothing written) is retried after
    OPAL_POLL_EVENTS, at most ``OpalCall.RETRIES`` times; any other error drops the byte.
    The flush is repeated while OPAL says OPAL_PARTIAL or OPAL_BUSY, as often at most.
    """
    retry, busy, written, flush, again, out = (
        a.new_label(n) for n in ("retry", "busy", "written", "flush", "again", "out")
    )
    a.label("opal_byte")
    emit_prologue(a, _OPAL_FRAME, (R31,))
    a.stb(R3, _OPAL_BUF, R1)
    a.li(R31, OpalCall.RETRIES)
    a.label(retry)
    a.li(R3, 1)
    a.addi(R4, R1, _OPAL_LEN)
    _store_be64(a, R3, R4)
    a.addi(R5, R1, _OPAL_LEN)
    a.addi(R6, R1, _OPAL_BUF)
    _opal(a, OpalCall.CONSOLE_WRITE)
    a.cmpdi(R3, OpalCall.SUCCESS)
    a.bne(busy)
    a.addi(R4, R1, _OPAL_LEN)
    _load_be64(a, R4, R4)
    a.cmpdi(R4, 0)
    a.bne(written)
    a.label(busy)
    a.cmpdi(R3, OpalCall.SUCCESS)
    a.beq(again)  # nothing written
    a.cmpdi(R3, OpalCall.BUSY)
    a.beq(again)
    a.cmpdi(R3, OpalCall.BUSY_EVENT)
    a.bne(out)
    a.label(again)
    a.li(R3, OpalCall.POLL_EVENTS)
    a.li(R4, 0)  # no event mask wanted
    a.bl("opal_call")
    a.addi(R31, R31, -1)
    a.cmpdi(R31, 0)
    a.bne(retry)
    a.b(out)
    a.label(written)
    a.li(R31, OpalCall.RETRIES)
    a.label(flush)
    _opal(a, OpalCall.CONSOLE_FLUSH)
    a.addi(R31, R31, -1)
    a.cmpdi(R31, 0)
    a.beq(out)
    a.cmpdi(R3, OpalCall.PARTIAL)
    a.beq(flush)
    a.cmpdi(R3, OpalCall.BUSY)
    a.beq(flush)
    a.label(out)
    emit_epilogue(a, _OPAL_FRAME, (R31,))


def _store_be64(a: Assembler, rs: GPR, ra: GPR) -> None:
    if a.endian == "big":
        a.std(rs, 0, ra)
    else:
        a.stdbrx(rs, R0, ra)


def _load_be64(a: Assembler, rt: GPR, ra: GPR) -> None:
    if a.endian == "big":
        a.ld(rt, 0, ra)
    else:
        a.ldbrx(rt, R0, ra)


def emit_opal_call(a: Assembler) -> None:
    """``opal_call``: r3 = OPAL token, r4..r6 = its arguments; returns OPAL's r3.

    OPAL runs big-endian in real mode (skiboot asm/head.S ``opal_entry``).  A big-endian
    purgatory already runs that way (MMU off since kexec_sequence) and calls the entry
    directly.  A little-endian one enters it with hrfid, HSRR1 = its MSR without LE (and
    without EE, IR, DR, as Linux's opal-wrappers.S does), LR = ``opal_return``; OPAL
    returns there big-endian, and an endian-neutral trampoline switches back.
    """
    a.label("opal_call")
    emit_prologue(a, 32, ())
    a.mr(R0, R3)
    a.mr(R3, R4)
    a.mr(R4, R5)
    a.mr(R5, R6)
    emit_address_of(a, R11, "opal_base")
    a.ld(R2, 0, R11)
    a.ld(R12, Ref("opal_entry", "opal_base"), R11)
    if a.endian == "big":
        a.mtctr(R12)
        a.bctrl()
    else:
        a.mtspr(SPR.HSRR0, R12)
        emit_address_of(a, R12, "opal_return")
        a.mtlr(R12)
        a.mfmsr(R11)
        a.li(R12, 0)
        a.ori(R12, R12, Msr.EE | Msr.IR | Msr.DR | Msr.LE)
        a.andc(R11, R11, R12)
        a.mtspr(SPR.HSRR1, R11)
        a.hrfid()
        _emit_endian_trampoline(a, "opal_return", "opal_back")
    a.label("opal_back")
    emit_epilogue(a, 32, ())


# tdi 0,0,0x48 (trap never) reads as "b .+8" (0x48000008) in the other byte order: the
# endian-neutral first word of Linux's FIXUP_ENDIAN (arch/powerpc/include/asm/ppc_asm.h).
_TRAP_NEVER_IS_B8 = 0x48


def _emit_endian_trampoline(a: Assembler, name: str, back: str) -> None:
    """At ``name``: continue at ``back`` in this program's byte order, whichever byte order
    the CPU arrives in.  Arriving in the other one, word 0 branches to word 2, where
    instructions encoded in the other byte order set MSR_LE and hrfid to ``back``."""
    a.label(name)
    a.tdi(0, R0, _TRAP_NEVER_IS_B8)
    a.b(back)
    other = Assembler("big" if a.endian == "little" else "little")
    other.mfmsr(R11)
    other.xori(R11, R11, Msr.LE)  # the other byte order's LE bit is the opposite of ours
    other.bcl(20, 31, "next")
    other.label("next")
    other.mflr(R12)
    other.addi(R12, R12, Ref("end", "next"))
    other.mtspr(SPR.HSRR0, R12)
    other.mtspr(SPR.HSRR1, R11)
    other.hrfid()
    other.label("end")
    a.label(name + "_other_endian")
    a.bytes(other.assemble().code)
