# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian system lab: pykexec as Debian's kexec in a real Debian 12 ppc64el system.

``python3 -m lab debsys build`` builds (or reuses) the image (:mod:`lab.debsys_image`);
``python3 -m lab debsys run SCENARIO --loader kexec-tools|pykexec`` runs one scenario
in it (:mod:`lab.debsys_run`).  With ``--loader pykexec`` the image is the base one
with the project's .deb installed (``--deb PATH``, default: built from the tree with
``dpkg-buildpackage``, see :func:`project_deb`).

Scenarios (``lab/guest/debsys/run.sh``):

* ``kdump``: kdump-tools loads its crash kernel at boot through ``/sbin/kexec``;
  a marker to /dev/kmsg, sysrq c; the crash kernel saves the dump to /var/crash
  and reboots; the system comes back and finds the dump (the host checks it too).
* ``kexec-reboot``: Debian's ``LOAD_KEXEC=true`` with ``systemctl reboot``.
* ``kexec-systemctl``: ``kexec -l`` then ``systemctl kexec``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from lab import assets
from lab.debsys_image import HOST_PACKAGES, DebianSystem, base_system, deb_system
from lab.errors import AssetError
from lab.paths import REPO_ROOT, CacheLayout

SCENARIOS = ("kdump", "kexec-reboot", "kexec-systemctl", "package-life")
LOADERS = ("kexec-tools", "pykexec")


# The host tools the image build and the checks run, by the package that ships them.
HOST_TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "arch-test": "arch-test",
    "qemu-user-static": "qemu-ppc64le-static",
    "binfmt-support": "update-binfmts",
    "e2fsprogs": "debugfs",
}


def install_host_tools() -> None:
    """apt-get install the packages whose tools are missing (as lab setup does for its own)."""
    missing = [p for p in HOST_PACKAGES if shutil.which(HOST_TOOLS[p]) is None]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def system(layout: CacheLayout) -> DebianSystem:
    """The base image (kexec-tools is the system's kexec), built on first use."""
    package = assets.kernel_package()
    return base_system(layout, package, package.removeprefix("linux-image-"))


def project_deb(layout: CacheLayout, given: Path | None) -> Path:
    """The project's .deb: the one given, else built from this tree (arch all)."""
    if given is not None:
        if not given.is_file():
            raise AssetError(f"--deb {given}: no such file")
        return given
    if not (REPO_ROOT / "debian" / "control").is_file():
        raise AssetError("no debian/ in this tree to build the .deb from: pass --deb PATH")
    # The tree as committed plus its uncommitted changes (git stash create touches
    # nothing); the build is cached by that tree's hash (the .deb itself is not
    # reproducible, and the image with it installed is keyed by its digest).
    tree = _git("stash", "create") or "HEAD"
    out = layout.root / "debsys" / f"deb-build-{_git('rev-parse', tree + '^{tree}')[:16]}"
    built = sorted(out.glob("pykexec_*_all.deb"))
    if built:
        return built[-1]
    for old in out.parent.glob("deb-build-*"):  # one source tree's build kept at a time
        shutil.rmtree(old, ignore_errors=True)
    src = out / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", tree],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    done = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                          capture_output=True, text=True, check=False)  # fmt: skip
    debs = sorted(out.glob("pykexec_*_all.deb"))
    if done.returncode != 0 or not debs:
        raise AssetError(f"dpkg-buildpackage failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return debs[-1]


def package_life_files(layout: CacheLayout, deb: Path | None) -> dict[str, bytes]:
    """The packages the package-life scenario installs, by the names it expects."""
    bookworm = sorted(layout.debs.glob("kexec-tools_*_ppc64el.deb"))
    if not bookworm:
        raise AssetError(f"no kexec-tools .deb in {layout.debs}: run `python3 -m lab setup`")
    return {
        "pykexec.deb": project_deb(layout, deb).read_bytes(),
        "kexec-tools-bookworm.deb": bookworm[-1].read_bytes(),
        "kexec-tools-trixie.deb": assets.trixie_kexec_tools(layout).read_bytes(),
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def system_for(layout: CacheLayout, loader: str, deb: Path | None,
               scenario: str = "") -> DebianSystem:  # fmt: skip
    """The image a run boots: package-life starts from kexec-tools, installs the .deb itself."""
    base = system(layout)
    if loader == "kexec-tools" or scenario == "package-life":
        return base
    return deb_system(layout, base, project_deb(layout, deb))


def main(layout: CacheLayout, action: str, scenario: str | None, loader: str,
         deb: Path | None, crashkernel: str | None = None, *, crash_cpu: int = 0,
         ic_mode: str = "") -> int:  # fmt: skip
    from lab.debsys_run import require_tools, run_scenario

    install_host_tools()
    if action == "build":
        built = system_for(layout, loader, deb)
        size = built.image.stat().st_blocks * 512
        print(f"debsys image {built.image}: {size >> 20} MiB used, kernel "
              f"{built.kernel_version}, crashkernel={built.crashkernel}")  # fmt: skip
        return 0
    require_tools()
    scenario = scenario or "kdump"
    extra = package_life_files(layout, deb) if scenario == "package-life" else {}
    built = system_for(layout, loader, deb, scenario)
    report = run_scenario(layout, built, scenario, loader, extra=extra, crashkernel=crashkernel,
                          crash_cpu=crash_cpu, ic_mode=ic_mode)  # fmt: skip
    print(report.format())
    sys.stdout.flush()
    return 0 if report.passed else 1
