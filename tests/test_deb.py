# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian package: built from a clean export of the tree, checked, and lived with.

The .deb is built with ``dpkg-buildpackage -us -uc -b`` from a copy of the tree's files
(tracked and new, nothing ignored), then checked by lintian and against the tree (its
file list). The package-life tests install it beside the REAL kexec-tools packages of
bookworm (``/sbin/kexec``) and trixie (``/usr/sbin/kexec``) in a scratch system: a
directory whose ``/usr`` and ``/etc`` are overlays of the host's (writes go to the test's
own directories, in a private mount namespace: ``unshare --mount``), with its own dpkg
database; dpkg runs in it by ``chroot``, so every maintainer script (kexec-tools' too,
which writes /etc/default/kexec through debconf) acts on the scratch system only.

Oracles: dpkg itself (``dpkg-divert --list``, ``dpkg --verify`` and ``--audit``, the
packages' file lists and ``dpkg-divert --truename``), the md5sums each .deb ships (which
package's file a path is), lintian, and kexec-tools' kexec run under qemu-user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pykexec import __version__
from tests import oracles

ROOT = Path(__file__).resolve().parent.parent
KEXEC_PATHS = ("/sbin/kexec", "/usr/sbin/kexec", "/bin/kexec", "/usr/bin/kexec")
# The names of kexec-tools' and pykexec's programs, whatever their diverted suffix.
_PROGRAM = re.compile(r"^(kexec|vmcore-dmesg|pykexec|coldreboot)")
_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C",
    "PYTHONPATH": str(ROOT),
}
DIVERSIONS = (
    "diversion of /usr/sbin/{0} to /usr/sbin/{0}.kexec-tools by pykexec",
    "diversion of /sbin/{0} to /sbin/{0}.kexec-tools-sbin by pykexec",
)
MAN_DIVERSION = (
    "diversion of /usr/share/man/man8/{0}.8.gz to "
    "/usr/share/man/man8/{0}.kexec-tools.8.gz by pykexec"
)


def _require(*tools: str) -> None:
    """Skip (fail under CI) unless every program is on PATH."""
    for tool in tools:
        if shutil.which(tool) is None:
            oracles.missing(f"program {tool!r} not on PATH", "tools/setup-host.sh installs it")


# ---- the build --------------------------------------------------------------------------------


def _export(dest: Path) -> None:
    """The tree's files as a clean clone has them, plus new files not ignored."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, names):
        src = ROOT / name
        if not src.is_file() and not src.is_symlink():
            continue  # deleted in the work tree, not yet committed
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name, follow_symlinks=False)


@dataclass(frozen=True)
class Built:
    deb: Path
    changes: Path
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    _require("dpkg-buildpackage", "dh", "dh_python3")
    out = tmp_path_factory.mktemp("deb")
    src = out / "src"
    _export(src)
    done = subprocess.run(
        ["dpkg-buildpackage", "-us", "-uc", "-b"],
        cwd=src, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (deb,) = out.glob("pykexec_*_all.deb")
    (changes,) = out.glob("pykexec_*.changes")
    return Built(deb, changes, done.stdout + done.stderr)


def _debian_version() -> str:
    text = (ROOT / "debian/changelog").read_text()
    match = re.match(r"pykexec \(([^)]+)\)", text)
    assert match, "debian/changelog: no first entry"
    return match.group(1)


def _contents(deb: Path) -> dict[str, str]:
    """Path -> "file", "dir" or "-> TARGET", from dpkg-deb's listing."""
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    entries: dict[str, str] = {}
    for line in listing.stdout.splitlines():
        mode, _, _, _, _, rest = line.split(None, 5)
        path, _, target = rest.partition(" -> ")
        path = path.removeprefix(".").rstrip("/") or "/"
        kind = {"d": "dir", "l": f"-> {target}"}.get(mode[0], "file")
        entries[path] = kind
    return entries


def _vmcore_dmesg(deb: Path) -> bool:
    return "/usr/sbin/vmcore-dmesg" in _contents(deb)


def test_deb_holds_the_tree(built: Built) -> None:
    entries = _contents(built.deb)
    files = {p for p, kind in entries.items() if kind == "file"}
    links = {p: kind[3:] for p, kind in entries.items() if kind.startswith("-> ")}
    modules = {
        f"/usr/share/pykexec/{p.relative_to(ROOT).as_posix()}"
        for p in (ROOT / "pykexec").rglob("*.py")
        if "__pycache__" not in p.parts and p != ROOT / "pykexec/build.py"
    }
    assert files == modules | {
        "/usr/sbin/pykexec",
        "/usr/share/man/man8/pykexec.8.gz",
        "/usr/share/bash-completion/completions/pykexec",
        "/usr/share/doc/pykexec/copyright",
        "/usr/share/doc/pykexec/changelog.gz",
        "/usr/share/python3/runtime.d/pykexec.rtupdate",
    }
    expected_links = {
        "/usr/sbin/kexec": "pykexec",
        "/usr/share/bash-completion/completions/kexec": "pykexec",
        "/usr/share/man/man8/kexec.8.gz": "pykexec.8.gz",
    }
    if _vmcore_dmesg(built.deb):
        expected_links["/usr/sbin/vmcore-dmesg"] = "pykexec"
        expected_links["/usr/share/man/man8/vmcore-dmesg.8.gz"] = "pykexec.8.gz"
    assert links == expected_links
    assert not [p for p in entries if p.startswith(("/sbin", "/bin", "/lib"))]  # DEP17
    with (ROOT / "doc/pykexec.8").open("rb") as page:
        listed = subprocess.run(
            ["sh", "-c", f"dpkg-deb --fsys-tarfile {built.deb} | tar -xOf - "
             "./usr/share/man/man8/pykexec.8.gz | gzip -d"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert listed == page.read()


def test_deb_control(built: Built) -> None:
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(built.deb), "Package", "Version", "Architecture", "Depends"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert fields.splitlines() == [
        "Package: pykexec",
        f"Version: {_debian_version()}",
        "Architecture: all",
        "Depends: python3:any (>= 3.9~)",
    ]


def test_lintian_finds_no_error_or_warning(built: Built) -> None:
    _require("lintian")
    done = subprocess.run(
        ["lintian", "--allow-root", str(built.changes)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    tags = [line for line in done.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert tags == [], done.stdout
    assert not list((ROOT / "debian").glob("*lintian-overrides*"))


def test_maintainer_scripts_pass_shellcheck() -> None:
    _require("shellcheck")
    scripts = [ROOT / f"debian/pykexec.{s}" for s in ("preinst", "postinst", "postrm")]
    done = subprocess.run(
        ["shellcheck", "-s", "sh", *map(str, scripts), str(ROOT / "tools/install-as-kexec.sh")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


# ---- a scratch Debian system --------------------------------------------------------------

# Run "$@" with the scratch system's /usr and /etc mounted (overlays of the host's, which
# stay untouched: every write lands in BASE/usr.up and BASE/etc.up). Run inside
# `unshare --mount`: the mounts are private to the command and go with it.
_MOUNTS = """set -e
base=$1; shift
for d in usr etc; do
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$base/$d.up,workdir=$base/$d.work" \
        "$base/root/$d"
done
"$@"
"""


class Scratch:
    """A scratch system: ``merged`` /usr (/sbin a link to usr/sbin) or not."""

    def __init__(self, base: Path, merged: bool) -> None:
        self.base, self.root, self.merged = base, base / "root", merged
        for d in ("usr.up", "usr.work", "etc.up", "etc.work"):
            (base / d).mkdir(parents=True)
        root = self.root
        for d in ("usr", "etc", "dev", "tmp", "debs", "var/lib/dpkg/info",
                  "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/cache/debconf",
                  "var/log", "run"):  # fmt: skip
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "var/lib/dpkg/status").write_text("")
        os.mknod(root / "dev/null", 0o666 | 0o020000, os.makedev(1, 3))
        for name in ("bin", "lib", "lib64", *(["sbin"] if merged else [])):
            (root / name).symlink_to(f"usr/{name}")
        if not merged:
            (root / "sbin").mkdir()
        # No service starts in here (kexec-tools' postinst would invoke-rc.d).
        policy = base / "usr.up/sbin/policy-rc.d"
        policy.parent.mkdir(parents=True)
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        self.run("chroot", root, "dpkg", "--add-architecture", "ppc64el")  # kexec-tools'
        self.install(self._base_package())

    def _base_package(self) -> Path:
        """The rest of the system: a package holding the directories that so many own on a
        real one (else dpkg, when kexec-tools leaves /sbin, removes the /sbin link)."""
        tree = self.base / "scratch-base"
        for d in ("DEBIAN", "bin", "sbin", "lib", "usr/bin", "usr/sbin", "usr/lib", "etc"):
            (tree / d).mkdir(parents=True)
        (tree / "DEBIAN/control").write_text(
            "Package: scratch-base\nVersion: 1\nArchitecture: all\nMaintainer: tests\n"
            "Description: the directories of the scratch system\n"
        )
        deb = self.base / "scratch-base.deb"
        subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)],
                       check=True, capture_output=True)  # fmt: skip
        return deb

    def run(self, *argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["unshare", "--mount", "sh", "-c", _MOUNTS, "sh", str(self.base)]
        done = subprocess.run(
            [*cmd, *map(str, argv)],
            capture_output=True, text=True, env=_ENV, cwd=ROOT, timeout=300,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    def dpkg(self, *args: str | Path) -> None:
        self.run("chroot", self.root, "dpkg", "--force-architecture", "--force-depends", *args)

    def install(self, deb: Path) -> None:
        shutil.copy2(deb, self.root / "debs" / deb.name)
        self.dpkg("-i", f"/debs/{deb.name}")

    def report(self) -> dict[str, Any]:
        done = self.run(sys.executable, "-m", "tests.test_deb", self.root, str(self.merged))
        report: dict[str, Any] = json.loads(done.stdout)
        return report


def _chroot(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True)


def _programs(root: Path, merged: bool) -> list[str]:
    dirs = ["/usr/sbin"] if merged else ["/usr/sbin", "/sbin"]
    return sorted(
        f"{d}/{name}" for d in dirs for name in os.listdir(f"{root}{d}") if _PROGRAM.match(name)
    )


def _status(root: Path) -> dict[str, str]:
    out = _chroot(root, "dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines()}


def _owned(root: Path, merged: bool) -> list[str]:
    """Where dpkg's database says the installed packages' programs are (diversions applied)."""
    installed = [p for p, state in _status(root).items() if state == "ii"]
    owned = set()
    for package in installed:
        for path in _chroot(root, "dpkg-query", "-L", package).stdout.splitlines():
            directory, _, name = path.rpartition("/")
            if directory in ("/sbin", "/usr/sbin") and _PROGRAM.match(name):
                diverter = _chroot(root, "dpkg-divert", "--listpackage", path).stdout.strip()
                true = (
                    path  # the diverting package's own file is not diverted
                    if diverter == package
                    else _chroot(root, "dpkg-divert", "--truename", path).stdout.strip()
                )
                if merged:
                    true = re.sub(r"^/sbin/", "/usr/sbin/", true)
                owned.add(true)
    return sorted(owned)


def scratch_report(root: Path, merged: bool) -> dict[str, Any]:
    """What the scratch system looks like now (run inside its mount namespace)."""
    resolved: dict[str, str | None] = {}
    outputs: dict[str, str | None] = {}
    for path in KEXEC_PATHS:
        real = _chroot(root, "readlink", "-e", path)
        resolved[path] = real.stdout.strip() if real.returncode == 0 else None
        if real.returncode != 0:
            continue
        file = root / real.stdout.strip().lstrip("/")
        if file.read_bytes()[:2] == b"#!":
            outputs[path] = _chroot(root, path, "--version").stdout
        else:
            outputs[path] = _run_elf(file)
    md5 = {
        real: hashlib.md5((root / real.lstrip("/")).read_bytes()).hexdigest()
        for real in set(resolved.values()) - {None}
        if real is not None
    }
    return {
        "resolved": resolved,
        "md5": md5,
        "outputs": outputs,
        "diversions": sorted(_chroot(root, "dpkg-divert", "--list").stdout.splitlines()),
        "verify": _chroot(root, "dpkg", "--verify").stdout,
        "audit": _chroot(root, "dpkg", "--audit").stdout,
        "programs": _programs(root, merged),
        "owned": _owned(root, merged),
        "status": _status(root),
        "sbin_is_link": (root / "sbin").is_symlink(),
    }


# ---- the package life ----------------------------------------------------------------------


@dataclass(frozen=True)
class Deb:
    """A package to install and the md5 of its kexec (which package's file a path is)."""

    path: Path
    kexec_md5: str
    name: str


def _md5sums(deb: Path) -> dict[str, str]:
    text = subprocess.run(
        ["dpkg-deb", "--info", str(deb), "md5sums"], capture_output=True, text=True, check=True
    ).stdout
    pairs = (line.split(None, 1) for line in text.splitlines())
    return {"/" + name: digest for digest, name in pairs}


def _deb(path: Path, kexec: str, name: str) -> Deb:
    return Deb(path, _md5sums(path)[kexec], name)


@dataclass(frozen=True)
class Debs:
    pykexec: Deb
    bookworm: Deb
    trixie: Deb
    vmcore_dmesg: bool


def _scratch_unsupported(tmp: Path) -> str | None:
    """Why no scratch system can be made here, or None."""
    if os.geteuid() != 0:
        return "the scratch system needs root (mounts, chroot)"
    _require("unshare", "chroot", "dpkg", "dpkg-divert", "dpkg-deb")
    for d in ("lower", "upper", "work", "mnt"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={tmp}/lower,upperdir={tmp}/upper,workdir={tmp}/work"
    probe = subprocess.run(
        ["unshare", "--mount", "mount", "-t", "overlay", "overlay", "-o", opts, f"{tmp}/mnt"],
        capture_output=True, text=True,
    )  # fmt: skip
    return (
        f"no overlay mount in a mount namespace here: {probe.stderr.strip()}"
        if probe.returncode
        else None
    )


def kexec_tools_debs(tmp: Path) -> tuple[Deb, Deb]:
    """bookworm's and trixie's kexec-tools (the lab's cache; trixie's fetched on first use),
    or a skip saying why a scratch system cannot hold them here."""
    reason = _scratch_unsupported(tmp)
    if reason:
        oracles.missing(reason, "run the tests as root on a Linux host with overlayfs")
    from lab import assets, paths

    layout = paths.cache()
    found = sorted(layout.debs.glob(f"kexec-tools_*_{assets.GUEST_ARCH}.deb"))
    if not found:
        oracles.missing(f"bookworm's kexec-tools in {layout.debs}", "python3 -m lab setup")
    try:
        trixie = assets.trixie_kexec_tools(layout)
    except Exception as err:  # no network or no apt here
        oracles.missing(f"trixie's kexec-tools ({err})", "python3 -m lab setup, as root")
    return (
        _deb(found[-1], "/sbin/kexec", "kexec-tools 2.0.25"),
        _deb(trixie, "/usr/sbin/kexec", "kexec-tools 2.0.29"),
    )


@pytest.fixture(scope="module")
def debs(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Debs:
    bookworm, trixie = kexec_tools_debs(tmp_path_factory.mktemp("probe"))
    pykexec = _deb(built.deb, "/usr/sbin/pykexec", "pykexec")
    return Debs(pykexec, bookworm, trixie, _vmcore_dmesg(built.deb))


def _run_elf(path: Path) -> str | None:
    """kexec-tools' ``kexec --version`` under qemu-user, with bookworm's ppc64el libc from
    the lab's staged root (enough for bookworm's kexec; trixie's needs glibc 2.38)."""
    from lab import paths

    libs = paths.cache().staging / "lib/powerpc64le-linux-gnu"
    if shutil.which("qemu-ppc64le") is None or not (libs / "ld64.so.2").is_file():
        return None
    done = subprocess.run(
        ["qemu-ppc64le", str(libs / "ld64.so.2"), "--library-path", str(libs), str(path),
         "--version"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout.strip()


def _expect(sys_: Scratch, debs: Debs, provider: Deb | None, step: str) -> None:
    """After ``step``: exactly one kexec, ``provider``'s (none if None); the diversions are
    pykexec's exactly while it is installed; dpkg finds every file as its package left it."""
    r = sys_.report()
    assert r["sbin_is_link"] is sys_.merged, step
    real = {p for p in r["resolved"].values() if p}
    ours = provider is debs.pykexec
    if provider is None:
        assert real == set(), (step, r["resolved"])
    else:
        assert len(real) == 1, (step, r["resolved"])
        (path,) = real
        assert r["md5"][path] == provider.kexec_md5, (step, path, provider.name)
        for name, out in r["outputs"].items():
            if ours:
                assert out.startswith(f"pykexec {__version__} ("), (step, name, out)
            elif provider is debs.bookworm:  # None: no qemu-user or lab root here
                assert out in (None, "kexec-tools 2.0.25"), (step, name, out)
    installed = r["status"].get("pykexec") == "ii"
    programs = ["kexec", *(["vmcore-dmesg"] if debs.vmcore_dmesg else [])]
    want = sorted(d.format(p) for p in programs for d in (*DIVERSIONS, MAN_DIVERSION))
    assert r["diversions"] == (want if installed else []), step
    assert (r["verify"], r["audit"]) == ("", ""), step
    links = [f"/sbin/{p}" for p in programs] if installed and not sys_.merged else []
    assert r["programs"] == sorted([*r["owned"], *links]), step


LAYOUTS = pytest.mark.parametrize("merged", [True, False], ids=["merged-usr", "unmerged-usr"])


@LAYOUTS
def test_life_over_bookworm_then_trixie(tmp_path: Path, debs: Debs, merged: bool) -> None:
    """The issue's path: pykexec over bookworm's kexec-tools, kexec-tools reinstalled and
    upgraded to trixie's (kexec moves from /sbin to /usr/sbin), pykexec removed and
    installed again and reinstalled, kexec-tools removed, both purged."""
    s = Scratch(tmp_path, merged)
    steps: list[tuple[str, Any, Deb | None]] = [
        ("install kexec-tools (bookworm)", lambda: s.install(debs.bookworm.path), debs.bookworm),
        ("install pykexec", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("reinstall kexec-tools (bookworm)", lambda: s.install(debs.bookworm.path), debs.pykexec),
        ("upgrade kexec-tools to trixie's", lambda: s.install(debs.trixie.path), debs.pykexec),
        ("remove pykexec", lambda: s.dpkg("-r", "pykexec"), debs.trixie),
        ("install pykexec again", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("reinstall pykexec", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("remove kexec-tools", lambda: s.dpkg("-r", "kexec-tools"), debs.pykexec),
        ("purge pykexec", lambda: s.dpkg("-P", "pykexec"), None),
        ("purge kexec-tools", lambda: s.dpkg("-P", "kexec-tools"), None),
    ]
    for step, action, provider in steps:
        action()
        _expect(s, debs, provider, step)
    assert s.report()["status"] == {"scratch-base": "ii"}


@LAYOUTS
def test_life_pykexec_first(tmp_path: Path, debs: Debs, merged: bool) -> None:
    """The other orders: pykexec before any kexec-tools, kexec-tools installed under it,
    pykexec removed and back, kexec-tools upgraded, downgraded (kexec back to /sbin) and
    upgraded again, removed and installed under pykexec."""
    s = Scratch(tmp_path, merged)
    steps: list[tuple[str, Any, Deb | None]] = [
        ("install pykexec alone", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("install kexec-tools (bookworm)", lambda: s.install(debs.bookworm.path), debs.pykexec),
        ("remove pykexec", lambda: s.dpkg("-r", "pykexec"), debs.bookworm),
        ("install pykexec", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("upgrade kexec-tools to trixie's", lambda: s.install(debs.trixie.path), debs.pykexec),
        ("downgrade to bookworm's", lambda: s.install(debs.bookworm.path), debs.pykexec),
        ("upgrade to trixie's again", lambda: s.install(debs.trixie.path), debs.pykexec),
        ("purge pykexec", lambda: s.dpkg("-P", "pykexec"), debs.trixie),
        ("remove kexec-tools", lambda: s.dpkg("-r", "kexec-tools"), None),
        ("install pykexec again", lambda: s.install(debs.pykexec.path), debs.pykexec),
        ("install trixie's kexec-tools", lambda: s.install(debs.trixie.path), debs.pykexec),
        ("remove pykexec", lambda: s.dpkg("-r", "pykexec"), debs.trixie),
        ("purge both", lambda: s.dpkg("-P", "pykexec", "kexec-tools"), None),
    ]
    for step, action, provider in steps:
        action()
        _expect(s, debs, provider, step)
    assert s.report()["status"] == {"scratch-base": "ii"}


def test_install_over_the_scripts_diversions_fails_cleanly(tmp_path: Path, debs: Debs) -> None:
    """tools/install-as-kexec.sh's local diversions are in place: the package refuses in
    preinst with one line saying what to do, and leaves the system as it was."""
    from tests.test_install_as_kexec import LOCAL, PROGRAM, _zipapp_md5

    s = Scratch(tmp_path, merged=True)
    zipapp = _zipapp_md5(s)
    s.install(debs.bookworm.path)
    script = ["chroot", s.root, "sh", "/tmp/install-as-kexec.sh", "debian"]
    s.run(*script, "install", PROGRAM)
    shutil.copy2(debs.pykexec.path, s.root / "debs" / debs.pykexec.path.name)
    done = s.run("chroot", s.root, "dpkg", "--force-depends", "-i",
                 f"/debs/{debs.pykexec.path.name}", check=False)  # fmt: skip
    assert done.returncode == 1
    assert "pykexec: /usr/sbin/kexec is already diverted by LOCAL" in done.stderr
    r = s.report()
    assert "pykexec" not in r["status"] and (r["verify"], r["audit"]) == ("", "")
    assert r["diversions"] == sorted(LOCAL)
    assert {r["md5"][p] for p in r["resolved"].values() if p} == {zipapp}
    s.run(*script, "remove", PROGRAM)  # as the message says; then the package installs
    s.install(debs.pykexec.path)
    _expect(s, debs, debs.pykexec, "install after the script's remove")


if __name__ == "__main__":  # the report, from inside the scratch system's namespace
    print(json.dumps(scratch_report(Path(sys.argv[1]), sys.argv[2] == "True")))
