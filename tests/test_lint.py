"""Linters are tests: ruff and mypy --strict over the package, and the purity rule."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ("memory", "layout", "machine", "formats", "devicetree", "crash", "purgatory", "arch")
IMPURE_MODULES = {"subprocess", "ctypes", "pykexec.syscalls", "pykexec.loader", "socket"}


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    out = _run("ruff", "check", "pykexec", "tests", "lab", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    out = _run("ruff", "format", "--check", "pykexec", "tests", "lab", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy() -> None:
    pytest.importorskip("mypy")
    out = _run(sys.executable, "-m", "mypy", "--strict", "pykexec", "lab", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


def test_pure_core_does_no_io() -> None:
    """The planning core imports nothing that performs syscalls or runs programs."""
    offenders = []
    for part in PURE:
        base = ROOT / "pykexec" / part
        files = [base.with_suffix(".py")] if base.with_suffix(".py").exists() else []
        files += sorted(base.rglob("*.py")) if base.is_dir() else []
        for path in files:
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}" for n in names if n in IMPURE_MODULES
                ]
    assert not offenders, offenders
