"""The purgatory: machine code run between the old and the new kernel, generated in Python.

:mod:`.asm` is the PowerPC assembler (instruction forms as data, encode and decode),
:mod:`.sha256` the SHA-256 routines in PowerPC assembly, :mod:`.ppc64` the purgatory
program and its loader-facing API (:class:`PurgatoryParams`, :func:`render`).
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
