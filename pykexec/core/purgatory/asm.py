# SPDX-License-Identifier: GPL-2.0-or-later
"""A small assembler for 64-bit Book3S PowerPC: programs with labels, references and data slots.

:class:`Assembler` has one method per base instruction of the table in :mod:`.isa`
(``a.add(R3, R4, R5)``) and per extended mnemonic (``li``, ``mr``, ``sldi``, ``beq``,
``bdnz``, ``mtctr`` ... ISA Appendix E), mapped onto the base instructions: those
methods are declared in :mod:`.mnemonics`; this module emits and assembles.  Each
instruction is encoded and range-checked as it is emitted; those naming a label or a
:class:`Ref` are encoded by :meth:`Assembler.assemble` once every label is known.  The
result is a :class:`Program`: bytes, labels, named data slots the loader patches, and a
listing for review.

Operands are typed: registers are :class:`~.isa.GPR` / :class:`~.isa.CRF` (not ints),
SPR numbers :class:`~.isa.SPR`, immediates and displacements ``int`` or :class:`Ref`
(:data:`Imm`), branch targets label names (:data:`Label`).  mypy --strict rejects a
register where a number belongs and the reverse (``a.stw(R4, R3, 8)``); at run time
:meth:`Assembler.emit` checks each operand against its field's kind (:data:`~.isa.KINDS`).

The instruction data (registers, fields, the opcode table), the encoder and the
decoder live in :mod:`.isa`.  Everything here is pure: no I/O.
"""

from __future__ import annotations

from pykexec.abi import Endian
from pykexec.core.purgatory.isa import CRF, GPR, OPCODES, VR, AssemblyError, Kind, encode, kind
from pykexec.core.purgatory.mnemonics import Imm, Label, Mnemonics, Operand, Target
from pykexec.core.purgatory.program import Program, Ref, Slot

__all__ = [
    "Assembler", "AssemblyError", "Endian", "Imm", "Label", "Operand", "Program", "Ref", "Slot",
    "Target",
]  # fmt: skip


# An instruction whose operands name labels or Refs, encoded once all labels are known:
# (offset, mnemonic, operands).
_Pending = tuple[int, str, tuple[Operand, ...]]


_REGISTER_KIND: dict[type, str] = {GPR: Kind.GPR, CRF: Kind.CRF, VR: Kind.VR}
_KINDS: dict[str, tuple[str, ...]] = {}  # mnemonic -> kind of each operand, built on use


def _kinds(mnemonic: str) -> tuple[str, ...]:
    kinds = _KINDS.get(mnemonic)
    if kinds is None:
        try:
            kinds = _KINDS[mnemonic] = tuple(kind(f) for f in OPCODES[mnemonic].operands)
        except KeyError:
            raise AssemblyError("unknown-mnemonic", mnemonic=mnemonic) from None
    return kinds


def _numbers(mnemonic: str, operands: tuple[Operand, ...]) -> list[int] | None:
    """The numbers ``operands`` put into the fields of ``mnemonic``, or None when one is a
    label or Ref (assemble() resolves it).  Registers go only into register fields of their
    class, labels only into branch fields, Refs only into number fields; a plain int goes
    anywhere but a branch field (emit() is the untyped level, as ``.long`` is)."""
    kinds = _kinds(mnemonic)
    if len(operands) != len(kinds):
        raise AssemblyError(
            "operand-count", mnemonic=mnemonic, expected=len(kinds), count=len(operands)
        )
    out: list[int] = []
    deferred = False
    for k, v in zip(kinds, operands):  # lengths checked above
        if isinstance(v, (GPR, CRF, VR)):
            ok, n = k == _REGISTER_KIND[type(v)], v.number
        elif isinstance(v, int):
            ok, n = k != Kind.LABEL, v
        else:
            ok, n, deferred = k == (Kind.LABEL if isinstance(v, str) else Kind.NUMBER), 0, True
        if not ok:
            fields = OPCODES[mnemonic].operands
            raise AssemblyError("operand-kind", mnemonic=mnemonic, operand=repr(v),
                                field=fields[len(out)], takes=str(k))  # fmt: skip
        out.append(n)
    return None if deferred else out


class Assembler(Mnemonics):
    """Builds a :class:`Program`: methods named after mnemonics emit one instruction each.

    Branch targets are label names; immediates may be :class:`Ref` values resolved
    once every label is known.  Every field is range-checked: plain operands when the
    instruction is emitted, the others by ``assemble()``.
    """

    def __init__(self, endian: Endian) -> None:
        if endian not in ("little", "big"):
            raise AssemblyError("bad-endian", name=str(endian))
        self.endian: Endian = endian
        self._order = endian
        self._buf = bytearray()
        self._labels: dict[str, int] = {}
        self._slots: dict[str, Slot] = {}
        self._instructions: list[int] = []
        self._pending: list[_Pending] = []
        self._encoded: dict[tuple[str, tuple[Operand | Target, ...]], bytes] = {}
        self._counter = 0

    # ---- bookkeeping -------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        return len(self._buf)

    def label(self, name: str) -> str:
        """Define ``name`` at the current offset."""
        if name in self._labels:
            raise AssemblyError("duplicate-label", name=name)
        self._labels[name] = len(self._buf)
        return name

    def new_label(self, hint: str = "L") -> str:
        """A fresh unique label name (not yet defined)."""
        self._counter += 1
        return f".{hint}{self._counter}"

    def emit(self, mnemonic: str, *operands: Operand) -> None:
        """Append one base instruction; operands as :func:`_number` allows."""
        offset = len(self._buf)
        self._instructions.append(offset)
        # Generated code repeats instructions (SHA-256's rounds rotate through eight
        # register assignments), so each distinct one is encoded and checked only once.
        code = self._encoded.get((mnemonic, operands))
        self._buf += self._encode(offset, mnemonic, operands) if code is None else code

    def _encode(self, offset: int, mnemonic: str, operands: tuple[Operand, ...]) -> bytes:
        try:
            numbers = _numbers(mnemonic, operands)
            if numbers is None:  # a label or Ref: assemble() encodes it
                self._pending.append((offset, mnemonic, operands))
                return b"\0\0\0\0"
            code = encode(mnemonic, *numbers)
        except AssemblyError as err:
            raise AssemblyError("at-offset", offset=offset, cause=err) from None
        data = code.to_bytes(4, self._order)
        self._encoded[(mnemonic, operands)] = data
        return data

    # ---- data --------------------------------------------------------------------------------
    def bytes(self, data: bytes) -> None:
        self._buf += data

    def space(self, n: int) -> None:
        self._buf += bytes(n)

    def align(self, n: int) -> None:
        """Pad with zero bytes to a multiple of ``n``."""
        self.space(-self.offset % n)

    def align_code(self, n: int) -> None:
        """Pad with ``nop`` instructions to a multiple of ``n`` bytes."""
        while self.offset % n:
            self.nop()

    def long(self, value: int) -> None:
        self._buf += (value & 0xFFFFFFFF).to_bytes(4, self._order)

    def quad(self, value: int) -> None:
        self._buf += (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, self._order)

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
            raise AssemblyError("duplicate-slot", name=name)
        self._slots[name] = Slot(name, offset, size)
        return name

    # ---- assembly ----------------------------------------------------------------------------
    def _resolve(self, offset: int, mnemonic: str, operands: tuple[Operand, ...]) -> list[int]:
        out: list[int] = []
        for v in operands:  # _numbers() checked the kinds when the instruction was emitted
            if isinstance(v, (GPR, CRF, VR)):
                out.append(v.number)
            elif isinstance(v, int):
                out.append(v)
            elif isinstance(v, Ref):
                base = 0 if v.base is None else self._address(v.base, offset, mnemonic)
                out.append(self._address(v.label, offset, mnemonic) - base + v.addend)
            else:  # a label in a branch field: the displacement from this instruction
                out.append(self._address(str(v), offset, mnemonic) - offset)
        return out

    def _address(self, name: str, offset: int, mnemonic: str) -> int:
        try:
            return self._labels[name]
        except KeyError:
            raise AssemblyError(
                "undefined-label", mnemonic=mnemonic, offset=offset, name=name
            ) from None

    def assemble(self) -> Program:
        """Resolve labels and references, range-check them, and return the program."""
        buf = bytearray(self._buf)
        for offset, mnemonic, operands in self._pending:
            try:
                word = encode(mnemonic, *self._resolve(offset, mnemonic, operands))
            except AssemblyError as err:
                raise AssemblyError("at-offset", offset=offset, cause=err) from None
            buf[offset : offset + 4] = word.to_bytes(4, self._order)
        notes = {off: v.label for off, _, ops in self._pending for v in ops if isinstance(v, Ref)}
        return Program(self.endian, bytes(buf), dict(self._labels), dict(self._slots),
                       frozenset(self._instructions), notes)  # fmt: skip
