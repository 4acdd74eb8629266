#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper (crash kernel): check /proc/vmcore's ELF header and find the nonce.

Usage: vmcore_check.py NONCE MIB.  Prints LAB-RESULT lines; exit 0 when the
ELF identification says ELF64 core and at least 95 % of the MIB mebibytes
filled by fill.py are found as whole records.
"""

import os
import struct
import sys

VMCORE = "/proc/vmcore"
CHUNK = 8 << 20
ET_CORE = 4  # ELF gABI e_type
ELFCLASS64 = 2


def record(nonce: str) -> bytes:
    body = f"LABFILL:{nonce}:".encode()
    return (body + b"#" * 32)[:31] + b"\n"


def main() -> int:
    nonce, mib = sys.argv[1], int(sys.argv[2])
    rec = record(nonce)
    if not os.path.exists(VMCORE):
        print("LAB-RESULT vmcore_elf=missing", flush=True)
        return 1
    with open(VMCORE, "rb", buffering=0) as f:
        ident = f.read(64)
        little = ident[5] == 1
        e_type = struct.unpack_from("<H" if little else ">H", ident, 16)[0]
        ok_elf = ident[:4] == b"\x7fELF" and ident[4] == ELFCLASS64 and e_type == ET_CORE
        print(f"LAB-RESULT vmcore_elf={'ok' if ok_elf else ident[:20].hex()}", flush=True)
        f.seek(0)
        found = 0
        total = 0
        tail = b""
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            data = tail + chunk
            found += data.count(rec)
            tail = data[-(len(rec) - 1) :]
    wanted = mib * 1024 * 1024 // len(rec)
    print(f"LAB-RESULT vmcore_bytes={total}", flush=True)
    print(f"LAB-RESULT nonce_records={found}/{wanted}", flush=True)
    return 0 if ok_elf and found * 100 >= wanted * 95 else 1


if __name__ == "__main__":
    sys.exit(main())
