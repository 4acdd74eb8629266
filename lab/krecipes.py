# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's kernel recipes, as data (built by :mod:`lab.kbuild`).

A :class:`Recipe` names its :class:`Source` (a Debian ``linux-source-*`` package),
defconfig, Kconfig fragments (``lab/kconfig/``), compiler, an optional patch
(``lab/kpatch/``), an optional base recipe whose build tree it starts from, and the
options that must stick after ``olddefconfig`` (checked by
:func:`lab.kbuild.check_config`); :data:`RECIPES` maps each lab-built
:class:`lab.model.Kernel` to its recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from lab.model import Kernel

CROSS_COMPILE = "powerpc64le-linux-gnu-"
# arch/powerpc/Makefile: pseries_le_defconfig = pseries_defconfig + le.config.
# (ppc64le_guest_defconfig exists in 6.1 too, but builds on the much larger
# ppc64_defconfig.)
BASE_DEFCONFIG = "pseries_le_defconfig"
FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "kexec-file.config"


class Want(str, Enum):
    """What a required Kconfig symbol must be in the final ``.config``."""

    YES = "y"
    UNSET = "not set"  # ``# CONFIG_X is not set``, or absent (symbol does not exist)

    def __str__(self) -> str:
        return self.value


# The options the lab's kexec_file scenarios depend on, checked after
# ``olddefconfig`` because Kconfig silently drops values whose dependencies fail.
REQUIRED_OPTIONS: Mapping[str, Want] = {
    "CONFIG_PPC64": Want.YES,
    "CONFIG_CPU_LITTLE_ENDIAN": Want.YES,
    "CONFIG_PPC_PSERIES": Want.YES,
    "CONFIG_PPC_POWERNV": Want.YES,
    "CONFIG_RELOCATABLE": Want.YES,
    "CONFIG_KEXEC": Want.YES,
    "CONFIG_KEXEC_FILE": Want.YES,
    "CONFIG_CRASH_DUMP": Want.YES,
    "CONFIG_PROC_VMCORE": Want.YES,
    "CONFIG_PROC_KCORE": Want.YES,
    "CONFIG_MAGIC_SYSRQ": Want.YES,
    "CONFIG_HVC_CONSOLE": Want.YES,  # hvc0, the pseries console (spapr-vty)
    "CONFIG_BLK_DEV_INITRD": Want.YES,
    "CONFIG_DEVTMPFS": Want.YES,
    "CONFIG_TMPFS": Want.YES,
    "CONFIG_SECURITY_LOCKDOWN_LSM": Want.YES,
    "CONFIG_DEBUG_INFO_NONE": Want.YES,
    "CONFIG_KEXEC_SIG": Want.UNSET,  # unsigned kernels must load
    "CONFIG_IMA": Want.UNSET,
    "CONFIG_PPC_SECURE_BOOT": Want.UNSET,
    "CONFIG_MODULES": Want.UNSET,
    "CONFIG_DRM": Want.UNSET,
    "CONFIG_SOUND": Want.UNSET,
    "CONFIG_USB_SUPPORT": Want.UNSET,
    "CONFIG_WIRELESS": Want.UNSET,
    "CONFIG_NETDEVICES": Want.UNSET,
}

BE_FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "be.config"
# The big-endian kernel (Kernel.BE_61): a next kernel for pykexec -l/-p from the
# little-endian first kernel, so no KEXEC_FILE, but a crash kernel's options.
BE_REQUIRED_OPTIONS: Mapping[str, Want] = {
    **{k: v for k, v in REQUIRED_OPTIONS.items() if k not in ("CONFIG_CPU_LITTLE_ENDIAN",
                                                              "CONFIG_KEXEC_FILE")},
    "CONFIG_CPU_BIG_ENDIAN": Want.YES,
    "CONFIG_CPU_LITTLE_ENDIAN": Want.UNSET,
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A Debian ``linux-source-*`` package: the kernel tree a recipe builds from."""

    package: str
    tarball: str  # its file under /usr/src/
    top: str  # the tarball's top directory, unpacked under <cache>/kbuild/
    stamp: str  # <cache>/kbuild/<stamp>: the package version the tree was unpacked from
    # False: the host's installed package (apt-get install); True: bookworm-backports'
    # .deb downloaded into <cache>/kbuild/deb-<package>/ with the lab's private apt
    # configuration (lab.assets.fetch_backports_deb) and extracted there.
    backports: bool = False


LINUX_61 = Source("linux-source-6.1", "linux-source-6.1.tar.xz", "linux-source-6.1",
                  "source.version")  # fmt: skip
# powerpc's CONFIG_CRASH_HOTPLUG is 6.10's (arch/powerpc/Kconfig ARCH_SUPPORTS_CRASH_HOTPLUG);
# in 6.12 pseries_le_defconfig is ppc64le_guest_defconfig (arch/powerpc/Makefile).
LINUX_612 = Source("linux-source-6.12", "linux-source-6.12.tar.xz", "linux-source-6.12",
                   "source-6.12.version", backports=True)  # fmt: skip
# The 6.1 recipes' keys hash this name as they did before sources were per recipe.
SOURCE_PACKAGE = LINUX_61.package


@dataclass(frozen=True)
class Recipe:
    """One lab kernel build: defconfig + fragment, compiler, the options that must stick."""

    name: str  # suffix of the stored files (vmlinux-<name>, ...) and of LOCALVERSION
    base_defconfig: str
    fragment: Path
    cross_compile: str
    required: Mapping[str, Want]
    build_dir: str  # make O=, under <cache>/kbuild/
    extra_packages: tuple[str, ...] = ()  # host packages beyond HOST_PACKAGES and the compiler
    # A variant built incrementally: a copy of ``base``'s build tree with ``fragment``
    # merged onto its .config (kbuild's fixdep rebuilds only the objects whose options
    # changed), instead of defconfig + fragment from scratch.
    base: Recipe | None = None
    # A unified diff (-p1) against the source tree, applied to copies of its files
    # inside this recipe's build tree (:func:`lab.kbuild._apply_patch`); part of the key.
    patch: Path | None = None
    source: Source = LINUX_61
    # Fragments merged after ``fragment`` (merge_config.sh: a later value wins).
    extra_fragments: tuple[Path, ...] = ()

    def fragments(self) -> tuple[Path, ...]:
        """Every fragment the build merges, in order (a variant's base's included)."""
        own = (self.fragment, *self.extra_fragments)
        return own if self.base is None else (*self.base.fragments(), *own)

    def fragment_bytes(self) -> bytes:
        """Its own fragments' bytes, as the key hashes them (one fragment: its bytes)."""
        extra = b"".join(b"\0fragment\0" + f.read_bytes() for f in self.extra_fragments)
        return self.fragment.read_bytes() + extra


KEXEC_FILE = Recipe(
    "kexec-file", BASE_DEFCONFIG, FRAGMENT, CROSS_COMPILE, REQUIRED_OPTIONS, "build"
)
# arch/powerpc/configs/pseries_defconfig is big-endian (pseries_le_defconfig adds le.config).
NOKEXEC_FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "nokexec.config"
# The kernel without kexec_load (Kernel.NOKEXEC_61, as RHEL 10 ships): KEXEC_FILE's
# options but CONFIG_KEXEC unset; crash dumps still load through kexec_file_load.
NOKEXEC_REQUIRED_OPTIONS: Mapping[str, Want] = {**REQUIRED_OPTIONS, "CONFIG_KEXEC": Want.UNSET}
MEASURED_FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "measured.config"
# The kexec-file kernel with the pseries vTPM driver and IMA (Kernel.MEASURED_61):
# measured boot across kexec (issue 18 item 5), measuring only (no appraisal).
MEASURED_REQUIRED_OPTIONS: Mapping[str, Want] = {
    **REQUIRED_OPTIONS,
    "CONFIG_IMA": Want.YES,
    "CONFIG_IMA_KEXEC": Want.YES,
    "CONFIG_TCG_IBMVTPM": Want.YES,
    "CONFIG_IMA_APPRAISE": Want.UNSET,
}
NONMI_FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "nonmi.config"
NONMI_PATCH = Path(__file__).resolve().parent / "kpatch" / "nonmi.patch"
# The kexec-file kernel whose pseries crash path sends ordinary IPIs, not the
# H_SIGNAL_SYS_RESET NMI IPI that deadlocks QEMU 10's multi-threaded TCG with SMT
# (Kernel.NONMI_61; an emulation workaround: lab/README.md "SMT and POWER10 on QEMU 10").
NONMI_REQUIRED_OPTIONS: Mapping[str, Want] = {
    **REQUIRED_OPTIONS,
    "CONFIG_SMP": Want.YES,
    "CONFIG_NMI_IPI": Want.YES,  # do_smp_send_nmi_ipi's ordinary-IPI fallback
}
BIG_ENDIAN = Recipe(
    "be", "pseries_defconfig", BE_FRAGMENT, "powerpc64-linux-gnu-", BE_REQUIRED_OPTIONS, "build-be",
    extra_packages=("libc6-dev-ppc64-cross",),  # lab.beinit's static init
)  # fmt: skip
NOKEXEC = Recipe(
    "nokexec", BASE_DEFCONFIG, NOKEXEC_FRAGMENT, CROSS_COMPILE, NOKEXEC_REQUIRED_OPTIONS,
    "build-nokexec", base=KEXEC_FILE,
)  # fmt: skip
MEASURED = Recipe(
    "measured", BASE_DEFCONFIG, MEASURED_FRAGMENT, CROSS_COMPILE, MEASURED_REQUIRED_OPTIONS,
    "build-measured", base=KEXEC_FILE,
)  # fmt: skip
NONMI = Recipe(
    "nonmi", BASE_DEFCONFIG, NONMI_FRAGMENT, CROSS_COMPILE, NONMI_REQUIRED_OPTIONS,
    "build-nonmi", base=KEXEC_FILE, patch=NONMI_PATCH,
)  # fmt: skip
HOTPLUG_FRAGMENT = Path(__file__).resolve().parent / "kconfig" / "hotplug-nonmi.config"
# Kernel.NONMI_612: the nonmi kernel on 6.12 with crash hotplug, for pseries SMT crash
# hotplug on QEMU 10 (issue 18; lab.hotplug_scenarios' SMT scenarios).  6.1 has no
# CONFIG_CRASH_HOTPLUG; bookworm-backports' 6.12 has it but sends the NMI IPI.
# The kexec-file fragment, then hotplug-nonmi.config; lab/kpatch/nonmi.patch applies to
# 6.12's arch/powerpc/platforms/pseries/smp.c unchanged (same context, same line).
NONMI_612_REQUIRED_OPTIONS: Mapping[str, Want] = {
    **NONMI_REQUIRED_OPTIONS,
    "CONFIG_HOTPLUG_CPU": Want.YES,
    "CONFIG_MEMORY_HOTPLUG": Want.YES,
    "CONFIG_CRASH_HOTPLUG": Want.YES,
    # ppc64_defconfig's boot-time tests, built in without modules (hotplug-nonmi.config)
    "CONFIG_RUNTIME_TESTING_MENU": Want.UNSET,
    "CONFIG_KUNIT": Want.UNSET,
    "CONFIG_LOCK_TORTURE_TEST": Want.UNSET,
    "CONFIG_CRYPTO_TEST": Want.UNSET,
    "CONFIG_DEBUG_VM": Want.UNSET,
}
NONMI_612 = Recipe(
    "nonmi-6.12", BASE_DEFCONFIG, FRAGMENT, CROSS_COMPILE, NONMI_612_REQUIRED_OPTIONS,
    "build-nonmi-6.12", patch=NONMI_PATCH, source=LINUX_612, extra_fragments=(HOTPLUG_FRAGMENT,),
)  # fmt: skip


RECIPES: dict[Kernel, Recipe] = {
    Kernel.KEXEC_FILE_61: KEXEC_FILE,
    Kernel.BE_61: BIG_ENDIAN,
    Kernel.NOKEXEC_61: NOKEXEC,
    Kernel.MEASURED_61: MEASURED,
    Kernel.NONMI_61: NONMI,
    Kernel.NONMI_612: NONMI_612,
}
