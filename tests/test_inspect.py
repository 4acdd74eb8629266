# SPDX-License-Identifier: GPL-2.0-or-later
"""``pykexec inspect``: what pykexec knows about an image."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pykexec.commands.cli import main
from tests.kernels import make_vmlinux
from tests.typed import cli_error


def inspect_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("endian", ["little", "big"])
def test_relocatable_kernel(
    tmp_path: Path, endian: str, capsys: pytest.CaptureFixture[str]
) -> None:
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(endian, size=0x40000, memsz=0x80000))
    info = inspect_json(k, capsys)
    assert info["endian"] == endian and info["relocatable"] is True
    assert info["run_at_load"] == 0x72756E30 and info["crash_kernel"] is True
    assert info["memsz"] == 0x80000 and info["entry"] == 0xC000000000000000
    assert info["version"] == "Linux version 6.1.0-test (synthetic) #1 SMP"
    assert info["secondary_hold_words"][0] == 0x7C7F1B78  # type: ignore[index]
    assert main(["inspect", str(k)]) == 0
    text = capsys.readouterr().out
    assert '"run0": relocatable' in text and "usable (-p)" in text


def test_fixed_kernel_says_why_not_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = tmp_path / "vmlinux.gz"
    k.write_bytes(gzip.compress(make_vmlinux("big", run_at_load=0)))
    info = inspect_json(k, capsys)
    assert info["format"] == "elf64-ppc64 (gzip)"
    assert info["crash_kernel"] is False
    assert "not relocatable" in str(info["crash_kernel_reason"])


def test_not_a_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = tmp_path / "notes.txt"
    k.write_text("hello")
    assert main(["inspect", str(k), "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["name"]) == ("ImageError", "not-elf", str(k))
