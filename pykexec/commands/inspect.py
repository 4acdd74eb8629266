# SPDX-License-Identifier: GPL-2.0-or-later
"""``pykexec inspect IMAGE``: what pykexec knows about a kernel image."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pykexec.core.formats.elf import (
    RUN_AT_LOAD_MAGIC,
    RUN_AT_LOAD_OFFSET,
    SECONDARY_HOLD_OFFSET,
    KernelImage,
)
from pykexec.errors import UsageError

VERSION_RE = re.compile(rb"Linux version [0-9][^\0\n]{0,200}")


def describe_image(kernel: KernelImage) -> dict[str, Any]:
    """A JSON-able description of a parsed kernel image."""
    head = kernel.head()
    secondary = [
        int.from_bytes(head[i : i + 4], kernel.endian)
        for i in range(SECONDARY_HOLD_OFFSET, SECONDARY_HOLD_OFFSET + 16, 4)
    ]
    match = VERSION_RE.search(kernel.data)
    crash_ok = kernel.relocatable
    return {
        "format": "elf64-ppc64" + (f" ({kernel.compression})" if kernel.compression else ""),
        "endian": kernel.endian,
        "entry": kernel.entry,
        "elf_flags": kernel.flags,
        "segments": [
            {
                "paddr": p.p_paddr,
                "vaddr": p.p_vaddr,
                "filesz": p.p_filesz,
                "memsz": p.p_memsz,
                "align": p.p_align,
            }
            for p in kernel.loads
        ],
        "memsz": kernel.memsz,
        "run_at_load": kernel.run_at_load,
        "relocatable": kernel.relocatable,
        "secondary_hold_words": secondary,
        "version": match.group().decode("utf-8", "replace").strip() if match else None,
        "crash_kernel": crash_ok,
        "crash_kernel_reason": None
        if crash_ok
        else (
            f"the word at {RUN_AT_LOAD_OFFSET:#x} is {kernel.run_at_load:#010x}, not "
            f'{RUN_AT_LOAD_MAGIC:#010x} ("run0"): not relocatable, it would overwrite '
            "the crashed kernel at address 0"
        ),
    }


def render(info: dict[str, Any]) -> str:
    lines = [
        f"format:       {info['format']}, {info['endian']}-endian",
        f"entry:        {info['entry']:#x}",
        f"memory size:  {info['memsz']:#x} ({info['memsz'] / 2**20:.1f} MiB)",
    ]
    for i, s in enumerate(info["segments"]):
        lines.append(
            f"PT_LOAD {i}:    paddr {s['paddr']:#x} vaddr {s['vaddr']:#x} "
            f"filesz {s['filesz']:#x} memsz {s['memsz']:#x}"
        )
    word = info["run_at_load"]
    lines.append(
        f"0x5c word:    {word:#010x}" + (' ("run0": relocatable)' if info["relocatable"] else "")
    )
    lines.append("0x60 code:    " + " ".join(f"{w:08x}" for w in info["secondary_hold_words"]))
    lines.append(f"version:      {info['version'] or 'not found'}")
    lines.append(
        "crash kernel: "
        + (
            f"usable (-p) after a {info['endian']}-endian kernel"
            if info["crash_kernel"]
            else f"no: {info['crash_kernel_reason']}"
        )
    )
    return "\n".join(lines)


USAGE = "usage: pykexec inspect KERNEL [--json]"


def main(argv: Sequence[str]) -> int:
    """``pykexec inspect``: a wrong command line is a :class:`UsageError` (one line)."""
    from pathlib import Path

    from pykexec.system.loader import read_kernel

    words = list(argv)
    as_json = "--json" in words
    if "-h" in words or "--help" in words:
        text = f"{USAGE}\n\nDescribe a kernel image: format, entry, segments, crash use."
        print(json.dumps({"action": "help", "usage": text}, indent=2) if as_json else text)
        return 0
    images = [w for w in words if w != "--json"]
    unknown = [w for w in images if w.startswith("-") and w != "-"]
    if unknown:
        raise UsageError("inspect-unknown-option", option=unknown[0], usage=USAGE)
    if len(images) != 1:
        raise UsageError("inspect-images", count=len(images), usage=USAGE)
    info = describe_image(read_kernel(Path(images[0])))
    print(json.dumps(info, indent=2) if as_json else render(info))
    return 0
