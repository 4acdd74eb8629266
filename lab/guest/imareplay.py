#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: does the IMA measurement list replay to the TPM's PCR 10?

Usage:
  imareplay.py STAGE    LAB-RESULT pcr10_sha1_STAGE, ima_replay_sha1_STAGE and
                        ima_replay_STAGE (match / mismatch / unavailable: why)

A verifier's check (what a remote attestation does with a quote): start from 20 zero
bytes and extend, for every entry of ``ascii_runtime_measurements``, SHA-1(PCR ||
template digest), the SHA-1 bank's digest that the list's second column shows
(Documentation/security/IMA-templates.rst).  A violation's digest shows as zeros but
was extended as 0xff bytes (security/integrity/ima/ima_queue.c ima_add_template_entry).
The list is all in PCR 10 under the kernel's CONFIG_IMA_MEASURE_PCR_IDX=10 default.
Standard library only; a missing file is a result, never a traceback.
"""

from __future__ import annotations

import hashlib
import sys

LIST = "/sys/kernel/security/ima/ascii_runtime_measurements"
PCR = "/sys/class/tpm/tpm0/pcr-sha1/10"  # drivers/char/tpm/tpm-sysfs.c (5.12+)
SHA1_BYTES = 20


def result(key: str, value: object) -> None:
    print(f"LAB-RESULT {key}={value}", flush=True)


def replay(lines: list[str]) -> bytes:
    """PCR 10's SHA-1 value after extending each entry's template digest in order."""
    pcr = bytes(SHA1_BYTES)
    for line in lines:
        digest = bytes.fromhex(line.split()[1])
        if digest == bytes(SHA1_BYTES):  # a violation
            digest = b"\xff" * SHA1_BYTES
        pcr = hashlib.sha1(pcr + digest).digest()
    return pcr


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    stage = argv[1]
    try:
        with open(LIST) as f:
            lines = [line for line in f if line.strip()]
        with open(PCR) as f:
            pcr = bytes.fromhex(f.read().strip())
    except (OSError, ValueError) as exc:
        result(f"ima_replay_{stage}", f"unavailable: {exc}")
        return 1
    replayed = replay(lines)
    result(f"pcr10_sha1_{stage}", pcr.hex())
    result(f"ima_replay_sha1_{stage}", replayed.hex())
    result(f"ima_replay_{stage}", "match" if replayed == pcr else "mismatch")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
