# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/install-as-kexec.sh on scratch systems: never the host's kexec or databases.

Debian: a scratch Debian system (tests/test_deb.py's: overlays of the host's /usr and
/etc in a private mount namespace, its own dpkg database, chroot) with the real
kexec-tools packages of bookworm and trixie; oracles are dpkg's (``dpkg-divert --list``,
``dpkg --verify``, the packages' file lists) and the md5 of each package's kexec.
Fedora: Debian's update-alternatives, which takes the commands the script gives
Fedora's alternatives (``--altdir``/``--admindir`` in a fake root).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykexec import __version__
from tests.test_deb import LAYOUTS, Scratch, kexec_tools_debs

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


LOCAL = (
    "local diversion of /sbin/kexec to /sbin/kexec.kexec-tools-sbin",
    "local diversion of /usr/sbin/kexec to /usr/sbin/kexec.kexec-tools",
)


def _zipapp_md5(s: Scratch) -> str:
    """The zipapp at PROGRAM (in the overlay's upper /usr), the script in /tmp."""
    zipapp = s.base / "usr.up" / PROGRAM.removeprefix("/usr/")
    zipapp.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pykexec.build", "zipapp", str(zipapp)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    shutil.copy2(SCRIPT, s.root / "tmp/install-as-kexec.sh")
    return hashlib.md5(zipapp.read_bytes()).hexdigest()


def _check(s: Scratch, md5: str | None, diversions: tuple[str, ...], step: str) -> None:
    """Exactly one kexec (the file with ``md5``, none if None), these diversions, every
    package's files as dpkg expects them, and no program file no package or link explains."""
    r = s.report()
    assert r["sbin_is_link"] is s.merged, step
    real = {p for p in r["resolved"].values() if p}
    assert [r["md5"][p] for p in real] == ([md5] if md5 else []), (step, r["resolved"])
    assert r["diversions"] == sorted(diversions), step
    assert (r["verify"], r["audit"]) == ("", ""), step
    links = ["/usr/sbin/kexec"] + ([] if s.merged else ["/sbin/kexec"]) if diversions else []
    assert r["programs"] == sorted({*r["owned"], *links}), step


@LAYOUTS
def test_debian_over_kexec_tools_upgrades(tmp_path: Path, merged: bool) -> None:
    """The script on a scratch Debian system with the real kexec-tools packages: install
    over bookworm's, kexec-tools upgraded to trixie's (which moves kexec to /usr/sbin),
    remove, install again, kexec-tools removed, remove: one kexec and no stale diversion."""
    bookworm, trixie = kexec_tools_debs(tmp_path / "probe")
    host_before = _host_diversions()
    s = Scratch(tmp_path / "sys", merged)
    zipapp = _zipapp_md5(s)
    script = ["chroot", s.root, "sh", "/tmp/install-as-kexec.sh", "debian"]
    steps = [
        (
            "install kexec-tools (bookworm)",
            lambda: s.install(bookworm.path),
            bookworm.kexec_md5,
            (),
        ),
        ("script install", lambda: s.run(*script, "install", PROGRAM), zipapp, LOCAL),
        ("upgrade kexec-tools to trixie's", lambda: s.install(trixie.path), zipapp, LOCAL),
        ("script remove", lambda: s.run(*script, "remove", PROGRAM), trixie.kexec_md5, ()),
        ("script install again", lambda: s.run(*script, "install", PROGRAM), zipapp, LOCAL),
        ("script install once more", lambda: s.run(*script, "install", PROGRAM), zipapp, LOCAL),
        ("remove kexec-tools", lambda: s.dpkg("-P", "kexec-tools"), zipapp, LOCAL),
        ("install kexec-tools (bookworm)", lambda: s.install(bookworm.path), zipapp, LOCAL),
        ("script remove", lambda: s.run(*script, "remove", PROGRAM), bookworm.kexec_md5, ()),
    ]
    for step, action, md5, diversions in steps:
        action()
        _check(s, md5, diversions, step)
    version = s.run("chroot", s.root, "/usr/sbin/kexec", "--version", check=False)
    assert version.stdout == ""  # kexec-tools' (ppc64el) is back: not a program of this host
    assert _host_diversions() == host_before


def test_debian_remove_undoes_the_earlier_scripts_diversion(tmp_path: Path) -> None:
    """Before this version, install made one local diversion, /sbin/kexec to kexec.distrib."""
    bookworm, _ = kexec_tools_debs(tmp_path / "probe")
    s = Scratch(tmp_path / "sys", merged=True)
    _zipapp_md5(s)
    s.install(bookworm.path)
    s.run("chroot", s.root, "dpkg-divert", "--local", "--rename", "--divert",
          "/sbin/kexec.distrib", "--add", "/sbin/kexec")  # fmt: skip
    s.run("chroot", s.root, "ln", "-sfn", PROGRAM, "/sbin/kexec")
    s.run("chroot", s.root, "sh", "/tmp/install-as-kexec.sh", "debian", "remove", PROGRAM)
    _check(s, bookworm.kexec_md5, (), "remove after the earlier script's install")


def test_debian_refuses_a_file_no_package_lists(tmp_path: Path) -> None:
    kexec_tools_debs(tmp_path / "probe")
    s = Scratch(tmp_path / "sys", merged=True)
    _zipapp_md5(s)
    s.run("chroot", s.root, "cp", "/bin/true", "/usr/sbin/kexec")
    done = s.run("chroot", s.root, "sh", "/tmp/install-as-kexec.sh", "debian", "install",
                 PROGRAM, check=False)  # fmt: skip
    assert done.returncode == 1 and "no package lists" in done.stderr
    assert not (s.base / "usr.up/sbin/kexec").is_symlink()


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
