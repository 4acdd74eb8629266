# SPDX-License-Identifier: GPL-2.0-or-later
"""The mnemonics of :class:`~.asm.Assembler`: one method per instruction, as data on top of emit().

:class:`Mnemonics` has one method per base instruction of the opcode table in :mod:`.isa`
(``a.add(R3, R4, R5)``, operand order as in assembly), the POWER8 vector instructions,
and the extended mnemonics (``li``, ``mr``, ``sldi``, ``beq``, ``bdnz``, ``mtctr`` ... ISA
Appendix E) mapped onto the base instructions.  Every method ends in :meth:`emit`, which
:class:`~.asm.Assembler` implements (encoding, range checks, labels); this module only
names the instructions and types their operands.  Pure: no I/O.
"""

from __future__ import annotations

from typing import Union

from pykexec.core.purgatory.isa import BO, CR0, CRF, GPR, R0, SPR, VR, CRBit
from pykexec.core.purgatory.program import Ref

__all__ = ["Imm", "Label", "Mnemonics", "Operand", "Target"]

Label = str  # a label name: what branch operands take (their displacement is computed)
Target = Label  # the former name
Imm = Union[int, Ref]  # an immediate or displacement: a number, or a Ref resolved later
Operand = Union[GPR, CRF, VR, SPR, int, Ref, Label]  # anything emit() takes


class Mnemonics:
    """Instruction methods: each emits one instruction (extended ones one base instruction,
    :meth:`load_imm64` up to five) through :meth:`emit`."""

    def emit(self, mnemonic: str, *operands: Operand) -> None:
        """Append one base instruction (implemented by :class:`~.asm.Assembler`)."""
        raise NotImplementedError

    # ---- base instructions (one line each; operand order as in assembly) ---------------------
    def addi(self, rt: GPR, ra: GPR, si: Imm) -> None:
        self.emit("addi", rt, ra, si)

    def addis(self, rt: GPR, ra: GPR, si: Imm) -> None:
        self.emit("addis", rt, ra, si)

    def mulli(self, rt: GPR, ra: GPR, si: int) -> None:
        self.emit("mulli", rt, ra, si)

    def ori(self, ra: GPR, rs: GPR, ui: Imm) -> None:
        self.emit("ori", ra, rs, ui)

    def oris(self, ra: GPR, rs: GPR, ui: Imm) -> None:
        self.emit("oris", ra, rs, ui)

    def xori(self, ra: GPR, rs: GPR, ui: int) -> None:
        self.emit("xori", ra, rs, ui)

    def xoris(self, ra: GPR, rs: GPR, ui: int) -> None:
        self.emit("xoris", ra, rs, ui)

    def andi_dot(self, ra: GPR, rs: GPR, ui: int) -> None:
        """``andi.`` (always records CR0)."""
        self.emit("andi.", ra, rs, ui)

    def andis_dot(self, ra: GPR, rs: GPR, ui: int) -> None:
        self.emit("andis.", ra, rs, ui)

    def lwz(self, rt: GPR, d: Imm, ra: GPR) -> None:
        self.emit("lwz", rt, d, ra)

    def lbz(self, rt: GPR, d: Imm, ra: GPR) -> None:
        self.emit("lbz", rt, d, ra)

    def lhz(self, rt: GPR, d: Imm, ra: GPR) -> None:
        self.emit("lhz", rt, d, ra)

    def stw(self, rs: GPR, d: Imm, ra: GPR) -> None:
        self.emit("stw", rs, d, ra)

    def stwu(self, rs: GPR, d: Imm, ra: GPR) -> None:
        self.emit("stwu", rs, d, ra)

    def stb(self, rs: GPR, d: Imm, ra: GPR) -> None:
        self.emit("stb", rs, d, ra)

    def sth(self, rs: GPR, d: Imm, ra: GPR) -> None:
        self.emit("sth", rs, d, ra)

    def ld(self, rt: GPR, ds: Imm, ra: GPR) -> None:
        self.emit("ld", rt, ds, ra)

    def ldu(self, rt: GPR, ds: Imm, ra: GPR) -> None:
        self.emit("ldu", rt, ds, ra)

    def std(self, rs: GPR, ds: Imm, ra: GPR) -> None:
        self.emit("std", rs, ds, ra)

    def stdu(self, rs: GPR, ds: Imm, ra: GPR) -> None:
        self.emit("stdu", rs, ds, ra)

    def ldx(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("ldx", rt, ra, rb)

    def lwzx(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("lwzx", rt, ra, rb)

    def lbzx(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("lbzx", rt, ra, rb)

    def stdx(self, rs: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("stdx", rs, ra, rb)

    def stwx(self, rs: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("stwx", rs, ra, rb)

    def stbx(self, rs: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("stbx", rs, ra, rb)

    def lwbrx(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("lwbrx", rt, ra, rb)

    def ldbrx(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("ldbrx", rt, ra, rb)

    def stwbrx(self, rs: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("stwbrx", rs, ra, rb)

    def stdbrx(self, rs: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("stdbrx", rs, ra, rb)

    def add(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("add", rt, ra, rb)

    def add_dot(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("add.", rt, ra, rb)

    def subf(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        """rt = rb - ra."""
        self.emit("subf", rt, ra, rb)

    def subf_dot(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("subf.", rt, ra, rb)

    def sub(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        """rt = ra - rb (extended mnemonic for subf)."""
        self.emit("subf", rt, rb, ra)

    def neg(self, rt: GPR, ra: GPR) -> None:
        self.emit("neg", rt, ra)

    def mulld(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("mulld", rt, ra, rb)

    def mullw(self, rt: GPR, ra: GPR, rb: GPR) -> None:
        self.emit("mullw", rt, ra, rb)

    def and_(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("and", ra, rs, rb)

    def and_dot(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("and.", ra, rs, rb)

    def andc(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("andc", ra, rs, rb)

    def or_(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("or", ra, rs, rb)

    def or_dot(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("or.", ra, rs, rb)

    def xor(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("xor", ra, rs, rb)

    def nor(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("nor", ra, rs, rb)

    def slw(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("slw", ra, rs, rb)

    def srw(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("srw", ra, rs, rb)

    def sld(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("sld", ra, rs, rb)

    def srd(self, ra: GPR, rs: GPR, rb: GPR) -> None:
        self.emit("srd", ra, rs, rb)

    def extsw(self, ra: GPR, rs: GPR) -> None:
        self.emit("extsw", ra, rs)

    def rlwinm(self, ra: GPR, rs: GPR, sh: int, mb: int, me: int) -> None:
        self.emit("rlwinm", ra, rs, sh, mb, me)

    def rlwinm_dot(self, ra: GPR, rs: GPR, sh: int, mb: int, me: int) -> None:
        self.emit("rlwinm.", ra, rs, sh, mb, me)

    def rlwimi(self, ra: GPR, rs: GPR, sh: int, mb: int, me: int) -> None:
        self.emit("rlwimi", ra, rs, sh, mb, me)

    def rldicl(self, ra: GPR, rs: GPR, sh: int, mb: int) -> None:
        self.emit("rldicl", ra, rs, sh, mb)

    def rldicl_dot(self, ra: GPR, rs: GPR, sh: int, mb: int) -> None:
        self.emit("rldicl.", ra, rs, sh, mb)

    def rldicr(self, ra: GPR, rs: GPR, sh: int, me: int) -> None:
        self.emit("rldicr", ra, rs, sh, me)

    def rldic(self, ra: GPR, rs: GPR, sh: int, mb: int) -> None:
        self.emit("rldic", ra, rs, sh, mb)

    def rldimi(self, ra: GPR, rs: GPR, sh: int, mb: int) -> None:
        self.emit("rldimi", ra, rs, sh, mb)

    def cmp(self, bf: CRF, l64: int, ra: GPR, rb: GPR) -> None:
        self.emit("cmp", bf, l64, ra, rb)

    def cmpl(self, bf: CRF, l64: int, ra: GPR, rb: GPR) -> None:
        self.emit("cmpl", bf, l64, ra, rb)

    def cmpi(self, bf: CRF, l64: int, ra: GPR, si: Imm) -> None:
        self.emit("cmpi", bf, l64, ra, si)

    def cmpli(self, bf: CRF, l64: int, ra: GPR, ui: Imm) -> None:
        self.emit("cmpli", bf, l64, ra, ui)

    def mtspr(self, spr: SPR, rs: GPR) -> None:
        self.emit("mtspr", spr, rs)

    def mfspr(self, rt: GPR, spr: SPR) -> None:
        self.emit("mfspr", rt, spr)

    def mfmsr(self, rt: GPR) -> None:
        self.emit("mfmsr", rt)

    def mtmsrd(self, rs: GPR, l_: int = 0) -> None:
        self.emit("mtmsrd", rs, l_)

    def rfid(self) -> None:
        self.emit("rfid")

    def hrfid(self) -> None:
        self.emit("hrfid")

    def tdi(self, to: int, ra: GPR, si: int) -> None:
        self.emit("tdi", to, ra, si)

    def sc(self, lev: int = 0) -> None:
        self.emit("sc", lev)

    def sync(self, ls: int = 0) -> None:
        self.emit("sync", ls, 0)

    def isync(self) -> None:
        self.emit("isync")

    def dcbst(self, ra: GPR, rb: GPR) -> None:
        self.emit("dcbst", ra, rb)

    def icbi(self, ra: GPR, rb: GPR) -> None:
        self.emit("icbi", ra, rb)

    def b(self, target: Label) -> None:
        self.emit("b", target)

    def bl(self, target: Label) -> None:
        self.emit("bl", target)

    def bc(self, bo: int, bi: int, target: Label) -> None:
        self.emit("bc", bo, bi, target)

    def bcl(self, bo: int, bi: int, target: Label) -> None:
        self.emit("bcl", bo, bi, target)

    def bclr(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bclr", bo, bi, bh)

    def bcctr(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bcctr", bo, bi, bh)

    def bcctrl(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bcctrl", bo, bi, bh)

    # ---- POWER8 vector instructions (ISA 2.07; VSX loads name v<n> as vs<32+n>) ----------
    def vadduwm(self, vrt: VR, vra: VR, vrb: VR) -> None:
        self.emit("vadduwm", vrt, vra, vrb)

    def vmrghw(self, vrt: VR, vra: VR, vrb: VR) -> None:
        self.emit("vmrghw", vrt, vra, vrb)

    def vand(self, vrt: VR, vra: VR, vrb: VR) -> None:
        self.emit("vand", vrt, vra, vrb)

    def vxor(self, vrt: VR, vra: VR, vrb: VR) -> None:
        self.emit("vxor", vrt, vra, vrb)

    def vshasigmaw(self, vrt: VR, vra: VR, st: int, six: int) -> None:
        self.emit("vshasigmaw", vrt, vra, st, six)

    def vsel(self, vrt: VR, vra: VR, vrb: VR, vrc: VR) -> None:
        """vrt = bits of vrb where vrc is 1, of vra where it is 0."""
        self.emit("vsel", vrt, vra, vrb, vrc)

    def vperm(self, vrt: VR, vra: VR, vrb: VR, vrc: VR) -> None:
        self.emit("vperm", vrt, vra, vrb, vrc)

    def vsldoi(self, vrt: VR, vra: VR, vrb: VR, shb: int) -> None:
        self.emit("vsldoi", vrt, vra, vrb, shb)

    def lxvw4x(self, vrt: VR, ra: GPR, rb: GPR) -> None:
        """Four words, element 0 from the lowest address, each in the current byte order."""
        self.emit("lxvw4x", 32 + vrt.number, ra, rb)

    def stxvw4x(self, vrs: VR, ra: GPR, rb: GPR) -> None:
        self.emit("stxvw4x", 32 + vrs.number, ra, rb)

    # ---- extended mnemonics (ISA Appendix E) -------------------------------------------------
    def li(self, rt: GPR, si: Imm) -> None:
        self.addi(rt, R0, si)  # RA = 0 means the value 0

    def lis(self, rt: GPR, si: Imm) -> None:
        self.addis(rt, R0, si)

    def mr(self, ra: GPR, rs: GPR) -> None:
        self.or_(ra, rs, rs)

    def nop(self) -> None:
        self.ori(R0, R0, 0)

    def sldi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rldicr(ra, rs, n, 63 - n)

    def srdi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rldicl(ra, rs, (64 - n) % 64, n)

    def clrldi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rldicl(ra, rs, 0, n)

    def clrrdi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rldicr(ra, rs, 0, 63 - n)

    def rotlwi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rlwinm(ra, rs, n, 0, 31)

    def rotrwi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rlwinm(ra, rs, (32 - n) % 32, 0, 31)

    def slwi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rlwinm(ra, rs, n, 0, 31 - n)

    def srwi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rlwinm(ra, rs, (32 - n) % 32, n, 31)

    def clrlwi(self, ra: GPR, rs: GPR, n: int) -> None:
        self.rlwinm(ra, rs, 0, n, 31)

    def cmpd(self, ra: GPR, rb: GPR, cr: CRF = CR0) -> None:
        self.cmp(cr, 1, ra, rb)

    def cmpw(self, ra: GPR, rb: GPR, cr: CRF = CR0) -> None:
        self.cmp(cr, 0, ra, rb)

    def cmpld(self, ra: GPR, rb: GPR, cr: CRF = CR0) -> None:
        self.cmpl(cr, 1, ra, rb)

    def cmplw(self, ra: GPR, rb: GPR, cr: CRF = CR0) -> None:
        self.cmpl(cr, 0, ra, rb)

    def cmpdi(self, ra: GPR, si: Imm, cr: CRF = CR0) -> None:
        self.cmpi(cr, 1, ra, si)

    def cmpwi(self, ra: GPR, si: Imm, cr: CRF = CR0) -> None:
        self.cmpi(cr, 0, ra, si)

    def cmpldi(self, ra: GPR, ui: Imm, cr: CRF = CR0) -> None:
        self.cmpli(cr, 1, ra, ui)

    def cmplwi(self, ra: GPR, ui: Imm, cr: CRF = CR0) -> None:
        self.cmpli(cr, 0, ra, ui)

    def _bcond(self, bo: BO, bit: CRBit, target: Label, cr: CRF) -> None:
        self.bc(bo, 4 * cr.number + bit, target)

    def beq(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.EQ, target, cr)

    def bne(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.EQ, target, cr)

    def blt(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.LT, target, cr)

    def bge(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.LT, target, cr)

    def bgt(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.GT, target, cr)

    def ble(self, target: Label, cr: CRF = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.GT, target, cr)

    def bdnz(self, target: Label) -> None:
        self.bc(BO.DNZ, 0, target)

    def blr(self) -> None:
        self.bclr(BO.ALWAYS, 0)

    def bctr(self) -> None:
        self.bcctr(BO.ALWAYS, 0)

    def bctrl(self) -> None:
        self.bcctrl(BO.ALWAYS, 0)

    def mtctr(self, rs: GPR) -> None:
        self.mtspr(SPR.CTR, rs)

    def mfctr(self, rt: GPR) -> None:
        self.mfspr(rt, SPR.CTR)

    def mtlr(self, rs: GPR) -> None:
        self.mtspr(SPR.LR, rs)

    def mflr(self, rt: GPR) -> None:
        self.mfspr(rt, SPR.LR)

    def mtsrr0(self, rs: GPR) -> None:
        self.mtspr(SPR.SRR0, rs)

    def mtsrr1(self, rs: GPR) -> None:
        self.mtspr(SPR.SRR1, rs)

    def hwsync(self) -> None:
        self.sync(0)

    def lwsync(self) -> None:
        self.sync(1)

    def load_imm64(self, rt: GPR, value: int) -> None:
        """Load any 64-bit constant (up to five instructions)."""
        v = value & 0xFFFFFFFFFFFFFFFF
        if v < 0x8000 or v >= 0xFFFFFFFFFFFF8000:
            self.li(rt, v - (1 << 64) if v >= 1 << 63 else v)
            return
        hi, lo = v >> 32, v & 0xFFFFFFFF
        if hi:
            self.lis(rt, ((hi >> 16) ^ 0x8000) - 0x8000)
            self.ori(rt, rt, hi & 0xFFFF)
            self.sldi(rt, rt, 32)
            self.oris(rt, rt, lo >> 16)
        else:
            self.li(rt, 0)
            self.oris(rt, rt, lo >> 16)
        self.ori(rt, rt, lo & 0xFFFF)
