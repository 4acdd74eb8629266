# SPDX-License-Identifier: GPL-2.0-or-later
"""What the assembler produces: a :class:`Program` (bytes, labels, named data slots, a
listing) and the :class:`Ref` values it resolves.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from pykexec.abi import Endian
from pykexec.core.purgatory.disasm import decode, disassemble
from pykexec.core.purgatory.isa import BRANCH_FIELDS, AssemblyError

__all__ = ["Program", "Ref", "Slot"]


class Ref(NamedTuple):
    """A value known after assembly: ``address(label) - address(base) + addend``.

    With ``base=None`` it is the label's offset from the start of the program.
    """

    label: str
    base: str | None = None
    addend: int = 0


class Slot(NamedTuple):
    """A named data area the loader fills in: offset from the start and size in bytes."""

    name: str
    offset: int
    size: int


class Program(NamedTuple):
    """Assembled machine code with its labels, data slots and a map of instruction offsets."""

    endian: Endian
    code: bytes
    symbols: Mapping[str, int]
    slots: Mapping[str, Slot]
    instructions: frozenset[int] = frozenset()
    notes: Mapping[int, str] = MappingProxyType({})  # offset -> label an operand names

    def slot(self, name: str) -> Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise AssemblyError("no-slot", name=name, slots=", ".join(sorted(self.slots))) from None

    def encode_value(self, name: str, value: int | bytes) -> bytes:
        """``value`` laid out for slot ``name``: integers in the program's byte order."""
        s = self.slot(name)
        if isinstance(value, bytes):
            if len(value) > s.size:
                raise AssemblyError("slot-size", name=name, size=s.size, count=len(value))
            return value.ljust(s.size, b"\0")
        if not 0 <= value < (1 << (8 * s.size)):
            raise AssemblyError("slot-overflow", name=name, size=s.size, value=value)
        return value.to_bytes(s.size, self.endian)

    def patch(self, name: str, value: int | bytes, code: bytes | None = None) -> bytes:
        """``code`` (default: this program) with slot ``name`` set to ``value``."""
        return self.patch_many({name: value}, code)

    def patch_many(self, values: Mapping[str, int | bytes], code: bytes | None = None) -> bytes:
        """``code`` (default: this program) with every slot in ``values`` filled in."""
        buf = bytearray(self.code if code is None else code)
        for name, value in values.items():
            s = self.slot(name)
            buf[s.offset : s.offset + s.size] = self.encode_value(name, value)
        return bytes(buf)

    def read_word(self, offset: int, code: bytes | None = None) -> int:
        buf = self.code if code is None else code
        if not 0 <= offset <= len(buf) - 4:
            raise AssemblyError("no-word", offset=offset, size=len(buf))
        return int.from_bytes(buf[offset : offset + 4], self.endian)

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
        for name, value in zip(d.opcode.operands, d.operands):
            if name in BRANCH_FIELDS:
                names = [n for n, o in self.symbols.items() if o == pc + value]
                return f"  <{names[0]}>" if names else ""
        return ""
