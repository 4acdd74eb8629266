#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: run pykexec with one fault injected from outside the product.

Usage:
  inject.py corrupt-digest PYKEXEC-ARGS...   the purgatory stores a digest that cannot
                                             match its regions (it must refuse to boot)
  inject.py reject-load PYKEXEC-ARGS...      the first kexec_load call has its last segment
                                             moved to physical 0, below the crash region,
                                             so the kernel rejects it (EADDRNOTAVAIL) after
                                             it freed the crash kernel loaded before

pykexec has no test switch: the fault is put in here, by replacing one function of the
imported package before its own entry point (``pykexec.commands.cli.main``) runs.  In the guest
pykexec is the zipapp ``/usr/sbin/pykexec`` (put on ``sys.path``); on the host the unit
tests import this file and call :func:`inject` on the checkout's package.

The rejection is the kernel's own: kernel/kexec_core.c sanity_check_segment_list()
refuses a crash segment outside the crash region, called from kimage_alloc_init()
after kernel/kexec.c do_kexec_load() freed the loaded crash image.  Only the first
call is changed, so pykexec's reload of its recorded crash kernel goes through as is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

ZIPAPP = "/usr/sbin/pykexec"
FAULTS = ("corrupt-digest", "reject-load")


def _corrupt_digest() -> None:
    from pykexec.core.arch import ppc64

    real: Callable[..., bytes] = getattr(ppc64, "region_digest")  # noqa: B009

    def wrong(buffers: Any, running: Any = None) -> bytes:  # running: the record's, as is
        return bytes(b ^ 0xFF for b in real(buffers, running))

    setattr(ppc64, "region_digest", wrong)  # noqa: B010 (the planner's own name for it)


def _reject_load() -> None:
    from pykexec.system import syscalls

    real: Callable[..., None] = syscalls.kexec_load
    used: list[bool] = []

    def once(entry: int, segments: list[Any], flags: int) -> None:
        if not used:
            used.append(True)
            last = segments[-1]  # to physical 0: below any crash region, clear of the others
            segments = [*segments[:-1], syscalls.RawSegment(last.buf, 0, last.memsz)]
        real(entry, segments, flags)

    syscalls.kexec_load = once  # type: ignore[assignment]


def inject(fault: str) -> None:
    """Put ``fault`` (one of :data:`FAULTS`) into the imported pykexec."""
    {"corrupt-digest": _corrupt_digest, "reject-load": _reject_load}[fault]()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in FAULTS:
        print(f"usage: inject.py {{{','.join(FAULTS)}}} PYKEXEC-ARGS...", file=sys.stderr)
        return 2
    sys.path.insert(0, ZIPAPP)
    from pykexec.commands.cli import main as pykexec_main

    inject(argv[0])
    sys.argv[0] = "pykexec"
    return pykexec_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
