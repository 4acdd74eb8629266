"""The purgatory: machine code run between the old and the new kernel, generated in Python.

:mod:`.isa` holds the PowerPC instruction set as data (registers, fields, opcode table)
with the encoder and decoder built from it, :mod:`.asm` the assembler (labels, data
slots, listings), :mod:`.sha256` the SHA-256 routines in PowerPC assembly
(:mod:`.sha256_vmx` the POWER8 vector crypto block function), :mod:`.ppc64`
the purgatory program and its loader-facing API (:class:`PurgatoryParams`, :func:`render`).
"""

from pykexec.purgatory.ppc64 import (
    Console,
    PurgatoryParams,
    generate,
    region_digest,
    render,
    run_at_load_for_crash,
)

__all__ = [
    "Console",
    "PurgatoryParams",
    "generate",
    "region_digest",
    "render",
    "run_at_load_for_crash",
]
