# SPDX-License-Identifier: GPL-2.0-or-later
"""The purgatory's consoles on qemu-user: OPAL on PowerNV (the fake OPAL entry of
purgatory_support/supervisor.py logs each call), the hypervisor's terminal, and nothing
without a known console; which console each captured machine gets.  The harness is
tests/test_purgatory.py's.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from pykexec.abi import Endian
from pykexec.core.purgatory import ppc64
from pykexec.core.purgatory.asm import Program
from pykexec.core.purgatory.disasm import decode, disassemble
from pykexec.core.purgatory.ppc64 import Console, PurgatoryParams
from tests.test_purgatory import (
    ENDIANS,
    FDT,
    KERNEL,
    OPAL_BASE,
    OPAL_TERMINAL,
    _kernel_stub,
    _params,
    _pattern,
    _regions,
    _report,
    _run,
    endian_fixture,  # noqa: F401 (the fixture "endian")
)

sys.path.insert(0, str(Path(__file__).parent))
from purgatory_support import binutils, supervisor  # type: ignore[import-not-found]

PROGRESS = (
    b"I'm in purgatory\n"
    b"purgatory: sha256 of the segments verified\n"
    b"purgatory: first 64 KiB of memory backed up\n"
    b"purgatory: entering the new kernel\n"
)


def _opal_params(endian: Endian, head: bytes, **kw: object) -> PurgatoryParams:
    return _params(endian, head, console=Console.OPAL, opal_terminal=OPAL_TERMINAL, **kw)


def _check_opal_records(stderr: bytes, written: bytes) -> None:
    """Every call entered OPAL big-endian with r2 = OPAL base; console writes name the
    terminal, one byte each, and their bytes are ``written``; flushes follow writes."""
    records = supervisor.records(stderr)
    assert records, stderr
    tokens = {r[0] for r in records}
    assert tokens <= {ppc64.OpalCall.CONSOLE_WRITE, ppc64.OpalCall.CONSOLE_FLUSH}, tokens
    assert all(r[4] == 0 for r in records), "OPAL entered with MSR_LE set"
    assert all(r[5] == OPAL_BASE for r in records)
    writes = [r for r in records if r[0] == ppc64.OpalCall.CONSOLE_WRITE]
    assert len(writes) == len(written)
    assert all(r[1] == OPAL_TERMINAL and r[2] != r[3] for r in writes)
    flushes = [r for r in records if r[0] == ppc64.OpalCall.CONSOLE_FLUSH]
    assert len(flushes) == len(writes) and all(r[1] == OPAL_TERMINAL for r in flushes)


def test_opal_console_full_flow(endian: Endian) -> None:
    """PowerNV: the progress lines go through OPAL_CONSOLE_WRITE ("\\n" as "\\r\\n"); a
    little-endian purgatory reaches the big-endian OPAL with hrfid and comes back."""
    buffers = [_pattern(3000), _pattern(5, 2)]
    placed, regions = _regions(buffers)
    stub = _kernel_stub(endian, 0)
    params = _opal_params(endian, stub[:256], debug=True, sha256_regions=regions,
                          sha256_digest=ppc64.region_digest(buffers))  # fmt: skip
    result = _run(endian, params, placed)
    assert result.returncode == 0, result
    lines = PROGRESS.splitlines(keepends=True)
    expected = b"".join(lines[:2] + lines[3:]).replace(b"\n", b"\r\n")  # no backup
    assert result.stdout[: len(expected)] == expected
    regs, _ = _report(endian, result.stdout[len(expected) :])
    assert regs[:3] == (FDT, KERNEL, 0)
    _check_opal_records(result.stderr, expected)


def test_opal_console_mismatch_report(endian: Endian) -> None:
    buffers = [_pattern(100)]
    placed, regions = _regions(buffers)
    stub = _kernel_stub(endian, 0)
    params = _opal_params(endian, stub[:256], sha256_regions=regions, sha256_digest=bytes(32))
    result = _run(endian, params, placed, timeout=5)
    assert result.returncode is None, "purgatory must spin forever on a bad digest"
    report = (
        b"purgatory: sha256 mismatch\n"
        + b"expected: " + b"00" * 32
        + b"\ncomputed: " + hashlib.sha256(buffers[0]).hexdigest().encode()
        + b"\n"
    ).replace(b"\n", b"\r\n")  # fmt: skip
    assert result.stdout == report
    _check_opal_records(result.stderr, report)


def test_no_console_prints_nothing_and_spins(endian: Endian) -> None:
    buffers = [_pattern(100)]
    placed, regions = _regions(buffers)
    stub = _kernel_stub(endian, 0)
    params = _params(endian, stub[:256], console=Console.NONE, debug=True,
                     sha256_regions=regions, sha256_digest=bytes(32))  # fmt: skip
    result = _run(endian, params, placed, timeout=3)
    assert result.returncode is None, "purgatory must spin forever on a bad digest"
    assert (result.stdout, result.stderr) == (b"", b"")


def _code_words(program: Program) -> list[int]:
    """Every word from code_start to code_end, read in both byte orders (the endian
    trampoline holds instructions of the other byte order)."""
    start, end = program.symbols["code_start"], program.symbols["code_end"]
    return [
        int.from_bytes(program.code[off : off + 4], order)
        for off in range(start, end, 4)
        for order in ENDIANS
    ]


@pytest.mark.parametrize("console", [Console.OPAL, Console.NONE, Console.HVTERM])
def test_sc_only_with_a_hypervisor(console: Console) -> None:
    """No system call instruction (sc, opcode 17) where there is no hypervisor; the
    hvterm build is the control."""
    for endian in ENDIANS:
        for kernel_be in (False, True):
            program = ppc64.generate(endian, kernel_big_endian=kernel_be, console=console)
            decoded = [decode(w) for w in _code_words(program)]
            scs = [d for d in decoded if d is not None and d.mnemonic == "sc"]
            assert bool(scs) == (console is Console.HVTERM), (endian, kernel_be, scs)


def test_opal_trampoline_words() -> None:
    """The little-endian OPAL path: hrfid into OPAL with HSRR1 = MSR minus LE/EE/IR/DR, and
    the return trampoline, whose other-endian words objdump -EB reads as the switch back."""
    program = ppc64.generate("little", kernel_big_endian=False, console=Console.OPAL)
    start = program.symbols["opal_return"]
    word0 = program.code[start : start + 4]
    assert int.from_bytes(word0, "big") == 0x48000008  # "b .+8" fetched big-endian
    other = program.symbols["opal_return_other_endian"]
    back = program.symbols["opal_back"]
    words = [int.from_bytes(program.code[o : o + 4], "big") for o in range(other, back, 4)]
    texts = [disassemble(w, 4 * i) for i, w in enumerate(words)]
    assert texts[:2] == ["mfmsr r11", "xori r11,r11,1"]
    assert texts[-3:] == ["mthsrr0 r12", "mthsrr1 r11", "hrfid"]
    assert texts[4] == f"addi r12,r12,{back - (other + 12)}"  # LR (word 3) to opal_back
    if binutils.tool("big", "objdump") is not None:
        theirs = binutils.objdump_binary("big", program.code[other:back], raw=False)
        assert [theirs[4 * i] for i in range(len(words))] == texts
    listing = program.listing()
    assert "mthsrr1 r11" in listing and "hrfid" in listing and "mfmsr r11" in listing


def _snapshot_console(root: Path) -> tuple[Console, int | None]:
    """The console kind from the snapshot's own files: /chosen's stdout-path, then the
    compatible and reg files of the node it names."""
    dt = root / "proc" / "device-tree"
    chosen = dt / "chosen"
    for name in ("linux,stdout-path", "stdout-path"):
        if (chosen / name).is_file():
            path = (chosen / name).read_bytes().rstrip(b"\0").decode().split(":")[0]
            break
    else:
        return Console.NONE, None
    node = dt / path.lstrip("/")
    compatible = (node / "compatible").read_bytes().split(b"\0")
    if b"hvterm1" in compatible:
        return Console.HVTERM, None
    if path.startswith("/ibm,opal/consoles/") and b"ibm,opal-console-raw" in compatible:
        return Console.OPAL, int.from_bytes((node / "reg").read_bytes(), "big")
    return Console.NONE, None


SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "snapshots"


@pytest.mark.parametrize("name", sorted(p.name for p in SNAPSHOTS.iterdir()))
def test_console_kind_per_snapshot(name: str) -> None:
    from pykexec.core.machine import describe
    from pykexec.system.procfs import read_tree

    root = SNAPSHOTS / name
    expected, terminal = _snapshot_console(root)
    m = describe(read_tree(root / "proc" / "device-tree"))
    kind = ppc64.console_for(hvterm=m.hvterm_console, opal_terminal=m.opal_console,
                             opal_entry=m.opal_entry)  # fmt: skip
    assert (kind, m.opal_console) == (expected, terminal)
    assert kind is (Console.OPAL if name.startswith("powernv") else Console.HVTERM)
