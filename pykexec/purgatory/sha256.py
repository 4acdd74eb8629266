"""SHA-256 (FIPS 180-4) as PowerPC routines emitted into an :class:`~.asm.Assembler`.

Calling convention of every routine here (ELF ABI style, so they nest): arguments
in r3..r5, r0 and r3..r12 and CR0 are clobbered, r14..r31 and r1 are preserved,
each routine that calls another keeps LR in its own stack frame (back chain at
0(r1), saved LR at 8(r1)).  None of them needs a TOC: constants are found
PC-relative with ``bcl 20,31,$+4; mflr``.

* ``sha256_init``   r3 = context
* ``sha256_update`` r3 = context, r4 = data, r5 = length in bytes
* ``sha256_final``  r3 = context, r4 = 32-byte output (the digest, big-endian bytes)
* ``sha256_blocks`` r3 = state (8 words), r4 = data, r5 = number of 64-byte blocks

The compression loop is fully unrolled with the eight working variables in
r14..r21 and the 16-word message schedule in the stack frame; message words are
loaded big-endian (``lwbrx`` on a little-endian CPU, ``lwz`` on a big-endian one).
Every 32-bit quantity lives in the low word of a 64-bit register: ``rlwinm`` and
the logical/add instructions only feed low-word results forward, so the high
word may hold garbage and is never stored.
"""

from __future__ import annotations

from typing import Final

from pykexec.purgatory.asm import Assembler, Endian, Ref
from pykexec.purgatory.isa import (
    GPR,
    R0,
    R1,
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
    R14,
    R21,
    R26,
    R27,
    R28,
    R29,
    R30,
    R31,
)

# FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the
# first 64 primes.
K: tuple[int, ...] = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip

# FIPS 180-4 §5.3.3: initial hash value H(0).
H0: tuple[int, ...] = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip


class ContextLayout:
    """The SHA-256 context the routines keep in memory (native byte order words).

    Constants in a class namespace: creating a dataclass costs more at import.
    """

    state: Final = 0  # 8 x u32 working hash
    count: Final = 32  # u64 bytes hashed so far
    buffer: Final = 40  # 64 bytes of a partial block
    size: Final = 112  # rounded up to 16


CTX = ContextLayout()

_BLOCK_FRAME = 16 + 8 * 8 + 64  # back chain, LR, r14..r21, W[16]
_W = 16 + 8 * 8
_CALL_FRAME = 16 + 6 * 8 + 16  # back chain, LR, r26..r31, 16 bytes of locals
_LOCAL = 16 + 6 * 8


def emit_prologue(a: Assembler, frame: int, saved: tuple[GPR, ...]) -> None:
    """Open a stack frame of ``frame`` bytes, save LR at 8(r1) and ``saved`` from 16(r1)."""
    a.stdu(R1, -frame, R1)
    a.mflr(R0)
    a.std(R0, 8, R1)
    for i, reg in enumerate(saved):
        a.std(reg, 16 + 8 * i, R1)


def emit_epilogue(a: Assembler, frame: int, saved: tuple[GPR, ...]) -> None:
    """Undo :func:`emit_prologue` and return."""
    a.ld(R0, 8, R1)
    a.mtlr(R0)
    for i, reg in enumerate(saved):
        a.ld(reg, 16 + 8 * i, R1)
    a.addi(R1, R1, frame)
    a.blr()


def emit_address_of(a: Assembler, rt: GPR, label: str) -> None:
    """rt = run-time address of ``label`` (PC-relative, within 32 KiB; clobbers LR)."""
    here = a.new_label("pc")
    a.bcl(20, 31, here)  # BO=20 BI=31: always, not a subroutine return (ISA Book I §2.4)
    a.label(here)
    a.mflr(rt)
    a.addi(rt, rt, Ref(label, here))


def _load_message_word(a: Assembler, endian: Endian, rt: GPR, t: int) -> None:
    if endian is Endian.LITTLE:
        a.lwbrx(rt, 0, R4)
        a.addi(R4, R4, 4)
    else:
        a.lwz(rt, 4 * t, R4)


def _schedule(a: Assembler, t: int, w: GPR, t0: GPR, t2: GPR, t3: GPR) -> None:
    """w = W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], kept in a 16-word ring."""

    def slot(i: int) -> int:
        return _W + 4 * (i % 16)

    a.lwz(t0, slot(t - 15), R1)
    a.lwz(w, slot(t - 2), R1)
    a.rotrwi(t2, t0, 7)
    a.rotrwi(t3, t0, 18)
    a.srwi(t0, t0, 3)
    a.xor(t0, t0, t2)
    a.xor(t0, t0, t3)  # σ0
    a.rotrwi(t2, w, 17)
    a.rotrwi(t3, w, 19)
    a.srwi(w, w, 10)
    a.xor(w, w, t2)
    a.xor(w, w, t3)  # σ1
    a.add(w, w, t0)
    a.lwz(t0, slot(t - 7), R1)
    a.lwz(t2, slot(t - 16), R1)
    a.add(w, w, t0)
    a.add(w, w, t2)


def _rounds(a: Assembler, endian: Endian) -> None:
    """64 rounds with register renaming; afterwards the names are back where they started."""
    v = [GPR(R14 + i) for i in range(8)]  # a b c d e f g h
    t0, t1, t2, t3, xbc, kp = R6, R7, R8, R9, R10, R11
    a.xor(xbc, v[1], v[2])  # b ^ c, for Maj
    for t in range(64):
        av, bv, _, dv, ev, fv, gv, hv = v
        if t < 16:
            _load_message_word(a, endian, t1, t)
        else:
            _schedule(a, t, t1, t0, t2, t3)
        a.stw(t1, _W + 4 * (t % 16), R1)
        a.lwz(t0, 4 * t, kp)
        a.add(hv, hv, t1)
        a.add(hv, hv, t0)  # h + K[t] + W[t]
        a.rotrwi(t0, ev, 6)
        a.rotrwi(t1, ev, 11)
        a.rotrwi(t2, ev, 25)
        a.xor(t0, t0, t1)
        a.xor(t0, t0, t2)
        a.add(hv, hv, t0)  # + Σ1(e)
        a.xor(t0, fv, gv)
        a.and_(t0, t0, ev)
        a.xor(t0, t0, gv)
        a.add(hv, hv, t0)  # + Ch(e,f,g) = T1
        a.add(dv, dv, hv)  # e' = d + T1
        a.rotrwi(t0, av, 2)
        a.rotrwi(t1, av, 13)
        a.rotrwi(t2, av, 22)
        a.xor(t0, t0, t1)
        a.xor(t0, t0, t2)
        a.add(hv, hv, t0)  # T1 + Σ0(a)
        a.xor(t1, av, bv)  # a ^ b (next round's b ^ c)
        a.and_(xbc, xbc, t1)
        a.xor(xbc, xbc, bv)  # Maj(a,b,c) = b ^ ((a^b) & (b^c))
        a.add(hv, hv, xbc)  # a' = T1 + T2
        xbc, t1 = t1, xbc
        v = [hv, av, bv, v[2], dv, ev, fv, gv]
    if endian is Endian.BIG:
        a.addi(R4, R4, 64)


def emit_blocks(a: Assembler, endian: Endian) -> None:
    """``sha256_blocks``: r3 = 8-word state, r4 = data, r5 = number of 64-byte blocks."""
    saved = tuple(GPR(r) for r in range(R14, R21 + 1))
    a.label("sha256_blocks")
    done = a.new_label("done")
    loop = a.new_label("block")
    emit_prologue(a, _BLOCK_FRAME, saved)
    a.cmpdi(R5, 0)
    a.beq(done)
    emit_address_of(a, R11, "sha256_k")
    a.mtctr(R5)
    a.label(loop)
    for i in range(8):
        a.lwz(GPR(R14 + i), 4 * i, R3)
    _rounds(a, endian)
    for i in range(8):
        a.lwz(R0, 4 * i, R3)
        a.add(GPR(R14 + i), GPR(R14 + i), R0)
        a.stw(GPR(R14 + i), 4 * i, R3)
    a.bdnz(loop)
    a.label(done)
    emit_epilogue(a, _BLOCK_FRAME, saved)


def emit_init(a: Assembler) -> None:
    """``sha256_init``: r3 = context."""
    a.label("sha256_init")
    a.mflr(R12)
    emit_address_of(a, R11, "sha256_h0")
    a.mtlr(R12)
    for i in range(8):
        a.lwz(R0, 4 * i, R11)
        a.stw(R0, CTX.state + 4 * i, R3)
    a.li(R0, 0)
    a.std(R0, CTX.count, R3)
    a.blr()


def emit_update(a: Assembler) -> None:
    """``sha256_update``: r3 = context, r4 = data, r5 = length."""
    saved = (R26, R27, R28, R29, R30, R31)
    loop, bytewise, done = a.new_label("upd"), a.new_label("byte"), a.new_label("upd_done")
    a.label("sha256_update")
    emit_prologue(a, _CALL_FRAME, saved)
    a.mr(R26, R3)
    a.mr(R27, R4)
    a.mr(R28, R5)
    a.ld(R29, CTX.count, R26)
    a.add(R30, R29, R28)
    a.std(R30, CTX.count, R26)
    a.andi_dot(R29, R29, 63)  # bytes already in the buffer
    a.label(loop)
    a.cmpdi(R28, 0)
    a.beq(done)
    a.cmpdi(R29, 0)
    a.bne(bytewise)
    a.cmpldi(R28, 64)
    a.blt(bytewise)
    a.srdi(R30, R28, 6)  # whole blocks straight from memory
    a.mr(R3, R26)
    a.mr(R4, R27)
    a.mr(R5, R30)
    a.bl("sha256_blocks")
    a.sldi(R30, R30, 6)
    a.add(R27, R27, R30)
    a.sub(R28, R28, R30)
    a.b(loop)
    a.label(bytewise)
    a.lbz(R0, 0, R27)
    a.addi(R27, R27, 1)
    a.addi(R28, R28, -1)
    a.addi(R30, R26, CTX.buffer)
    a.stbx(R0, R30, R29)
    a.addi(R29, R29, 1)
    a.cmpdi(R29, 64)
    a.bne(loop)
    a.mr(R3, R26)
    a.mr(R4, R30)
    a.li(R5, 1)
    a.bl("sha256_blocks")
    a.li(R29, 0)
    a.b(loop)
    a.label(done)
    emit_epilogue(a, _CALL_FRAME, saved)


def _update_local(a: Assembler, length: int) -> None:
    a.mr(R3, R26)
    a.addi(R4, R1, _LOCAL)
    a.li(R5, length)
    a.bl("sha256_update")


def emit_final(a: Assembler, endian: Endian) -> None:
    """``sha256_final``: r3 = context, r4 = 32-byte output (FIPS 180-4 §5.1.1 padding)."""
    saved = (R26, R27, R28, R29, R30, R31)
    zeros, length = a.new_label("pad0"), a.new_label("padlen")
    a.label("sha256_final")
    emit_prologue(a, _CALL_FRAME, saved)
    a.mr(R26, R3)
    a.mr(R27, R4)
    a.ld(R28, CTX.count, R26)
    a.sldi(R28, R28, 3)  # message length in bits
    a.li(R0, 0x80)
    a.stb(R0, _LOCAL, R1)
    _update_local(a, 1)
    a.label(zeros)
    a.ld(R0, CTX.count, R26)
    a.andi_dot(R0, R0, 63)
    a.cmpdi(R0, 56)
    a.beq(length)
    a.li(R0, 0)
    a.stb(R0, _LOCAL, R1)
    _update_local(a, 1)
    a.b(zeros)
    a.label(length)
    if endian is Endian.LITTLE:
        a.addi(R4, R1, _LOCAL)
        a.stdbrx(R28, 0, R4)
    else:
        a.std(R28, _LOCAL, R1)
    _update_local(a, 8)
    for i in range(8):
        a.lwz(R0, CTX.state + 4 * i, R26)
        if endian is Endian.LITTLE:
            a.addi(R4, R27, 4 * i)
            a.stwbrx(R0, 0, R4)
        else:
            a.stw(R0, 4 * i, R27)
    emit_epilogue(a, _CALL_FRAME, saved)


def emit_code(a: Assembler, endian: Endian) -> None:
    """All four routines (code only; :func:`emit_data` places their constants)."""
    emit_init(a)
    emit_update(a)
    emit_final(a, endian)
    emit_blocks(a, endian)


def emit_data(a: Assembler) -> None:
    """The round constants and initial hash value, as native-order words."""
    a.align(4)
    a.label("sha256_k")
    for k in K:
        a.long(k)
    a.label("sha256_h0")
    for h in H0:
        a.long(h)
