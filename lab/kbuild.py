# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab build-kernel``: a ppc64le kernel WITH ``kexec_file_load(2)``.

Debian's ppc64el kernels are built without ``CONFIG_KEXEC_FILE`` (the syscall
returns ENOSYS), so the lab builds its own from a Debian ``linux-source-*``
package (:class:`Source`: the host's installed ``linux-source-6.1``, or
bookworm-backports' ``linux-source-6.12`` fetched into the cache, never
installed): ``pseries_le_defconfig`` merged with ``lab/kconfig/kexec-file.config``
(``scripts/kconfig/merge_config.sh``), cross-compiled with
``powerpc64le-linux-gnu-gcc``, ``vmlinux`` only.  Everything lives in the lab
cache under ``kbuild/`` (never in the repo); the result is keyed by a hash of
its inputs (source package version, fragments, compiler, this module's build
format) and not rebuilt while they are unchanged.

This module owns the fragments' checks (each recipe's required options, pure and
unit-tested; the recipes are data in :mod:`lab.krecipes`) and the build steps;
``setup`` never calls it (it is slow): the scenarios that need the kernel call
:func:`ensure_kernel` on demand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.krecipes import (
    BASE_DEFCONFIG,
    KEXEC_FILE,
    RECIPES,
    REQUIRED_OPTIONS,
    SOURCE_PACKAGE,
    Recipe,
    Want,
)
from lab.model import Kernel
from lab.paths import CacheLayout, KernelFiles

ARCH = "powerpc"
# Bumped whenever the build steps below change what they produce (in the key).
BUILD_FORMAT = "1"
# Host packages the build needs (Debian names); installed with apt if missing, with the
# recipe's source package when that comes from the host (Source.backports False).
HOST_PACKAGES: tuple[str, ...] = (
    "gcc-powerpc64le-linux-gnu", "bc", "bison", "flex", "libssl-dev",
    "libelf-dev", "make", "cpio", "kmod", "dwarves",
)  # fmt: skip
QEMU_PATTERN = "qemu-system-ppc64"
NICE = "15"  # builds yield the CPUs to QEMU guests and other work


class KernelBuildError(LabError):
    """Building the KEXEC_FILE kernel failed; the message names the step."""


def parse_config(text: str, *, origin: str = ".config") -> dict[str, str | None]:
    """Kconfig assignments: ``CONFIG_X=v`` -> ``v``, ``# CONFIG_X is not set`` -> None.

    Other comments and blank lines are skipped; anything else raises (a typo in
    a fragment must not be silently ignored).
    """
    values: dict[str, str | None] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            values[line[2:].removesuffix(" is not set")] = None
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
        elif line and not line.startswith("#"):
            raise KernelBuildError(
                f"{origin}:{number}: not a Kconfig assignment: {raw!r}", problem="not-kconfig"
            )
    return values


def config_problems(
    config: Mapping[str, str | None], required: Mapping[str, Want] = REQUIRED_OPTIONS
) -> list[str]:
    """One line per required option whose value in ``config`` is wrong."""
    problems = []
    for name, want in required.items():
        got = config.get(name)
        if want is Want.YES and got != "y":
            problems.append(f"{name}: want y, got {'not set' if got is None else got}")
        elif want is Want.UNSET and got not in (None, "n"):
            problems.append(f"{name}: want not set, got {got}")
    return problems


def check_config(path: Path, recipe: Recipe = KEXEC_FILE) -> None:
    """Raise unless the ``.config`` at ``path`` has every value ``recipe`` requires."""
    problems = config_problems(parse_config(path.read_text(), origin=str(path)), recipe.required)
    if problems:
        raise KernelBuildError(
            f"{path}: required options did not stick after merging "
            f"{'+'.join(f.name for f in recipe.fragments())} onto "
            f"{recipe.base_defconfig} (a dependency is missing; fix the fragment):\n  "
            + "\n  ".join(problems)
        )


@dataclass(frozen=True)
class KbuildLayout:
    """``<cache>/kbuild/``: source tree, build tree and the stored results."""

    root: Path
    recipe: Recipe = KEXEC_FILE

    @classmethod
    def of(cls, layout: CacheLayout, recipe: Recipe = KEXEC_FILE) -> KbuildLayout:
        return cls(layout.root / "kbuild", recipe)

    @property
    def source(self) -> Path:
        return self.root / self.recipe.source.top

    @property
    def source_stamp(self) -> Path:
        """The package version the source tree was unpacked from."""
        return self.root / self.recipe.source.stamp

    @property
    def source_debs(self) -> Path:
        """Where a backports source package's .deb is downloaded and extracted."""
        return self.root / f"deb-{self.recipe.source.package}"

    @property
    def tarball(self) -> Path:
        src = self.recipe.source
        base = self.source_debs / "root" if src.backports else Path("/")
        return base / "usr" / "src" / src.tarball

    @property
    def build(self) -> Path:
        return self.root / self.recipe.build_dir  # make O=

    @property
    def vmlinux(self) -> Path:
        return self.root / f"vmlinux-{self.recipe.name}"

    @property
    def config(self) -> Path:
        return self.root / f"config-{self.recipe.name}"

    @property
    def version_file(self) -> Path:
        return self.root / f"version-{self.recipe.name}"

    @property
    def key_file(self) -> Path:
        """Written last: the inputs' hash of the stored vmlinux."""
        return self.root / f"key-{self.recipe.name}"

    def version(self) -> str:
        return self.version_file.read_text().strip()

    def files(self) -> KernelFiles:
        """The stored kernel, for :meth:`lab.paths.CacheLayout.with_kernel`."""
        return KernelFiles(self.vmlinux, self.version_file)

    def up_to_date(self, key: str) -> bool:
        outputs = (self.vmlinux, self.config, self.version_file, self.key_file)
        return all(p.is_file() for p in outputs) and self.key_file.read_text().strip() == key


@dataclass(frozen=True)
class BuildResult:
    """What :func:`ensure_kernel` produced or found."""

    vmlinux: Path
    version: str
    key: str
    seconds: float  # 0.0 when the cached kernel was reused
    built: bool


def _run(argv: list[str], *, cwd: Path | None = None, log: Path | None = None) -> str:
    """Run a build command; its output goes to ``log`` (if given) and is shown on failure."""
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    if log is None:
        done = subprocess.run(argv, cwd=cwd, text=True, capture_output=True, check=False)
        output = done.stdout + done.stderr
    else:
        with log.open("w") as f:
            done = subprocess.run(argv, cwd=cwd, text=True, stdout=f, stderr=subprocess.STDOUT,
                                  check=False)  # fmt: skip
        output = log.read_text(errors="replace")
    if done.returncode != 0:
        where = f" (full log: {log})" if log else ""
        raise KernelBuildError(
            f"`{' '.join(argv)}` exited {done.returncode}{where}:\n{output.strip()[-3000:]}"
        )
    return done.stdout if log is None else output


def _package_version(package: str) -> str | None:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", package],
                          text=True, capture_output=True, check=False)  # fmt: skip
    status, _, version = done.stdout.partition("|")
    return version if done.returncode == 0 and status.endswith(" installed") else None


def ensure_host_tools(layout: CacheLayout, kb: KbuildLayout) -> str:
    """Install the build's host packages if any is missing (and fetch a backports source
    package); the source package version."""
    recipe, src = kb.recipe, kb.recipe.source
    tools = (f"{recipe.cross_compile}gcc", "bc", "bison", "flex", "make", "cpio", "pahole")
    host_source = () if src.backports else (src.package,)
    if (not src.backports and not kb.tarball.is_file()) or not all(shutil.which(t) for t in tools):
        packages = (*host_source, *HOST_PACKAGES, *recipe.extra_packages)
        if os.geteuid() != 0:
            raise KernelBuildError(
                f"host packages missing; run as root or `apt-get install {' '.join(packages)}`"
            )
        compiler = f"gcc-{recipe.cross_compile.rstrip('-')}"
        _run(["apt-get", "install", "-y", "--no-install-recommends", *packages, compiler])
    if src.backports:
        return _fetch_backports_source(layout, kb)
    version = _package_version(src.package)
    if version is None or not kb.tarball.is_file():
        raise KernelBuildError(f"{src.package} is not installed ({kb.tarball} missing)")
    return version


def _fetch_backports_source(layout: CacheLayout, kb: KbuildLayout) -> str:
    """bookworm-backports' source package, downloaded and extracted under the cache on
    first use (``extracted`` names the .deb; remove it to fetch the suite's newest); its
    version."""
    done = kb.source_debs / "extracted"
    debs = sorted(kb.source_debs.glob(f"{kb.recipe.source.package}_*.deb"))
    if not (done.is_file() and kb.tarball.is_file() and len(debs) == 1
            and done.read_text().strip() == debs[0].name):  # fmt: skip
        # lab.assets imports this module (kernel_files builds on demand): imported here.
        from lab import assets

        deb = assets.fetch_backports_deb(layout, kb.recipe.source.package, kb.source_debs)
        shutil.rmtree(kb.source_debs / "root", ignore_errors=True)
        done.unlink(missing_ok=True)
        _run(["dpkg-deb", "-x", str(deb), str(kb.source_debs / "root")])
        done.write_text(deb.name + "\n")
        debs = [deb]
    return _run(["dpkg-deb", "-f", str(debs[0]), "Version"]).strip()


def _compiler_version(recipe: Recipe) -> str:
    return _run([f"{recipe.cross_compile}gcc", "--version"]).splitlines()[0]


def build_key(
    source_version: str,
    fragment: bytes,
    compiler: str,
    defconfig: str = BASE_DEFCONFIG,
    patch: bytes = b"",
    source_package: str = SOURCE_PACKAGE,
) -> str:
    """The hash naming one build's inputs (an unpatched build's key leaves ``patch`` out)."""
    h = hashlib.sha256()
    for part in (BUILD_FORMAT, source_package, source_version, defconfig, compiler):
        h.update(part.encode() + b"\0")
    h.update(fragment)
    if patch:
        h.update(b"\0patch\0" + patch)
    return h.hexdigest()[:16]


def patched_files(diff: str, *, origin: str = "patch") -> tuple[str, ...]:
    """The source-relative paths a ``-p1`` unified diff changes (its ``+++ b/...`` lines).

    Raises unless there is at least one and each stays inside the tree: the build
    copies exactly these files next to its objects before patching them.
    """
    paths = []
    for line in diff.splitlines():
        if not line.startswith("+++ "):
            continue
        target = line[4:].split("\t")[0].strip()
        _, _, rel = target.partition("/")
        parts = Path(rel).parts
        if not rel or target.startswith("/") or ".." in parts or rel.startswith("/"):
            raise KernelBuildError(f"{origin}: not a -p1 path inside the tree: {line!r}",
                                   problem="bad-patch-path")  # fmt: skip
        paths.append(rel)
    if not paths:
        raise KernelBuildError(f"{origin}: no '+++ b/<file>' line: not a unified diff",
                               problem="empty-patch")  # fmt: skip
    return tuple(dict.fromkeys(paths))


def _unpack(kb: KbuildLayout, source_version: str) -> None:
    stamp = kb.source_stamp
    if kb.source.is_dir() and stamp.is_file() and stamp.read_text().strip() == source_version:
        return
    same_source = (r.build_dir for r in RECIPES.values() if r.source == kb.recipe.source)
    for stale in (kb.source, *(kb.root / d for d in same_source)):
        if stale.exists():
            shutil.rmtree(stale)
    stamp.unlink(missing_ok=True)
    kb.root.mkdir(parents=True, exist_ok=True)
    _run(["tar", "-xJf", str(kb.tarball), "-C", str(kb.root)])
    stamp.write_text(source_version + "\n")


def _make(kb: KbuildLayout, *targets: str, jobs: int = 1, log: Path | None = None) -> str:
    argv = ["make", "-C", str(kb.source), f"O={kb.build}", f"ARCH={ARCH}",
            f"CROSS_COMPILE={kb.recipe.cross_compile}", f"-j{jobs}", *targets]  # fmt: skip
    return _run(["nice", "-n", NICE, *argv], log=log)


def _configure(kb: KbuildLayout) -> None:
    base = kb.recipe.base
    if base is not None:  # a copy of the base's objects, timestamps kept (cp -a)
        if kb.build.exists():
            shutil.rmtree(kb.build)
        _run(["cp", "-a", str(KbuildLayout(kb.root, base).build), str(kb.build)])
    else:
        kb.build.mkdir(parents=True, exist_ok=True)
        _make(kb, kb.recipe.base_defconfig)
    config = kb.build / ".config"
    merge = kb.source / "scripts" / "kconfig" / "merge_config.sh"
    # -m: merge only; olddefconfig below resolves dependencies; check_config
    # then proves that what we asked for stuck.
    fragments = [str(f) for f in (kb.recipe.fragment, *kb.recipe.extra_fragments)]
    _run(["sh", str(merge), "-m", "-O", str(kb.build), str(config), *fragments],
         cwd=kb.build)  # fmt: skip
    _make(kb, "olddefconfig")
    check_config(config, kb.recipe)
    if kb.recipe.patch is not None:
        _apply_patch(kb, kb.recipe.patch)


def _apply_patch(kb: KbuildLayout, patch: Path) -> None:
    """Patch copies of the source files inside the build tree, never the shared source.

    Kbuild builds out of tree with ``VPATH := $(srctree)`` (Makefile) and the rule
    ``$(obj)/%.o: $(src)/%.c`` (scripts/Makefile.build), so make takes a prerequisite
    found in the build tree before the source tree's; the object's recorded command
    names the other file, so exactly the patched objects are rebuilt.
    """
    for rel in patched_files(patch.read_text(), origin=str(patch)):
        shadow = kb.build / rel
        shadow.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kb.source / rel, shadow)
    _run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
          "-d", str(kb.build), "-i", str(patch)])  # fmt: skip


def _check_patched(kb: KbuildLayout, patch: Path) -> None:
    """Raise unless every patched C file's object was compiled from the patched copy."""
    for rel in patched_files(patch.read_text(), origin=str(patch)):
        if not rel.endswith(".c"):
            continue
        obj = rel.removesuffix(".c") + ".o"
        cmd = kb.build / Path(obj).parent / f".{Path(obj).name}.cmd"
        text = cmd.read_text() if cmd.is_file() else ""
        if f"source_{obj} := {rel}\n" not in text:
            raise KernelBuildError(
                f"{cmd}: {obj} was not compiled from the patched {kb.build / rel} "
                f"({patch.name}); the build would not carry the patch",
                problem="patch-not-built",
            )


def build_jobs() -> int:
    """``-j1`` while any QEMU guest runs (their TCG threads must not starve), else all CPUs;
    ``$PYKEXEC_LAB_JOBS`` overrides."""
    if os.environ.get("PYKEXEC_LAB_JOBS", "").isdigit():
        return max(1, int(os.environ["PYKEXEC_LAB_JOBS"]))
    busy = subprocess.run(["pgrep", "-f", QEMU_PATTERN], capture_output=True, check=False)
    return 1 if busy.returncode == 0 else max(1, os.cpu_count() or 1)


def _store(kb: KbuildLayout, key: str, source_version: str) -> str:
    release = _make(kb, "-s", "kernelrelease").strip().splitlines()[-1]
    for path in (kb.vmlinux, kb.config, kb.version_file, kb.key_file):
        path.unlink(missing_ok=True)
    partial = kb.vmlinux.with_suffix(f".partial-{os.getpid()}")
    shutil.copyfile(kb.build / "vmlinux", partial)
    partial.rename(kb.vmlinux)
    shutil.copyfile(kb.build / ".config", kb.config)
    r = kb.recipe
    fragments = "+".join(f.name for f in (*r.fragments(), *((r.patch,) if r.patch else ())))
    version = f"{release} ({r.source.package} {source_version}, {r.base_defconfig}+{fragments})"
    kb.version_file.write_text(version + "\n")
    kb.key_file.write_text(key + "\n")
    return version


def ensure_kernel(
    layout: CacheLayout, *, force: bool = False, recipe: Recipe = KEXEC_FILE
) -> BuildResult:
    """``recipe``'s ``vmlinux`` in the cache, built if missing or its inputs changed."""
    kb = KbuildLayout.of(layout, recipe)
    source_version = ensure_host_tools(layout, kb)
    compiler = _compiler_version(recipe)
    patch = recipe.patch.read_bytes() if recipe.patch is not None else b""
    key = build_key(source_version, recipe.fragment_bytes(), compiler, recipe.base_defconfig,
                    patch, recipe.source.package)  # fmt: skip
    if recipe.base is not None:  # the base's key (its inputs) is part of the variant's
        base_key = _base_for_variant(layout, recipe.base)
        key = hashlib.sha256(f"{base_key}\0{key}".encode()).hexdigest()[:16]
    if not force and kb.up_to_date(key):
        return BuildResult(kb.vmlinux, kb.version(), key, 0.0, built=False)
    started = time.monotonic()
    _unpack(kb, source_version)
    _configure(kb)
    jobs = build_jobs()
    log = kb.root / ("build.log" if recipe is KEXEC_FILE else f"build-{recipe.name}.log")
    print(f"building vmlinux with -j{jobs} (nice {NICE}); log: {log}", file=sys.stderr, flush=True)
    _make(kb, "vmlinux", jobs=jobs, log=log)
    if recipe.patch is not None:
        _check_patched(kb, recipe.patch)
    version = _store(kb, key, source_version)
    return BuildResult(kb.vmlinux, version, key, time.monotonic() - started, built=True)


def _base_for_variant(layout: CacheLayout, base: Recipe) -> str:
    """``base``'s key, its build tree complete (built again if it was removed)."""
    result = ensure_kernel(layout, recipe=base)
    if not (KbuildLayout.of(layout, base).build / "vmlinux").is_file():
        result = ensure_kernel(layout, force=True, recipe=base)
    return result.key


def ensure_files(layout: CacheLayout, kernel: Kernel) -> KernelFiles:
    """The lab-built ``kernel`` (see :class:`lab.model.Kernel`), built if needed."""
    recipe = RECIPES.get(kernel)
    if recipe is None:
        raise KernelBuildError(f"the lab builds no kernel named {kernel}")
    ensure_kernel(layout, recipe=recipe)
    return KbuildLayout.of(layout, recipe).files()


def main(layout: CacheLayout, kernel: Kernel = Kernel.KEXEC_FILE_61) -> int:
    """``build-kernel``: build or reuse, print what and how long."""
    result = ensure_kernel(layout, recipe=RECIPES[kernel])
    how = f"built in {result.seconds:.0f} s" if result.built else "up to date"
    print(f"{result.vmlinux}: {result.version} [key {result.key}] {how}")
    return 0
