# SPDX-License-Identifier: GPL-2.0-or-later
"""Packaging: the in-tree build backend, offline installs, the zipapp, kexec by name.

Oracles: ``tomllib`` for pyproject.toml, :mod:`zipfile` and :mod:`hashlib` for the wheel,
pip itself (a fresh venv, ``--no-index``) for the install, and the source tree's own
``python -m pykexec`` for what the zipapp must print.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pykexec import __version__, build
from pykexec.commands.cli import OPTIONS
from tests.kernels import make_vmlinux

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests/fixtures/snapshots/pseries-1cpu"


def _pyproject() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        data: dict[str, object] = tomllib.load(f)
    return data


def test_backend_reads_the_project_table_as_tomllib_does() -> None:
    data = _pyproject()
    assert build.read_project(ROOT / "pyproject.toml") == data["project"]
    assert data["build-system"] == {
        "requires": [],
        "build-backend": "pykexec.build",
        "backend-path": ["."],
    }


def test_versions_agree() -> None:
    assert build.read_project(ROOT / "pyproject.toml")["version"] == __version__


def _record_ok(whl: zipfile.ZipFile, record: str) -> None:
    rows = [line.split(",") for line in whl.read(record).decode().splitlines()]
    listed = {name for name, _, _ in rows}
    assert listed == set(whl.namelist())
    for name, digest, size in rows:
        if name == record:
            assert digest == size == ""
            continue
        data = whl.read(name)
        want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={want}", len(data)), name


def test_wheel_contents(tmp_path: Path) -> None:
    name = build.build_wheel(str(tmp_path))
    assert name == f"pykexec-{__version__}-py3-none-any.whl"
    dist_info = f"pykexec-{__version__}.dist-info"
    with zipfile.ZipFile(tmp_path / name) as whl:
        names = set(whl.namelist())
        sources = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "pykexec").rglob("*.py")
            if "__pycache__" not in p.parts
        }
        assert sources <= names
        assert not [n for n in names if n.endswith(".pyc")]
        data = f"pykexec-{__version__}.data/data/share"
        assert whl.read(f"{data}/man/man8/pykexec.8") == (ROOT / "doc/pykexec.8").read_bytes()
        completion = f"{data}/bash-completion/completions/pykexec"
        assert whl.read(completion) == (ROOT / "completion/pykexec").read_bytes()
        entry = whl.read(f"{dist_info}/entry_points.txt").decode().splitlines()
        assert entry[0] == "[console_scripts]"
        # no kexec to shadow the system's; vmcore-dmesg is kexec-tools' own output
        assert set(entry[1:]) == {
            f"{name} = pykexec.commands.cli:main" for name in ("pykexec", "vmcore-dmesg")
        }
        meta = whl.read(f"{dist_info}/METADATA").decode()
        assert f"\nVersion: {__version__}\n" in meta and "\nName: pykexec\n" in meta
        assert "\nRequires-Python: >=3.9\n" in meta
        assert "Tag: py3-none-any" in whl.read(f"{dist_info}/WHEEL").decode()
        _record_ok(whl, f"{dist_info}/RECORD")


def test_editable_wheel_points_at_the_checkout(tmp_path: Path) -> None:
    name = build.build_editable(str(tmp_path))
    with zipfile.ZipFile(tmp_path / name) as whl:
        pth = [n for n in whl.namelist() if n.endswith(".pth")]
        assert len(pth) == 1 and whl.read(pth[0]).decode().strip() == str(ROOT)
        assert not [n for n in whl.namelist() if n.startswith("pykexec/")]


def test_sdist_builds_the_same_wheel(tmp_path: Path) -> None:
    import tarfile

    name = build.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / name) as tar:
        tar.extractall(tmp_path / "src")
    src = tmp_path / "src" / name[: -len(".tar.gz")]
    assert (src / "PKG-INFO").is_file() and (src / "doc/pykexec.8").is_file()
    out = subprocess.run(
        [sys.executable, "-c", "import pykexec.build as b; print(b.build_wheel('.'))"],
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    )
    from_sdist = zipfile.ZipFile(src / out.stdout.strip())
    from_tree = zipfile.ZipFile(tmp_path / build.build_wheel(str(tmp_path)))
    assert sorted(from_sdist.namelist()) == sorted(from_tree.namelist())


SDIST_MUST_HOLD = ("tests/", "tools/", "lab/", "debian/", "LICENSE", "CHANGELOG.md", "doc/")


def _sdist_in(cwd: Path, out: Path, **env: str) -> Path:
    """``build_sdist`` as pip calls it: the backend of the tree at ``cwd``, in a new Python."""
    out.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run(
        [sys.executable, "-c", f"import pykexec.build as b; print(b.build_sdist({str(out)!r}))"],
        cwd=cwd, capture_output=True, text=True, env={**base, **env}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip()


def test_sdist_is_reproducible(tmp_path: Path) -> None:
    """Built twice from the tree, and once from its own files unpacked with other times,
    owners and group bits: the same bytes; what it holds is git's list of the tree."""
    import tarfile

    first = _sdist_in(ROOT, tmp_path / "a")
    assert _sdist_in(ROOT, tmp_path / "b").read_bytes() == first.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
        tar.extractall(tmp_path / "unpacked")
    top = f"pykexec-{__version__}/"
    names = [m.name.removeprefix(top) for m in members]
    assert names == [*sorted(names[:-1]), "PKG-INFO"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "root", "root", 315532800)
    }
    for must in SDIST_MUST_HOLD:
        assert [n for n in names if n == must or n.startswith(must)], must
    git = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode == 0:  # a checkout: exactly the tracked files (and the new ones)
        others = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        ours = set(names) - {"PKG-INFO"}
        assert set(git.stdout.split()) <= ours <= set(git.stdout.split()) | set(others)
    modes = {m.name.removeprefix(top): m.mode for m in members}
    assert modes["debian/rules"] == modes["tools/install-as-kexec.sh"] == 0o755
    assert modes["pyproject.toml"] == 0o644

    src = tmp_path / "unpacked" / top
    for path in [src, *src.rglob("*")]:
        if os.geteuid() == 0:
            os.chown(path, 4321, 4321)
        os.chmod(path, path.stat().st_mode | 0o020)
        os.utime(path, (1.7e9, 1.7e9))
    (src / "PKG-INFO").unlink()
    assert _sdist_in(src, tmp_path / "c").read_bytes() == first.read_bytes()


def test_sdist_dates_from_source_date_epoch(tmp_path: Path) -> None:
    import gzip
    import tarfile

    sdist = _sdist_in(ROOT, tmp_path, SOURCE_DATE_EPOCH="1700000000")
    header = sdist.read_bytes()[:10]
    assert header[3] & 0x08 == 0  # no file name in the gzip header (FNAME)
    assert int.from_bytes(header[4:8], "little") == 1700000000  # MTIME
    with tarfile.open(fileobj=gzip.open(sdist)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_changelogs_and_versions_agree() -> None:
    """pyproject's version (PEP 440), debian/changelog's (Debian's syntax: ``~dev`` sorts
    before the release as ``.dev`` does) and CHANGELOG.md's sections name the same ones."""
    version = build.read_project(ROOT / "pyproject.toml")["version"]
    debian = (ROOT / "debian/changelog").read_text()
    entries = re.findall(r"^pykexec \(([^)]+)\) \S+; urgency=\S+$", debian, re.M)
    if shutil.which("dpkg-parsechangelog"):
        parsed = subprocess.run(
            ["dpkg-parsechangelog", "-l", str(ROOT / "debian/changelog"), "-S", "Version"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert parsed == entries[0]
    assert entries[0] == re.sub(r"\.dev(\d+)$", r"~dev\1", version)
    sections = re.findall(r"^## (?:Unreleased \((\S+)\)|(\S+) \(\d{4}-\d\d-\d\d\))$",
                          (ROOT / "CHANGELOG.md").read_text(), re.M)  # fmt: skip
    unreleased, released = sections[0][0], [r for _, r in sections[1:]]
    assert unreleased and version.startswith(f"{unreleased}.dev")
    assert [e for e in entries if "~" not in e] == released


def _run(*argv: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=300, **kw
    )  # type: ignore[call-overload]


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_offline_install_in_a_fresh_venv(tmp_path: Path, editable: bool) -> None:
    """pip needs no index: the backend is in the tree and needs nothing."""
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    pip = [venv / "bin/python", "-m", "pip", "install", "--no-index"]
    done = _run(*pip, *(["-e"] if editable else []), ROOT, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    version = _run(venv / "bin/pykexec", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith(f"pykexec {__version__} (")
    # No second kexec that would come before the system's on PATH.
    assert sorted(p.name for p in (venv / "bin").glob("*kexec*")) == ["pykexec"]
    assert (venv / "share/man/man8/pykexec.8").read_bytes() == (ROOT / "doc/pykexec.8").read_bytes()


@pytest.fixture(scope="module")
def zipapp_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zipapp") / "pykexec.pyz"
    done = subprocess.run(
        [sys.executable, "-m", "pykexec.build", "zipapp", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_zipapp_is_one_executable_file_of_sources(zipapp_file: Path) -> None:
    assert zipapp_file.read_bytes().startswith(b"#!/usr/bin/python3 -ISc")
    assert zipapp_file.stat().st_mode & 0o111 == 0o111
    with zipfile.ZipFile(zipapp_file) as z:
        names = z.namelist()
    assert "__main__.py" in names and "pykexec/commands/cli.py" in names
    assert not [n for n in names if not n.endswith(".py")]


def test_zipapp_runs_like_the_tree(zipapp_file: Path, tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux())
    link = tmp_path / "kexec"
    link.symlink_to(zipapp_file)
    argvs = (
        ["--version"],
        ["--help"],
        ["-l", str(kernel), "--dry-run", "--json", "--sysroot", str(SNAPSHOT)],
    )
    for argv in argvs:
        ours = _run(sys.executable, zipapp_file, *argv, cwd=tmp_path)
        tree = _run(sys.executable, "-m", "pykexec", *argv, cwd=ROOT)
        assert ours.returncode == tree.returncode == 0, ours.stderr
        assert ours.stdout == tree.stdout and ours.stdout
    as_kexec = _run(sys.executable, link, "--help", cwd=tmp_path)
    assert as_kexec.stdout.startswith("usage: kexec [options] [KERNEL]")
    bad = _run(link, "--no-such-option", cwd=tmp_path)  # the shebang's python3
    assert bad.returncode == 1 and bad.stderr.startswith("kexec: ")  # kexec-tools: 1


def test_help_to_a_closed_pipe_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pykexec", "--help"],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_every_option_is_in_the_help_of_kexec() -> None:
    done = _run(sys.executable, "-c", "import sys; from pykexec.commands.cli import main; "
                "sys.argv[0] = 'kexec'; sys.exit(main(['-h']))", cwd=ROOT)  # fmt: skip
    assert done.stdout.startswith("usage: kexec ")
    for opt in OPTIONS:
        assert all(n in done.stdout for n in opt.names), opt.names


def _python(minor: int) -> str | None:
    """A working python3.<minor> here: pyenv's (the machine image has 3.9-3.13) or on PATH."""
    pyenv = sorted(Path("/root/.pyenv/versions").glob(f"3.{minor}.*/bin/python3"))
    for candidate in [*map(str, pyenv[-1:]), shutil.which(f"python3.{minor}")]:
        if candidate and _run(candidate, "-c", "").returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
def test_zipapp_on_every_supported_python(zipapp_file: Path, tmp_path: Path, minor: int) -> None:
    python = _python(minor)
    if python is None:
        pytest.skip(f"no Python 3.{minor} here")
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(endian="little"))
    argv = ["-p", str(kernel), "--dry-run", "--json", "--sysroot", f"{SNAPSHOT}-crash"]
    ours = _run(python, zipapp_file, *argv, cwd=tmp_path)
    tree = _run(sys.executable, "-m", "pykexec", *argv, cwd=ROOT)
    assert ours.returncode == tree.returncode == 0, ours.stderr
    assert ours.stdout == tree.stdout


@pytest.mark.parametrize("minor", [9, 11])
def test_compiled_zipapp_uses_its_pyc_only_on_its_own_python(tmp_path: Path, minor: int) -> None:
    """``zipapp --compiled``: the building Python runs its .pyc files (proved by breaking
    every source beside them); another version ignores them and runs the sources."""
    python = _python(minor)
    if python is None:
        pytest.skip(f"no Python 3.{minor} here")
    out = build.build_zipapp(tmp_path / "kexec", compiled=True)
    done = _run(python, out, "--version", cwd=tmp_path)
    assert done.returncode == 0 and "compatible command line" in done.stdout, done.stderr
    broken = tmp_path / "broken"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(
                name,
                b"syntax error (\n"
                if name.startswith("pykexec/") and name.endswith(".py")
                else data,
            )
    done = _run(python, broken, "--version", cwd=tmp_path)
    assert (done.returncode == 0) is (sys.version_info[:2] == (3, minor)), done.stderr[-500:]
