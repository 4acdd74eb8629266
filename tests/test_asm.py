# SPDX-License-Identifier: GPL-2.0-or-later
"""The PowerPC encoder against GNU as (byte for byte) and objdump (text), both endiannesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykexec.abi import Endian
from pykexec.core.purgatory import asm, disasm, isa
from pykexec.core.purgatory.asm import Assembler, AssemblyError
from pykexec.core.purgatory.disasm import decode
from pykexec.core.purgatory.isa import CR0, CR1, CR7, OPCODES, R0, R1, R3, R4, R5, R31, encode
from tests.typed import check, raises

sys.path.insert(0, str(Path(__file__).parent))
from purgatory_support import binutils  # type: ignore[import-not-found]

ENDIANS: list[Endian] = ["little", "big"]


@dataclass(frozen=True)
class Case:
    """One line of the test program: GNU as source and the same thing through our API."""

    gas: str
    emit: Callable[[Assembler], None]
    label: str | None = None  # defines a label instead of emitting

    @property
    def name(self) -> str:
        return self.gas.split()[0] if self.gas else f"{self.label}:"


def _base(mn: str, *ops: int) -> Case:
    return Case(f"{mn} {','.join(str(o) for o in ops)}", lambda a: a.emit(mn, *ops))


def _label(name: str) -> Case:
    return Case("", lambda a: None, label=name)


def _ext(gas: str, emit: Callable[[Assembler], None]) -> Case:
    return Case(gas, emit)


SAMPLES: dict[tuple[str, ...], list[tuple[int, ...]]] = {
    ("addi", "addis", "mulli"): [(3, 4, 16), (31, 1, -32768), (0, 31, 32767), (5, 0, -1)],
    ("ori", "oris", "xori", "xoris", "andi.", "andis."): [
        (3, 4, 0), (31, 0, 65535), (7, 8, 0x8000),
    ],
    ("rlwinm", "rlwimi", "rlwinm."): [(3, 4, 0, 0, 31), (31, 0, 31, 31, 0), (5, 6, 13, 7, 22)],
    ("rldicl", "rldicr", "rldic", "rldimi", "rldicl."): [
        (3, 4, 0, 0), (31, 0, 63, 63), (5, 6, 32, 31), (7, 8, 1, 32), (9, 10, 31, 1),
    ],
    ("add", "add.", "subf", "subf.", "mulld", "mullw"): [(3, 4, 5), (31, 0, 30), (0, 31, 1)],
    ("and", "and.", "andc", "or", "or.", "xor", "nor", "slw", "srw", "sld", "srd"): [
        (3, 4, 5), (31, 0, 30), (0, 31, 1),
    ],
    ("ldx", "lwzx", "lbzx", "stdx", "stwx", "stbx", "lwbrx", "ldbrx", "stwbrx", "stdbrx"): [
        (3, 4, 5), (31, 0, 1), (0, 31, 30),
    ],
    ("neg", "extsw"): [(3, 4), (31, 0)],
    ("cmp", "cmpl"): [(bf, bf % 2, bf + 3, 31 - bf) for bf in range(8)],
    ("cmpi",): [(0, 1, 3, -32768), (7, 0, 31, 32767), (3, 1, 0, -1)],
    ("cmpli",): [(0, 1, 3, 0), (7, 0, 31, 65535), (5, 1, 4, 0x8000)],
    ("mtspr",): [(1, 3), (8, 4), (9, 31), (26, 4), (27, 10), (314, 12), (315, 11)],
    ("mfspr",): [(3, 1), (4, 8), (31, 9), (5, 26), (6, 27), (7, 314), (8, 315)],
    ("mfmsr",): [(10,), (0,)],
    ("mtmsrd",): [(10, 0), (10, 1), (31, 1)],
    ("sc",): [(0,), (1,)],
    ("dcbst", "icbi"): [(0, 7), (3, 31)],
    ("bclr", "bcctr", "bcctrl", "bclrl"): [(20, 0, 0), (12, 2, 0), (4, 29, 0), (12, 6, 1)],
    ("rfid", "hrfid", "isync"): [()],
    ("vadduwm", "vmrghw", "vand", "vxor"): [(1, 2, 3), (31, 0, 17), (0, 31, 30)],
    ("vshasigmaw",): [(1, 2, 0, 0), (1, 2, 1, 15), (31, 0, 0, 15), (0, 31, 1, 0)],
    ("vsel", "vperm"): [(1, 2, 3, 4), (31, 0, 30, 29), (0, 31, 1, 2)],
    ("vsldoi",): [(9, 10, 11, 4), (0, 31, 1, 15), (31, 0, 2, 0)],
    ("lxvw4x", "stxvw4x"): [(32, 4, 5), (33, 0, 5), (63, 3, 31), (0, 31, 1)],
    ("tdi",): [(0, 0, 0x48), (0, 3, -1), (0, 31, 32767)],  # TO=0 only: no alias table
}  # fmt: skip

MEMORY_SAMPLES: dict[tuple[str, ...], list[tuple[int, int, int]]] = {
    ("lwz", "lbz", "lhz", "stw", "stb", "sth"): [(3, 0, 4), (31, -32768, 1), (0, 32767, 31),
                                                 (5, -4, 0)],
    ("stwu",): [(3, 0, 4), (31, -32768, 1), (0, 32767, 31)],
    ("ld", "std"): [(3, 0, 4), (31, -32768, 1), (0, 32764, 31), (5, -8, 0)],
    ("ldu", "stdu"): [(3, 8, 4), (1, -32768, 2), (0, 32764, 31)],
}  # fmt: skip


def _mem(mn: str, rt: int, d: int, ra: int) -> Case:
    return Case(f"{mn} {rt},{d}({ra})", lambda a: a.emit(mn, rt, d, ra))


def _base_cases() -> list[Case]:
    cases = [_base(mn, *ops) for mns, samples in SAMPLES.items() for mn in mns for ops in samples]
    cases += [
        _mem(mn, *ops) for mns, samples in MEMORY_SAMPLES.items() for mn in mns for ops in samples
    ]
    return cases


def _cond_branch(cond: str, cr: int, target: str) -> Callable[[Assembler], None]:
    def emit(a: Assembler) -> None:
        getattr(a, cond)(target, cr=isa.CRF(cr))

    return emit


def _branch_cases() -> list[Case]:
    """Branches backward and forward, every CR field, every extended conditional."""
    cases = [_label("back")]
    cases += [_ext("b back", lambda a: a.b("back")), _ext("bl back", lambda a: a.bl("back")),
              _ext("b fwd", lambda a: a.b("fwd")), _ext("bl fwd", lambda a: a.bl("fwd")),
              _ext("bc 12,2,back", lambda a: a.bc(12, 2, "back")),
              _ext("bc 4,31,fwd", lambda a: a.bc(4, 31, "fwd")),
              _ext("bcl 20,31,here", lambda a: a.bcl(20, 31, "here")), _label("here"),
              _ext("bdnz back", lambda a: a.bdnz("back")),
              _ext("bdnz fwd", lambda a: a.bdnz("fwd"))]  # fmt: skip
    conds = ("beq", "bne", "blt", "bge", "bgt", "ble")
    for i, cond in enumerate(conds):
        for cr in range(8):
            target = "back" if (i + cr) % 2 else "fwd"
            cases.append(_ext(f"{cond} {cr},{target}", _cond_branch(cond, cr, target)))
    cases += [_label("self")]
    cases += [_ext("b self", lambda a: a.b("self"))]
    cases += [_label("fwd"), _ext("nop", lambda a: a.nop())]
    return cases


def _extended_cases() -> list[Case]:
    return [
        _ext("li 3,-32768", lambda a: a.li(R3, -32768)),
        _ext("li 31,32767", lambda a: a.li(R31, 32767)),
        _ext("lis 3,-1", lambda a: a.lis(R3, -1)),
        _ext("mr 3,4", lambda a: a.mr(R3, R4)),
        _ext("nop", lambda a: a.nop()),
        _ext("sldi 3,4,8", lambda a: a.sldi(R3, R4, 8)),
        _ext("sldi 3,4,63", lambda a: a.sldi(R3, R4, 63)),
        _ext("srdi 3,4,1", lambda a: a.srdi(R3, R4, 1)),
        _ext("srdi 3,4,60", lambda a: a.srdi(R3, R4, 60)),
        _ext("clrldi 3,4,32", lambda a: a.clrldi(R3, R4, 32)),
        _ext("clrrdi 3,4,1", lambda a: a.clrrdi(R3, R4, 1)),
        _ext("rotlwi 3,4,7", lambda a: a.rotlwi(R3, R4, 7)),
        _ext("rotrwi 3,4,7", lambda a: a.rotrwi(R3, R4, 7)),
        _ext("rotrwi 3,4,25", lambda a: a.rotrwi(R3, R4, 25)),
        _ext("slwi 3,4,3", lambda a: a.slwi(R3, R4, 3)),
        _ext("srwi 3,4,10", lambda a: a.srwi(R3, R4, 10)),
        _ext("clrlwi 3,4,16", lambda a: a.clrlwi(R3, R4, 16)),
        _ext("cmpd 3,4", lambda a: a.cmpd(R3, R4)),
        _ext("cmpd 7,3,4", lambda a: a.cmpd(R3, R4, cr=CR7)),
        _ext("cmpw 1,3,4", lambda a: a.cmpw(R3, R4, cr=CR1)),
        _ext("cmpld 3,4", lambda a: a.cmpld(R3, R4)),
        _ext("cmplw 7,31,0", lambda a: a.cmplw(R31, R0, cr=CR7)),
        _ext("cmpdi 3,-5", lambda a: a.cmpdi(R3, -5)),
        _ext("cmpwi 1,3,100", lambda a: a.cmpwi(R3, 100, cr=CR1)),
        _ext("cmpldi 0,3,65535", lambda a: a.cmpldi(R3, 65535, cr=CR0)),
        _ext("cmplwi 7,3,2", lambda a: a.cmplwi(R3, 2, cr=CR7)),
        _ext("blr", lambda a: a.blr()),
        _ext("bctr", lambda a: a.bctr()),
        _ext("bctrl", lambda a: a.bctrl()),
        _ext("mtctr 4", lambda a: a.mtctr(R4)),
        _ext("mfctr 5", lambda a: a.mfctr(R5)),
        _ext("mtlr 0", lambda a: a.mtlr(R0)),
        _ext("mflr 0", lambda a: a.mflr(R0)),
        _ext("mtsrr0 4", lambda a: a.mtsrr0(R4)),
        _ext("mtsrr1 31", lambda a: a.mtsrr1(R31)),
        _ext("hwsync", lambda a: a.hwsync()),
        _ext("lwsync", lambda a: a.lwsync()),
        _ext("sync", lambda a: a.sync()),
        _ext("sync 0", lambda a: a.emit("sync", 0, 0)),  # POWER7 gas: L only (E is ISA 3.0)
        _ext("sync 1", lambda a: a.emit("sync", 1, 0)),
        _ext("sub 3,4,5", lambda a: a.sub(R3, R4, R5)),
        _ext("and 3,4,5", lambda a: a.and_(R3, R4, R5)),
        _ext("or 1,1,1", lambda a: a.or_(R1, R1, R1)),
        _ext("or 3,3,3", lambda a: a.or_(R3, R3, R3)),
        _ext("andi. 3,4,1", lambda a: a.andi_dot(R3, R4, 1)),
        _ext("std 1,-8(1)", lambda a: a.std(R1, -8, R1)),
        _ext("sc 1", lambda a: a.sc(1)),
        _ext("rfid", lambda a: a.rfid()),
    ]


CASES = _base_cases() + _branch_cases() + _extended_cases()


def _build(endian: Endian) -> tuple[asm.Program, list[tuple[int, Case]], str]:
    a = Assembler(endian)
    placed: list[tuple[int, Case]] = []
    lines = [".text"]
    for case in CASES:
        if case.label:
            a.label(case.label)
            lines.append(f"{case.label}:")
        else:
            placed.append((a.offset, case))
            case.emit(a)
            lines.append(f"\t{case.gas}")
    return a.assemble(), placed, "\n".join(lines) + "\n"


def _need(endian: Endian, name: str) -> None:
    if binutils.tool(endian, name) is None:
        pytest.skip(f"{binutils.TRIPLET[endian]}-{name} not installed")


@pytest.fixture(scope="module", params=ENDIANS, ids=lambda e: e)
def built(
    request: pytest.FixtureRequest,
) -> tuple[Endian, asm.Program, list[tuple[int, Case]], bytes]:
    endian: Endian = request.param
    _need(endian, "as")
    program, placed, source = _build(endian)
    return endian, program, placed, binutils.gas_text(endian, source)


def test_every_mnemonic_is_exercised() -> None:
    used = set()
    for endian in ENDIANS:
        program, _, _ = _build(endian)
        used |= {decode(program.read_word(off)).mnemonic for off in program.instructions}  # type: ignore[union-attr]
    assert used == set(OPCODES), f"not covered: {sorted(set(OPCODES) - used)}"


def test_matches_gnu_as(built: tuple[Endian, asm.Program, list[tuple[int, Case]], bytes]) -> None:
    _, program, placed, gas = built
    assert len(gas) == len(program.code)
    bad = [
        f"{case.gas!r} at {off:#x}: ours {program.code[off : off + 4].hex()} "
        f"gas {gas[off : off + 4].hex()}"
        for off, case in placed
        if program.code[off : off + 4] != gas[off : off + 4]
    ]
    assert not bad, "\n".join(bad)


def test_round_trip_decode(
    built: tuple[Endian, asm.Program, list[tuple[int, Case]], bytes],
) -> None:
    _, program, _, _ = built
    for off in sorted(program.instructions):
        word = program.read_word(off)
        d = decode(word)
        assert d is not None, f"{word:08x} at {off:#x} does not decode"
        assert encode(d.mnemonic, *d.operands) == word


def test_listing_matches_objdump_raw(
    built: tuple[Endian, asm.Program, list[tuple[int, Case]], bytes],
) -> None:
    endian, program, placed, _ = built
    _need("little", "objdump")
    theirs = binutils.objdump_binary(endian, program.code, raw=True)
    bad = []
    for off, case in placed:
        ours = disasm.disassemble(program.read_word(off), off, raw=True)
        if binutils.normalise(ours) != theirs[off]:
            bad.append(f"{case.gas!r}: ours {ours!r} objdump {theirs[off]!r}")
    assert not bad, "\n".join(bad)


def test_listing_matches_objdump_aliases(
    built: tuple[Endian, asm.Program, list[tuple[int, Case]], bytes],
) -> None:
    endian, program, placed, _ = built
    _need("little", "objdump")
    theirs = binutils.objdump_binary(endian, program.code, raw=False)
    bad = []
    for off, _case in placed:
        ours = disasm.disassemble(program.read_word(off), off)
        if binutils.normalise(ours) != theirs[off]:
            bad.append(f"{off:#x}: ours {ours!r} objdump {theirs[off]!r}")
    assert not bad, "\n".join(bad)


def test_listing_shows_labels_and_data() -> None:
    a = Assembler("little")
    a.label("start")
    a.b("end")
    a.slot("kernel", 8)
    a.label("end")
    a.blr()
    text = a.assemble().listing()
    assert "start:" in text and "b 0x10  <end>" in text and ".byte 00 00" in text


@pytest.mark.parametrize(
    ("emit", "problem", "fields"),
    [
        (lambda a: a.addi(R3, R4, 32768), "misfit", {"field": "SI", "value": 32768}),
        (lambda a: a.ori(R3, R4, -1), "misfit", {"field": "UI", "value": -1}),
        (lambda a: a.ld(R3, 6, R4), "misfit-aligned", {"field": "DS", "multiple": 4}),
        (lambda a: a.std(R3, 32768, R4), "misfit-aligned", {"field": "DS", "value": 32768}),
        (lambda a: a.b("nowhere"), "undefined-label", {"name": "nowhere", "mnemonic": "b"}),
        (lambda a: a.rldicl(R3, R4, 64, 0), "misfit", {"field": "SH6", "value": 64}),
        (lambda a: a.emit("maddld", 1, 2, 3), "unknown-mnemonic", {"mnemonic": "maddld"}),
    ],
)
def test_range_errors(
    emit: Callable[[Assembler], None], problem: str, fields: dict[str, object]
) -> None:
    a = Assembler("big")
    with raises(AssemblyError, "at-offset", offset=0) as err:
        emit(a)
        a.assemble()
    check(err.value.cause, AssemblyError, problem, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operands", "bad"),
    [
        (("stw", R4, R3, 8), ("r3", "D")),  # swapped: stw r4,8(r3) meant
        (("stw", R4, 8, 3), None),  # the untyped level takes a number for a register
        (("addi", R3, R4, "label"), ("'label'", "SI")),
        (("b", 8), ("8", "LI")),
        (("cmp", R3, 1, R4, R5), ("r3", "BF")),
        (("cmp", CR1, 1, CR0, R5), ("cr0", "RA")),
        (("bc", 12, 2, asm.Ref("x")), (repr(asm.Ref("x")), "BD")),
    ],
)
def test_operand_kinds(operands: tuple[asm.Operand, ...], bad: tuple[str, str] | None) -> None:
    """emit() checks each operand's kind against the table's field (isa.KINDS)."""
    a = Assembler("big")
    if bad is None:
        a.emit(*operands)  # type: ignore[arg-type]
        assert a.assemble().code == encode(str(operands[0]), 4, 8, 3).to_bytes(4, "big")
        return
    with raises(AssemblyError, "at-offset", offset=0) as err:
        a.emit(*operands)  # type: ignore[arg-type]
    check(err.value.cause, AssemblyError, "operand-kind", mnemonic=operands[0],  # type: ignore[arg-type]
          operand=bad[0], field=bad[1])  # fmt: skip


_TYPED_OK = """
from pykexec.core.purgatory.asm import Assembler, Ref
from pykexec.core.purgatory.isa import CR1, R3, R4, SPR

a = Assembler("big")
a.stw(R4, 8, R3)
a.addi(R3, R4, Ref("x"))
a.cmpd(R3, R4, cr=CR1)
a.mtspr(SPR.CTR, R3)
a.label("x")
a.b("x")
"""

# (line, what mypy must say about it)
_TYPED_BAD = [
    ("a.stw(R4, R3, 8)", 'Argument 2 to "stw" of "Mnemonics" has incompatible type "GPR"'),
    ("a.stw(R4, R3, 8)", 'Argument 3 to "stw" of "Mnemonics" has incompatible type "int"'),
    ("a.addi(3, R4, 1)", 'Argument 1 to "addi" of "Mnemonics" has incompatible type "int"'),
    ("a.cmpd(R3, R4, cr=1)", 'Argument "cr" to "cmpd" of "Mnemonics" has incompatible type'),
    ("a.mtspr(9, R3)", 'Argument 1 to "mtspr" of "Mnemonics" has incompatible type "int"'),
    ("a.b(8)", 'Argument 1 to "b" of "Mnemonics" has incompatible type "int"'),
    ("a.mtctr(SPR.CTR)", 'Argument 1 to "mtctr" of "Mnemonics" has incompatible type "SPR"'),
]


def test_swapped_operands_fail_type_checking(tmp_path: Path) -> None:
    """mypy --strict (the oracle) rejects a register where a number belongs and vice versa."""
    pytest.importorskip("mypy")
    project = Path(__file__).resolve().parent.parent
    bad = "".join(f"{line}  # line {i}\n" for i, (line, _) in enumerate(_TYPED_BAD))
    for name, text in (("ok.py", _TYPED_OK), ("bad.py", _TYPED_OK + bad)):
        (tmp_path / name).write_text(text)
    env = {**os.environ, "MYPYPATH": str(project), "PYTHONPATH": str(project)}
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
           "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    ok = subprocess.run([*cmd, "ok.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (ok.returncode, ok.stdout) == (0, ""), ok.stdout + ok.stderr
    out = subprocess.run([*cmd, "bad.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    first = len(_TYPED_OK.splitlines()) + 1
    errors = [line for line in out.stdout.splitlines() if ": error:" in line]
    for i, (_, message) in enumerate(_TYPED_BAD):
        assert any(e.startswith(f"bad.py:{first + i}:") and message in e for e in errors), (
            message, out.stdout,
        )  # fmt: skip
    assert {int(e.split(":")[1]) for e in errors} == set(range(first, first + len(_TYPED_BAD)))


def test_every_operand_is_range_checked() -> None:
    """The compiled encoder rejects a value just outside every operand field, naming it."""
    for mn, op in OPCODES.items():
        for i, name in enumerate(op.operands):
            f = isa.FIELDS[name]
            lo, hi = f.bounds
            for bad in (lo - 1, hi + 1, *((lo + 1,) if f.shift else ())):
                ops = [0] * len(op.operands)
                ops[i] = bad
                problem = "misfit-aligned" if f.shift else "misfit"
                with raises(AssemblyError, problem, mnemonic=mn, value=bad, field=name):
                    encode(mn, *ops)
            ops = [0] * len(op.operands)
            ops[i] = hi
            encode(mn, *ops)  # the largest value fits
    with raises(AssemblyError, "operand-count", mnemonic="add", expected=3, count=2):
        encode("add", 3, 4)


def test_conditional_branch_range() -> None:
    a = Assembler("little")
    a.beq("far")
    a.space(32768)
    a.label("far")
    with raises(AssemblyError, "at-offset", offset=0) as err:
        a.assemble()
    check(err.value.cause, AssemblyError, "misfit-aligned", field="BD", value=32772)  # type: ignore[arg-type]
    a = Assembler("little")
    a.label("near")
    a.space(32768 - 4)
    a.beq("near")  # exactly -32768: fits
    a.assemble()


def test_slots_patch_in_program_byte_order() -> None:
    for endian in ENDIANS:
        a = Assembler(endian)
        a.nop()
        a.slot("word", 4)
        a.slot("kernel", 8)
        p = a.assemble()
        assert p.slot("kernel").offset == 8
        code = p.patch_many({"word": 0x11223344, "kernel": 0x0102030405060708})
        assert code[4:8] == (0x11223344).to_bytes(4, endian)
        assert code[8:16] == (0x0102030405060708).to_bytes(8, endian)
        with raises(AssemblyError, "slot-overflow", name="word", size=4, value=1 << 32):
            p.patch("word", 1 << 32)
        with raises(AssemblyError, "no-slot", name="stack", slots="kernel, word"):
            p.patch("stack", 0)


@pytest.mark.parametrize("value", [0, 1, -1, 0x7FFF, 0x8000, 0xFFFFFFFF, 0x80000000,
                                   0x123456789ABCDEF0, -0x8000, 0xC000000000000000])  # fmt: skip
def test_load_imm64(value: int) -> None:
    """Interpret the sequence with a tiny model of the five instructions it may use."""
    a = Assembler("big")
    a.load_imm64(R3, value)
    p = a.assemble()
    reg = 0
    mask = (1 << 64) - 1
    for off in sorted(p.instructions):
        d = decode(p.read_word(off))
        assert d is not None
        v = d.operands
        if d.mnemonic == "addi":
            reg = v[2] & mask
        elif d.mnemonic == "addis":
            reg = (v[2] << 16) & mask
        elif d.mnemonic == "ori":
            reg |= v[2]
        elif d.mnemonic == "oris":
            reg |= v[2] << 16
        elif d.mnemonic == "rldicr":
            reg = (reg << v[2]) & mask
        else:
            raise AssertionError(d.mnemonic)
    assert reg == value & mask
