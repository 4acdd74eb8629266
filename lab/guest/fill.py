#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: fill memory with a nonce pattern, signal readiness, stay alive.

Usage: fill.py NONCE MIB READY_FILE.  The pattern record is shared with
vmcore_check.py (one 32-byte record repeated).
"""

import os
import sys
import time


def record(nonce: str) -> bytes:
    body = f"LABFILL:{nonce}:".encode()
    return (body + b"#" * 32)[:31] + b"\n"


def main() -> None:
    nonce, mib, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rec = record(nonce)
    buf = bytearray(mib * 1024 * 1024)
    # Fill in place by doubling (memoryview slices do not copy), so the pattern
    # exists exactly once in memory and the vmcore count is meaningful.
    view = memoryview(buf)
    view[: len(rec)] = rec
    done = len(rec)
    while done < len(buf):
        n = min(done, len(buf) - done)
        view[done : done + n] = view[:n]
        done += n
    with open(ready, "w") as f:
        f.write(f"{len(buf)}\n")
    os.sync()
    while buf:
        time.sleep(3600)


if __name__ == "__main__":
    main()
