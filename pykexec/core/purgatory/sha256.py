# SPDX-License-Identifier: GPL-2.0-or-later
"""SHA-256 (FIPS 180-4) as PowerPC routines emitted into an :class:`~.asm.Assembler`.

Calling convention of every routine here (ELF ABI style, so they nest): arguments
in r3..r5, r0 and r3..r12 and CR0 are clobbered, r14..r31 and r1 are preserved,
r2 and r13 are not touched, each routine keeps LR in its own stack frame (back
chain at 0(r1), saved LR at 8(r1)).  None of them needs a TOC: constants are found
PC-relative with ``bcl 20,31,$+4; mflr``.

* ``sha256_init``   r3 = context
* ``sha256_update`` r3 = context, r4 = data, r5 = length in bytes
* ``sha256_final``  r3 = context, r4 = 32-byte output (the digest, big-endian bytes)
* ``sha256_blocks`` r3 = state (8 words), r4 = data, r5 = number of 64-byte blocks

The compression loop is fully unrolled and keeps everything in registers: the
eight working variables, a rolling 16-word window of the message schedule W, and
the round constants K[t] as ``addis``/``addi`` immediates.  Per 64-byte block it
touches memory 16 times (8 doubleword message loads, 4 + 4 for the state), since
under QEMU's TCG every access costs a softmmu TLB lookup while ALU ops are cheap.
Every 32-bit quantity lives in the low word of a 64-bit register: ``rlwinm`` and
the logical/add instructions only feed low-word results forward, so the high
word may hold garbage and is never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pykexec.abi import Endian
from pykexec.core.purgatory.asm import Assembler, Ref
from pykexec.core.purgatory.isa import (
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
    R15,
    R16,
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

_CALL_FRAME = 16 + 6 * 8 + 16  # back chain, LR, r26..r31, 16 bytes of locals
_LOCAL = 16 + 6 * 8

# sha256_blocks' registers (27 of them besides r1, r3, r4, so r14..r31 are saved).
_STATE, _DATA = R3, R4
_VARS = (R7, R8, R9, R10, R11, R12, R14, R15)  # a b c d e f g h, renamed each round
_W = tuple(GPR(R16.number + i) for i in range(16))  # W[t] lives in _W[t % 16]
_T0 = R0  # only ever an operand: r0 as a base or addi/addis source means 0
_XBC, _AB = R6, R5  # b ^ c and a ^ b for Maj; they swap roles every round
_BLOCK_SAVED = tuple(GPR(r) for r in range(R14.number, R31.number + 1))
_BLOCK_FRAME = 16 + 8 * len(_BLOCK_SAVED)  # back chain, LR, r14..r31

# FIPS 180-4 §4.1.2 (4.4)-(4.7): rotate counts; the small sigmas shift by the last one.
_BIG_SIGMA0 = (2, 13, 22)
_BIG_SIGMA1 = (6, 11, 25)
_SMALL_SIGMA0 = (7, 18, 3)
_SMALL_SIGMA1 = (17, 19, 10)


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


def _word_pair(endian: Endian, first: GPR, second: GPR) -> tuple[GPR, GPR]:
    """(low, high): which of two native words at 8i, 8i+4 a doubleword load puts in the
    low and which in the high half of a register."""
    return (first, second) if endian == "little" else (second, first)


def _load_message(a: Assembler, endian: Endian) -> None:
    """W[0..15] = the block's big-endian words, two per doubleword load: ``ld`` on a
    big-endian CPU, ``ldbrx`` (ISA 2.06, POWER7) on a little-endian one; either way the
    earlier word lands in the high half."""
    for i in range(8):
        w_even, w_odd = _W[2 * i], _W[2 * i + 1]
        if endian == "little":
            a.ldbrx(w_odd, R0, _DATA)
            a.addi(_DATA, _DATA, 8)
        else:
            a.ld(w_odd, 8 * i, _DATA)
        a.srdi(w_even, w_odd, 32)
    if endian == "big":
        a.addi(_DATA, _DATA, 64)


def _sigma(
    a: Assembler, rt: GPR, x: GPR, scratch: GPR, counts: tuple[int, int, int], *, shr: bool
) -> None:
    """rt = ROTR(x, n1) ^ ROTR(x, n2) ^ ROTR(x, n3), or ^ SHR(x, n3) if ``shr``."""
    n1, n2, n3 = counts
    a.rotrwi(rt, x, n1)
    a.rotrwi(scratch, x, n2)
    a.xor(rt, rt, scratch)
    if shr:
        a.srwi(scratch, x, n3)
    else:
        a.rotrwi(scratch, x, n3)
    a.xor(rt, rt, scratch)


def _schedule(a: Assembler, t: int, scratch: GPR) -> None:
    """W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], in place of W[t-16]."""
    w = _W[t % 16]
    _sigma(a, _T0, _W[(t - 15) % 16], scratch, _SMALL_SIGMA0, shr=True)
    a.add(w, w, _T0)
    _sigma(a, _T0, _W[(t - 2) % 16], scratch, _SMALL_SIGMA1, shr=True)
    a.add(w, w, _T0)
    a.add(w, w, _W[(t - 7) % 16])


def _add_constant(a: Assembler, rt: GPR, k: int) -> None:
    """rt += k (mod 2^32): addis adds the high half corrected for addi's sign extension."""
    lo = ((k & 0xFFFF) ^ 0x8000) - 0x8000
    hi = ((((k - lo) >> 16) & 0xFFFF) ^ 0x8000) - 0x8000
    a.addis(rt, rt, hi)
    a.addi(rt, rt, lo)


def _round(a: Assembler, t: int, v: list[GPR], xbc: GPR, ab: GPR) -> None:
    """FIPS 180-4 §6.2.2 step 3, with T1 and T2 accumulated into h (which becomes a).
    On entry xbc = b ^ c; on exit ab = a ^ b, the next round's b ^ c.  Until then ab is
    the scratch register."""
    av, bv, _, dv, ev, fv, gv, hv = v
    a.add(hv, hv, _W[t % 16])
    _add_constant(a, hv, K[t])  # h + W[t] + K[t]
    _sigma(a, _T0, ev, ab, _BIG_SIGMA1, shr=False)
    a.add(hv, hv, _T0)  # + Σ1(e)
    a.xor(_T0, fv, gv)
    a.and_(_T0, _T0, ev)
    a.xor(_T0, _T0, gv)
    a.add(hv, hv, _T0)  # + Ch(e,f,g) = T1
    a.add(dv, dv, hv)  # e' = d + T1
    _sigma(a, _T0, av, ab, _BIG_SIGMA0, shr=False)
    a.add(hv, hv, _T0)  # T1 + Σ0(a)
    a.xor(ab, av, bv)
    a.and_(xbc, xbc, ab)
    a.xor(xbc, xbc, bv)  # Maj(a,b,c) = b ^ ((a^b) & (b^c))
    a.add(hv, hv, xbc)  # a' = T1 + T2


def _rounds(a: Assembler) -> None:
    """64 rounds with register renaming; afterwards the names are back where they started."""
    v = list(_VARS)
    xbc, ab = _XBC, _AB
    a.xor(xbc, v[1], v[2])  # b ^ c, for Maj
    for t in range(64):
        if t >= 16:
            _schedule(a, t, ab)
        _round(a, t, v, xbc, ab)
        xbc, ab = ab, xbc
        v = [v[7], *v[:7]]


def _load_state(a: Assembler, endian: Endian) -> None:
    for i in range(4):
        lo, hi = _word_pair(endian, _VARS[2 * i], _VARS[2 * i + 1])
        a.ld(lo, 8 * i, _STATE)
        a.srdi(hi, lo, 32)


def _add_and_store_state(a: Assembler, endian: Endian) -> None:
    """H[i] += working variable i, two words per doubleword load and store."""
    for i in range(4):
        lo, hi = _word_pair(endian, _VARS[2 * i], _VARS[2 * i + 1])
        a.ld(_T0, 8 * i, _STATE)
        a.add(lo, lo, _T0)
        a.srdi(_T0, _T0, 32)
        a.add(hi, hi, _T0)
        a.rldimi(lo, hi, 32, 0)  # insrdi: hi's low word into lo's high half
        a.std(lo, 8 * i, _STATE)


def emit_blocks(a: Assembler, endian: Endian) -> None:
    """``sha256_blocks``: r3 = 8-word state, r4 = data, r5 = number of 64-byte blocks.

    The working variables carry the new state from one block to the next, so the state
    is loaded once and added and stored once per block.
    """
    a.label("sha256_blocks")
    done = a.new_label("done")
    loop = a.new_label("block")
    emit_prologue(a, _BLOCK_FRAME, _BLOCK_SAVED)
    a.cmpdi(R5, 0)
    a.beq(done)
    a.mtctr(R5)
    _load_state(a, endian)
    a.label(loop)
    _load_message(a, endian)
    _rounds(a)
    _add_and_store_state(a, endian)
    a.bdnz(loop)
    a.label(done)
    emit_epilogue(a, _BLOCK_FRAME, _BLOCK_SAVED)


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
    if endian == "little":
        a.addi(R4, R1, _LOCAL)
        a.stdbrx(R28, R0, R4)
    else:
        a.std(R28, _LOCAL, R1)
    _update_local(a, 8)
    for i in range(8):
        a.lwz(R0, CTX.state + 4 * i, R26)
        if endian == "little":
            a.addi(R4, R27, 4 * i)
            a.stwbrx(R0, R0, R4)
        else:
            a.stw(R0, 4 * i, R27)
    emit_epilogue(a, _CALL_FRAME, saved)


def emit_code(
    a: Assembler, endian: Endian, blocks: Callable[[Assembler, Endian], None] = emit_blocks
) -> None:
    """All four routines (code only; :func:`emit_data` places their constants), with
    ``blocks`` emitting ``sha256_blocks`` (this module's, or :mod:`.sha256_vmx`'s)."""
    emit_init(a)
    emit_update(a)
    emit_final(a, endian)
    blocks(a, endian)


def emit_data(a: Assembler) -> None:
    """The initial hash value, as native-order words (K[t] are immediates in the code)."""
    a.align(4)
    a.label("sha256_h0")
    for h in H0:
        a.long(h)
