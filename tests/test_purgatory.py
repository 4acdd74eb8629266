# SPDX-License-Identifier: GPL-2.0-or-later
"""The generated purgatory, run on an emulated POWER CPU (qemu-user) as the oracle.

Test builds use ``console="linux-write"`` so the purgatory's messages arrive on stdout.
OPAL builds run for real: the harness installs a SIGILL handler that emulates mfmsr,
mtspr (H)SRR0/1 and (h)rfid, including the byte-order switch, and a fake big-endian OPAL
entry that logs each call to stderr and writes the console bytes to stdout
(purgatory_support/supervisor.py).
"""

from __future__ import annotations

import hashlib
import re
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pykexec import abi
from pykexec.abi import Endian, struct_prefix
from pykexec.core.memory import Range
from pykexec.core.purgatory import isa, ppc64, sha256
from pykexec.core.purgatory.asm import Assembler, AssemblyError, Program
from pykexec.core.purgatory.disasm import decode, disassemble
from pykexec.core.purgatory.isa import (
    GPR,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R8,
    R9,
    R12,
    R13,
    R31,
)
from pykexec.core.purgatory.ppc64 import Console, PurgatoryParams
from pykexec.errors import UsageError
from tests.typed import check, raises

sys.path.insert(0, str(Path(__file__).parent))
from purgatory_support import binutils, qemu, supervisor  # type: ignore[import-not-found]

ENDIANS: list[Endian] = ["little", "big"]
BASE = 0x10000000  # harness code
PURGATORY = BASE + 0x100000
KERNEL = BASE + 0x200000
FDT = BASE + 0x210000
BACKUP = BASE + 0x220000
REPORT = BASE + 0x240000
DATA = BASE + 0x1000000
SUPERVISOR = BASE + 0x300000  # SIGILL handler, its sigaction, the emulated SPRs
SIGACTION, SPRS = SUPERVISOR + 0x1000, SUPERVISOR + 0x2000
OPAL_BASE = BASE + 0x400000
OPAL_ENTRY = OPAL_BASE + 0x100
OPAL_RECORDS = OPAL_BASE + 0x10000
OPAL_TERMINAL = 3
CPU_ID = 0x1234


@pytest.fixture(params=ENDIANS, ids=lambda e: e, name="endian")
def endian_fixture(request: pytest.FixtureRequest) -> Endian:
    e: Endian = request.param
    if not qemu.available(e):
        pytest.skip(f"{qemu.QEMU[e]} not installed (apt-get install qemu-user)")
    return e


def _syscall_exit(a: Assembler) -> None:
    a.li(R0, ppc64.LinuxSyscall.EXIT)
    a.sc()


def _write(a: Assembler, address: int, length: int) -> None:
    a.li(R0, ppc64.LinuxSyscall.WRITE)
    a.li(R3, 1)
    a.load_imm64(R4, address)
    a.load_imm64(R5, length)
    a.sc()


def _kernel_stub(endian: Endian, backup_bytes: int) -> bytes:
    """A fake new kernel: word 0 branches to a reporter that writes the entry registers,
    the word at 0x5c, the FDT header and (optionally) the backup area, then exits."""
    a = Assembler(endian)
    a.b("report")
    a.space(abi.RUN_AT_LOAD_OFFSET - 4)
    a.long(abi.RUN_AT_LOAD_MAGIC)
    a.bytes(bytes(range(0x60, 0x100)))
    a.label("report")
    a.load_imm64(R12, REPORT)
    for i, reg in enumerate((R3, R4, R5, R8, R9)):
        a.std(reg, 8 * i, R12)
    a.lwz(R6, abi.RUN_AT_LOAD_OFFSET, R4)
    a.std(R6, 40, R12)
    _write(a, REPORT, 48)
    _write(a, FDT, 32)
    if backup_bytes:
        _write(a, BACKUP, backup_bytes)
    a.li(R3, 0)
    _syscall_exit(a)
    return a.assemble().code


def _fdt_header(version: int) -> bytes:
    # devicetree spec §5.2: magic, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap,
    # version, last_comp_version, boot_cpuid_phys (all big-endian)
    return struct.pack(">8I", 0xD00DFEED, 0x40, 0x38, 0x40, 0x28, version, 16, 0)


def _params(endian: Endian, head: bytes, **kw: object) -> PurgatoryParams:
    base = PurgatoryParams(
        endian=endian, kernel_big_endian=endian == "big", kernel=KERNEL, dt_offset=FDT,
        kernel_head=head, console=Console.LINUX_WRITE, opal_base=OPAL_BASE, opal_entry=OPAL_ENTRY,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _harness(endian: Endian, *, call: str | None, params: PurgatoryParams) -> bytes:
    """Enter the purgatory like kexec_sequence (r3 = CPU id, r4 = entry, r5 = 0), or call
    one of its routines and exit with its r3."""
    a = Assembler(endian)
    supervisor.emit_install(a, SIGACTION)
    if call is None:
        a.li(R3, CPU_ID)
        a.load_imm64(R4, PURGATORY)
        a.li(R5, 0)
        a.mtctr(R4)
        a.bctr()
    else:
        program = ppc64.generate(endian, kernel_big_endian=endian == "big",
                                 console=params.console,
                                 sha256_vector=params.sha256_vector)  # fmt: skip
        a.load_imm64(R12, PURGATORY + program.symbols[call])
        a.mtctr(R12)
        a.bctrl()
        _syscall_exit(a)
    return a.assemble().code


def _run(
    endian: Endian,
    params: PurgatoryParams,
    data: list[tuple[int, bytes]],
    call: str | None = None,
    low: bytes = b"",
    timeout: float = 120,
    cpu: str | None = None,
) -> qemu.Result:
    kernel_endian: Endian = "big" if params.kernel_big_endian else "little"
    segments = [
        qemu.Segment(BASE, _harness(endian, call=call, params=params)),
        *_supervised(endian),
        qemu.Segment(PURGATORY, ppc64.render(params)),
        qemu.Segment(KERNEL, _kernel_stub(kernel_endian, abi.BACKUP_SIZE if low else 0)),
        qemu.Segment(FDT, _fdt_header(17)),
        qemu.Segment(BACKUP, b"", abi.BACKUP_SIZE),
        qemu.Segment(REPORT, b"", 0x1000),
        *(qemu.Segment(addr, buf) for addr, buf in data),
    ]
    if low:
        segments.insert(0, qemu.Segment(0, low))
    return qemu.run(endian, qemu.elf_executable(endian, segments, BASE), timeout, cpu)


def _supervised(endian: Endian) -> list[qemu.Segment]:
    """The SIGILL supervisor and the fake OPAL (see purgatory_support/supervisor.py)."""
    return [
        qemu.Segment(SUPERVISOR, supervisor.handler_code(endian, SPRS)),
        qemu.Segment(SIGACTION, supervisor.sigaction_data(endian, SUPERVISOR)),
        qemu.Segment(SPRS, b"", 8 * 1024),
        qemu.Segment(OPAL_ENTRY, supervisor.opal_code(OPAL_RECORDS)),
        qemu.Segment(OPAL_RECORDS, b"", 0x1000),
    ]


def _regions(buffers: list[bytes]) -> tuple[list[tuple[int, bytes]], tuple[Range, ...]]:
    placed, regions, addr = [], [], DATA
    for buf in buffers:
        placed.append((addr, buf))
        regions.append(Range.sized(addr, len(buf)))
        addr += (len(buf) + 0x10000) & ~0xFFFF
    return placed, tuple(regions)


def _pattern(n: int, seed: int = 1) -> bytes:
    return bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


def _computed(stdout: bytes) -> str:
    m = re.search(rb"computed: ([0-9a-f]{64})", stdout)
    assert m, stdout
    return m.group(1).decode()


HEAD = bytes(range(256))


@pytest.mark.parametrize(
    "sizes",
    [[0], [1], [55], [56], [63], [64], [65], [1000], [1 << 20], [3, 64, 1000, 0, 129, 65536]],
    ids=lambda s: "+".join(map(str, s)),
)
def test_sha256_matches_hashlib(endian: Endian, sizes: list[int]) -> None:
    """A wrong digest makes sha256_verify print the computed one: compare with hashlib."""
    buffers = [_pattern(n, i) for i, n in enumerate(sizes)]
    placed, regions = _regions(buffers)
    params = _params(endian, HEAD, sha256_regions=regions, sha256_digest=b"\x5a" * 32)
    result = _run(endian, params, placed, call="sha256_verify")
    assert result.returncode == 1, result
    assert _computed(result.stdout) == ppc64.region_digest(buffers).hex()
    assert b"purgatory: sha256 mismatch" in result.stdout
    assert b"expected: " + b"5a" * 32 in result.stdout


@pytest.mark.parametrize("cpu", ["power8", "power9"])
@pytest.mark.parametrize(
    "sizes",
    [[0], [1], [55], [56], [63], [64], [65], [1000], [200_000], [3, 64, 1000, 0, 129, 65536]],
    ids=lambda s: "+".join(map(str, s)),
)
def test_sha256_vector_matches_hashlib(endian: Endian, sizes: list[int], cpu: str) -> None:
    """The POWER8 vector sha256_blocks (vshasigmaw) on a POWER8/POWER9 CPU model: the
    computed digest printed on a mismatch is hashlib's."""
    buffers = [_pattern(n, i + 5) for i, n in enumerate(sizes)]
    placed, regions = _regions(buffers)
    params = _params(endian, HEAD, sha256_regions=regions, sha256_digest=b"\x5a" * 32,
                     sha256_vector=True)  # fmt: skip
    result = _run(endian, params, placed, call="sha256_verify", cpu=cpu)
    assert result.returncode == 1, result
    assert _computed(result.stdout) == ppc64.region_digest(buffers).hex()


def test_sha256_vector_accepts_right_digest(endian: Endian) -> None:
    buffers = [_pattern(5000), _pattern(77, 3)]
    placed, regions = _regions(buffers)
    params = _params(endian, HEAD, sha256_regions=regions, sha256_vector=True,
                     sha256_digest=ppc64.region_digest(buffers))  # fmt: skip
    result = _run(endian, params, placed, call="sha256_verify", cpu="power8")
    assert (result.returncode, result.stdout) == (0, b"")


def test_sha256_vector_only_in_vector_builds() -> None:
    """POWER8 instructions appear only when asked for: the default build runs on POWER7."""
    for endian in ENDIANS:
        for vector in (False, True):
            program = ppc64.generate(endian, kernel_big_endian=False, sha256_vector=vector)
            words = [program.read_word(off) for off in sorted(program.instructions)]
            mnemonics = {d.mnemonic for d in map(decode, words) if d is not None}
            assert bool(mnemonics & isa.POWER8_ONLY) == vector
            assert ("vshasigmaw" in mnemonics) == vector


def test_sha256_verify_accepts_right_digest(endian: Endian) -> None:
    buffers = [_pattern(5000), _pattern(77, 3)]
    placed, regions = _regions(buffers)
    digest = ppc64.region_digest(buffers)
    params = _params(endian, HEAD, sha256_regions=regions, sha256_digest=digest)
    result = _run(endian, params, placed, call="sha256_verify")
    assert (result.returncode, result.stdout) == (0, b"")


def _report(endian: Endian, stdout: bytes) -> tuple[tuple[int, ...], bytes]:
    regs = struct.unpack(struct_prefix(endian) + "6Q", stdout[:48])
    return regs, stdout[48:80]


def test_full_flow_enters_kernel(endian: Endian) -> None:
    """Entry like kexec_sequence; checksum ok; debug greeting; backup; FDT; registers."""
    buffers = [_pattern(70000), _pattern(3, 9)]
    placed, regions = _regions(buffers)
    low = _pattern(abi.BACKUP_SIZE, 5)
    stub = _kernel_stub(endian, abi.BACKUP_SIZE)
    params = _params(
        endian, stub[:256], run_at_load=abi.RUN_AT_LOAD_STAY, debug=True, panic_kernel=True,
        backup_start=BACKUP, sha256_regions=regions, sha256_digest=ppc64.region_digest(buffers),
    )  # fmt: skip
    result = _run(endian, params, placed, low=low)
    assert result.returncode == 0, result
    progress = (
        b"I'm in purgatory\n"
        b"purgatory: sha256 of the segments verified\n"
        b"purgatory: first 64 KiB of memory backed up\n"
        b"purgatory: entering the new kernel\n"
    )
    assert result.stdout.startswith(progress)
    regs, fdt = _report(endian, result.stdout[len(progress) :])
    assert regs == (FDT, KERNEL, 0, OPAL_BASE, OPAL_ENTRY, abi.RUN_AT_LOAD_STAY)
    boot_cpuid_phys = 4 * 7  # the 8th u32 of the header (devicetree specification §5.2)
    assert struct.unpack_from(">I", fdt, boot_cpuid_phys)[0] == CPU_ID
    assert fdt[:boot_cpuid_phys] == _fdt_header(17)[:boot_cpuid_phys]
    assert result.stdout[-abi.BACKUP_SIZE :] == low


def test_full_flow_mismatch_hangs_with_message(endian: Endian) -> None:
    buffers = [_pattern(100)]
    placed, regions = _regions(buffers)
    stub = _kernel_stub(endian, 0)
    params = _params(endian, stub[:256], sha256_regions=regions, sha256_digest=bytes(32))
    result = _run(endian, params, placed, timeout=3)
    assert result.returncode is None, "purgatory must spin forever on a bad digest"
    assert result.stdout.startswith(b"purgatory: sha256 mismatch\nexpected: " + b"00" * 32)
    assert _computed(result.stdout) == hashlib.sha256(buffers[0]).hexdigest()


def test_full_flow_skip_checks_and_kernel_word(endian: Endian) -> None:
    """skip_checks ignores a wrong digest; without run_at_load the kernel keeps "run0"."""
    stub = _kernel_stub(endian, 0)
    placed, regions = _regions([_pattern(10)])
    params = _params(endian, stub[:256], skip_checks=True, sha256_regions=regions)
    result = _run(endian, params, placed)
    assert result.returncode == 0, result
    regs, _ = _report(endian, result.stdout)
    assert regs[5] == abi.RUN_AT_LOAD_MAGIC


def test_copy_memory_routine(endian: Endian) -> None:
    """The 64 KiB backup copy, called directly with a source other than 0."""
    a = Assembler(endian)
    program = ppc64.generate(endian, kernel_big_endian=endian == "big",
                             console=Console.LINUX_WRITE)  # fmt: skip
    a.load_imm64(R3, DATA)
    a.load_imm64(R4, BACKUP)
    a.load_imm64(R5, abi.BACKUP_SIZE)
    a.load_imm64(R12, PURGATORY + program.symbols["copy_memory"])
    a.mtctr(R12)
    a.bctrl()
    _write(a, BACKUP, abi.BACKUP_SIZE)
    a.li(R3, 0)
    _syscall_exit(a)
    src = _pattern(abi.BACKUP_SIZE, 11)
    params = _params(endian, HEAD)
    segments = [qemu.Segment(BASE, a.assemble().code),
                qemu.Segment(PURGATORY, ppc64.render(params)),
                qemu.Segment(BACKUP, b"", abi.BACKUP_SIZE), qemu.Segment(DATA, src)]  # fmt: skip
    result = qemu.run(endian, qemu.elf_executable(endian, segments, BASE))
    assert (result.returncode, result.stdout) == (0, src)


def test_head_layout_and_slots() -> None:
    for endian in ENDIANS:
        for kernel_be in (False, True):
            head = bytes(range(256))
            params = replace(_params(endian, head), kernel_big_endian=kernel_be,
                             run_at_load=1, console=Console.HVTERM)  # fmt: skip
            image = ppc64.render(params)
            program = ppc64.generate(endian, kernel_big_endian=kernel_be)
            word0 = decode(program.read_word(0, image))
            assert word0 is not None and word0.mnemonic == "b"
            assert word0.operands[0] == program.symbols["main"]
            assert image[4:0x5C] == head[4:0x5C] and image[0x60:0x100] == head[0x60:0x100]
            assert image[0x5C:0x60] == (1).to_bytes(4, "big" if kernel_be else "little")
            slot = program.slot("kernel")
            assert image[slot.offset : slot.offset + 8] == KERNEL.to_bytes(8, endian)
            slot = program.slot("debug")
            assert image[slot.offset : slot.offset + 4] == bytes(4)
            assert program.symbols["stack_top"] == len(image)


def test_run_at_load_for_crash() -> None:
    head = bytearray(256)
    head[0x5C:0x60] = b"run0"
    assert ppc64.run_at_load_for_crash(bytes(head), kernel_big_endian=True) == 1
    assert ppc64.run_at_load_for_crash(bytes(head[::-1][::-1]), kernel_big_endian=False) is None
    head[0x5C:0x60] = b"0nur"
    assert ppc64.run_at_load_for_crash(bytes(head), kernel_big_endian=False) == 1


def test_params_validation() -> None:
    with raises(UsageError, "purgatory-regions", count=17, limit=16):
        _params("little", HEAD, sha256_regions=tuple(Range(0, 1) for _ in range(17)))
    with raises(UsageError, "purgatory-digest", size=1, expected=32):
        _params("little", HEAD, sha256_digest=b"x")
    with raises(UsageError, "purgatory-head", size=5, expected=256):
        _params("little", b"short")
    with raises(UsageError, "purgatory-slot") as err:
        ppc64.render(_params("little", HEAD, kernel=1 << 64))
    check(err.value.cause, AssemblyError, "slot-overflow", name="kernel", value=1 << 64)  # type: ignore[arg-type]


def test_cross_endian_entry_runs() -> None:
    """A little-endian purgatory (running kernel) enters a big-endian kernel: mfmsr, MSR_LE
    cleared into SRR1, rfid, emulated by the supervisor; the stub kernel runs big-endian and
    reports what a crash load must hand it, in its own byte order."""
    if not qemu.available("little"):
        pytest.skip("qemu-ppc64le not installed")
    buffers = [_pattern(999)]
    placed, regions = _regions(buffers)
    low = _pattern(abi.BACKUP_SIZE, 6)
    stub = _kernel_stub("big", abi.BACKUP_SIZE)
    params = _params("little", stub[:256], kernel_big_endian=True, run_at_load=abi.RUN_AT_LOAD_STAY,
                     panic_kernel=True, backup_start=BACKUP, sha256_regions=regions,
                     sha256_digest=ppc64.region_digest(buffers))  # fmt: skip
    result = _run("little", params, placed, low=low)
    assert result.returncode == 0, result
    regs, fdt = _report("big", result.stdout)
    assert regs == (FDT, KERNEL, 0, OPAL_BASE, OPAL_ENTRY, abi.RUN_AT_LOAD_STAY)
    assert struct.unpack_from(">I", fdt, 4 * 7)[0] == CPU_ID  # boot_cpuid_phys (DTSpec §5.2)
    assert result.stdout[-abi.BACKUP_SIZE :] == low


def test_cross_endian_entry_uses_rfid() -> None:
    """An LE purgatory entering a BE kernel clears MSR_LE with rfid; otherwise plain bctr."""
    lst = ppc64.generate("little", kernel_big_endian=True).listing()
    assert "mfmsr r10" in lst and "rfid" in lst and "mtsrr1 r10" in lst
    for endian, kbe in (("little", False), ("big", True), ("big", False)):
        lst = ppc64.generate(endian, kernel_big_endian=kbe).listing()
        assert "rfid" not in lst and "mfmsr" not in lst


def test_only_power7_instructions_and_hcall_encoding() -> None:
    program = ppc64.generate("little", kernel_big_endian=False)
    words = {program.read_word(off) for off in program.instructions}
    assert 0x44000022 in words  # sc 1 (H_PUT_TERM_CHAR)
    assert all(decode(w) is not None for w in words)


@pytest.mark.parametrize(("endian_", "kernel_be"), [("little", True), ("big", True)])
def test_objdump_disassembles_code_cleanly(endian_: Endian, kernel_be: bool) -> None:
    """Every word between code_start and code_end is an instruction objdump agrees on."""
    if binutils.tool("little", "objdump") is None:
        pytest.skip("powerpc64le-linux-gnu-objdump not installed")
    program = ppc64.generate(endian_, kernel_big_endian=kernel_be)
    image = ppc64.render(_params(endian_, HEAD, kernel_big_endian=kernel_be,
                                 console=Console.HVTERM))  # fmt: skip
    start, end = program.symbols["code_start"], program.symbols["code_end"]
    for raw in (True, False):
        theirs = binutils.objdump_binary(endian_, image[:end], raw=raw)
        bad = []
        for off in range(start, end, 4):
            assert off in program.instructions
            ours = binutils.normalise(disassemble(program.read_word(off, image), off, raw=raw))
            if theirs.get(off) != ours or ours.startswith(".long"):
                bad.append(f"{off:#x}: ours {ours!r} objdump {theirs.get(off)!r}")
        assert not bad, "\n".join(bad[:20])


def _padded(message: bytes) -> bytes:
    """FIPS 180-4 §5.1.1: the message with its padding, a whole number of blocks."""
    pad = b"\x80" + bytes((55 - len(message)) % 64)
    return message + pad + struct.pack(">Q", 8 * len(message))


def test_sha256_blocks_state_and_preserved_registers(endian: Endian) -> None:
    """sha256_blocks called directly on unaligned data: the state it leaves is hashlib's
    digest of the padded message, and r1, r2, r13..r31 come back unchanged."""
    message = _pattern(119, 4)  # pads to two blocks
    state, data = BACKUP, DATA + 3
    preserved = (R2, *(GPR(r) for r in range(R13.number, R31.number + 1)))
    values = [0x0123_4567_0000_0000 + 0x1_0001 * (i + 1) for i in range(len(preserved))]
    program = ppc64.generate(endian, kernel_big_endian=endian == "big",
                             console=Console.LINUX_WRITE)  # fmt: skip
    a = Assembler(endian)
    a.load_imm64(R12, REPORT)
    a.std(R1, 0, R12)
    for reg, value in zip(preserved, values):
        a.load_imm64(reg, value)
    a.load_imm64(R3, state)
    a.load_imm64(R4, data)
    a.li(R5, len(_padded(message)) // 64)
    a.load_imm64(R12, PURGATORY + program.symbols["sha256_blocks"])
    a.mtctr(R12)
    a.bctrl()
    a.load_imm64(R12, REPORT)
    for i, reg in enumerate((R1, *preserved)):
        a.std(reg, 8 + 8 * i, R12)
    _write(a, REPORT, 8 * (len(preserved) + 2))
    _write(a, state, 32)
    a.li(R3, 0)
    _syscall_exit(a)
    h0 = struct.pack(struct_prefix(endian) + "8I", *sha256.H0)
    segments = [qemu.Segment(BASE, a.assemble().code),
                qemu.Segment(PURGATORY, ppc64.render(_params(endian, HEAD))),
                qemu.Segment(REPORT, b"", 0x1000), qemu.Segment(state, h0),
                qemu.Segment(DATA, bytes(3) + _padded(message))]  # fmt: skip
    result = qemu.run(endian, qemu.elf_executable(endian, segments, BASE))
    assert result.returncode == 0, result
    regs = struct.unpack(struct_prefix(endian) + f"{len(preserved) + 2}Q", result.stdout[:-32])
    assert regs == (regs[0], regs[0], *values)
    words = struct.unpack(struct_prefix(endian) + "8I", result.stdout[-32:])
    assert struct.pack(">8I", *words) == hashlib.sha256(message).digest()


def _block_loop_memory_ops(program: Program) -> int:
    """Loads and stores in the block loop (the table's load/store mnemonics: l*, st*)."""
    loop_start = min(o for n, o in program.symbols.items() if n.startswith(".block"))
    count = _block_loop_length(program)
    decoded = [decode(program.read_word(loop_start + 4 * i)) for i in range(count)]
    return sum(1 for d in decoded if d is not None and d.mnemonic.startswith(("l", "st")))


def test_sha256_block_loop_memory_ops() -> None:
    """Full-system TCG pays a softmmu TLB lookup per access: per block, the message is
    8 doubleword loads and the state 4 loads + 4 stores; W and K live in registers."""
    for endian in ENDIANS:
        program = ppc64.generate(endian, kernel_big_endian=endian == "big")
        assert _block_loop_memory_ops(program) == 16


def test_sha256_verifies_16_mib(endian: Endian) -> None:
    """16 MiB under qemu-user: the digest of a region larger than any cache matches.
    (Its cost is measured in the bench, on QEMU's instruction-count clock, not here.)"""
    size = 16 << 20
    params = _params(endian, HEAD, sha256_regions=(Range.sized(DATA, size),),
                     sha256_digest=hashlib.sha256(bytes(size)).digest())  # fmt: skip
    segments = [qemu.Segment(BASE, _harness(endian, call="sha256_verify", params=params)),
                qemu.Segment(PURGATORY, ppc64.render(params)),
                qemu.Segment(DATA, b"", size)]  # fmt: skip
    result = qemu.run(endian, qemu.elf_executable(endian, segments, BASE))
    assert (result.returncode, result.stdout) == (0, b"")


def _block_loop_length(program: Program) -> int:
    """Instructions from the block loop label to its bdnz (straight-line, so = executed)."""
    loop_start = min(o for n, o in program.symbols.items() if n.startswith(".block"))
    for off in range(loop_start, program.symbols["code_end"], 4):
        d = decode(program.read_word(off))
        if d is not None and d.mnemonic == "bc" and d.operands[0] == 16:
            return int((off - loop_start) // 4 + 1)
    raise AssertionError("no bdnz")
