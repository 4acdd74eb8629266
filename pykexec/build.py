# SPDX-License-Identifier: GPL-2.0-or-later
"""Packaging with the standard library only: the PEP 517/660 build backend and the zipapp.

pyproject.toml names this module as its build backend (``backend-path = ["."]``), so
``pip install`` of a checkout needs nothing from a package index: :func:`build_wheel`,
:func:`build_sdist` and :func:`build_editable` (a ``.pth`` file pointing at the
checkout) write the archives with :mod:`zipfile` and :mod:`tarfile`.  The project's
metadata is read from pyproject.toml's ``[project]`` table by :func:`read_project`, a
reader for the TOML subset that file uses (``tomllib`` arrived in Python 3.11).

``python3 -m pykexec.build zipapp OUT [--compiled]`` writes the single-file form: a
zipapp of the package's sources (plain ``.py``, so any Python 3.9+ runs it; with
``--compiled`` also ``.pyc`` files for the building Python, which then starts faster)
whose ``__main__`` is the command line; named or linked ``kexec`` it behaves as kexec
(see :mod:`pykexec.commands.cli`).

Archive formats: the wheel layout, ``RECORD`` and ``entry_points.txt`` follow the
PyPA "Binary distribution format" and "Entry points" specifications, ``METADATA`` the
"Core metadata" specification 2.1, the sdist the "Source distribution format". The
sdist holds the whole tree but what its .gitignore files ignore (tests, tools, lab,
debian/ ...) and is reproducible: the same tree gives the same bytes (see
:func:`_write_sdist`).
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import gzip
import hashlib
import io
import os
import re
import sys
import tarfile
import time
import zipapp
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykexec.errors import BuildError as BuildError  # re-exported: its old home

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pykexec"
WHEEL_TAG = "py3-none-any"
# Files installed outside site-packages: (source in the tree, path under the prefix).
DATA_FILES = (
    ("doc/pykexec.8", "share/man/man8/pykexec.8"),
    ("completion/pykexec", "share/bash-completion/completions/pykexec"),
)
# What an sdist holds besides the package: enough to build the wheel and the Debian package
# from it, and to test it (files the tree's .gitignore files ignore are left out).
SDIST_EXTRA = (
    "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", ".gitignore", ".ci",
    "doc", "completion", "tests", "tools", "lab", "bench", "debian",
)  # fmt: skip
# 1980-01-01, the earliest time a zip entry can carry, unless SOURCE_DATE_EPOCH is set.
_EPOCH_DEFAULT = 315532800
# The zipapp's #! line: python3 isolated (-I: no environment, no user site; -S: no site,
# pykexec needs the standard library only) running a one-line program (-c) that puts the
# file itself first on sys.path (in place of the current directory where Python < 3.11
# puts it there), makes it argv[0] and imports pykexec.__main__ (which checks the Python
# version first): the kernel passes the line as one argument, Python reads "-ISc" and
# the program after it.  Started so, the zipapp skips runpy, which running a zip file
# (python3 FILE) imports: a third of a quick action's start-up (bench/README.md).  Below
# the 128 bytes kernels before 5.1 read of a #! line (BINPRM_BUF_SIZE).
ZIPAPP_SHEBANG = (
    "/usr/bin/python3 -IScimport sys;a=sys.argv;p=sys.path;p[:p[0]=='']=a[1:2];del a[0];"
    "import pykexec.__main__"
)


# ---- pyproject.toml -------------------------------------------------------------------------


def _toml_value(text: str) -> Any:
    """One value of the subset: a basic string, an array of them, an inline table."""
    text = text.strip()
    if text.startswith("{"):
        table: dict[str, Any] = {}
        for item in re.findall(r'(\w[\w-]*)\s*=\s*("(?:[^"\\]|\\.)*")', text):
            table[item[0]] = ast.literal_eval(item[1])
        return table
    if text in ("true", "false"):
        return text == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise BuildError("toml-subset", text=text) from None


def read_project(path: Path) -> dict[str, Any]:
    """The ``[project]`` table and its sub-tables (``project.scripts``, ...)."""
    project: dict[str, Any] = {}
    table: dict[str, Any] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw if pending else raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending and line.startswith("["):
            name = line.strip("[]").strip()
            table = None
            if name == "project":
                table = project
            elif name.startswith("project."):
                table = project.setdefault(name[len("project.") :], {})
            continue
        if table is None:
            continue
        pending += re.sub(r"\s#[^\"]*$", "", line) + " "
        if pending.count("[") > pending.count("]") or pending.count("{") > pending.count("}"):
            continue
        key, _, value = pending.partition("=")
        table[key.strip().strip('"')] = _toml_value(value)
        pending = ""
    return project


# ---- archive contents -------------------------------------------------------------------------


def _epoch() -> int:
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", _EPOCH_DEFAULT)), _EPOCH_DEFAULT)


def package_files(root: Path = ROOT) -> list[Path]:
    """The package's source files, relative to ``root``, sorted (no caches)."""
    files = [
        p.relative_to(root)
        for p in (root / PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    ]
    return sorted(files)


def _dist(project: dict[str, Any]) -> str:
    return f"{project['name']}-{project['version']}"


def metadata(project: dict[str, Any], root: Path = ROOT) -> str:
    """Core metadata 2.1 (``METADATA`` in a wheel, ``PKG-INFO`` in an sdist)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '')}",
    ]
    if "license" in project:
        lines.append(f"License: {project['license'].get('text', '')}")
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    body = ""
    if "readme" in project:
        lines.append("Description-Content-Type: text/markdown")
        body = "\n" + (root / project["readme"]).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n" + body


def entry_points(project: dict[str, Any]) -> str:
    """``entry_points.txt``: the console scripts (``pykexec``; no ``kexec``: see pyproject)."""
    scripts = project.get("scripts", {})
    return "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())


class _Wheel:
    """A wheel being written: every file is hashed into ``RECORD``, written last."""

    def __init__(self, path: Path, dist_info: str) -> None:
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
        self.dist_info = dist_info
        self.records: list[str] = []
        self.date = time.gmtime(_epoch())[:6]

    def add(self, name: str, data: bytes, mode: int = 0o644) -> None:
        info = zipfile.ZipInfo(name, date_time=self.date)
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        self.records.append(f"{name},sha256={digest.decode()},{len(data)}")

    def close(self) -> None:
        record = f"{self.dist_info}/RECORD"
        text = "\n".join([*self.records, f"{record},,"]) + "\n"
        info = zipfile.ZipInfo(record, date_time=self.date)
        info.external_attr = (0o100644) << 16
        self.zip.writestr(info, text, zipfile.ZIP_DEFLATED)
        self.zip.close()


def _write_wheel(directory: str, editable: bool, root: Path = ROOT) -> str:
    project = read_project(root / "pyproject.toml")
    dist = _dist(project)
    dist_info = f"{dist}.dist-info"
    name = f"{dist}-{WHEEL_TAG}.whl"
    wheel = _Wheel(Path(directory) / name, dist_info)
    if editable:
        wheel.add(f"__editable__.{project['name']}.pth", f"{root}\n".encode())
    else:
        for rel in package_files(root):
            wheel.add(rel.as_posix(), (root / rel).read_bytes())
    for source, target in DATA_FILES:
        if not (root / source).is_file():
            raise BuildError("missing-source", path=source)
        wheel.add(f"{dist}.data/data/{target}", (root / source).read_bytes())
    generator = "pykexec.build"
    wheel_text = f"Wheel-Version: 1.0\nGenerator: {generator}\nRoot-Is-Purelib: true\n"
    wheel.add(f"{dist_info}/WHEEL", (wheel_text + f"Tag: {WHEEL_TAG}\n").encode())
    wheel.add(f"{dist_info}/METADATA", metadata(project, root).encode())
    wheel.add(f"{dist_info}/entry_points.txt", entry_points(project).encode())
    wheel.close()
    return name


# ---- PEP 517 / PEP 660 hooks ------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    return []


def get_requires_for_build_editable(config_settings: Any = None) -> list[str]:
    return []


def build_wheel(
    wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None
) -> str:
    return _write_wheel(wheel_directory, editable=False)


def build_editable(
    wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None
) -> str:
    return _write_wheel(wheel_directory, editable=True)


@dataclass(frozen=True)
class _IgnoreRule:
    """One line of a .gitignore file: ``pattern`` under ``base`` (relative to the root)."""

    base: tuple[str, ...]
    pattern: str
    anchored: bool  # a leading or inner "/": matched from ``base`` only
    dir_only: bool  # a trailing "/": matches directories only

    def ignores(self, parts: tuple[str, ...]) -> bool:
        if parts[: len(self.base)] != self.base:
            return False
        sub = parts[len(self.base) :]
        depth = self.pattern.count("/") + 1
        # A file's own name matches only a pattern that is not for directories.
        last = len(sub) - (1 if self.dir_only else 0)
        starts = [0] if self.anchored else range(last)
        return any(
            i + depth <= last and fnmatch.fnmatchcase("/".join(sub[i : i + depth]), self.pattern)
            for i in starts
        )


def _ignore_rules(root: Path) -> list[_IgnoreRule]:
    """The rules of the tree's .gitignore files (the subset of the syntax the tree uses:
    globs, leading and trailing "/", comments; no "!" negation, no "**")."""
    rules = []
    for path in sorted(root.rglob(".gitignore")):
        base = path.parent.relative_to(root).parts
        if base and base[0].startswith("."):
            continue  # a tool's cache directory (.ruff_cache, ...), itself ignored
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!") or "**" in line:
                raise BuildError("gitignore-subset", path=str(path), text=line)
            pattern = line.strip("/")
            anchored = line.startswith("/") or "/" in pattern
            rules.append(_IgnoreRule(base, pattern, anchored, line.endswith("/")))
    return rules


def sdist_files(root: Path = ROOT) -> list[Path]:
    """The files of an sdist, relative to ``root``, sorted; none that .gitignore ignores."""
    rules = _ignore_rules(root)
    found: set[Path] = {root / rel for rel in package_files(root)}
    for entry in SDIST_EXTRA:
        path = root / entry
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.add(path)
    rels = (p.relative_to(root) for p in found)
    return sorted(r for r in rels if not any(rule.ignores(r.parts) for rule in rules))


def _write_sdist(directory: Path, root: Path = ROOT) -> str:
    """A reproducible sdist: entries sorted, owned by root:root (0:0), dated
    SOURCE_DATE_EPOCH (or 1980-01-01), modes 0644 or 0755 (the file's x bit), and a gzip
    header without a name or time: the same tree gives the same bytes anywhere."""
    project = read_project(root / "pyproject.toml")
    dist = _dist(project)
    name = f"{dist}.tar.gz"
    epoch = _epoch()

    def info(arcname: str, size: int, mode: int) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(f"{dist}/{arcname}")
        entry.size, entry.mtime, entry.mode = size, epoch, mode
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = "root"
        return entry

    with (
        open(directory / name, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        members = [(rel.as_posix(), root / rel) for rel in sdist_files(root)]
        for arcname, path in sorted(members):
            data = path.read_bytes()
            mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            tar.addfile(info(arcname, len(data), mode), io.BytesIO(data))
        pkg_info = metadata(project, root).encode()
        tar.addfile(info("PKG-INFO", len(pkg_info), 0o644), io.BytesIO(pkg_info))
    return name


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    return _write_sdist(Path(sdist_directory))


# ---- zipapp -----------------------------------------------------------------------------------

# The zipapp's entry: tiny, and in a syntax every python3 (and python2) reads, so that an
# interpreter older than the package's 3.9 says so in one line instead of a traceback.
_ZIPAPP_MAIN = '''\
"""pykexec as one file: python3 THIS_FILE [kexec options]; named kexec, it is kexec."""
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("pykexec: needs Python 3.9 or later, this is %d.%d: run %s with a "
                     "newer python3\\n" % (sys.version_info[0], sys.version_info[1], sys.argv[0]))
    sys.exit(1)

from pykexec.commands.cli import main  # noqa: E402

sys.exit(main())
'''


def runtime_files(root: Path = ROOT) -> list[Path]:
    """:func:`package_files` without the packaging module, which is not needed at run
    time: what the zipapp holds (and the Debian package, debian/rules)."""
    return [rel for rel in package_files(root) if rel != Path(PACKAGE, "build.py")]


def unchecked_pyc(source: bytes, path: str) -> bytes:
    """``source`` compiled for this interpreter as an unchecked-hash .pyc (PEP 552): zipimport
    loads it without comparing times, and falls back to the .py under another Python."""
    import importlib.util
    import marshal

    code = compile(source, path, "exec", dont_inherit=True)
    flags = (0b01).to_bytes(4, "little")  # hash-based, not checked
    body: bytes = marshal.dumps(code)
    return importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + body


def build_zipapp(out: Path, root: Path = ROOT, *, compiled: bool = False) -> Path:
    """Write the single-file executable zipapp of the package to ``out``.

    With ``compiled``, each module also gets a ``.pyc`` beside its ``.py`` (the layout
    zipimport looks for) for the Python that builds it: that Python then starts without
    compiling; any other 3.9+ ignores them (their magic number differs) and uses the
    sources.  Build it with the target system's python3.
    """
    buf = io.BytesIO()
    date = time.gmtime(_epoch())[:6]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in runtime_files(root):
            data = (root / rel).read_bytes()
            entries = [(rel.as_posix(), data)]
            if compiled and rel.suffix == ".py":
                pyc = rel.with_suffix(".pyc").as_posix()
                entries.append((pyc, unchecked_pyc(data, rel.as_posix())))
            for name, content in entries:
                info = zipfile.ZipInfo(name, date_time=date)
                # .pyc stored: zipimport then reads them without inflating (start-up)
                stored = name.endswith(".pyc")
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                z.writestr(info, content)
        info = zipfile.ZipInfo("__main__.py", date_time=date)
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, _ZIPAPP_MAIN)
    buf.seek(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    zipapp.create_archive(buf, out, interpreter=ZIPAPP_SHEBANG)
    out.chmod(0o755)  # zipapp gives only the owner the x bit
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    compiled = "--compiled" in args
    args = [a for a in args if a != "--compiled"]
    if len(args) != 2 or args[0] != "zipapp":
        print("usage: python3 -m pykexec.build zipapp OUT [--compiled]", file=sys.stderr)
        return 2
    try:
        out = build_zipapp(Path(args[1]), compiled=compiled)
    except (BuildError, OSError) as err:
        print(f"pykexec.build: {err}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
