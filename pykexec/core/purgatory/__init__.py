# SPDX-License-Identifier: GPL-2.0-or-later
"""The purgatory: machine code run between the old and the new kernel, generated in Python.

:mod:`.isa` holds the PowerPC instruction set as data (registers, fields, opcode table)
with the encoder built from it, :mod:`.disasm` the decoder, :mod:`.asm` the assembler
(typed operands, labels; its instruction methods in :mod:`.mnemonics`) producing a
:mod:`.program` (bytes, data slots, listings),
:mod:`.sha256` the SHA-256 routines in PowerPC assembly (:mod:`.sha256_vmx` the POWER8
vector crypto block function), :mod:`.console` the console routines (hvterm, OPAL, none),
:mod:`.ppc64` the purgatory program and its loader-facing API (:class:`PurgatoryParams`,
:func:`render`).  The ABI facts it implements are :mod:`pykexec.abi`'s.
"""

from pykexec.core.purgatory.ppc64 import (
    Console,
    PurgatoryParams,
    console_for,
    generate,
    region_digest,
    render,
    run_at_load_for_crash,
)

__all__ = [
    "Console",
    "PurgatoryParams",
    "console_for",
    "generate",
    "region_digest",
    "render",
    "run_at_load_for_crash",
]
