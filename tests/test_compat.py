# SPDX-License-Identifier: GPL-2.0-or-later
"""What older systems meet: a zstd-compressed vmlinux (no zstd in the standard library
before Python 3.14) and the zipapp started by a python3 older than 3.9 (SLES 15, RHEL 8).

Oracles: the zstd program compresses and decompresses; the old interpreters are the
ones on this machine (pyenv's, /usr/bin's); the ast module parses the zipapp's entry
with an old grammar where no old interpreter is found.
"""

from __future__ import annotations

import ast
import glob
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pykexec.build import _ZIPAPP_MAIN, ZIPAPP_SHEBANG, build_zipapp
from pykexec.commands.cli import main
from pykexec.core.formats.elf import parse_kernel
from pykexec.errors import ImageError
from tests import oracles
from tests.kernels import make_vmlinux
from tests.typed import cli_error, raises

ROOT = Path(__file__).resolve().parent.parent


def _zstd(data: bytes, *flags: str) -> bytes:
    tool = shutil.which("zstd")
    if tool is None:
        oracles.missing("the zstd program", oracles.install_hint("zstd"))
    done = subprocess.run([tool, "-q", "-c", *flags], input=data, capture_output=True, check=True)
    return done.stdout


def _has_zstd_module() -> bool:
    """Python 3.14's compression.zstd (by name: older Pythons have no such module)."""
    import importlib

    try:
        importlib.import_module("compression.zstd")
    except ImportError:
        return False
    return True


def test_zstd_kernel_is_refused_in_one_line_naming_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = make_vmlinux(size=0x40000)
    path = tmp_path / "vmlinux.zst"
    path.write_bytes(_zstd(plain))
    if _has_zstd_module():  # Python 3.14: it loads like the plain file
        assert parse_kernel(path.read_bytes()).entry == parse_kernel(plain).entry
        return
    with raises(ImageError, "no-zstd"):
        parse_kernel(path.read_bytes())
    assert main(["inspect", str(path), "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"]) == ("ImageError", "no-zstd")


class _CliZstd:
    """compression.zstd.ZstdDecompressor's interface over the zstd program (an
    independent decoder), for the streaming path of Pythons that have the module."""

    def __init__(self) -> None:
        self.eof = False
        self._out: bytes | None = None

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._out is None:
            self._out = _zstd(data, "-d")
        chunk, self._out = self._out[:max_length], self._out[max_length:]
        self.eof = not self._out
        return chunk


def test_zstd_kernel_streams_through_compression_zstd(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = make_vmlinux(size=0x40000)
    package = types.ModuleType("compression")
    module = types.ModuleType("compression.zstd")
    module.ZstdDecompressor = _CliZstd  # type: ignore[attr-defined]
    module.ZstdError = ValueError  # type: ignore[attr-defined]
    package.zstd = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "compression", package)
    monkeypatch.setitem(sys.modules, "compression.zstd", module)
    image = parse_kernel(_zstd(plain))
    assert (image.entry, image.compression) == (parse_kernel(plain).entry, "zstd")


def _old_pythons() -> list[str]:
    found = glob.glob("/root/.pyenv/versions/[23].*/bin/python[23]")
    found += glob.glob("/usr/bin/python3.[5678]") + glob.glob("/usr/local/bin/python3.[5678]")
    old = []
    for exe in sorted(set(found)):
        probe = subprocess.run([exe, "-c", "import sys; print(sys.version_info < (3, 9))"],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if probe.stdout.strip() == "True":
            old.append(exe)
    return old


@pytest.mark.parametrize(
    "source",
    [_ZIPAPP_MAIN, (ROOT / "pykexec" / "__main__.py").read_text(),
     ZIPAPP_SHEBANG.partition(" -ISc")[2], (ROOT / "pykexec" / "__init__.py").read_text()],
    ids=["zip-main", "package-main", "shebang-program", "package-init"],
)  # fmt: skip
def test_zipapp_entries_parse_with_an_old_grammar(source: str) -> None:
    """Where no old interpreter is installed, the entries (python3 FILE's __main__.py; the
    #! line's program, pykexec/__init__.py and pykexec/__main__.py it imports) still parse
    as Python 3.4 does (ast's oldest feature_version here) and hold no f-string or
    annotation."""
    oldest = (3, 4) if sys.version_info < (3, 13) else (3, 7)
    tree = ast.parse(source, feature_version=oldest)
    kinds = {type(node).__name__ for node in ast.walk(tree)}
    assert not kinds & {"JoinedStr", "AnnAssign", "NamedExpr"}


def _hashbang(app: Path) -> list[str]:
    """What the kernel runs for ``app`` (fs/binfmt_script.c): the interpreter, the rest
    of the #! line as one argument, the file's path; here under this python3."""
    line = app.read_bytes().split(b"\n", 1)[0].decode()
    interpreter, _, argument = line[2:].partition(" ")
    assert interpreter == "/usr/bin/python3" and len(line) + 1 < 128  # BINPRM_BUF_SIZE < 5.1
    return [sys.executable, argument, str(app)]


def test_zipapp_started_by_its_hashbang_skips_runpy(tmp_path: Path) -> None:
    """Run as a program, the zipapp imports no runpy (python3 FILE does, for a zip) and no
    site; it is argv[0] (so a link named kexec is kexec), and the current directory is
    not on its sys.path."""
    app = build_zipapp(tmp_path / "pykexec.pyz")
    (tmp_path / "kexec").symlink_to(app)
    shadow = "raise SystemExit('the current directory was searched')\n"
    (tmp_path / "__future__.py").write_text(shadow)  # cli's first import off the package
    argv = _hashbang(tmp_path / "kexec")
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:], "--version"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "pykexec.commands.cli" in imported and not imported & {"runpy", "site"}
    done = subprocess.run([*argv, "-x"], cwd=tmp_path, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode != 0 and done.stderr.startswith("kexec: "), done.stderr


def test_zipapp_under_an_old_python_says_so_in_one_line(tmp_path: Path) -> None:
    """Every interpreter older than 3.9 found here (pyenv's 2.7, 3.6-3.8 on the lab's
    build host): exit 1, one line on stderr, nothing on stdout; none found: nothing to run."""
    app = build_zipapp(tmp_path / "pykexec.pyz")
    for exe in _old_pythons():
        done = subprocess.run([exe, str(app), "-S"], capture_output=True, text=True, check=False)
        assert (done.returncode, done.stdout) == (1, ""), (exe, done.stderr)
        assert done.stderr.count("\n") == 1 and "Python 3.9" in done.stderr, (exe, done.stderr)
