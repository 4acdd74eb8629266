# SPDX-License-Identifier: GPL-2.0-or-later
"""Linters are tests: ruff and mypy --strict, the purity rule, and the test gates themselves."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import oracles

ROOT = Path(__file__).resolve().parent.parent

# -- ruff and mypy ------------------------------------------------------------------


def _run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)


def test_ruff() -> None:
    oracles.require_module("ruff")
    out = _run(sys.executable, "-m", "ruff", "check", "pykexec", "tests", "lab", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    oracles.require_module("ruff")
    out = _run(
        sys.executable, "-m", "ruff", "format", "--check", "pykexec", "tests", "lab", "bench"
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy() -> None:
    oracles.require_module("mypy")
    out = _run(sys.executable, "-m", "mypy", "--strict", "pykexec", "lab", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


# -- the pure core does no I/O -------------------------------------------------------

#: The planning core: computes addresses, bytes and trees, returns values, touches nothing.
PURE = ("abi", "uapi", "core", "commands/report")
#: What a pure module may import from the standard library: data, not the system.
#: (gzip and lzma decompress bytes; their open() is forbidden below like every open();
#: compression.zstd is Python 3.14's zstd decoder.)
PURE_STDLIB = frozenset(
    {
        "__future__", "abc", "bisect", "bz2", "collections", "collections.abc", "compression",
        "compression.zstd", "copy", "errno",
        "dataclasses", "enum", "functools", "gzip", "hashlib", "itertools", "lzma",
        "json", "math", "operator", "re", "struct", "types", "typing", "zlib",
        "pathlib.PurePath", "pathlib.PurePosixPath",
    }
)  # fmt: skip
PURE_PACKAGE = frozenset({"pykexec.errors"})

#: Calls that reach the file system or the outside world, by name or by method.
FORBIDDEN_CALLS = frozenset({"open", "input", "print", "exec", "eval", "__import__", "breakpoint"})
FORBIDDEN_METHODS = frozenset(
    {
        "open", "read_bytes", "read_text", "write_bytes", "write_text", "iterdir", "glob",
        "rglob", "mkdir", "unlink", "rmdir", "touch", "stat", "lstat", "exists", "is_file",
        "is_dir", "is_symlink", "readlink", "listdir", "scandir", "chmod", "fileno",
    }
)  # fmt: skip


def pure_files(root: Path) -> Iterator[Path]:
    for part in PURE:
        base = root / "pykexec" / part
        if base.with_suffix(".py").is_file():
            yield base.with_suffix(".py")
        if base.is_dir():
            yield from sorted(base.rglob("*.py"))


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            package = module.split(".")
            package = package if is_package else package[:-1]
            base = ".".join(package[: len(package) - node.level + 1])
            target = f"{base}.{node.module}" if node.module else base
        else:
            target = node.module or ""
        # "from pykexec import sysinfo" imports the module pykexec.system.sysinfo; pathlib's
        # pure classes are told from Path (which reads files) by name
        if target in ("pykexec", "pathlib"):
            return [f"{target}.{a.name}" for a in node.names]
        return [target]
    return []


def _import_allowed(name: str) -> bool:
    if name in PURE_STDLIB or name in PURE_PACKAGE:
        return True
    dotted = [p.replace("/", ".") for p in PURE]
    return any(name == f"pykexec.{p}" or name.startswith(f"pykexec.{p}.") for p in dotted)


def _type_only(tree: ast.AST) -> set[ast.AST]:
    """The statements under ``if TYPE_CHECKING:``: imported for annotations, never run."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            assert isinstance(node, ast.If)
            out.update(n for stmt in node.body for n in ast.walk(stmt))
    return out


def purity_violations(root: Path) -> list[str]:
    """Each forbidden import or call in the pure modules under ``root``, as ``file:line: what``."""
    found = []
    for path in pure_files(root):
        rel = path.relative_to(root).as_posix()
        module = _module_name(root, path)
        tree = ast.parse(path.read_text(), rel)
        type_only = _type_only(tree)
        for node in ast.walk(tree):
            if node in type_only and isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module, path.name == "__init__.py"):
                if not _import_allowed(name):
                    found.append(f"{rel}:{node.lineno}: imports {name}")
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                    found.append(f"{rel}:{node.lineno}: calls {func.id}()")
                if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_METHODS:
                    found.append(f"{rel}:{node.lineno}: calls .{func.attr}()")
    return found


def test_pure_core_does_no_io() -> None:
    """The planning core imports only data modules and calls nothing that reaches files."""
    assert list(pure_files(ROOT)), "no pure module found: is PURE out of date?"
    assert purity_violations(ROOT) == []


PURE_MODULE = '''"""A pure module."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from pykexec.errors import KexecError
from pykexec.core.memory import Range


def size(data: bytes) -> int:
    return struct.unpack(">I", data[:4])[0]
'''


@pytest.mark.parametrize(
    "snippet,report",
    [
        ("def f() -> bytes:\n    return open('/proc/iomem', 'rb').read()\n", "calls open()"),
        ("import os\n", "imports os"),
        ("from os import path\n", "imports os"),
        ("import pathlib\n", "imports pathlib"),
        ("from pathlib import Path\n", "imports pathlib.Path"),
        ("def f(p):\n    return p.read_bytes()\n", "calls .read_bytes()"),
        ("import gzip\ndef f(p):\n    return gzip.open(p).read()\n", "calls .open()"),
        ("import mmap\n", "imports mmap"),
        ("import ctypes\n", "imports ctypes"),
        ("import subprocess\n", "imports subprocess"),
        ("import socket\n", "imports socket"),
        ("import io\n", "imports io"),
        ("from pykexec.system import sysinfo\n", "imports pykexec.system"),
        ("from pykexec.system.loader import plan_load\n", "imports pykexec.system.loader"),
        ("def f():\n    import pykexec.system.syscalls\n", "imports pykexec.system.syscalls"),
        ("from ...commands import cli\n", "imports pykexec.commands"),
    ],
)
def test_purity_checker_reports(tmp_path: Path, snippet: str, report: str) -> None:
    """The test of the test: a fake pure module that does I/O is reported, line and all."""
    package = tmp_path / "pykexec" / "core" / "devicetree"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (tmp_path / "pykexec" / "core" / "memory.py").write_text(PURE_MODULE)
    (package / "fake.py").write_text(PURE_MODULE + snippet)
    found = purity_violations(tmp_path)
    assert len(found) == 1 and found[0].endswith(f": {report}"), found
    assert found[0].startswith("pykexec/core/devicetree/fake.py:")


def test_purity_checker_names_the_line_and_passes_a_pure_module(tmp_path: Path) -> None:
    core = tmp_path / "pykexec" / "core"
    core.mkdir(parents=True)
    (core / "memory.py").write_text(PURE_MODULE)
    assert purity_violations(tmp_path) == []
    (core / "layout.py").write_text("x = 1\n\nwith open('f') as f:\n    pass\n")
    assert purity_violations(tmp_path) == ["pykexec/core/layout.py:3: calls open()"]
    typing_only = (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pathlib import Path\n"
    )
    (core / "layout.py").write_text(typing_only)
    assert purity_violations(tmp_path) == []
    (core / "layout.py").write_text("from pathlib import PurePosixPath\n")
    assert purity_violations(tmp_path) == []
    (core / "layout.py").write_text(typing_only + "import pathlib\n")
    assert purity_violations(tmp_path) == ["pykexec/core/layout.py:5: imports pathlib"]


# -- every test dependency is declared --------------------------------------------------

#: Top-level module -> the distribution of pyproject's test extra that provides it.
DISTRIBUTION = {"libfdt": "pylibfdt", "elftools": "pyelftools"}
FIRST_PARTY = frozenset({"pykexec", "tests", "lab", "bench", "purgatory_support"})


def _stdlib(name: str) -> bool:
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    if names is not None:
        return name in names
    import importlib.util

    spec = importlib.util.find_spec(name)
    origin = getattr(spec, "origin", None) or ""
    stdlib = sysconfig.get_paths()["stdlib"]
    return origin in ("built-in", "frozen") or (
        origin.startswith(stdlib) and "site-packages" not in origin
    )


def _test_extra() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r"(?ms)^\[project\.optional-dependencies\].*?^test\s*=\s*\[(.*?)\]", text)
    assert match, "pyproject.toml has no [project.optional-dependencies] test extra"
    return {
        re.split(r"[<>=!~\[ ;]", item)[0].lower() for item in re.findall(r'"([^"]+)"', match[1])
    }


def test_every_test_import_is_in_the_test_extra() -> None:
    """pip install -e '.[test]' installs what tests/, lab/ and bench/ import."""
    declared = _test_extra()
    undeclared = set()
    for folder in ("tests", "lab", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names}:
                    if top in FIRST_PARTY or _stdlib(top):
                        continue
                    if DISTRIBUTION.get(top, top).lower() not in declared:
                        undeclared.add(f"{path.relative_to(ROOT)}: {top}")
    assert not undeclared, sorted(undeclared)


# -- the gates ------------------------------------------------------------------------


def test_missing_oracle_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install device-tree-compiler"):
        oracles.require_tool("dtc-not-installed-here")
    with pytest.raises(pytest.skip.Exception, match="no_such_oracle_module"):
        oracles.require_module("no_such_oracle_module")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_oracle_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="qemu-user"):
        oracles.require_tool("qemu-ppc64le-not-installed-here")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        oracles.require_module("no_such_oracle_module")


def test_present_oracle_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert oracles.require_module("ast") is ast
    assert Path(oracles.require_tool("sh")).name == "sh"


def _collect(*args: str, **env: str) -> list[str]:
    """Node ids pytest collects from tests/e2e with ``args``, in a clean environment."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", oracles.LAB_ENV)}
    out = _run(
        sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
        "tests/e2e", *args, env={**clean, **env},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_plain_pytest_deselects_the_lab() -> None:
    """Without PYKEXEC_LAB=1 or -m lab, no guest-booting test is collected."""
    plain = _collect()
    lab = _collect("-m", "lab")
    assert plain and lab
    assert not set(plain) & set(lab)
    assert any("test_pykexec.py::test_pykexec_kdump" in t for t in lab)
    assert any("test_file_load.py" in t for t in lab)  # the one that builds a kernel
    asked = _collect(**{oracles.LAB_ENV: "1"})
    assert set(asked) == set(plain) | set(lab)


@pytest.mark.parametrize("ci,outcome", [("true", "1 failed"), ("", "1 skipped")])
def test_ci_turns_any_skip_into_a_failure(tmp_path: Path, ci: str, outcome: str) -> None:
    """tests/conftest.py's backstop: under CI, a bare pytest.skip() fails too."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n\ndef test_x() -> None:\n    pytest.skip('no dtc')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(CI=ci, PYTHONPATH=str(ROOT))
    out = _run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-c", str(tmp_path / "pytest.ini"), str(tmp_path), env=env,
    )  # fmt: skip
    assert outcome in out.stdout, out.stdout + out.stderr


# -- no import cycles ------------------------------------------------------------------


def _module_imports(root: Path) -> dict[str, set[str]]:
    """pykexec module -> the pykexec modules it imports anywhere, inside functions too
    (a deferred import still runs; only ``if TYPE_CHECKING`` ones never do);
    ``from P import m`` counts P and P.m."""
    files = {".".join(p.relative_to(root).with_suffix("").parts): p
             for p in (root / "pykexec").rglob("*.py")}  # fmt: skip
    names = {n.removesuffix(".__init__") for n in files}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text())
        type_only = _type_only(tree)
        for node in ast.walk(tree):
            if node in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module in names:
                deps.add(node.module)
                deps |= {f"{node.module}.{a.name}" for a in node.names} & names
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names} & names
        graph[name.removesuffix(".__init__")] = deps
    return graph


def import_cycles(root: Path) -> list[list[str]]:
    graph, cycles = _module_imports(root), []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles(ROOT) == []


def test_import_cycle_checker_sees_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pykexec"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pykexec.b import x\n")
    (package / "b.py").write_text("from pykexec import a\nx = 1\n")
    assert import_cycles(tmp_path) == [["pykexec.a", "pykexec.b", "pykexec.a"]]


def test_import_cycle_checker_sees_a_function_local_import(tmp_path: Path) -> None:
    package = tmp_path / "pykexec"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pykexec.b import x\n    return x\n")
    (package / "b.py").write_text("from pykexec import a\nx = 1\n")
    (package / "c.py").write_text(
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from pykexec import a\n"
    )
    assert import_cycles(tmp_path) == [["pykexec.a", "pykexec.b", "pykexec.a"]]


# -- licence --------------------------------------------------------------------------

SPDX = "SPDX-License-Identifier: GPL-2.0-or-later"
# Data and prose carry no header: fixtures (captured guests, goldens), JSON, Markdown.
_NO_HEADER = re.compile(
    r"^(tests/fixtures/|.*\.(json|md)$|\.gitignore$|LICENSE$|debian/(changelog|clean|compat|source/format|.*\.(install|manpages|links|docs|lintian-overrides))$)"
)


def test_every_source_file_names_its_licence() -> None:
    """Every tracked source file carries the SPDX line within its first three lines."""
    files = _run("git", "ls-files").stdout.split()
    missing = [
        f
        for f in files
        if not _NO_HEADER.match(f)
        and SPDX not in "".join((ROOT / f).read_text(errors="replace").splitlines(True)[:3])
    ]
    assert missing == []
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()


# -- the start-up rule ------------------------------------------------------------------

QUICK_ACTIONS = (
    ["-S", "--sysroot", "tests/fixtures/snapshots/pseries-4cpu"],
    ["-S", "-l", "--sysroot", "tests/fixtures/snapshots/pseries-4cpu"],
    ["-u", "--dry-run"],
    ["-p", "-u", "--dry-run"],
    ["-e", "--dry-run"],
    ["--print-ckr-size", "--sysroot", "tests/fixtures/snapshots/pseries-4cpu-crash"],
)


@pytest.mark.parametrize("argv", QUICK_ACTIONS, ids=" ".join)
def test_quick_actions_import_only_the_fast_path(argv: list[str]) -> None:
    """-e, -S, -u and --print-ckr-size import only pykexec.system.control.FAST_PATH of pykexec
    (the start-up rule in pykexec/system/control.py's docstring), and no dataclasses, enum,
    pathlib, typing, or os (pykexec.system.fileio: the quick actions call posix)."""
    from pykexec.system.control import FAST_PATH

    probe = (
        "import sys\nsys.path.insert(0, '.')\nbefore = set(sys.modules)\n"
        f"from pykexec.commands.cli import main\nmain({argv!r})\n"
        "print(' '.join(sorted(m for m in set(sys.modules) - before"
        " if m.split('.')[0] == 'pykexec' or m in SLOW)))"
    )
    slow = "SLOW = ('dataclasses', 'enum', 'pathlib', 'os', 'posixpath', 'typing')\n"
    # -I -S: as the zipapp and the package's launcher start (without site, which imports os)
    done = _run(sys.executable, "-I", "-S", "-c", slow + probe)
    imported = set(done.stdout.split("\n")[-2].split())
    assert "pykexec.commands.cli" in imported
    assert imported - FAST_PATH == set()


def test_a_live_unload_imports_only_the_fast_path(tmp_path: Path) -> None:
    """-u for real (the kernel calls stubbed, the system's paths under tmp_path) removes
    the record and imports no more than FAST_PATH of pykexec, and no dataclasses, enum,
    pathlib, typing or json (pykexec.system.record imports them)."""
    from pykexec.system.control import FAST_PATH

    record = tmp_path / "run/pykexec/exec.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    probe = (
        "import os, sys\nfrom pykexec.system import syscalls, sysinfo\n"
        "syscalls.kexec_load = syscalls.kexec_file_load = lambda *a: None\n"
        f"sysinfo.SystemView.path = lambda self, rel: os.path.join({str(tmp_path)!r}, rel)\n"
        "before = set(sys.modules)\nfrom pykexec.commands.cli import main\n"
        "print(main(['-u']))\nprint(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = _run(sys.executable, "-c", probe)
    rc, imported = done.stdout.splitlines()[-2:]
    assert rc == "0" and not record.exists(), done.stdout + done.stderr
    ours = {m for m in imported.split() if m.split(".")[0] == "pykexec"}
    assert ours - FAST_PATH == set()
    assert not set(imported.split()) & {"dataclasses", "enum", "pathlib", "typing", "json"}


def test_the_syscalls_of_the_quick_actions_import_ctypes_only() -> None:
    """-u (and -e with a kernel loaded) import pykexec.system.syscalls: ctypes and what it
    needs, no typing, re, collections, enum or dataclasses (the start-up rule)."""
    probe = (
        "import sys\nbefore = set(sys.modules)\nimport pykexec.system.syscalls\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = _run(sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, '.')\n{probe}")
    imported = set(done.stdout.split())
    assert "ctypes" in imported
    assert not imported & {"typing", "re", "collections", "enum", "dataclasses", "pathlib"}


# -- the layers ---------------------------------------------------------------------------

#: What each layer may import of pykexec besides itself (pykexec/core/__init__.py and
#: pykexec/system/__init__.py say why): calls go down, never back up.
LAYER_MAY_IMPORT = {
    "core": ("pykexec.core", "pykexec.abi", "pykexec.uapi", "pykexec.errors"),
    "system": ("pykexec.system", "pykexec.core", "pykexec.abi", "pykexec.uapi",
               "pykexec.errors"),
}  # fmt: skip


def layer_violations(root: Path) -> list[str]:
    """Each import of a pykexec module from a layer that may not import it, anywhere in
    the module (inside functions too; TYPE_CHECKING imports aside)."""
    found = []
    graph = _module_imports(root)
    for module, deps in sorted(graph.items()):
        layer = module.split(".")[1] if module.count(".") else ""
        allowed = LAYER_MAY_IMPORT.get(layer)
        if allowed is None:
            continue
        for dep in sorted(deps):
            if dep != "pykexec" and not any(dep == a or dep.startswith(a + ".") for a in allowed):
                found.append(f"{module} imports {dep}")
    return found


def test_layers_import_only_downwards() -> None:
    assert sorted(p.name for p in (ROOT / "pykexec").iterdir() if p.is_dir() and
                  p.name != "__pycache__") == ["commands", "core", "system"]  # fmt: skip
    assert layer_violations(ROOT) == []


def test_layer_checker_sees_a_call_back_up(tmp_path: Path) -> None:
    for layer in ("core", "system", "commands"):
        (tmp_path / "pykexec" / layer).mkdir(parents=True)
        (tmp_path / "pykexec" / layer / "__init__.py").write_text("")
    (tmp_path / "pykexec" / "__init__.py").write_text("")
    (tmp_path / "pykexec" / "core" / "a.py").write_text(
        "def f():\n    from pykexec.system import b\n    return b\n"
    )
    (tmp_path / "pykexec" / "system" / "b.py").write_text("from pykexec.commands import c\n")
    (tmp_path / "pykexec" / "commands" / "c.py").write_text("from pykexec.core import a\n")
    assert layer_violations(tmp_path) == [
        "pykexec.core.a imports pykexec.system",
        "pykexec.core.a imports pykexec.system.b",
        "pykexec.system.b imports pykexec.commands",
        "pykexec.system.b imports pykexec.commands.c",
    ]


#: STYLE.md: "Past ~600 lines, split".
MAX_MODULE_LINES = 600


def test_no_module_over_600_lines() -> None:
    """Every tracked module (product, lab, tests, bench) is at most 600 lines long."""
    tracked = _run("git", "ls-files", "pykexec/*.py", "lab/*.py", "tests/*.py", "bench/*.py")
    files = tracked.stdout.split()
    long = {f for f in files if len((ROOT / f).read_text().splitlines()) > MAX_MODULE_LINES}
    assert "lab/__main__.py" in files and long == set()


# -- one owner of the device tree's raw properties -----------------------------------

#: The package that owns device-tree properties as raw bytes; elsewhere, Node's methods.
DEVICETREE = "pykexec/core/devicetree/"


def raw_props_access(root: Path) -> list[str]:
    """Each ``.props`` attribute access in pykexec outside :data:`DEVICETREE`, as
    ``file:line``."""
    found = []
    for path in sorted((root / "pykexec").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(DEVICETREE):
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Attribute) and node.attr == "props":
                found.append(f"{rel}:{node.lineno}")
    return found


def test_no_raw_props_outside_devicetree() -> None:
    assert raw_props_access(ROOT) == []


def test_raw_props_checker_sees_an_access(tmp_path: Path) -> None:
    for rel in ("pykexec/core/devicetree/tree.py", "pykexec/system/x.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("def f(node):\n    return node.props['a']\n")
    (tmp_path / "pykexec/system/y.py").write_text(
        "from pykexec.core.devicetree.props import encode_text\nprops = 1\n"
    )
    assert raw_props_access(tmp_path) == ["pykexec/system/x.py:2"]
