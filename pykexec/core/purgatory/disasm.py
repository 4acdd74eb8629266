# SPDX-License-Identifier: GPL-2.0-or-later
"""Decoding and disassembly, built from the instruction table of :mod:`.isa`.

:func:`decode` finds the table entry that encodes a word exactly (re-encoding it, so a
word decodes only if :func:`.isa.encode` would produce it); :func:`format_raw` writes it
as ``objdump -M raw`` does and :func:`disassemble` with the preferred extended mnemonics
(Power ISA Appendix E), as objdump does by default.  Pure: no I/O.
"""

from __future__ import annotations

from typing import NamedTuple

from pykexec.core.purgatory.isa import (
    BO,
    BRANCH_FIELDS,
    FIELDS,
    OPCODES,
    SPR,
    CRBit,
    Opcode,
    encode,
)


class Decoded(NamedTuple):
    """A decoded instruction: the table entry and its operand values (branch = displacement)."""

    opcode: Opcode
    operands: tuple[int, ...]

    @property
    def mnemonic(self) -> str:
        return self.opcode.mnemonic


_DECODE_INDEX: dict[int, list[Opcode]] = {}


def decode(word: int) -> Decoded | None:
    """The table entry that encodes ``word`` exactly (reserved bits zero), or None."""
    if not _DECODE_INDEX:
        for o in OPCODES.values():
            _DECODE_INDEX.setdefault(dict(o.fixed)["OPCD"], []).append(o)
    for op in _DECODE_INDEX.get(word >> 26, []):
        if all(FIELDS[n].extract(word) == v for n, v in op.fixed):
            values = tuple(FIELDS[n].extract(word) for n in op.operands)
            if encode(op.mnemonic, *values) == word:
                return Decoded(op, values)
    return None


_GPR_FIELDS = frozenset({"RT", "RS", "RA", "RB"})
_VR_FIELDS = frozenset({"VRT", "VRA", "VRB", "VRC"})


def _bi_text(bi: int) -> str:
    bit = CRBit(bi % 4).name.lower()
    return bit if bi < 4 else f"4*cr{bi // 4}+{bit}"


def _operand_text(op: Opcode, name: str, value: int, pc: int) -> str:
    """One operand as ``objdump -M raw`` writes it."""
    if name == "RA" and op.ra0 and value == 0:
        return "0"  # RA=0 means "no register"
    if name in _GPR_FIELDS:
        return f"r{value}"
    if name in _VR_FIELDS:
        return f"v{value}"
    if name == "XT":
        return f"vs{value}"
    if name == "BF":
        return f"cr{value}"
    if name == "BI":
        return _bi_text(value)
    if name in BRANCH_FIELDS:
        return f"{(pc + value) & 0xFFFFFFFFFFFFFFFF:#x}"
    return str(value)


def format_raw(d: Decoded, pc: int = 0) -> str:
    """Text in the style of ``objdump -M raw``: base mnemonics, branch targets absolute."""
    op = d.opcode
    texts = [_operand_text(op, n, v, pc) for n, v in zip(op.operands, d.operands)]
    if op.mem:
        texts = [texts[0], f"{texts[1]}({texts[2]})"]
    return f"{op.mnemonic} {','.join(texts)}".rstrip()


_CMP_ALIAS = {("cmp", 1): "cmpd", ("cmp", 0): "cmpw", ("cmpl", 1): "cmpld", ("cmpl", 0): "cmplw",
              ("cmpi", 1): "cmpdi", ("cmpi", 0): "cmpwi", ("cmpli", 1): "cmpldi",
              ("cmpli", 0): "cmplwi"}  # fmt: skip
_BC_ALIAS = {(BO.TRUE, CRBit.LT): "blt", (BO.TRUE, CRBit.GT): "bgt", (BO.TRUE, CRBit.EQ): "beq",
             (BO.TRUE, CRBit.SO): "bso", (BO.FALSE, CRBit.LT): "bge", (BO.FALSE, CRBit.GT): "ble",
             (BO.FALSE, CRBit.EQ): "bne", (BO.FALSE, CRBit.SO): "bns"}  # fmt: skip
_SPR_ALIAS = {SPR.LR: "lr", SPR.CTR: "ctr", SPR.SRR0: "srr0", SPR.SRR1: "srr1", SPR.XER: "xer",
              SPR.HSRR0: "hsrr0", SPR.HSRR1: "hsrr1"}  # fmt: skip
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
