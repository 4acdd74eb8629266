# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/install-as-kexec.sh against a fake root: never the host's kexec or databases.

Oracles: dpkg-divert itself (``--root`` keeps it inside the fake root, whose
``var/lib/dpkg/diversions`` it writes) and Debian's update-alternatives, which takes
the commands the script gives Fedora's alternatives (``--altdir``/``--admindir`` in
the fake root). The host's diversions file is compared before and after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykexec import __version__

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools/install-as-kexec.sh"
PROGRAM = "/usr/lib/pykexec/pykexec.pyz"
KEXEC_TOOLS = "#!/bin/sh\necho kexec-tools 2.0.25\n"
HOST_DIVERSIONS = Path("/var/lib/dpkg/diversions")


def _fake_system(root: Path, kexec: str) -> None:
    (root / kexec.lstrip("/")).parent.mkdir(parents=True)
    (root / kexec.lstrip("/")).write_text(KEXEC_TOOLS)
    (root / kexec.lstrip("/")).chmod(0o755)
    zipapp = root / PROGRAM.lstrip("/")
    zipapp.parent.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pykexec.build", "zipapp", str(zipapp)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _script(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert str(root) != "/"
    return subprocess.run(
        ["sh", str(SCRIPT), *args],
        env={**os.environ, **env, "ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _host_diversions() -> bytes:
    return HOST_DIVERSIONS.read_bytes() if HOST_DIVERSIONS.exists() else b""


@pytest.mark.skipif(shutil.which("dpkg-divert") is None, reason="not a dpkg system")
def test_debian_divert_and_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _fake_system(root, "/sbin/kexec")
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    host_before = _host_diversions()

    done = _script(root, "debian", "install", PROGRAM)
    assert done.returncode == 0, done.stderr
    diversions = (root / "var/lib/dpkg/diversions").read_text().splitlines()
    assert diversions == ["/sbin/kexec", "/sbin/kexec.distrib", ":"]  # dpkg's own record
    assert (root / "sbin/kexec.distrib").read_text() == KEXEC_TOOLS
    assert os.readlink(root / "sbin/kexec") == PROGRAM

    done = _script(root, "debian", "remove", PROGRAM)
    assert done.returncode == 0, done.stderr
    assert (root / "var/lib/dpkg/diversions").read_text() == ""
    assert not (root / "sbin/kexec").is_symlink()
    assert (root / "sbin/kexec").read_text() == KEXEC_TOOLS
    assert not (root / "sbin/kexec.distrib").exists()
    assert _host_diversions() == host_before


@pytest.mark.skipif(shutil.which("update-alternatives") is None, reason="no update-alternatives")
def test_fedora_alternatives_and_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _fake_system(root, "/usr/sbin/kexec")
    alternatives = f"update-alternatives --log {tmp_path}/alternatives.log"
    link = root / "usr/sbin/kexec"

    done = _script(root, "fedora", "install", PROGRAM, ALTERNATIVES=alternatives)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == root / PROGRAM.lstrip("/")
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith(f"pykexec {__version__} (kexec-tools ")
    helped = subprocess.run([str(link), "--help"], capture_output=True, text=True)
    assert helped.stdout.startswith("usage: kexec ")
    assert (root / "usr/sbin/kexec.kexec-tools").read_text() == KEXEC_TOOLS

    done = _script(root, "fedora", "remove", PROGRAM, ALTERNATIVES=alternatives)
    assert done.returncode == 0, done.stderr
    assert not link.is_symlink() and link.read_text() == KEXEC_TOOLS
    assert not (root / "usr/sbin/kexec.kexec-tools").exists()
    assert list((root / "etc/alternatives").iterdir()) == []


def test_refuses_a_relative_or_missing_program(tmp_path: Path) -> None:
    assert _script(tmp_path, "debian", "install", "pykexec.pyz").returncode == 2
    missing = _script(tmp_path, "fedora", "install", "/nowhere/pykexec.pyz")
    assert missing.returncode == 1 and "not an executable file" in missing.stderr
    assert _script(tmp_path, "suse", "install", PROGRAM).returncode == 2
