# SPDX-License-Identifier: GPL-2.0-or-later
"""Drive GNU as and objdump for powerpc64 (Debian binutils-powerpc64{,le}-linux-gnu)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile

from pykexec.abi import Endian

TRIPLET = {"little": "powerpc64le-linux-gnu", "big": "powerpc64-linux-gnu"}
AS_FLAGS = {"little": ["-a64", "-mlittle"], "big": ["-a64", "-mbig"]}


def tool(endian: Endian, name: str) -> str | None:
    return shutil.which(f"{TRIPLET[endian]}-{name}")


def gas_text(endian: Endian, source: str, cpu: str = "power8") -> bytes:
    """Assemble ``source`` with ``as -m<cpu>`` and return the bytes of .text."""
    gas = tool(endian, "as")
    assert gas is not None
    with tempfile.TemporaryDirectory() as tmp:
        src, obj = Path(tmp, "t.s"), Path(tmp, "t.o")
        src.write_text(source)
        done = subprocess.run([gas, f"-m{cpu}", *AS_FLAGS[endian], "-o", str(obj), str(src)],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, f"{gas} failed:\n{done.stderr}"
        elf = ELFFile(io.BytesIO(obj.read_bytes()))
        text = elf.get_section_by_name(".text")
        assert text is not None
        assert elf.get_section_by_name(".rela.text") is None, "unexpected relocations"
        return bytes(text.data())


_LINE = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} ){4})\s*(.*?)\s*$")


def objdump_binary(endian: Endian, code: bytes, *, raw: bool) -> dict[int, str]:
    """``objdump -D -b binary`` of ``code``: offset -> disassembly text (symbols stripped)."""
    objdump = tool("little", "objdump") or tool("big", "objdump")
    assert objdump is not None
    flag = "-EL" if endian == "little" else "-EB"
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        cmd = [objdump, "-D", "-b", "binary", "-m", "powerpc:common64", flag, "-z"]
        if raw:
            cmd += ["-M", "raw"]
        out = subprocess.run([*cmd, f.name], check=True, capture_output=True, text=True).stdout
    result: dict[int, str] = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            text = re.sub(r"\s*<[^>]*>", "", m.group(3))
            result[int(m.group(1), 16)] = " ".join(text.split())
    return result


def normalise(text: str) -> str:
    """Collapse whitespace so our text and objdump's compare equal."""
    return " ".join(text.split())
