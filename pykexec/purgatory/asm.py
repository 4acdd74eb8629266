"""A small assembler and disassembler for 64-bit Book3S PowerPC (Power ISA 2.06, POWER7).

This module owns the instruction *data*: bit fields in IBM numbering (bit 0 is
the most significant bit of the 32-bit word), the instruction forms built from
them, and the table :data:`OPCODES` of mnemonic -> primary opcode, extended
opcode and operand order.  The same table encodes (:func:`encode`) and decodes
(:func:`decode`), so round trips and listings are testable; the extended
mnemonics (``li``, ``mr``, ``sldi``, ``beq``, ``bdnz``, ``mtctr`` ...) are
methods of :class:`Assembler` that map onto the base instructions.

Sources: Power ISA v2.06B, Book I §1.6 (instruction formats), the per-instruction
pages in Books I-III, and Appendix E (extended mnemonics).

Only instructions POWER7 implements are in the table (no prefixed or ISA 3.0
instructions).  Everything here is pure: no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum

from pykexec.errors import KexecError


class AssemblyError(KexecError):
    """An operand does not fit its field, a label is unknown, or a slot is misused."""


class Endian(StrEnum):
    """Byte order of the instruction stream and of the data slots."""

    LITTLE = "little"
    BIG = "big"

    @property
    def struct_prefix(self) -> str:
        return "<" if self is Endian.LITTLE else ">"


class GPR(IntEnum):
    """General purpose registers."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10
    R11 = 11
    R12 = 12
    R13 = 13
    R14 = 14
    R15 = 15
    R16 = 16
    R17 = 17
    R18 = 18
    R19 = 19
    R20 = 20
    R21 = 21
    R22 = 22
    R23 = 23
    R24 = 24
    R25 = 25
    R26 = 26
    R27 = 27
    R28 = 28
    R29 = 29
    R30 = 30
    R31 = 31


R0, R1, R2, R3, R4, R5, R6, R7 = GPR.R0, GPR.R1, GPR.R2, GPR.R3, GPR.R4, GPR.R5, GPR.R6, GPR.R7
R8, R9, R10, R11, R12 = GPR.R8, GPR.R9, GPR.R10, GPR.R11, GPR.R12
R13, R14, R15, R16, R17 = GPR.R13, GPR.R14, GPR.R15, GPR.R16, GPR.R17
R18, R19, R20, R21, R22 = GPR.R18, GPR.R19, GPR.R20, GPR.R21, GPR.R22
R23, R24, R25, R26, R27 = GPR.R23, GPR.R24, GPR.R25, GPR.R26, GPR.R27
R28, R29, R30, R31 = GPR.R28, GPR.R29, GPR.R30, GPR.R31


class CRF(IntEnum):
    """Condition register fields (the BF operand of compares)."""

    CR0 = 0
    CR1 = 1
    CR2 = 2
    CR3 = 3
    CR4 = 4
    CR5 = 5
    CR6 = 6
    CR7 = 7


CR0, CR1, CR2, CR3 = CRF.CR0, CRF.CR1, CRF.CR2, CRF.CR3
CR4, CR5, CR6, CR7 = CRF.CR4, CRF.CR5, CRF.CR6, CRF.CR7


class CRBit(IntEnum):
    """Bit within a CR field (ISA Book I §2.3.1): BI = 4 * field + bit."""

    LT = 0
    GT = 1
    EQ = 2
    SO = 3


class BO(IntEnum):
    """Common BO encodings (ISA Book I §2.4, figure "BO field encodings")."""

    FALSE = 4  # branch if CR bit is 0
    DNZ = 16  # decrement CTR, branch if CTR != 0
    DZ = 18  # decrement CTR, branch if CTR == 0
    TRUE = 12  # branch if CR bit is 1
    ALWAYS = 20


class SPR(IntEnum):
    """Special purpose register numbers (ISA Book III §1.3.3 / mtspr table)."""

    XER = 1
    LR = 8
    CTR = 9
    SRR0 = 26
    SRR1 = 27


class Kind(Enum):
    """How an operand is written in assembly (objdump -M raw conventions)."""

    GPR = "gpr"  # rN
    GPR0 = "gpr0"  # rN, or the literal 0 when RA=0 means "no register"
    CRF = "crf"  # crN
    INT = "int"  # decimal
    BI = "bi"  # lt/gt/eq/so, 4*crN+eq
    TARGET = "target"  # PC-relative branch, shown as an absolute address


@dataclass(frozen=True)
class Field:
    """An instruction field: one or more bit ranges (IBM numbering), most significant first."""

    name: str
    parts: tuple[tuple[int, int], ...]
    signed: bool = False
    shift: int = 0  # implied low zero bits (DS, BD, LI)

    @property
    def width(self) -> int:
        return sum(last - first + 1 for first, last in self.parts)

    def fits(self, value: int) -> bool:
        if value & ((1 << self.shift) - 1):
            return False
        v = value >> self.shift
        if self.signed:
            return -(1 << (self.width - 1)) <= v < (1 << (self.width - 1))
        return 0 <= v < (1 << self.width)

    def insert(self, value: int) -> int:
        if not self.fits(value):
            kind = "signed" if self.signed else "unsigned"
            align = f", multiple of {1 << self.shift}" if self.shift else ""
            raise AssemblyError(
                f"value {value} does not fit field {self.name} ({self.width}-bit {kind}{align})"
            )
        v = (value >> self.shift) & ((1 << self.width) - 1)
        word = 0
        for first, last in reversed(self.parts):
            n = last - first + 1
            word |= (v & ((1 << n) - 1)) << (31 - last)
            v >>= n
        return word

    def extract(self, word: int) -> int:
        v = 0
        for first, last in self.parts:
            n = last - first + 1
            v = (v << n) | ((word >> (31 - last)) & ((1 << n) - 1))
        if self.signed and v & (1 << (self.width - 1)):
            v -= 1 << self.width
        return v << self.shift


def _f(name: str, first: int, last: int | None = None, **kw: int | bool) -> Field:
    return Field(name, ((first, first if last is None else last),), **kw)  # type: ignore[arg-type]


# ISA Book I §1.6.2 "Instruction fields".
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        _f("OPCD", 0, 5),
        _f("RT", 6, 10),
        _f("RS", 6, 10),
        _f("BO", 6, 10),
        _f("BF", 6, 8),
        _f("L", 10),  # compare: 64-bit (1) or 32-bit (0)
        _f("LS", 9, 10),  # sync
        _f("RA", 11, 15),
        _f("BI", 11, 15),
        _f("E", 12, 15),  # sync (reserved before ISA 3.0, always 0 here)
        _f("LM", 15),  # mtmsrd L
        _f("RB", 16, 20),
        _f("SH", 16, 20),
        _f("D", 16, 31, signed=True),
        _f("SI", 16, 31, signed=True),
        _f("UI", 16, 31),
        _f("DS", 16, 29, signed=True, shift=2),
        _f("BD", 16, 29, signed=True, shift=2),
        _f("LI", 6, 29, signed=True, shift=2),
        _f("BH", 19, 20),
        _f("LEV", 20, 26),
        _f("MB", 21, 25),
        _f("ME", 26, 30),
        _f("OE", 21),
        _f("XO_X", 21, 30),  # X, XL, XFX forms
        _f("XO_XO", 22, 30),  # XO form
        _f("XO_MD", 27, 29),  # MD form
        _f("XO_DS", 30, 31),  # DS form
        _f("SC1", 30),  # sc: bit 30 is 1
        _f("AA", 30),
        _f("LK", 31),
        _f("Rc", 31),
        # MD form 6-bit shift sh5||sh0:4 and mask mb5||mb0:4 (ISA §1.6.2, "sh", "mb").
        Field("SH6", ((30, 30), (16, 20))),
        Field("MB6", ((26, 26), (21, 25))),
        # XFX form: SPR number with its two 5-bit halves swapped.
        Field("SPR", ((16, 20), (11, 15))),
    )
}


class Form(StrEnum):
    """Instruction formats (ISA Book I §1.6.1)."""

    I = "I"
    B = "B"
    SC = "SC"
    D = "D"
    DS = "DS"
    X = "X"
    XL = "XL"
    XFX = "XFX"
    XO = "XO"
    M = "M"
    MD = "MD"


@dataclass(frozen=True)
class Opcode:
    """One mnemonic: its form, the fields fixed by the mnemonic, and its operands in order."""

    mnemonic: str
    form: Form
    fixed: tuple[tuple[str, int], ...]
    operands: tuple[str, ...]
    mem: bool = False  # written "RT,D(RA)"
    ra0: bool = False  # RA=0 means the value 0, not r0


def _op(mn: str, form: Form, opcd: int, operands: str, mem: bool = False, ra0: bool = False,
        **fixed: int) -> Opcode:  # fmt: skip
    fx = (("OPCD", opcd), *fixed.items())
    return Opcode(mn, form, fx, tuple(operands.split()), mem, ra0)


_D, _DS, _X, _XL, _XO, _M, _MD = Form.D, Form.DS, Form.X, Form.XL, Form.XO, Form.M, Form.MD

# The instruction table: mnemonic, form, primary opcode, operand order, extended opcode.
OPCODES: dict[str, Opcode] = {
    o.mnemonic: o
    for o in (
        _op("b", Form.I, 18, "LI", AA=0, LK=0),
        _op("bl", Form.I, 18, "LI", AA=0, LK=1),
        _op("bc", Form.B, 16, "BO BI BD", AA=0, LK=0),
        _op("bcl", Form.B, 16, "BO BI BD", AA=0, LK=1),
        _op("sc", Form.SC, 17, "LEV", SC1=1),
        _op("mulli", _D, 7, "RT RA SI"),
        _op("cmpli", _D, 10, "BF L RA UI"),
        _op("cmpi", _D, 11, "BF L RA SI"),
        _op("addi", _D, 14, "RT RA SI", ra0=True),
        _op("addis", _D, 15, "RT RA SI", ra0=True),
        _op("ori", _D, 24, "RA RS UI"),
        _op("oris", _D, 25, "RA RS UI"),
        _op("xori", _D, 26, "RA RS UI"),
        _op("xoris", _D, 27, "RA RS UI"),
        _op("andi.", _D, 28, "RA RS UI"),
        _op("andis.", _D, 29, "RA RS UI"),
        _op("lwz", _D, 32, "RT D RA", mem=True, ra0=True),
        _op("lbz", _D, 34, "RT D RA", mem=True, ra0=True),
        _op("stw", _D, 36, "RS D RA", mem=True, ra0=True),
        _op("stwu", _D, 37, "RS D RA", mem=True),
        _op("stb", _D, 38, "RS D RA", mem=True, ra0=True),
        _op("lhz", _D, 40, "RT D RA", mem=True, ra0=True),
        _op("sth", _D, 44, "RS D RA", mem=True, ra0=True),
        _op("ld", _DS, 58, "RT DS RA", mem=True, ra0=True, XO_DS=0),
        _op("ldu", _DS, 58, "RT DS RA", mem=True, XO_DS=1),
        _op("std", _DS, 62, "RS DS RA", mem=True, ra0=True, XO_DS=0),
        _op("stdu", _DS, 62, "RS DS RA", mem=True, XO_DS=1),
        _op("bclr", _XL, 19, "BO BI BH", XO_X=16, LK=0),
        _op("bclrl", _XL, 19, "BO BI BH", XO_X=16, LK=1),
        _op("rfid", _XL, 19, "", XO_X=18),
        _op("isync", _XL, 19, "", XO_X=150),
        _op("bcctr", _XL, 19, "BO BI BH", XO_X=528, LK=0),
        _op("bcctrl", _XL, 19, "BO BI BH", XO_X=528, LK=1),
        _op("rlwimi", _M, 20, "RA RS SH MB ME", Rc=0),
        _op("rlwinm", _M, 21, "RA RS SH MB ME", Rc=0),
        _op("rlwinm.", _M, 21, "RA RS SH MB ME", Rc=1),
        _op("rldicl", _MD, 30, "RA RS SH6 MB6", XO_MD=0, Rc=0),
        _op("rldicl.", _MD, 30, "RA RS SH6 MB6", XO_MD=0, Rc=1),
        _op("rldicr", _MD, 30, "RA RS SH6 MB6", XO_MD=1, Rc=0),
        _op("rldic", _MD, 30, "RA RS SH6 MB6", XO_MD=2, Rc=0),
        _op("rldimi", _MD, 30, "RA RS SH6 MB6", XO_MD=3, Rc=0),
        _op("cmp", _X, 31, "BF L RA RB", XO_X=0),
        _op("cmpl", _X, 31, "BF L RA RB", XO_X=32),
        _op("subf", _XO, 31, "RT RA RB", OE=0, XO_XO=40, Rc=0),
        _op("subf.", _XO, 31, "RT RA RB", OE=0, XO_XO=40, Rc=1),
        _op("neg", _XO, 31, "RT RA", OE=0, XO_XO=104, Rc=0),
        _op("mulld", _XO, 31, "RT RA RB", OE=0, XO_XO=233, Rc=0),
        _op("mullw", _XO, 31, "RT RA RB", OE=0, XO_XO=235, Rc=0),
        _op("add", _XO, 31, "RT RA RB", OE=0, XO_XO=266, Rc=0),
        _op("add.", _XO, 31, "RT RA RB", OE=0, XO_XO=266, Rc=1),
        _op("ldx", _X, 31, "RT RA RB", ra0=True, XO_X=21),
        _op("lwzx", _X, 31, "RT RA RB", ra0=True, XO_X=23),
        _op("slw", _X, 31, "RA RS RB", XO_X=24, Rc=0),
        _op("sld", _X, 31, "RA RS RB", XO_X=27, Rc=0),
        _op("and", _X, 31, "RA RS RB", XO_X=28, Rc=0),
        _op("and.", _X, 31, "RA RS RB", XO_X=28, Rc=1),
        _op("dcbst", _X, 31, "RA RB", ra0=True, XO_X=54),
        _op("andc", _X, 31, "RA RS RB", XO_X=60, Rc=0),
        _op("mfmsr", _X, 31, "RT", XO_X=83),
        _op("lbzx", _X, 31, "RT RA RB", ra0=True, XO_X=87),
        _op("nor", _X, 31, "RA RS RB", XO_X=124, Rc=0),
        _op("stdx", _X, 31, "RS RA RB", ra0=True, XO_X=149),
        _op("stwx", _X, 31, "RS RA RB", ra0=True, XO_X=151),
        _op("mtmsrd", _X, 31, "RS LM", XO_X=178),
        _op("stbx", _X, 31, "RS RA RB", ra0=True, XO_X=215),
        _op("xor", _X, 31, "RA RS RB", XO_X=316, Rc=0),
        _op("mfspr", Form.XFX, 31, "RT SPR", XO_X=339),
        _op("or", _X, 31, "RA RS RB", XO_X=444, Rc=0),
        _op("or.", _X, 31, "RA RS RB", XO_X=444, Rc=1),
        _op("mtspr", Form.XFX, 31, "SPR RS", XO_X=467),
        _op("ldbrx", _X, 31, "RT RA RB", ra0=True, XO_X=532),
        _op("lwbrx", _X, 31, "RT RA RB", ra0=True, XO_X=534),
        _op("srw", _X, 31, "RA RS RB", XO_X=536, Rc=0),
        _op("srd", _X, 31, "RA RS RB", XO_X=539, Rc=0),
        _op("sync", _X, 31, "LS E", XO_X=598),
        _op("stdbrx", _X, 31, "RS RA RB", ra0=True, XO_X=660),
        _op("stwbrx", _X, 31, "RS RA RB", ra0=True, XO_X=662),
        _op("icbi", _X, 31, "RA RB", ra0=True, XO_X=982),
        _op("extsw", _X, 31, "RA RS", XO_X=986, Rc=0),
    )
}

_KINDS: dict[str, Kind] = {
    "RT": Kind.GPR, "RS": Kind.GPR, "RA": Kind.GPR, "RB": Kind.GPR, "BF": Kind.CRF,
    "BI": Kind.BI, "BD": Kind.TARGET, "LI": Kind.TARGET,
}  # fmt: skip

_BRANCH_FIELDS = frozenset({"BD", "LI"})


def encode(mnemonic: str, *operands: int) -> int:
    """The 32-bit instruction word; branch operands are byte displacements from the instruction."""
    try:
        op = OPCODES[mnemonic]
    except KeyError:
        raise AssemblyError(f"unknown mnemonic {mnemonic!r}") from None
    if len(operands) != len(op.operands):
        raise AssemblyError(f"{mnemonic} takes {len(op.operands)} operands, got {len(operands)}")
    word = 0
    for name, value in op.fixed:
        word |= FIELDS[name].insert(value)
    for name, value in zip(op.operands, operands, strict=True):
        try:
            word |= FIELDS[name].insert(int(value))
        except AssemblyError as err:
            raise AssemblyError(f"{mnemonic}: {err}") from None
    return word


@dataclass(frozen=True)
class Decoded:
    """A decoded instruction: the table entry and its operand values (branch = displacement)."""

    opcode: Opcode
    operands: tuple[int, ...]

    @property
    def mnemonic(self) -> str:
        return self.opcode.mnemonic


def _build_decode_index() -> dict[int, list[Opcode]]:
    index: dict[int, list[Opcode]] = {}
    for op in OPCODES.values():
        index.setdefault(dict(op.fixed)["OPCD"], []).append(op)
    return index


_DECODE_INDEX = _build_decode_index()


def decode(word: int) -> Decoded | None:
    """The table entry that encodes ``word`` exactly (reserved bits zero), or None."""
    for op in _DECODE_INDEX.get(word >> 26, []):
        if all(FIELDS[n].extract(word) == v for n, v in op.fixed):
            values = tuple(FIELDS[n].extract(word) for n in op.operands)
            if encode(op.mnemonic, *values) == word:
                return Decoded(op, values)
    return None


def _bi_text(bi: int) -> str:
    bit = CRBit(bi % 4).name.lower()
    return bit if bi < 4 else f"4*cr{bi // 4}+{bit}"


def _operand_text(op: Opcode, name: str, value: int, pc: int) -> str:
    kind = _KINDS.get(name, Kind.INT)
    if name == "RA" and op.ra0:
        kind = Kind.GPR0
    if kind is Kind.GPR or (kind is Kind.GPR0 and value != 0):
        return f"r{value}"
    if kind is Kind.CRF:
        return f"cr{value}"
    if kind is Kind.BI:
        return _bi_text(value)
    if kind is Kind.TARGET:
        return f"{(pc + value) & 0xFFFFFFFFFFFFFFFF:#x}"
    return str(value)


def format_raw(d: Decoded, pc: int = 0) -> str:
    """Text in the style of ``objdump -M raw``: base mnemonics, branch targets absolute."""
    op = d.opcode
    texts = [_operand_text(op, n, v, pc) for n, v in zip(op.operands, d.operands, strict=True)]
    if op.mem:
        texts = [texts[0], f"{texts[1]}({texts[2]})"]
    return f"{op.mnemonic} {','.join(texts)}".rstrip()


_CMP_ALIAS = {("cmp", 1): "cmpd", ("cmp", 0): "cmpw", ("cmpl", 1): "cmpld", ("cmpl", 0): "cmplw",
              ("cmpi", 1): "cmpdi", ("cmpi", 0): "cmpwi", ("cmpli", 1): "cmpldi",
              ("cmpli", 0): "cmplwi"}  # fmt: skip
_BC_ALIAS = {(BO.TRUE, CRBit.LT): "blt", (BO.TRUE, CRBit.GT): "bgt", (BO.TRUE, CRBit.EQ): "beq",
             (BO.TRUE, CRBit.SO): "bso", (BO.FALSE, CRBit.LT): "bge", (BO.FALSE, CRBit.GT): "ble",
             (BO.FALSE, CRBit.EQ): "bne", (BO.FALSE, CRBit.SO): "bns"}  # fmt: skip
_SPR_ALIAS = {SPR.LR: "lr", SPR.CTR: "ctr", SPR.SRR0: "srr0", SPR.SRR1: "srr1", SPR.XER: "xer"}


_XL_SUFFIX = {"bclr": "lr", "bclrl": "lrl", "bcctr": "ctr", "bcctrl": "ctrl"}


def _alias(d: Decoded, pc: int) -> str | None:
    """The preferred extended mnemonic (ISA Appendix E), as objdump prints it, if one applies."""
    if d.mnemonic.endswith(".") and d.mnemonic[:-1] in OPCODES:
        text = _alias(Decoded(OPCODES[d.mnemonic[:-1]], d.operands), pc)
        if text is None:
            return None
        mn, _, rest = text.partition(" ")
        return f"{mn}. {rest}".rstrip()
    return _alias_arith(d) or _alias_flow(d, pc)


def _alias_arith(d: Decoded) -> str | None:
    mn, v = d.mnemonic, d.operands
    if mn == "addi" and v[1] == 0:
        return f"li r{v[0]},{v[2]}"
    if mn == "addis" and v[1] == 0:
        return f"lis r{v[0]},{v[2]}"
    if mn == "ori" and v == (0, 0, 0):
        return "nop"
    if mn == "or" and v[1] == v[2]:
        return f"mr r{v[0]},r{v[1]}"
    if mn == "rldicr" and v[2] == 0:
        return f"clrrdi r{v[0]},r{v[1]},{63 - v[3]}"
    if mn == "rldicr" and v[3] == 63 - v[2]:
        return f"sldi r{v[0]},r{v[1]},{v[2]}"
    if mn == "rldicl" and v[3] == 0:
        return f"rotldi r{v[0]},r{v[1]},{v[2]}"
    if mn == "rldicl" and v[2] == 0:
        return f"clrldi r{v[0]},r{v[1]},{v[3]}"
    if mn == "rldicl" and v[2] + v[3] == 64:
        return f"srdi r{v[0]},r{v[1]},{v[3]}"
    if mn == "rlwinm" and v[3:] == (0, 31):
        return f"rotlwi r{v[0]},r{v[1]},{v[2]}"
    if mn == "rlwinm" and v[3] == 0 and v[4] == 31 - v[2]:
        return f"slwi r{v[0]},r{v[1]},{v[2]}"
    if mn == "rlwinm" and v[4] == 31 and v[2] == 32 - v[3]:
        return f"srwi r{v[0]},r{v[1]},{v[3]}"
    if mn == "rlwinm" and v[2] == 0 and v[4] == 31:
        return f"clrlwi r{v[0]},r{v[1]},{v[3]}"
    if mn in ("cmp", "cmpl", "cmpi", "cmpli") and v[1] in (0, 1):
        rest = format_raw(d).split(" ", 1)[1].split(",")
        crf = [] if v[0] == 0 else [rest[0]]
        return f"{_CMP_ALIAS[(mn, v[1])]} {','.join(crf + rest[2:])}"
    if mn == "mtmsrd" and v[1] == 0:
        return f"mtmsrd r{v[0]}"
    return None


def _alias_flow(d: Decoded, pc: int) -> str | None:
    mn, v = d.mnemonic, d.operands
    if mn == "bc" and v[0] in (BO.TRUE, BO.FALSE):
        cr = f"cr{v[1] // 4}," if v[1] >= 4 else ""
        return f"{_BC_ALIAS[(BO(v[0]), CRBit(v[1] % 4))]} {cr}{(pc + v[2]):#x}"
    if mn == "bc" and v[0] == BO.DNZ and v[1] == 0:
        return f"bdnz {(pc + v[2]):#x}"
    if mn in _XL_SUFFIX and v == (BO.ALWAYS, 0, 0):
        return f"b{_XL_SUFFIX[mn]}"
    if mn in _XL_SUFFIX and v[0] in (BO.TRUE, BO.FALSE):
        ops = ([f"cr{v[1] // 4}"] if v[1] >= 4 else []) + ([str(v[2])] if v[2] else [])
        cond = _BC_ALIAS[(BO(v[0]), CRBit(v[1] % 4))]
        return f"{cond}{_XL_SUFFIX[mn]} {','.join(ops)}".rstrip()
    if mn in ("mtspr", "mfspr") and v[0 if mn == "mtspr" else 1] in _SPR_ALIAS:
        spr, reg = (v[0], v[1]) if mn == "mtspr" else (v[1], v[0])
        return f"{mn[:2]}{_SPR_ALIAS[SPR(spr)]} r{reg}"
    if mn == "sync" and v == (0, 0):
        return "hwsync"
    if mn == "sync" and v == (1, 0):
        return "lwsync"
    if mn == "sc" and v == (0,):
        return "sc"
    return None


def disassemble(word: int, pc: int = 0, *, raw: bool = False) -> str:
    """One instruction as text; ``.long 0x...`` when the table has no match."""
    d = decode(word)
    if d is None:
        return f".long {word:#x}"
    return (None if raw else _alias(d, pc)) or format_raw(d, pc)


@dataclass(frozen=True)
class Ref:
    """A value known after assembly: ``address(label) - address(base) + addend``.

    With ``base=None`` it is the label's offset from the start of the program.
    """

    label: str
    base: str | None = None
    addend: int = 0


Operand = int | Ref
Target = str


@dataclass(frozen=True)
class Slot:
    """A named data area the loader fills in: offset from the start and size in bytes."""

    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class Program:
    """Assembled machine code with its labels, data slots and a map of instruction offsets."""

    endian: Endian
    code: bytes
    symbols: Mapping[str, int]
    slots: Mapping[str, Slot]
    instructions: frozenset[int] = field(default_factory=frozenset)
    notes: Mapping[int, str] = field(default_factory=dict)  # offset -> label an operand names

    def slot(self, name: str) -> Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise AssemblyError(
                f"no data slot named {name!r} (slots: {', '.join(sorted(self.slots))})"
            ) from None

    def encode_value(self, name: str, value: int | bytes) -> bytes:
        """``value`` laid out for slot ``name``: integers in the program's byte order."""
        s = self.slot(name)
        if isinstance(value, bytes):
            if len(value) > s.size:
                raise AssemblyError(f"slot {name!r} holds {s.size} bytes, got {len(value)}")
            return value.ljust(s.size, b"\0")
        if not 0 <= value < (1 << (8 * s.size)):
            raise AssemblyError(f"slot {name!r} ({s.size} bytes) cannot hold {value:#x}")
        return value.to_bytes(s.size, self.endian.value)

    def patch(self, name: str, value: int | bytes, code: bytes | None = None) -> bytes:
        """``code`` (default: this program) with slot ``name`` set to ``value``."""
        buf = bytearray(self.code if code is None else code)
        s = self.slot(name)
        buf[s.offset : s.offset + s.size] = self.encode_value(name, value)
        return bytes(buf)

    def patch_many(self, values: Mapping[str, int | bytes]) -> bytes:
        """This program's bytes with every slot in ``values`` filled in."""
        code = self.code
        for name, value in values.items():
            code = self.patch(name, value, code)
        return code

    def read_word(self, offset: int, code: bytes | None = None) -> int:
        fmt = self.endian.struct_prefix + "I"
        return int(struct.unpack_from(fmt, self.code if code is None else code, offset)[0])

    def listing(self, *, raw: bool = False, code: bytes | None = None) -> str:
        """Offset, word and disassembly per instruction; labels and data as directives."""
        buf = self.code if code is None else code
        labels: dict[int, list[str]] = {}
        for name, off in sorted(self.symbols.items(), key=lambda kv: kv[1]):
            labels.setdefault(off, []).append(name)
        lines: list[str] = []
        off = 0
        while off < len(buf):
            lines.extend(f"{name}:" for name in labels.get(off, []))
            if off in self.instructions:
                word = self.read_word(off, buf)
                text = disassemble(word, off, raw=raw)
                note = self._target_note(word, off) or (
                    f"  <{self.notes[off]}>" if off in self.notes else ""
                )
                lines.append(f"{off:6x}:  {word:08x}  {text}{note}")
                off += 4
                continue
            nxt = min([o for o in (*labels, *self.instructions) if o > off] + [len(buf)])
            end = min(nxt, off + 16)
            lines.append(f"{off:6x}:  .byte {buf[off:end].hex(' ')}")
            off = end
        return "\n".join(lines)

    def _target_note(self, word: int, pc: int) -> str:
        d = decode(word)
        if d is None:
            return ""
        for name, value in zip(d.opcode.operands, d.operands, strict=True):
            if name in _BRANCH_FIELDS:
                names = [n for n, o in self.symbols.items() if o == pc + value]
                return f"  <{names[0]}>" if names else ""
        return ""


@dataclass
class _Pending:
    offset: int
    mnemonic: str
    operands: tuple[Operand | Target, ...]


class Assembler:
    """Builds a :class:`Program`: methods named after mnemonics emit one instruction each.

    Branch targets are label names; immediates may be :class:`Ref` values resolved
    once every label is known.  ``assemble()`` range-checks every field.
    """

    def __init__(self, endian: Endian | str) -> None:
        self.endian = Endian(endian)
        self._buf = bytearray()
        self._labels: dict[str, int] = {}
        self._slots: dict[str, Slot] = {}
        self._pending: list[_Pending] = []
        self._counter = 0

    # ---- bookkeeping -------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        return len(self._buf)

    def label(self, name: str) -> str:
        """Define ``name`` at the current offset."""
        if name in self._labels:
            raise AssemblyError(f"label {name!r} defined twice")
        self._labels[name] = self.offset
        return name

    def new_label(self, hint: str = "L") -> str:
        """A fresh unique label name (not yet defined)."""
        self._counter += 1
        return f".{hint}{self._counter}"

    def emit(self, mnemonic: str, *operands: Operand | Target) -> None:
        """Append one base instruction; operands may be labels (branches) or :class:`Ref`."""
        if mnemonic not in OPCODES:
            raise AssemblyError(f"unknown mnemonic {mnemonic!r}")
        self._pending.append(_Pending(self.offset, mnemonic, operands))
        self._buf += b"\0\0\0\0"

    # ---- data --------------------------------------------------------------------------------
    def bytes(self, data: bytes) -> None:
        self._buf += data

    def space(self, n: int) -> None:
        self._buf += bytes(n)

    def align(self, n: int) -> None:
        """Pad with zero bytes (or ``nop`` when at an instruction boundary in code) to ``n``."""
        self.space(-self.offset % n)

    def align_code(self, n: int) -> None:
        """Pad with ``nop`` instructions to a multiple of ``n`` bytes."""
        while self.offset % n:
            self.nop()

    def long(self, value: int) -> None:
        self._buf += (value & 0xFFFFFFFF).to_bytes(4, self.endian.value)

    def quad(self, value: int) -> None:
        self._buf += (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, self.endian.value)

    def slot(self, name: str, size: int, align: int = 8) -> str:
        """Reserve a zeroed, named data slot the loader patches with :meth:`Program.patch`."""
        self.align(min(align, 8) if size >= 8 else max(1, min(align, size)))
        self.define_slot(name, self.offset, size)
        self.label(name)
        self.space(size)
        return name

    def define_slot(self, name: str, offset: int, size: int) -> str:
        """Name an area at a fixed offset (it may overlap others, e.g. a field inside a blob)."""
        if name in self._slots:
            raise AssemblyError(f"slot {name!r} defined twice")
        self._slots[name] = Slot(name, offset, size)
        return name

    # ---- assembly ----------------------------------------------------------------------------
    def _resolve(self, p: _Pending) -> tuple[int, ...]:
        op = OPCODES[p.mnemonic]
        out: list[int] = []
        for fname, v in zip(op.operands, p.operands, strict=True):
            if isinstance(v, str) and fname in _BRANCH_FIELDS:
                out.append(self._address(v, p) - p.offset)
            elif isinstance(v, Ref):
                base = 0 if v.base is None else self._address(v.base, p)
                out.append(self._address(v.label, p) - base + v.addend)
            elif isinstance(v, str):
                raise AssemblyError(f"{p.mnemonic} at {p.offset:#x}: label {v!r} for {fname}")
            else:
                out.append(int(v))
        return tuple(out)

    def _address(self, name: str, p: _Pending) -> int:
        try:
            return self._labels[name]
        except KeyError:
            raise AssemblyError(
                f"{p.mnemonic} at {p.offset:#x}: undefined label {name!r}"
            ) from None

    def assemble(self) -> Program:
        """Resolve labels and references, range-check, and return the program."""
        buf = bytearray(self._buf)
        fmt = self.endian.struct_prefix + "I"
        for p in self._pending:
            try:
                word = encode(p.mnemonic, *self._resolve(p))
            except AssemblyError as err:
                raise AssemblyError(f"at offset {p.offset:#x}: {err}") from None
            struct.pack_into(fmt, buf, p.offset, word)
        notes = {p.offset: v.label for p in self._pending for v in p.operands if isinstance(v, Ref)}
        return Program(self.endian, bytes(buf), dict(self._labels), dict(self._slots),
                       frozenset(p.offset for p in self._pending), notes)  # fmt: skip

    # ---- base instructions (one line each; operand order as in assembly) ---------------------
    def addi(self, rt: int, ra: int, si: Operand) -> None:
        self.emit("addi", rt, ra, si)

    def addis(self, rt: int, ra: int, si: Operand) -> None:
        self.emit("addis", rt, ra, si)

    def mulli(self, rt: int, ra: int, si: int) -> None:
        self.emit("mulli", rt, ra, si)

    def ori(self, ra: int, rs: int, ui: Operand) -> None:
        self.emit("ori", ra, rs, ui)

    def oris(self, ra: int, rs: int, ui: Operand) -> None:
        self.emit("oris", ra, rs, ui)

    def xori(self, ra: int, rs: int, ui: int) -> None:
        self.emit("xori", ra, rs, ui)

    def xoris(self, ra: int, rs: int, ui: int) -> None:
        self.emit("xoris", ra, rs, ui)

    def andi_dot(self, ra: int, rs: int, ui: int) -> None:
        """``andi.`` (always records CR0)."""
        self.emit("andi.", ra, rs, ui)

    def andis_dot(self, ra: int, rs: int, ui: int) -> None:
        self.emit("andis.", ra, rs, ui)

    def lwz(self, rt: int, d: Operand, ra: int) -> None:
        self.emit("lwz", rt, d, ra)

    def lbz(self, rt: int, d: Operand, ra: int) -> None:
        self.emit("lbz", rt, d, ra)

    def lhz(self, rt: int, d: Operand, ra: int) -> None:
        self.emit("lhz", rt, d, ra)

    def stw(self, rs: int, d: Operand, ra: int) -> None:
        self.emit("stw", rs, d, ra)

    def stwu(self, rs: int, d: Operand, ra: int) -> None:
        self.emit("stwu", rs, d, ra)

    def stb(self, rs: int, d: Operand, ra: int) -> None:
        self.emit("stb", rs, d, ra)

    def sth(self, rs: int, d: Operand, ra: int) -> None:
        self.emit("sth", rs, d, ra)

    def ld(self, rt: int, ds: Operand, ra: int) -> None:
        self.emit("ld", rt, ds, ra)

    def ldu(self, rt: int, ds: Operand, ra: int) -> None:
        self.emit("ldu", rt, ds, ra)

    def std(self, rs: int, ds: Operand, ra: int) -> None:
        self.emit("std", rs, ds, ra)

    def stdu(self, rs: int, ds: Operand, ra: int) -> None:
        self.emit("stdu", rs, ds, ra)

    def ldx(self, rt: int, ra: int, rb: int) -> None:
        self.emit("ldx", rt, ra, rb)

    def lwzx(self, rt: int, ra: int, rb: int) -> None:
        self.emit("lwzx", rt, ra, rb)

    def lbzx(self, rt: int, ra: int, rb: int) -> None:
        self.emit("lbzx", rt, ra, rb)

    def stdx(self, rs: int, ra: int, rb: int) -> None:
        self.emit("stdx", rs, ra, rb)

    def stwx(self, rs: int, ra: int, rb: int) -> None:
        self.emit("stwx", rs, ra, rb)

    def stbx(self, rs: int, ra: int, rb: int) -> None:
        self.emit("stbx", rs, ra, rb)

    def lwbrx(self, rt: int, ra: int, rb: int) -> None:
        self.emit("lwbrx", rt, ra, rb)

    def ldbrx(self, rt: int, ra: int, rb: int) -> None:
        self.emit("ldbrx", rt, ra, rb)

    def stwbrx(self, rs: int, ra: int, rb: int) -> None:
        self.emit("stwbrx", rs, ra, rb)

    def stdbrx(self, rs: int, ra: int, rb: int) -> None:
        self.emit("stdbrx", rs, ra, rb)

    def add(self, rt: int, ra: int, rb: int) -> None:
        self.emit("add", rt, ra, rb)

    def add_dot(self, rt: int, ra: int, rb: int) -> None:
        self.emit("add.", rt, ra, rb)

    def subf(self, rt: int, ra: int, rb: int) -> None:
        """rt = rb - ra."""
        self.emit("subf", rt, ra, rb)

    def subf_dot(self, rt: int, ra: int, rb: int) -> None:
        self.emit("subf.", rt, ra, rb)

    def sub(self, rt: int, ra: int, rb: int) -> None:
        """rt = ra - rb (extended mnemonic for subf)."""
        self.emit("subf", rt, rb, ra)

    def neg(self, rt: int, ra: int) -> None:
        self.emit("neg", rt, ra)

    def mulld(self, rt: int, ra: int, rb: int) -> None:
        self.emit("mulld", rt, ra, rb)

    def mullw(self, rt: int, ra: int, rb: int) -> None:
        self.emit("mullw", rt, ra, rb)

    def and_(self, ra: int, rs: int, rb: int) -> None:
        self.emit("and", ra, rs, rb)

    def and_dot(self, ra: int, rs: int, rb: int) -> None:
        self.emit("and.", ra, rs, rb)

    def andc(self, ra: int, rs: int, rb: int) -> None:
        self.emit("andc", ra, rs, rb)

    def or_(self, ra: int, rs: int, rb: int) -> None:
        self.emit("or", ra, rs, rb)

    def or_dot(self, ra: int, rs: int, rb: int) -> None:
        self.emit("or.", ra, rs, rb)

    def xor(self, ra: int, rs: int, rb: int) -> None:
        self.emit("xor", ra, rs, rb)

    def nor(self, ra: int, rs: int, rb: int) -> None:
        self.emit("nor", ra, rs, rb)

    def slw(self, ra: int, rs: int, rb: int) -> None:
        self.emit("slw", ra, rs, rb)

    def srw(self, ra: int, rs: int, rb: int) -> None:
        self.emit("srw", ra, rs, rb)

    def sld(self, ra: int, rs: int, rb: int) -> None:
        self.emit("sld", ra, rs, rb)

    def srd(self, ra: int, rs: int, rb: int) -> None:
        self.emit("srd", ra, rs, rb)

    def extsw(self, ra: int, rs: int) -> None:
        self.emit("extsw", ra, rs)

    def rlwinm(self, ra: int, rs: int, sh: int, mb: int, me: int) -> None:
        self.emit("rlwinm", ra, rs, sh, mb, me)

    def rlwinm_dot(self, ra: int, rs: int, sh: int, mb: int, me: int) -> None:
        self.emit("rlwinm.", ra, rs, sh, mb, me)

    def rlwimi(self, ra: int, rs: int, sh: int, mb: int, me: int) -> None:
        self.emit("rlwimi", ra, rs, sh, mb, me)

    def rldicl(self, ra: int, rs: int, sh: int, mb: int) -> None:
        self.emit("rldicl", ra, rs, sh, mb)

    def rldicl_dot(self, ra: int, rs: int, sh: int, mb: int) -> None:
        self.emit("rldicl.", ra, rs, sh, mb)

    def rldicr(self, ra: int, rs: int, sh: int, me: int) -> None:
        self.emit("rldicr", ra, rs, sh, me)

    def rldic(self, ra: int, rs: int, sh: int, mb: int) -> None:
        self.emit("rldic", ra, rs, sh, mb)

    def rldimi(self, ra: int, rs: int, sh: int, mb: int) -> None:
        self.emit("rldimi", ra, rs, sh, mb)

    def cmp(self, bf: int, l64: int, ra: int, rb: int) -> None:
        self.emit("cmp", bf, l64, ra, rb)

    def cmpl(self, bf: int, l64: int, ra: int, rb: int) -> None:
        self.emit("cmpl", bf, l64, ra, rb)

    def cmpi(self, bf: int, l64: int, ra: int, si: Operand) -> None:
        self.emit("cmpi", bf, l64, ra, si)

    def cmpli(self, bf: int, l64: int, ra: int, ui: Operand) -> None:
        self.emit("cmpli", bf, l64, ra, ui)

    def mtspr(self, spr: int, rs: int) -> None:
        self.emit("mtspr", spr, rs)

    def mfspr(self, rt: int, spr: int) -> None:
        self.emit("mfspr", rt, spr)

    def mfmsr(self, rt: int) -> None:
        self.emit("mfmsr", rt)

    def mtmsrd(self, rs: int, l_: int = 0) -> None:
        self.emit("mtmsrd", rs, l_)

    def rfid(self) -> None:
        self.emit("rfid")

    def sc(self, lev: int = 0) -> None:
        self.emit("sc", lev)

    def sync(self, ls: int = 0) -> None:
        self.emit("sync", ls, 0)

    def isync(self) -> None:
        self.emit("isync")

    def dcbst(self, ra: int, rb: int) -> None:
        self.emit("dcbst", ra, rb)

    def icbi(self, ra: int, rb: int) -> None:
        self.emit("icbi", ra, rb)

    def b(self, target: Target) -> None:
        self.emit("b", target)

    def bl(self, target: Target) -> None:
        self.emit("bl", target)

    def bc(self, bo: int, bi: int, target: Target) -> None:
        self.emit("bc", bo, bi, target)

    def bcl(self, bo: int, bi: int, target: Target) -> None:
        self.emit("bcl", bo, bi, target)

    def bclr(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bclr", bo, bi, bh)

    def bcctr(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bcctr", bo, bi, bh)

    def bcctrl(self, bo: int, bi: int, bh: int = 0) -> None:
        self.emit("bcctrl", bo, bi, bh)

    # ---- extended mnemonics (ISA Appendix E) -------------------------------------------------
    def li(self, rt: int, si: Operand) -> None:
        self.addi(rt, 0, si)

    def lis(self, rt: int, si: Operand) -> None:
        self.addis(rt, 0, si)

    def mr(self, ra: int, rs: int) -> None:
        self.or_(ra, rs, rs)

    def nop(self) -> None:
        self.ori(0, 0, 0)

    def sldi(self, ra: int, rs: int, n: int) -> None:
        self.rldicr(ra, rs, n, 63 - n)

    def srdi(self, ra: int, rs: int, n: int) -> None:
        self.rldicl(ra, rs, (64 - n) % 64, n)

    def clrldi(self, ra: int, rs: int, n: int) -> None:
        self.rldicl(ra, rs, 0, n)

    def clrrdi(self, ra: int, rs: int, n: int) -> None:
        self.rldicr(ra, rs, 0, 63 - n)

    def rotlwi(self, ra: int, rs: int, n: int) -> None:
        self.rlwinm(ra, rs, n, 0, 31)

    def rotrwi(self, ra: int, rs: int, n: int) -> None:
        self.rlwinm(ra, rs, (32 - n) % 32, 0, 31)

    def slwi(self, ra: int, rs: int, n: int) -> None:
        self.rlwinm(ra, rs, n, 0, 31 - n)

    def srwi(self, ra: int, rs: int, n: int) -> None:
        self.rlwinm(ra, rs, (32 - n) % 32, n, 31)

    def clrlwi(self, ra: int, rs: int, n: int) -> None:
        self.rlwinm(ra, rs, 0, n, 31)

    def cmpd(self, ra: int, rb: int, cr: int = CR0) -> None:
        self.cmp(cr, 1, ra, rb)

    def cmpw(self, ra: int, rb: int, cr: int = CR0) -> None:
        self.cmp(cr, 0, ra, rb)

    def cmpld(self, ra: int, rb: int, cr: int = CR0) -> None:
        self.cmpl(cr, 1, ra, rb)

    def cmplw(self, ra: int, rb: int, cr: int = CR0) -> None:
        self.cmpl(cr, 0, ra, rb)

    def cmpdi(self, ra: int, si: Operand, cr: int = CR0) -> None:
        self.cmpi(cr, 1, ra, si)

    def cmpwi(self, ra: int, si: Operand, cr: int = CR0) -> None:
        self.cmpi(cr, 0, ra, si)

    def cmpldi(self, ra: int, ui: Operand, cr: int = CR0) -> None:
        self.cmpli(cr, 1, ra, ui)

    def cmplwi(self, ra: int, ui: Operand, cr: int = CR0) -> None:
        self.cmpli(cr, 0, ra, ui)

    def _bcond(self, bo: BO, bit: CRBit, target: Target, cr: int) -> None:
        self.bc(bo, 4 * cr + bit, target)

    def beq(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.EQ, target, cr)

    def bne(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.EQ, target, cr)

    def blt(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.LT, target, cr)

    def bge(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.LT, target, cr)

    def bgt(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.TRUE, CRBit.GT, target, cr)

    def ble(self, target: Target, cr: int = CR0) -> None:
        self._bcond(BO.FALSE, CRBit.GT, target, cr)

    def bdnz(self, target: Target) -> None:
        self.bc(BO.DNZ, 0, target)

    def blr(self) -> None:
        self.bclr(BO.ALWAYS, 0)

    def bctr(self) -> None:
        self.bcctr(BO.ALWAYS, 0)

    def bctrl(self) -> None:
        self.bcctrl(BO.ALWAYS, 0)

    def mtctr(self, rs: int) -> None:
        self.mtspr(SPR.CTR, rs)

    def mfctr(self, rt: int) -> None:
        self.mfspr(rt, SPR.CTR)

    def mtlr(self, rs: int) -> None:
        self.mtspr(SPR.LR, rs)

    def mflr(self, rt: int) -> None:
        self.mfspr(rt, SPR.LR)

    def mtsrr0(self, rs: int) -> None:
        self.mtspr(SPR.SRR0, rs)

    def mtsrr1(self, rs: int) -> None:
        self.mtspr(SPR.SRR1, rs)

    def hwsync(self) -> None:
        self.sync(0)

    def lwsync(self) -> None:
        self.sync(1)

    def load_imm64(self, rt: int, value: int) -> None:
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
