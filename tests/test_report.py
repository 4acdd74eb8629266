# SPDX-License-Identifier: GPL-2.0-or-later
"""The --dry-run picture and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from pykexec.commands.cli import main
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot


def test_picture_shows_segments_regions_and_legend(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x100000))
    root = write_sysroot(tmp_path / "root", pseries(lmbs=0))
    assert main(["-p", str(k), "--sysroot", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    bars = [line for line in out.splitlines() if line.startswith("  |")]
    assert len(bars) == 2 and all(len(b) == 64 + 4 for b in bars)
    whole, zoom = bars
    assert "#" in whole and "c" in whole and "P" in whole
    assert zoom.index("P") < zoom.index("D")  # purgatory bottom-up, tree top-down
    assert "crash region" in out and "elfcorehdr" in out
    assert main(["-p", str(k), "--sysroot", str(root), "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["kexec_load"]
    assert data["machine"]["crash"] == [512 << 20, 768 << 20]
    assert {s["kind"] for s in data["segments"]} >= {"kernel", "backup", "elfcorehdr"}
