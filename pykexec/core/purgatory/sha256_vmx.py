# SPDX-License-Identifier: GPL-2.0-or-later
"""``sha256_blocks`` with the POWER8 vector crypto instructions (Power ISA 2.07).

Same interface as the scalar routine in :mod:`.sha256` (r3 = 8-word state in native
byte order, r4 = data, r5 = number of 64-byte blocks), for CPUs that implement
``vshasigmaw``: POWER8 and later, not in POWER7 compatibility mode.  The loader decides
(:class:`~.ppc64.PurgatoryParams` ``sha256_vector``); the scalar code stays for the rest.

Lanes: ``lxvw4x`` loads word element i from address + 4i in either byte order, so the
state, the round constants and the message land in the same element positions in a
big- and a little-endian purgatory; only the message words need a byte swap (``vperm``)
when little-endian, since SHA-256 reads them big-endian (FIPS 180-4 §3.1).

The eight working variables live in element 0 of v0..v7 (renamed each round, as in
the scalar code).  Per round: 11 vector instructions, Σ0/Σ1 one ``vshasigmaw`` each,
Ch and Maj one ``vsel`` each; K[t] + W[t] four at a time.  The message schedule runs
four words at a time: σ0, W[t-16] and W[t-7] for all four, then σ1 in two halves,
since W[t] and W[t+1] feed σ1 of W[t+2] and W[t+3] (FIPS 180-4 §6.2.2 step 1).

Clobbers r0, r6..r12, CTR, v0..v21 (the purgatory keeps nothing in vector registers)
and sets MSR_VEC and MSR_VSX (Book III-S §4.2.1) so the instructions are enabled.
"""

from __future__ import annotations

from pykexec.abi import Endian
from pykexec.core.purgatory.asm import Assembler
from pykexec.core.purgatory.isa import (
    R0,
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
    V8,
    V9,
    V10,
    V11,
    V12,
    V13,
    V14,
    V15,
    V17,
    V18,
    V19,
    V20,
    V21,
    VR,
)
from pykexec.core.purgatory.sha256 import K, emit_address_of

_MSR_VEC_VSX_HIGH = ((1 << 25) | (1 << 23)) >> 16  # MSR_VEC, MSR_VSX: "oris" operand
_SIGMA, _BIG_SIGMA = 0, 1  # vshasigmaw ST
_FUNC0, _FUNC1 = 0, 0xF  # vshasigmaw SIX: the first (σ0, Σ0) or second (σ1, Σ1), every lane

_VARS = tuple(VR(n) for n in range(8))  # a..h, element 0
_X = (V8, V9, V10, V11)  # the message schedule window: W[t-16..t-1], four words each
_KW, _KW_LANE, _T1, _T2 = V12, V13, V14, V15
_ZERO, _BSWAP, _S0, _S1, _K4 = V17, V18, V19, V20, V21

# Register byte indexes that reverse the bytes of each word (vperm's control vector), as
# native-order words so that lxvw4x puts byte 3 first in either byte order.
_BSWAP_WORDS = (0x03020100, 0x07060504, 0x0B0A0908, 0x0F0E0D0C)


def _round(a: Assembler, v: list[VR], kw: VR) -> None:
    """One round (FIPS 180-4 §6.2.2 step 3) on element 0; ``v`` = a..h, renamed after."""
    va, vb, vc, vd, ve, vf, vg, vh = v
    a.vadduwm(vh, vh, kw)  # h + K[t] + W[t]
    a.vshasigmaw(_T1, ve, _BIG_SIGMA, _FUNC1)
    a.vadduwm(vh, vh, _T1)
    a.vsel(_T2, vg, vf, ve)  # Ch(e, f, g): f where e is 1, g where it is 0
    a.vadduwm(vh, vh, _T2)  # T1
    a.vadduwm(vd, vd, vh)  # the new e = d + T1
    a.vshasigmaw(_T1, va, _BIG_SIGMA, _FUNC0)
    a.vxor(_T2, va, vb)
    a.vsel(_T2, vb, vc, _T2)  # Maj(a, b, c): c where a and b differ, else b
    a.vadduwm(vh, vh, _T1)
    a.vadduwm(vh, vh, _T2)  # the new a = T1 + T2
    v[:] = [vh, va, vb, vc, vd, ve, vf, vg]


def _schedule(a: Assembler, g: int) -> None:
    """W[4g..4g+3] into the window's oldest vector (FIPS 180-4 §6.2.2 step 1)."""
    x0, x1, x2, x3 = (_X[(g + i) % 4] for i in range(4))  # oldest first
    a.vsldoi(_T1, x0, x1, 4)  # W[t-15..t-12]
    a.vshasigmaw(_T1, _T1, _SIGMA, _FUNC0)
    a.vadduwm(x0, x0, _T1)
    a.vsldoi(_T1, x2, x3, 4)  # W[t-7..t-4]
    a.vadduwm(x0, x0, _T1)
    a.vsldoi(_T1, x3, _ZERO, 8)  # W[t-2], W[t-1], 0, 0
    a.vshasigmaw(_T1, _T1, _SIGMA, _FUNC1)
    a.vadduwm(x0, x0, _T1)  # W[t], W[t+1] complete
    a.vsldoi(_T1, _ZERO, x0, 8)  # 0, 0, W[t], W[t+1]
    a.vshasigmaw(_T1, _T1, _SIGMA, _FUNC1)
    a.vadduwm(x0, x0, _T1)  # W[t+2], W[t+3] complete


def _split(a: Assembler, state: VR, v: list[VR]) -> None:
    """Element i of ``state`` into element 0 of v[i]."""
    for i, reg in enumerate(v):
        a.vsldoi(reg, state, state, 4 * i)


def _merge_add(a: Assembler, state: VR, v: list[VR]) -> None:
    """state += (element 0 of v[0], v[1], v[2], v[3])."""
    a.vmrghw(_T1, v[0], v[1])  # v0, v1, ., .
    a.vmrghw(_T2, v[2], v[3])  # v2, v3, ., .
    a.vsldoi(_T1, _T1, _T1, 8)  # ., ., v0, v1
    a.vsldoi(_T1, _T1, _T2, 8)  # v0, v1, v2, v3
    a.vadduwm(state, state, _T1)


def emit_blocks(a: Assembler, endian: Endian) -> None:
    """``sha256_blocks`` (see the module docstring)."""
    loop, done = a.new_label("vblock"), a.new_label("vdone")
    a.label("sha256_blocks")
    a.cmpdi(R5, 0)
    a.beq(done)
    a.mflr(R11)
    a.mfmsr(R12)
    a.oris(R12, R12, _MSR_VEC_VSX_HIGH)
    a.mtmsrd(R12)
    a.isync()
    emit_address_of(a, R6, "sha256_k")
    a.vxor(_ZERO, _ZERO, _ZERO)
    if endian == "little":
        emit_address_of(a, R7, "sha256_bswap")
        a.lxvw4x(_BSWAP, R0, R7)
    a.mtlr(R11)
    a.li(R8, 16)
    a.li(R9, 32)
    a.li(R10, 48)
    a.lxvw4x(_S0, R0, R3)
    a.lxvw4x(_S1, R8, R3)
    a.mtctr(R5)
    a.label(loop)
    v = list(_VARS)
    _split(a, _S0, v[:4])
    _split(a, _S1, v[4:])
    for x, offset in zip(_X, (R0, R8, R9, R10)):
        a.lxvw4x(x, offset, R4)
        if endian == "little":
            a.vperm(x, x, x, _BSWAP)
    for g in range(16):
        if g >= 4:
            _schedule(a, g)
        a.li(R7, 16 * g)
        a.lxvw4x(_K4, R7, R6)
        a.vadduwm(_KW, _X[g % 4], _K4)
        for i in range(4):
            if i:
                a.vsldoi(_KW_LANE, _KW, _KW, 4 * i)
            _round(a, v, _KW_LANE if i else _KW)
    _merge_add(a, _S0, v[:4])
    _merge_add(a, _S1, v[4:])
    a.addi(R4, R4, 64)
    a.bdnz(loop)
    a.stxvw4x(_S0, R0, R3)
    a.stxvw4x(_S1, R8, R3)
    a.label(done)
    a.blr()


def emit_data(a: Assembler) -> None:
    """The round constants and the byte-swap control, native-order words."""
    a.align(16)
    a.label("sha256_k")
    for k in K:
        a.long(k)
    a.label("sha256_bswap")
    for word in _BSWAP_WORDS:
        a.long(word)
