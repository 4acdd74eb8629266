# SPDX-License-Identifier: GPL-2.0-or-later
"""The ppc64 purgatory, generated as machine code with :mod:`pykexec.core.purgatory.asm`.

What the old kernel does with it (``kexec_sequence`` in arch/powerpc/kernel/misc_64.S):
copy the first 0x100 bytes of the purgatory to physical 0, release the secondary CPUs
to 0x60 (the new kernel's ``__secondary_hold``), and jump to the purgatory entry with
r3 = this CPU's hardware id, r4 = the entry address, r5 = 0, MMU off, in the *old*
kernel's byte order.  So the purgatory runs in the running kernel's endianness and its
first 256 bytes are the new kernel's, except word 0 (``b main``).

What the generated purgatory does, in order (the same steps as kexec-tools'
purgatory/arch/ppc64/v2wrap.S + purgatory.c):

1. ``or 1,1,1`` (low SMT priority), find its own base with ``bcl 20,31``, set up a
   stack (slot ``stack``, or the 16 KiB stack at the end of the image when 0).
2. If ``debug``: print "I'm in purgatory" on the console, which is a :class:`Console`
   parameter (:mod:`.console`): the pSeries hypervisor terminal (``sc 1``), OPAL's
   console on PowerNV (OPAL_CONSOLE_WRITE through OPAL's entry point, big-endian, no
   ``sc``), or none.
3. Unless ``skip_checks``: SHA-256 over the ``sha256_regions`` table, compared with
   ``sha256_digest``; on mismatch print both digests (always) and spin forever.
4. If ``panic_kernel``: copy physical 0..64 KiB to ``backup_start``.
5. ``or 3,3,3`` and spin 0x10000 iterations so the secondaries settle.
6. r3 = ``dt_offset``; if the FDT version (BE u32 at +20) >= 2, store the boot CPU id
   as a BE u32 at +28 (``boot_cpuid_phys``, devicetree specification §5.2).
7. r8 = ``opal_base``, r9 = ``opal_entry``, r4 = ``kernel``; copy the word at
   purgatory+0x5c to kernel+0x5c (``__run_at_load``, head_64.S) and flush that line.
8. r5 = 0; enter the kernel: ``rfid`` with MSR_LE cleared when the purgatory runs
   little-endian, MSR_LE is set and the new kernel is big-endian; else ``bctr``.

API for the loader (stable):

* :class:`PurgatoryParams` -- every value the purgatory needs; ``render(params)``
  returns the segment bytes (the stack is inside; load it at any 8-byte aligned
  address; the entry point is the segment's first byte, offset :data:`ENTRY_OFFSET`).
* ``generate(endian, kernel_big_endian=..., console=...)`` -- the unpatched
  :class:`~pykexec.core.purgatory.asm.Program` with its named slots (cached).
* :func:`region_digest` -- SHA-256 of segment buffers, as the purgatory computes it.

Slots hold values in the purgatory's byte order (the running kernel's), except
``head``/``run_at_load``: those are the new kernel's own bytes and are copied verbatim,
so ``run_at_load`` is stored in the *new kernel's* byte order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache

import pykexec.core.purgatory.sha256 as sha256
import pykexec.core.purgatory.sha256_vmx as sha256_vmx
from pykexec import abi
from pykexec.abi import (
    BACKUP_SIZE,
    HEAD_SIZE,
    RUN_AT_LOAD_OFFSET,
    SECONDARY_HOLD_OFFSET,
    SHA256_DIGEST_SIZE,
    SHA256_REGIONS,
    Endian,
)
from pykexec.core.devicetree.fdt import FdtHeader
from pykexec.core.memory import Range
from pykexec.core.purgatory.asm import Assembler, AssemblyError, Program, Ref
from pykexec.core.purgatory.console import Console as Console
from pykexec.core.purgatory.console import HCall as HCall
from pykexec.core.purgatory.console import LinuxSyscall as LinuxSyscall
from pykexec.core.purgatory.console import Msr as Msr
from pykexec.core.purgatory.console import OpalCall as OpalCall
from pykexec.core.purgatory.console import console_for as console_for
from pykexec.core.purgatory.console import emit_opal_call, emit_putc
from pykexec.core.purgatory.isa import (
    CR0,
    GPR,
    R0,
    R1,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    R11,
    R14,
    R15,
    R26,
    R27,
    R28,
    R29,
    R30,
    R31,
)
from pykexec.core.purgatory.sha256 import emit_address_of, emit_epilogue, emit_prologue
from pykexec.errors import UsageError


def _fdt_offset(name: str) -> int:
    """Offset of a ``struct fdt_header`` field: the u32 fields of FdtHeader, in order."""
    return 4 * [f.name for f in fields(FdtHeader)].index(name)


FDT_VERSION = _fdt_offset("version")
FDT_BOOT_CPUID_PHYS = _fdt_offset("boot_cpuid_phys")
MSR_LE = Msr.LE
ENTRY_OFFSET = 0
STACK_SIZE = 16 * 1024
SETTLE_SPINS = 0x10000  # v2wrap.S: "spin for slaves to catch up"
_FRAME = 64

_SLOTS_U64 = ("kernel", "dt_offset", "stack", "backup_start", "opal_base", "opal_entry",
               "opal_terminal")  # fmt: skip
_SLOTS_U32 = ("skip_checks", "debug", "panic_kernel")


def _flag(a: Assembler, slot: str, skip_if_zero: str) -> None:
    a.lwz(R3, Ref(slot), R15)
    a.cmpwi(R3, 0)
    a.beq(skip_if_zero)


def _print(a: Assembler, message_label: str) -> None:
    a.addi(R3, R15, Ref(message_label))
    a.bl("puts")


def _say(a: Assembler, console: Console, message_label: str) -> None:
    """With the ``debug`` slot set, print a progress message (clobbers r3-r12)."""
    if console is Console.NONE:
        return
    quiet = a.new_label("quiet")
    _flag(a, "debug", quiet)
    _print(a, message_label)
    a.label(quiet)


def _load_be32(a: Assembler, endian: Endian, rt: GPR, ra: GPR, offset: int) -> None:
    if endian == "big":
        a.lwz(rt, offset, ra)
    else:
        a.addi(R7, ra, offset)
        a.lwbrx(rt, R0, R7)


def _store_be32(a: Assembler, endian: Endian, rs: GPR, ra: GPR, offset: int) -> None:
    if endian == "big":
        a.stw(rs, offset, ra)
    else:
        a.addi(R7, ra, offset)
        a.stwbrx(rs, R0, R7)


def _emit_setup(a: Assembler, console: Console) -> None:
    """Steps 1-4: priority, base, stack, greeting, checksum, backup."""
    base, have_stack = a.new_label("base"), a.new_label("have_stack")
    quiet, checked, no_backup = a.new_label("quiet"), a.new_label("checked"), a.new_label("nb")
    a.label("main")
    a.or_(R1, R1, R1)  # low SMT priority (ISA Book II §3.2 "Program Priority Registers")
    a.mr(R14, R3)  # boot CPU hardware id
    a.bcl(20, 31, base)
    a.label(base)
    a.mflr(R15)
    a.addi(R15, R15, Ref("purgatory_start", base))  # r15 = purgatory base, for all slots
    a.ld(R1, Ref("stack"), R15)
    a.cmpdi(R1, 0)
    a.bne(have_stack)
    a.addi(R1, R15, Ref("stack_top"))
    a.label(have_stack)
    a.clrrdi(R1, R1, 4)
    a.li(R0, 0)
    a.stdu(R0, -_FRAME, R1)  # terminating back chain
    if console is not Console.NONE:
        _flag(a, "debug", quiet)
        _print(a, "msg_hello")
        a.label(quiet)
    a.lwz(R3, Ref("skip_checks"), R15)
    a.cmpwi(R3, 0)
    a.bne(checked)
    a.bl("sha256_verify")
    a.cmpdi(R3, 0)
    a.bne("hang")
    _say(a, console, "msg_verified")
    a.label(checked)
    _flag(a, "panic_kernel", no_backup)
    a.li(R3, 0)
    a.ld(R4, Ref("backup_start"), R15)
    a.lis(R5, BACKUP_SIZE >> 16)
    a.bl("copy_memory")
    _say(a, console, "msg_backup")
    a.label(no_backup)
    _say(a, console, "msg_enter")


def _emit_enter_kernel(a: Assembler, endian: Endian, kernel_big_endian: bool) -> None:
    """Steps 5-8: settle, boot CPU id into the FDT, run_at_load, jump."""
    spin, old_fdt, bctr = a.new_label("spin"), a.new_label("old_fdt"), a.new_label("bctr")
    a.or_(R3, R3, R3)  # medium SMT priority
    a.lis(R3, SETTLE_SPINS >> 16)
    a.mtctr(R3)
    a.label(spin)
    a.bdnz(spin)
    a.ld(R3, Ref("dt_offset"), R15)
    _load_be32(a, endian, R6, R3, FDT_VERSION)
    a.cmplwi(R6, 2)
    a.blt(old_fdt)
    _store_be32(a, endian, R14, R3, FDT_BOOT_CPUID_PHYS)
    a.label(old_fdt)
    a.ld(R8, Ref("opal_base"), R15)
    a.ld(R9, Ref("opal_entry"), R15)
    a.ld(R4, Ref("kernel"), R15)
    a.lwz(R6, RUN_AT_LOAD_OFFSET, R15)  # a verbatim word copy: no byte order involved
    a.stw(R6, RUN_AT_LOAD_OFFSET, R4)
    a.addi(R7, R4, RUN_AT_LOAD_OFFSET)
    a.dcbst(R0, R7)  # the kernel executes this line in real mode next: flush it
    a.sync()
    a.icbi(R0, R7)
    a.isync()
    a.li(R5, 0)
    if endian == "little" and kernel_big_endian:
        a.mfmsr(R10)
        a.andi_dot(R11, R10, MSR_LE)
        a.beq(bctr, cr=CR0)
        a.rldicr(R10, R10, 0, 62)  # clear MSR_LE (bit 63)
        a.mtsrr0(R4)
        a.mtsrr1(R10)
        a.rfid()
    a.label(bctr)
    a.mtctr(R4)
    a.bctr()
    a.label("hang")
    a.or_(R1, R1, R1)
    a.b("hang")


def _emit_verify(a: Assembler) -> None:
    """``sha256_verify``: r3 = 0 if the regions hash to ``sha256_digest``, else 1 (printed)."""
    saved = (R26, R27, R28, R29, R30, R31)
    ctx, digest = 16 + 8 * len(saved), 16 + 8 * len(saved) + sha256.CTX.size
    frame = digest + SHA256_DIGEST_SIZE
    loop, skip, cmp, bad, out = (a.new_label(n) for n in ("rgn", "skip", "cmp", "bad", "out"))
    a.label("sha256_verify")
    emit_prologue(a, frame, saved)
    a.addi(R3, R1, ctx)
    a.bl("sha256_init")
    emit_address_of(a, R27, "sha256_regions")
    a.li(R28, SHA256_REGIONS)
    a.label(loop)
    a.ld(R4, 0, R27)
    a.ld(R5, 8, R27)
    a.cmpdi(R5, 0)
    a.beq(skip)
    a.addi(R3, R1, ctx)
    a.bl("sha256_update")
    a.label(skip)
    a.addi(R27, R27, 16)
    a.addi(R28, R28, -1)
    a.cmpdi(R28, 0)
    a.bne(loop)
    a.addi(R3, R1, ctx)
    a.addi(R4, R1, digest)
    a.bl("sha256_final")
    emit_address_of(a, R27, "sha256_digest")
    a.addi(R29, R1, digest)
    a.li(R28, SHA256_DIGEST_SIZE // 8)
    a.label(cmp)
    a.ld(R3, 0, R27)
    a.ld(R4, 0, R29)
    a.cmpd(R3, R4)
    a.bne(bad)
    a.addi(R27, R27, 8)
    a.addi(R29, R29, 8)
    a.addi(R28, R28, -1)
    a.cmpdi(R28, 0)
    a.bne(cmp)
    a.li(R3, 0)
    a.b(out)
    a.label(bad)
    for label, source in (("msg_mismatch", None), ("msg_expected", "sha256_digest"),
                          ("msg_computed", digest), ("msg_newline", None)):  # fmt: skip
        emit_address_of(a, R3, label)
        a.bl("puts")
        if isinstance(source, str):
            emit_address_of(a, R3, source)
        elif source is not None:
            a.addi(R3, R1, source)
        if source is not None:
            a.li(R4, SHA256_DIGEST_SIZE)
            a.bl("print_hex")
    a.li(R3, 1)
    a.label(out)
    emit_epilogue(a, frame, saved)


def _emit_copy(a: Assembler) -> None:
    """``copy_memory``: r3 = source, r4 = destination, r5 = length (multiple of 8)."""
    loop, done = a.new_label("copy"), a.new_label("copied")
    a.label("copy_memory")
    a.srdi(R5, R5, 3)
    a.cmpdi(R5, 0)
    a.beq(done)
    a.mtctr(R5)
    a.addi(R3, R3, -8)
    a.addi(R4, R4, -8)
    a.label(loop)
    a.ldu(R0, 8, R3)
    a.stdu(R0, 8, R4)
    a.bdnz(loop)
    a.label(done)
    a.blr()


def _emit_puts(a: Assembler) -> None:
    """``puts``: r3 = NUL-terminated string."""
    loop, done = a.new_label("puts"), a.new_label("puts_done")
    a.label("puts")
    emit_prologue(a, 32, (R31,))
    a.mr(R31, R3)
    a.label(loop)
    a.lbz(R3, 0, R31)
    a.cmpwi(R3, 0)
    a.beq(done)
    a.bl("putc")
    a.addi(R31, R31, 1)
    a.b(loop)
    a.label(done)
    emit_epilogue(a, 32, (R31,))


def _emit_print_hex(a: Assembler) -> None:
    """``print_hex``: r3 = bytes, r4 = count; lowercase hex, two digits per byte."""
    saved = (R29, R30, R31)
    loop, done = a.new_label("hex"), a.new_label("hex_done")
    a.label("print_hex")
    emit_prologue(a, 48, saved)
    a.mr(R31, R3)
    a.mr(R30, R4)
    a.label(loop)
    a.cmpdi(R30, 0)
    a.beq(done)
    a.lbz(R29, 0, R31)
    a.srwi(R3, R29, 4)
    a.bl("putc_nibble")
    a.clrlwi(R3, R29, 28)
    a.bl("putc_nibble")
    a.addi(R31, R31, 1)
    a.addi(R30, R30, -1)
    a.b(loop)
    a.label(done)
    emit_epilogue(a, 48, saved)
    letter = a.new_label("letter")
    a.label("putc_nibble")  # r3 = 0..15, tail-calls putc
    a.cmpwi(R3, 10)
    a.bge(letter)
    a.addi(R3, R3, ord("0"))
    a.b("putc")
    a.label(letter)
    a.addi(R3, R3, ord("a") - 10)
    a.b("putc")


_MESSAGES = {
    "msg_hello": b"I'm in purgatory\n",
    "msg_verified": b"purgatory: sha256 of the segments verified\n",
    "msg_backup": b"purgatory: first 64 KiB of memory backed up\n",
    "msg_enter": b"purgatory: entering the new kernel\n",
    "msg_mismatch": b"purgatory: sha256 mismatch\n",
    "msg_expected": b"expected: ",
    "msg_computed": b"\ncomputed: ",
    "msg_newline": b"\n",
}


def _emit_data(a: Assembler, sha256_vector: bool) -> None:
    sha256.emit_data(a)
    if sha256_vector:
        sha256_vmx.emit_data(a)
    for name, text in _MESSAGES.items():
        a.label(name)
        a.bytes(text + b"\0")
    a.align(8)
    for name in _SLOTS_U64:
        a.slot(name, 8)
    for name in _SLOTS_U32:
        a.slot(name, 4)
    a.slot("sha256_regions", 16 * SHA256_REGIONS)
    a.slot("sha256_digest", SHA256_DIGEST_SIZE)
    a.align(16)
    a.label("stack_bottom")
    a.space(STACK_SIZE)
    a.label("stack_top")


@lru_cache(maxsize=16)
def generate(
    endian: Endian,
    *,
    kernel_big_endian: bool,
    console: Console | str = Console.HVTERM,
    sha256_vector: bool = False,
) -> Program:
    """The purgatory program, slots zero, the head area (4..0xff) zero."""
    console = Console(console)
    a = Assembler(endian)
    a.label("purgatory_start")
    a.b("main")
    a.define_slot("head", 4, HEAD_SIZE - 4)
    a.define_slot("run_at_load", RUN_AT_LOAD_OFFSET, 4)
    a.space(HEAD_SIZE - 4)
    a.label("code_start")
    _emit_setup(a, console)
    _emit_enter_kernel(a, endian, kernel_big_endian)
    _emit_verify(a)
    _emit_copy(a)
    emit_putc(a, console)
    if console is Console.OPAL:
        emit_opal_call(a)
    _emit_puts(a)
    _emit_print_hex(a)
    if sha256_vector:  # POWER8 vector crypto (ISA 2.07)
        sha256.emit_code(a, endian, blocks=sha256_vmx.emit_blocks)
    else:
        sha256.emit_code(a, endian)
    a.label("code_end")
    _emit_data(a, sha256_vector)
    return a.assemble()


@dataclass(frozen=True)
class PurgatoryParams:
    """Everything the loader decides; :func:`render` turns it into the segment bytes.

    ``kernel_head`` is the new kernel's first 256 bytes (its first PT_LOAD's data);
    ``run_at_load`` overrides the word at 0x5c (new kernel's byte order), e.g.
    :data:`pykexec.abi.RUN_AT_LOAD_STAY` for a relocatable crash kernel.  ``sha256_regions`` are
    the destination ranges of the other segments' buffers (bufsz, not memsz: the
    kernel zero-fills beyond bufsz) and ``sha256_digest`` their SHA-256, in order.
    ``stack`` = 0 uses the stack inside the purgatory image.
    """

    endian: Endian
    kernel_big_endian: bool
    kernel: int
    dt_offset: int
    kernel_head: bytes
    run_at_load: int | None = None
    sha256_regions: tuple[Range, ...] = ()
    sha256_digest: bytes = bytes(SHA256_DIGEST_SIZE)
    skip_checks: bool = False
    debug: bool = False
    panic_kernel: bool = False
    backup_start: int = 0
    opal_base: int = 0
    opal_entry: int = 0
    opal_terminal: int = 0
    stack: int = 0
    console: Console = Console.HVTERM
    sha256_vector: bool = False  # the CPU has vshasigmaw (POWER8 and later, not P7 compat)

    def __post_init__(self) -> None:
        if len(self.sha256_regions) > SHA256_REGIONS:
            raise UsageError(
                "purgatory-regions", count=len(self.sha256_regions), limit=SHA256_REGIONS
            )
        if len(self.sha256_digest) != SHA256_DIGEST_SIZE:
            raise UsageError(
                "purgatory-digest", size=len(self.sha256_digest), expected=SHA256_DIGEST_SIZE
            )
        if len(self.kernel_head) < HEAD_SIZE:
            raise UsageError("purgatory-head", size=len(self.kernel_head), expected=HEAD_SIZE)
        if self.console is Console.OPAL and not (self.opal_base and self.opal_entry):
            raise UsageError("purgatory-opal")
        if self.panic_kernel and not self.backup_start:
            raise UsageError("purgatory-backup")


def _program(params: PurgatoryParams) -> Program:
    return generate(params.endian, kernel_big_endian=params.kernel_big_endian,
                    console=params.console, sha256_vector=params.sha256_vector)  # fmt: skip


def image_size(params: PurgatoryParams) -> int:
    """The size of :func:`render`'s bytes, which no slot value changes."""
    return len(_program(params).code)


def render(params: PurgatoryParams) -> bytes:
    """The purgatory segment: code, head, filled slots and stack (its memsz = its size)."""
    program = _program(params)
    regions = b"".join(
        r.start.to_bytes(8, params.endian) + r.size.to_bytes(8, params.endian)
        for r in params.sha256_regions
    )
    head = bytearray(params.kernel_head[4:HEAD_SIZE])
    if params.run_at_load is not None:
        kernel_order: Endian = "big" if params.kernel_big_endian else "little"
        head[RUN_AT_LOAD_OFFSET - 4 : RUN_AT_LOAD_OFFSET] = params.run_at_load.to_bytes(
            4, kernel_order
        )
    values: dict[str, int | bytes] = {
        "head": bytes(head),
        "sha256_regions": regions,
        "sha256_digest": params.sha256_digest,
        **{name: int(getattr(params, name)) for name in _SLOTS_U64 + _SLOTS_U32},
    }
    try:
        return program.patch_many(values)
    except AssemblyError as err:  # a value does not fit its slot
        raise UsageError("purgatory-slot", cause=err) from err


def region_digest(buffers: Iterable[bytes], running: list[bytes] | None = None) -> bytes:
    """SHA-256 over the concatenated segment buffers, as ``sha256_verify`` computes it.

    ``running`` (when given) receives the digest of the bytes hashed so far after each
    buffer, from the same pass: the load record keeps them (per-segment checks without
    reading the segments again)."""
    h = hashlib.sha256()
    for buf in buffers:
        h.update(buf)
        if running is not None:
            running.append(h.copy().digest())
    return h.digest()


def run_at_load_for_crash(kernel_head: bytes, *, kernel_big_endian: bool) -> int | None:
    """:func:`pykexec.abi.run_at_load_for_crash` of the word in ``kernel_head``."""
    order: Endian = "big" if kernel_big_endian else "little"
    word = int.from_bytes(kernel_head[RUN_AT_LOAD_OFFSET:SECONDARY_HOLD_OFFSET], order)
    return abi.run_at_load_for_crash(word)
