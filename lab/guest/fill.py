#!/usr/bin/python3
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
    buf = bytearray(rec * (mib * 1024 * 1024 // len(rec)))
    with open(ready, "w") as f:
        f.write(f"{len(buf)}\n")
    os.sync()
    while buf:
        time.sleep(3600)


if __name__ == "__main__":
    main()
