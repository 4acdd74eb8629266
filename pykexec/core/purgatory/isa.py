# SPDX-License-Identifier: GPL-2.0-or-later
"""The 64-bit Book3S PowerPC instruction set as data (Power ISA 2.06, POWER7): encode and decode.

This module owns the instruction *data*: bit fields in IBM numbering (bit 0 is
the most significant bit of the 32-bit word), the instruction forms built from
them, and the table :data:`OPCODES` of mnemonic -> primary opcode, extended
opcode and operand order.  The same table encodes (:func:`encode`) and decodes
(:mod:`.disasm`), so round trips and listings are testable.
:mod:`.asm` builds programs on top of :func:`encode`.

Sources: Power ISA v2.06B, Book I §1.6 (instruction formats), the per-instruction
pages in Books I-III, and Appendix E (extended mnemonics).

The table holds POWER7 instructions (Power ISA 2.06) and, in :data:`POWER8_ONLY`, the
few ISA 2.07 vector instructions of the vector SHA-256 (no prefixed or ISA 3.0
instructions).  Everything here is pure: no I/O.

Speed matters here: the loader generates the purgatory at run time, inside
emulated POWER guests where Python is ~30x slower.  So each mnemonic's fields
are compiled once, on first use, into plain tuples of bounds, masks and shifts
(:func:`encode`), and the registers are 32 plain instances rather than a 32-member
``IntEnum`` (whose class creation alone costs ~0.5 ms on a fast host).  :func:`encode`
takes plain numbers; the typed operands (:class:`GPR`, :class:`CRF`, :class:`SPR`,
labels) are the assembler's, checked against :data:`KINDS`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar, Final, Literal, NamedTuple, NoReturn, TypeVar

from pykexec.errors import AssemblyError as AssemblyError  # re-exported: its old home

_R = TypeVar("_R", bound="_Register")


class _Register:
    """One register of a register file: its number, one instance per number (so
    identity is equality and hashing is cheap).  Each file is its own class, so the
    type checker tells a GPR from a CR field or a vector register, and any of them
    from a number (the operand kinds of :data:`OPCODES`)."""

    __slots__ = ("number",)
    number: int
    PREFIX: ClassVar[str] = ""
    COUNT: ClassVar[int] = 0
    WHAT: ClassVar[str] = ""
    _table: ClassVar[tuple[_Register, ...]] = ()

    def __new__(cls: type[_R], number: int) -> _R:
        if not 0 <= number < cls.COUNT:
            raise AssemblyError("no-register", what=cls.WHAT, name=f"{cls.PREFIX}{number}")
        table = cls.__dict__.get("_table", ())
        if number < len(table):
            return table[number]  # type: ignore[no-any-return]
        self = super().__new__(cls)
        self.number = number
        return self

    def __index__(self) -> int:
        return self.number

    def __repr__(self) -> str:
        return f"{self.PREFIX}{self.number}"

    @classmethod
    def file(cls: type[_R]) -> tuple[_R, ...]:
        """Every register of this file, in order (made once)."""
        if "_table" not in cls.__dict__:
            cls._table = tuple(cls(n) for n in range(cls.COUNT))
        return cls.__dict__["_table"]  # type: ignore[no-any-return]


class GPR(_Register):
    """A general purpose register, r0..r31.

    Deliberately *not* an ``int``: the type checker rejects a register where a
    displacement or immediate is expected, and a number where a register is (the
    operand kinds of :data:`OPCODES`).  One instance per register, so identity is
    equality and hashing is cheap.
    """

    __slots__ = ()
    PREFIX, COUNT, WHAT = "r", 32, "general purpose register"


class CRF(_Register):
    """A condition register field, cr0..cr7 (the BF operand of compares; not an ``int``)."""

    __slots__ = ()
    PREFIX, COUNT, WHAT = "cr", 8, "condition register field"


class VR(_Register):
    """A vector register, v0..v31 (VMX; VSX calls it vs32..vs63; not an ``int``)."""

    __slots__ = ()
    PREFIX, COUNT, WHAT = "v", 32, "vector register"


_GPRS, _CRFS, _VRS = GPR.file(), CRF.file(), VR.file()
R0, R1, R2, R3, R4, R5, R6, R7 = _GPRS[0:8]
R8, R9, R10, R11, R12, R13, R14, R15 = _GPRS[8:16]
R16, R17, R18, R19, R20, R21, R22, R23 = _GPRS[16:24]
R24, R25, R26, R27, R28, R29, R30, R31 = _GPRS[24:32]
CR0, CR1, CR2, CR3, CR4, CR5, CR6, CR7 = _CRFS
V0, V1, V2, V3, V4, V5, V6, V7 = _VRS[0:8]
V8, V9, V10, V11, V12, V13, V14, V15 = _VRS[8:16]
V16, V17, V18, V19, V20, V21, V22, V23 = _VRS[16:24]
V24, V25, V26, V27, V28, V29, V30, V31 = _VRS[24:32]


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
    HSRR0 = 314  # ISA Book III-S §4.3 (hypervisor save/restore registers)
    HSRR1 = 315


class Field(NamedTuple):
    """An instruction field: one or more bit ranges (IBM numbering), most significant first."""

    name: str
    parts: tuple[tuple[int, int], ...]
    signed: bool = False
    shift: int = 0  # implied low zero bits (DS, BD, LI)

    @property
    def width(self) -> int:
        return sum(last - first + 1 for first, last in self.parts)

    @property
    def bounds(self) -> tuple[int, int]:
        """The smallest and largest operand value that fits (before the implied shift)."""
        w = self.width
        lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if self.signed else (0, (1 << w) - 1)
        return lo << self.shift, hi << self.shift

    def misfit(self, value: int) -> str:
        """Why ``value`` does not fit this field."""
        kind = "signed" if self.signed else "unsigned"
        align = f", multiple of {1 << self.shift}" if self.shift else ""
        return f"value {value} does not fit field {self.name} ({self.width}-bit {kind}{align})"

    def placement(self) -> tuple[tuple[int, int, int], ...]:
        """(right shift of the value, mask, left shift into the word) per part, LSB part first."""
        out, taken = [], 0
        for first, last in reversed(self.parts):
            n = last - first + 1
            out.append((taken, (1 << n) - 1, 31 - last))
            taken += n
        return tuple(out)

    def extract(self, word: int) -> int:
        v = 0
        for first, last in self.parts:
            n = last - first + 1
            v = (v << n) | ((word >> (31 - last)) & ((1 << n) - 1))
        if self.signed and v & (1 << (self.width - 1)):
            v -= 1 << self.width
        return v << self.shift


def _f(name: str, first: int, last: int | None = None, signed: bool = False,
       shift: int = 0) -> Field:  # fmt: skip
    return Field(name, ((first, first if last is None else last),), signed, shift)


# ISA Book I §1.6.2 "Instruction fields".
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        _f("OPCD", 0, 5),
        _f("RT", 6, 10),
        _f("RS", 6, 10),
        _f("BO", 6, 10),
        _f("TO", 6, 10),  # trap conditions
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
        # Vector forms (ISA 2.07 Book I §1.6.1.18 VA, .19 VX; §1.6.1.20 XX1).
        _f("VRT", 6, 10),
        _f("VRA", 11, 15),
        _f("VRB", 16, 20),
        _f("VRC", 21, 25),
        _f("ST", 16),  # vshasigmaw: 0 = lower-case sigma, 1 = upper-case Sigma
        _f("SIX", 17, 20),  # vshasigmaw: per element, which of the two functions
        _f("SHB", 22, 25),  # vsldoi: shift in bytes
        _f("XO_VX", 21, 31),
        _f("XO_VA", 26, 31),
        _f("XO_XX1", 21, 30),
        # XX1 form: a VSX register number 0..63 whose high bit (TX) sits at bit 31.
        Field("XT", ((31, 31), (6, 10))),
    )
}


# Instruction formats (ISA Book I §1.6.1).  Only a label in the table (the fields say how
# to encode), so a checked ``Literal`` rather than an Enum, whose creation costs more at import.
Form = Literal[
    "I", "B", "SC", "D", "DS", "X", "XL", "XFX", "XO", "M", "MD", "VX", "VA", "XX1"
]  # fmt: skip


class Opcode(NamedTuple):
    """One mnemonic: its form, the fields fixed by the mnemonic, and its operands in order."""

    mnemonic: str
    form: Form
    fixed: tuple[tuple[str, int], ...]
    operands: tuple[str, ...]
    mem: bool = False  # written "RT,D(RA)"
    ra0: bool = False  # RA=0 means the value 0, not r0


def _op(mn: str, form: Form, opcd: int, operands: str, mem: bool = False, ra0: bool = False,
        **fixed: int) -> Opcode:  # fmt: skip
    return Opcode(mn, form, (("OPCD", opcd), *fixed.items()), tuple(operands.split()), mem, ra0)


# The instruction table: mnemonic, form, primary opcode, operand order, extended opcode.
OPCODES: dict[str, Opcode] = {
    o.mnemonic: o
    for o in (
        _op("b", "I", 18, "LI", AA=0, LK=0),
        _op("bl", "I", 18, "LI", AA=0, LK=1),
        _op("bc", "B", 16, "BO BI BD", AA=0, LK=0),
        _op("bcl", "B", 16, "BO BI BD", AA=0, LK=1),
        _op("sc", "SC", 17, "LEV", SC1=1),
        _op("tdi", "D", 2, "TO RA SI"),
        _op("mulli", "D", 7, "RT RA SI"),
        _op("cmpli", "D", 10, "BF L RA UI"),
        _op("cmpi", "D", 11, "BF L RA SI"),
        _op("addi", "D", 14, "RT RA SI", ra0=True),
        _op("addis", "D", 15, "RT RA SI", ra0=True),
        _op("ori", "D", 24, "RA RS UI"),
        _op("oris", "D", 25, "RA RS UI"),
        _op("xori", "D", 26, "RA RS UI"),
        _op("xoris", "D", 27, "RA RS UI"),
        _op("andi.", "D", 28, "RA RS UI"),
        _op("andis.", "D", 29, "RA RS UI"),
        _op("lwz", "D", 32, "RT D RA", mem=True, ra0=True),
        _op("lbz", "D", 34, "RT D RA", mem=True, ra0=True),
        _op("stw", "D", 36, "RS D RA", mem=True, ra0=True),
        _op("stwu", "D", 37, "RS D RA", mem=True),
        _op("stb", "D", 38, "RS D RA", mem=True, ra0=True),
        _op("lhz", "D", 40, "RT D RA", mem=True, ra0=True),
        _op("sth", "D", 44, "RS D RA", mem=True, ra0=True),
        _op("ld", "DS", 58, "RT DS RA", mem=True, ra0=True, XO_DS=0),
        _op("ldu", "DS", 58, "RT DS RA", mem=True, XO_DS=1),
        _op("std", "DS", 62, "RS DS RA", mem=True, ra0=True, XO_DS=0),
        _op("stdu", "DS", 62, "RS DS RA", mem=True, XO_DS=1),
        _op("bclr", "XL", 19, "BO BI BH", XO_X=16, LK=0),
        _op("bclrl", "XL", 19, "BO BI BH", XO_X=16, LK=1),
        _op("rfid", "XL", 19, "", XO_X=18),
        _op("hrfid", "XL", 19, "", XO_X=274),
        _op("isync", "XL", 19, "", XO_X=150),
        _op("bcctr", "XL", 19, "BO BI BH", XO_X=528, LK=0),
        _op("bcctrl", "XL", 19, "BO BI BH", XO_X=528, LK=1),
        _op("rlwimi", "M", 20, "RA RS SH MB ME", Rc=0),
        _op("rlwinm", "M", 21, "RA RS SH MB ME", Rc=0),
        _op("rlwinm.", "M", 21, "RA RS SH MB ME", Rc=1),
        _op("rldicl", "MD", 30, "RA RS SH6 MB6", XO_MD=0, Rc=0),
        _op("rldicl.", "MD", 30, "RA RS SH6 MB6", XO_MD=0, Rc=1),
        _op("rldicr", "MD", 30, "RA RS SH6 MB6", XO_MD=1, Rc=0),
        _op("rldic", "MD", 30, "RA RS SH6 MB6", XO_MD=2, Rc=0),
        _op("rldimi", "MD", 30, "RA RS SH6 MB6", XO_MD=3, Rc=0),
        _op("cmp", "X", 31, "BF L RA RB", XO_X=0),
        _op("cmpl", "X", 31, "BF L RA RB", XO_X=32),
        _op("subf", "XO", 31, "RT RA RB", OE=0, XO_XO=40, Rc=0),
        _op("subf.", "XO", 31, "RT RA RB", OE=0, XO_XO=40, Rc=1),
        _op("neg", "XO", 31, "RT RA", OE=0, XO_XO=104, Rc=0),
        _op("mulld", "XO", 31, "RT RA RB", OE=0, XO_XO=233, Rc=0),
        _op("mullw", "XO", 31, "RT RA RB", OE=0, XO_XO=235, Rc=0),
        _op("add", "XO", 31, "RT RA RB", OE=0, XO_XO=266, Rc=0),
        _op("add.", "XO", 31, "RT RA RB", OE=0, XO_XO=266, Rc=1),
        _op("ldx", "X", 31, "RT RA RB", ra0=True, XO_X=21),
        _op("lwzx", "X", 31, "RT RA RB", ra0=True, XO_X=23),
        _op("slw", "X", 31, "RA RS RB", XO_X=24, Rc=0),
        _op("sld", "X", 31, "RA RS RB", XO_X=27, Rc=0),
        _op("and", "X", 31, "RA RS RB", XO_X=28, Rc=0),
        _op("and.", "X", 31, "RA RS RB", XO_X=28, Rc=1),
        _op("dcbst", "X", 31, "RA RB", ra0=True, XO_X=54),
        _op("andc", "X", 31, "RA RS RB", XO_X=60, Rc=0),
        _op("mfmsr", "X", 31, "RT", XO_X=83),
        _op("lbzx", "X", 31, "RT RA RB", ra0=True, XO_X=87),
        _op("nor", "X", 31, "RA RS RB", XO_X=124, Rc=0),
        _op("stdx", "X", 31, "RS RA RB", ra0=True, XO_X=149),
        _op("stwx", "X", 31, "RS RA RB", ra0=True, XO_X=151),
        _op("mtmsrd", "X", 31, "RS LM", XO_X=178),
        _op("stbx", "X", 31, "RS RA RB", ra0=True, XO_X=215),
        _op("xor", "X", 31, "RA RS RB", XO_X=316, Rc=0),
        _op("mfspr", "XFX", 31, "RT SPR", XO_X=339),
        _op("or", "X", 31, "RA RS RB", XO_X=444, Rc=0),
        _op("or.", "X", 31, "RA RS RB", XO_X=444, Rc=1),
        _op("mtspr", "XFX", 31, "SPR RS", XO_X=467),
        _op("ldbrx", "X", 31, "RT RA RB", ra0=True, XO_X=532),
        _op("lwbrx", "X", 31, "RT RA RB", ra0=True, XO_X=534),
        _op("srw", "X", 31, "RA RS RB", XO_X=536, Rc=0),
        _op("srd", "X", 31, "RA RS RB", XO_X=539, Rc=0),
        _op("sync", "X", 31, "LS E", XO_X=598),
        _op("stdbrx", "X", 31, "RS RA RB", ra0=True, XO_X=660),
        _op("stwbrx", "X", 31, "RS RA RB", ra0=True, XO_X=662),
        _op("icbi", "X", 31, "RA RB", ra0=True, XO_X=982),
        _op("extsw", "X", 31, "RA RS", XO_X=986, Rc=0),
        # POWER8 (ISA 2.07) vector and VSX instructions: see POWER8_ONLY.
        _op("vadduwm", "VX", 4, "VRT VRA VRB", XO_VX=128),
        _op("vmrghw", "VX", 4, "VRT VRA VRB", XO_VX=140),
        _op("vand", "VX", 4, "VRT VRA VRB", XO_VX=1028),
        _op("vxor", "VX", 4, "VRT VRA VRB", XO_VX=1220),
        _op("vshasigmaw", "VX", 4, "VRT VRA ST SIX", XO_VX=1666),
        _op("vsel", "VA", 4, "VRT VRA VRB VRC", XO_VA=42),
        _op("vperm", "VA", 4, "VRT VRA VRB VRC", XO_VA=43),
        _op("vsldoi", "VA", 4, "VRT VRA VRB SHB", XO_VA=44),
        _op("lxvw4x", "XX1", 31, "XT RA RB", ra0=True, XO_XX1=780),
        _op("stxvw4x", "XX1", 31, "XT RA RB", ra0=True, XO_XX1=908),
    )
}

# Not in POWER7: only the vector SHA-256 (generated for CPUs that have it) uses them.
POWER8_ONLY = frozenset(
    ("vadduwm", "vmrghw", "vand", "vxor", "vshasigmaw", "vsel", "vperm", "vsldoi", "lxvw4x",
     "stxvw4x")
)  # fmt: skip

BRANCH_FIELDS = frozenset({"BD", "LI"})  # operands that are byte displacements from the insn


class Kind:
    """What an operand field takes (names, not an Enum: nothing iterates them)."""

    GPR: Final = "register"  # a GPR instance
    VR: Final = "vector register"  # a VR instance
    CRF: Final = "CR field"  # a CRF instance
    SPR: Final = "SPR number"  # an SPR member (or an int)
    LABEL: Final = "label"  # a label name (str): the displacement is computed
    NUMBER: Final = "number"  # an int, or in the assembler a Ref resolved later


# The operand kind of each field the table uses as an operand.
KINDS: dict[str, str] = {
    **dict.fromkeys(("RT", "RS", "RA", "RB"), Kind.GPR),
    **dict.fromkeys(("VRT", "VRA", "VRB", "VRC"), Kind.VR),
    "BF": Kind.CRF,
    "SPR": Kind.SPR,
    **dict.fromkeys(BRANCH_FIELDS, Kind.LABEL),
}


def kind(field: str) -> str:
    """The operand kind of ``field`` (:class:`Kind`)."""
    return KINDS.get(field, Kind.NUMBER)


# ---- encoding ------------------------------------------------------------------------------
# A compiled operand: (lowest, highest, alignment mask, implied shift, mask of the least
# significant part, its left shift, the other parts as (right shift, mask, left shift)).
_Check = tuple[int, int, int, int, int, int, tuple[tuple[int, int, int], ...]]
_Encoder = tuple[int, tuple[_Check, ...]]
_ENCODERS: dict[str, _Encoder] = {}


def _compile_field(f: Field) -> _Check:
    lo, hi = f.bounds
    (_, mask, pos), *others = f.placement()
    return lo, hi, (1 << f.shift) - 1, f.shift, mask, pos, tuple(others)


def _insert(mnemonic: str, name: str, value: int) -> int:
    """Reference (slow) insertion of one field, for the fixed fields of a mnemonic."""
    f = FIELDS[name]
    lo, hi = f.bounds
    if not lo <= value <= hi or value & ((1 << f.shift) - 1):
        kind = "signed" if f.signed else "unsigned"
        raise AssemblyError("misfit-aligned" if f.shift else "misfit", mnemonic=mnemonic,
                            value=value, field=f.name, width=f.width, takes=kind,
                            multiple=1 << f.shift)  # fmt: skip
    v, word = value >> f.shift, 0
    for rshift, mask, pos in f.placement():
        word |= ((v >> rshift) & mask) << pos
    return word


def _compile(mnemonic: str) -> _Encoder:
    """The fixed bits and per-operand checks of ``mnemonic``, built once from the table."""
    try:
        op = OPCODES[mnemonic]
    except KeyError:
        raise AssemblyError("unknown-mnemonic", mnemonic=mnemonic) from None
    base = 0
    for name, value in op.fixed:
        base |= _insert(mnemonic, name, value)
    enc = base, tuple(_compile_field(FIELDS[name]) for name in op.operands)
    _ENCODERS[mnemonic] = enc
    return enc


def _reject(mnemonic: str, operands: tuple[int, ...]) -> NoReturn:
    """Raise the error for the operand count or the first operand that does not fit."""
    op = OPCODES[mnemonic]
    if len(operands) != len(op.operands):
        raise AssemblyError(
            "operand-count", mnemonic=mnemonic, expected=len(op.operands), count=len(operands)
        )
    for name, value in zip(op.operands, operands):
        _insert(mnemonic, name, value)
    raise AssertionError(f"{mnemonic} {operands}: every operand fits")  # pragma: no cover


def encode(mnemonic: str, *operands: int) -> int:
    """The 32-bit instruction word; branch operands are byte displacements from the instruction.

    Every operand is range-checked against its field (AssemblyError names the first that
    does not fit) and must be an integer (``TypeError`` otherwise).
    """
    word, checks = _ENCODERS.get(mnemonic) or _compile(mnemonic)
    if len(operands) != len(checks):
        _reject(mnemonic, operands)
    for value, (lo, hi, align, shift, mask, pos, others) in zip(operands, checks):
        if value < lo or value > hi or value & align:
            _reject(mnemonic, operands)
        v = value >> shift
        word |= (v & mask) << pos
        for rshift, pmask, ppos in others:  # the more significant parts of a split field
            word |= ((v >> rshift) & pmask) << ppos
    return word
