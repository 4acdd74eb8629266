# SPDX-License-Identifier: GPL-2.0-or-later
"""lab.kbuild and lab.krecipes without building (fragments, options), lab.file_scenarios."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from lab.assets import kernel_layout
from lab.errors import ScenarioError
from lab.file_scenarios import FALLBACK_NOTE, FILE_SCENARIOS, file_scenarios
from lab.kbuild import (
    KbuildLayout,
    KernelBuildError,
    _apply_patch,
    _check_patched,
    build_key,
    check_config,
    config_problems,
    parse_config,
    patched_files,
)
from lab.krecipes import (
    FRAGMENT,
    KEXEC_FILE,
    NOKEXEC,
    NOKEXEC_FRAGMENT,
    NONMI,
    NONMI_612,
    NONMI_FRAGMENT,
    NONMI_PATCH,
    RECIPES,
    REQUIRED_OPTIONS,
    Want,
)
from lab.model import Firmware, Kernel, Machine
from lab.paths import GUEST_DIR, CacheLayout
from lab.scenarios import SCENARIOS, render


def _good_config() -> str:
    """A synthetic olddefconfig output that satisfies every required option."""
    lines = ["#", "# Automatically generated file; DO NOT EDIT.", "#", 'CONFIG_LOCALVERSION="-x"']
    for name, want in REQUIRED_OPTIONS.items():
        if name == "CONFIG_KEXEC_SIG":
            continue  # absent: the symbol does not exist on powerpc 6.1
        lines.append(f"{name}=y" if want is Want.YES else f"# {name} is not set")
    return "\n".join(lines) + "\n"


def test_fragment_parses_and_states_every_required_option() -> None:
    fragment = parse_config(FRAGMENT.read_text(), origin=str(FRAGMENT))
    assert fragment["CONFIG_KEXEC_FILE"] == "y"
    assert fragment["CONFIG_MODULES"] is None
    assert config_problems(fragment) == []
    assert set(REQUIRED_OPTIONS) <= set(fragment)


def test_parse_config_values() -> None:
    text = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="s p"\nCONFIG_D=0x10\n\n# comment\n'
    assert parse_config(text) == {
        "CONFIG_A": "y", "CONFIG_B": None, "CONFIG_C": '"s p"', "CONFIG_D": "0x10",
    }  # fmt: skip


def test_parse_config_rejects_typos() -> None:
    with pytest.raises(KernelBuildError) as err:
        parse_config("CONFIG_A=y\nCONFIG_KEXEC_FILE y\n", origin="frag")
    assert err.value.problem == "not-kconfig"


def test_synthetic_config_passes() -> None:
    assert config_problems(parse_config(_good_config())) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("CONFIG_KEXEC_FILE=y", "# CONFIG_KEXEC_FILE is not set"),
         "CONFIG_KEXEC_FILE: want y, got not set"),
        (("CONFIG_HVC_CONSOLE=y\n", ""), "CONFIG_HVC_CONSOLE: want y, got not set"),
        (("CONFIG_PROC_VMCORE=y", "CONFIG_PROC_VMCORE=m"), "CONFIG_PROC_VMCORE: want y, got m"),
        (("# CONFIG_MODULES is not set", "CONFIG_MODULES=y"),
         "CONFIG_MODULES: want not set, got y"),
        (("#\n", "CONFIG_KEXEC_SIG=y\n"), "CONFIG_KEXEC_SIG: want not set, got y"),
    ],
)  # fmt: skip
def test_required_option_that_did_not_stick(edit: tuple[str, str], problem: str) -> None:
    text = _good_config().replace(*edit, 1)
    assert config_problems(parse_config(text)) == [problem]


def test_check_config_names_the_file_and_every_problem(tmp_path: Path) -> None:
    path = tmp_path / ".config"
    path.write_text(
        _good_config()
        .replace("CONFIG_KEXEC_FILE=y", "# CONFIG_KEXEC_FILE is not set")
        .replace("CONFIG_CRASH_DUMP=y", "CONFIG_CRASH_DUMP=n")
    )
    with pytest.raises(KernelBuildError) as info:
        check_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "CONFIG_KEXEC_FILE: want y, got not set" in message
    assert "CONFIG_CRASH_DUMP: want y, got n" in message
    path.write_text(_good_config())
    check_config(path)


def test_build_key_follows_inputs() -> None:
    key = build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 12")
    assert key == build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 12")
    assert key != build_key("6.1.193-1", b"CONFIG_A=y\n", "gcc 12")
    assert key != build_key("6.1.192-2", b"CONFIG_A=n\n", "gcc 12")
    assert key != build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 13")
    # a patch is an input; no patch keeps an unpatched build's key (no rebuild)
    assert key == build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 12", patch=b"")
    patched = build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 12", patch=b"+x\n")
    assert patched not in (key, build_key("6.1.192-2", b"CONFIG_A=y\n", "gcc 12", patch=b"+y\n"))


def test_up_to_date_needs_every_output_and_the_same_key(tmp_path: Path) -> None:
    kb = KbuildLayout(tmp_path)
    assert not kb.up_to_date("k1")
    for path in (kb.vmlinux, kb.config, kb.version_file):
        path.write_text("x\n")
    kb.key_file.write_text("k1\n")
    assert kb.up_to_date("k1")
    assert not kb.up_to_date("k2")
    kb.vmlinux.unlink()
    assert not kb.up_to_date("k1")


def test_with_kernel_swaps_vmlinux_and_version_only(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path)
    files = KbuildLayout.of(layout).files()
    swapped = layout.with_kernel(files)
    assert (swapped.vmlinux, swapped.kernel_version_file) == (files.vmlinux, files.version_file)
    assert files.vmlinux == tmp_path / "kbuild" / "vmlinux-kexec-file"
    assert (swapped.stamp, swapped.staging, swapped.debs) == (
        layout.stamp, layout.staging, layout.debs,
    )  # fmt: skip
    assert layout.vmlinux == tmp_path / "kernel" / "vmlinux"


def test_file_scenarios_are_data_on_the_file_syscall() -> None:
    names = [s.name for s in file_scenarios()]
    assert names == [
        "reference-file-kexec", "file-kexec", "file-kexec-auto", "file-kdump", "file-kdump-auto",
        "reference-nokexec-kexec", "nokexec-kexec", "reference-nokexec-kdump", "nokexec-kdump",
    ]  # fmt: skip
    layout = CacheLayout(Path("/nonexistent"))
    for s in file_scenarios():
        script = render(s)
        steps = [step.name for _, stage in s.stages for step in stage]
        assert len(steps) == len(set(steps)), f"{s.name}: a step function defined twice"
        assert "sh /lab/steps/kexec_file_kernel.sh" in script
        assert (
            "grep -q '^CONFIG_KEXEC_FILE=y'"
            in (GUEST_DIR / "steps/kexec_file_kernel.sh").read_text()
        )
        assert f'grep -q "{FALLBACK_NOTE}" /tmp/load.out' in script
        if "nokexec" in s.name:
            continue  # test_nokexec_scenarios
        assert s.kernel is Kernel.KEXEC_FILE_61
        assert ("$KEXEC -s " in script) != s.name.endswith("-auto")
        assert ("$KEXEC -d " in script) == s.name.endswith("-auto")
    for s in SCENARIOS.values():
        if s.name not in FILE_SCENARIOS:
            assert s.kernel is Kernel.DEBIAN_61
            assert kernel_layout(layout, s.kernel) is layout  # no build, no download


def test_nokexec_recipe_is_the_kexec_file_build_without_kexec_load() -> None:
    """The variant's fragment, merged onto the kexec-file fragment as the build merges it
    onto the copied .config, keeps every option but CONFIG_KEXEC."""
    merged = {**parse_config(FRAGMENT.read_text()), **parse_config(NOKEXEC_FRAGMENT.read_text())}
    assert merged["CONFIG_KEXEC"] is None and merged["CONFIG_KEXEC_FILE"] == "y"
    assert config_problems(merged, NOKEXEC.required) == []
    assert config_problems(merged, REQUIRED_OPTIONS) == ["CONFIG_KEXEC: want y, got not set"]
    assert NOKEXEC.base is KEXEC_FILE and NOKEXEC.build_dir != KEXEC_FILE.build_dir
    assert RECIPES[Kernel.NOKEXEC_61] is NOKEXEC


def test_nokexec_scenarios() -> None:
    """pykexec on the kernel without kexec_load: the default (-d shows it) loads, -c and
    --dtb are refused with the fix, the dry run names the syscall; kexec-tools: -s loads,
    its default, -c and -a recorded."""
    for name in ("nokexec-kexec", "nokexec-kdump"):
        s = FILE_SCENARIOS[name]
        script = render(s)
        assert s.kernel is Kernel.NOKEXEC_61
        assert "grep -qx '# CONFIG_KEXEC is not set' /tmp/config" in script
        action = "-p" if "kdump" in name else "-l"
        for flags, fix in (
            (f"-c {action}", "drop -c"),
            (f"--dtb=/tmp/fdt.dtb {action}", "drop --dtb"),
        ):
            assert f"$KEXEC {flags} " in script and f'grep -q -- "{fix}"' in script
        assert f"$KEXEC --dry-run {action} " in script and f"$KEXEC -d {action} " in script
    reference = render(FILE_SCENARIOS["reference-nokexec-kexec"])
    for flags in ("", "-c ", "-a "):
        assert f"$KEXEC {flags}-l /boot/vmlinux" in reference
    assert "$KEXEC -s -l /boot/vmlinux" in reference
    assert FILE_SCENARIOS["reference-nokexec-kdump"].kernel is Kernel.NOKEXEC_61


def test_measured_recipe_and_vtpm_machine(tmp_path: Path) -> None:
    """The measured kernel (kexec-file + vTPM driver + IMA_KEXEC) and its guest's vTPM:
    QEMU's tpm-spapr on the swtpm socket, only when the scenario asks for one."""
    from lab.krecipes import MEASURED, MEASURED_FRAGMENT
    from lab.vm import MachineConfig
    from lab.vtpm import VTPM_SCENARIOS

    merged = {**parse_config(FRAGMENT.read_text()), **parse_config(MEASURED_FRAGMENT.read_text())}
    assert config_problems(merged, MEASURED.required) == []
    assert MEASURED.base is KEXEC_FILE and RECIPES[Kernel.MEASURED_61] is MEASURED
    sock = tmp_path / "swtpm.sock"
    plain = MachineConfig(kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=())
    with_tpm = MachineConfig(kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=(),
                             tpm_socket=sock)  # fmt: skip
    assert "tpm-spapr,tpmdev=labtpm0" not in plain.argv()
    argv = with_tpm.argv()
    assert argv[argv.index("-chardev") + 1] == f"socket,id=labtpm,path={sock}"
    assert "tpm-spapr,tpmdev=labtpm0" in argv
    for s in VTPM_SCENARIOS.values():
        assert s.vtpm and "ima_policy=tcb" in s.cmdline and s.firmware is Firmware.SLOF
    # kexec_file_load carries IMA's list only with IMA_KEXEC (the measured build);
    # kexec_load needs IMA and the vTPM driver, which Debian's 6.1 has built in.
    assert VTPM_SCENARIOS["vtpm-ima-file"].kernel is Kernel.MEASURED_61
    assert VTPM_SCENARIOS["vtpm-ima-load"].kernel is Kernel.DEBIAN_61
    assert "$LAB_ima_sha256" in render(VTPM_SCENARIOS["vtpm-ima-file"])


def test_pseries_firmware(tmp_path: Path) -> None:
    """VOF by default, SLOF when asked (plain -M pseries); a vTPM needs SLOF, which sends
    TPM2_Startup; a firmware choice is for pseries only."""
    from lab.vm import MachineConfig
    from lab.vtpm import VTPM_SCENARIOS

    def machine(config: MachineConfig) -> str:
        argv = config.argv()
        return argv[argv.index("-M") + 1]

    k, i = tmp_path / "k", tmp_path / "i"
    assert machine(MachineConfig(k, i, ())) == "pseries,x-vof=on"
    assert machine(MachineConfig(k, i, (), firmware=Firmware.SLOF)) == "pseries"
    assert machine(MachineConfig(k, i, (), machine=Machine.POWERNV)) == "powernv9"
    vtpm = VTPM_SCENARIOS["vtpm-ima-file"]
    with pytest.raises(ScenarioError) as err:
        dataclasses.replace(vtpm, firmware=Firmware.VOF)
    assert err.value.problem == "vtpm-firmware"
    with pytest.raises(ScenarioError) as err:
        dataclasses.replace(SCENARIOS["kexec"], machine=Machine.POWERNV, firmware=Firmware.SLOF)
    assert err.value.problem == "firmware"


_SMP_C = "arch/powerpc/platforms/pseries/smp.c"


def test_nonmi_recipe_is_the_kexec_file_build_with_the_patch() -> None:
    """nonmi-6.1: the kexec-file options (its fragment renames the release and pins the
    NMI IPI fallback), the patch as data, one file patched: pseries_cause_nmi_ipi returns
    0 before its hcall."""
    merged = {**parse_config(FRAGMENT.read_text()), **parse_config(NONMI_FRAGMENT.read_text())}
    assert config_problems(merged, NONMI.required) == []
    assert merged["CONFIG_LOCALVERSION"] == '"-nonmi"'
    assert NONMI.base is KEXEC_FILE and NONMI.patch == NONMI_PATCH
    assert NONMI.build_dir not in (KEXEC_FILE.build_dir, NOKEXEC.build_dir)
    assert RECIPES[Kernel.NONMI_61] is NONMI and str(Kernel.NONMI_61) == "nonmi-6.1"
    text = NONMI_PATCH.read_text()
    assert text.splitlines()[0] == "# SPDX-License-Identifier: GPL-2.0-or-later"
    assert "run_on_cpu" in text and "lab/README.md" in text  # why: the QEMU deadlock
    assert patched_files(text) == (_SMP_C,)
    added = [line[1:].strip() for line in text.splitlines() if line.startswith("+") and
             not line.startswith("+++")]  # fmt: skip
    assert "return 0;" in added
    assert not any(line.startswith("-") and not line.startswith("---") for line in
                   text.splitlines())  # fmt: skip
    after = [line[1:].strip() for line in text.splitlines() if line[:1] in (" ", "+")]
    assert after.index("int hwcpu;") < after.index("return 0;")
    assert after.index("return 0;") < after.index("if (cpu == NMI_IPI_ALL_OTHERS) {")


def test_nonmi_612_recipe_is_6_12_with_crash_hotplug_and_the_patch(tmp_path: Path) -> None:
    """nonmi-6.12: bookworm-backports' linux-source-6.12 (fetched into the cache), the
    kexec-file fragment then hotplug-nonmi.config, the same nonmi patch, built from
    scratch in its own tree; CPU and memory hotplug and CRASH_HOTPLUG required."""
    r = NONMI_612
    assert RECIPES[Kernel.NONMI_612] is r and str(Kernel.NONMI_612) == "nonmi-6.12"
    assert r.source.backports and r.source.package == "linux-source-6.12"
    assert r.base is None and r.patch == NONMI_PATCH and r.fragment == FRAGMENT
    assert r.fragments() == (FRAGMENT, *r.extra_fragments) and len(r.extra_fragments) == 1
    merged: dict[str, str | None] = {}
    for fragment in r.fragments():
        merged.update(parse_config(fragment.read_text()))
    assert config_problems(merged, r.required) == []
    assert merged["CONFIG_LOCALVERSION"] == '"-nonmi-hotplug"'
    for option in ("CONFIG_HOTPLUG_CPU", "CONFIG_MEMORY_HOTPLUG", "CONFIG_CRASH_HOTPLUG"):
        assert r.required[option] is Want.YES
    assert {**r.required, **NONMI.required} == r.required  # nonmi-6.1's options, and more
    dirs = [x.build_dir for x in RECIPES.values()]
    assert len(set(dirs)) == len(dirs)
    six_one, six_twelve = KbuildLayout(tmp_path, NONMI), KbuildLayout(tmp_path, r)
    assert six_one.source == tmp_path / "linux-source-6.1"
    assert six_one.tarball == Path("/usr/src/linux-source-6.1.tar.xz")
    assert six_twelve.source == tmp_path / "linux-source-6.12"
    assert six_twelve.tarball.is_relative_to(tmp_path / "deb-linux-source-6.12")
    assert six_one.source_stamp != six_twelve.source_stamp
    # A second fragment is in the key; the 6.1 recipes' keys hash what they always did.
    assert r.fragment_bytes() != FRAGMENT.read_bytes()
    key = build_key("6.12.95-1~bpo12+1", r.fragment_bytes(), "gcc 12", patch=b"+x\n")
    assert key != build_key("6.12.95-1~bpo12+1", r.fragment_bytes(), "gcc 12", patch=b"+x\n",
                            source_package=r.source.package)  # fmt: skip
    for recipe in RECIPES.values():
        if recipe is not r:
            assert recipe.source.package == "linux-source-6.1"
            assert recipe.fragment_bytes() == recipe.fragment.read_bytes()


@pytest.mark.parametrize(
    ("diff", "problem"),
    [
        ("--- a/x.c\n+++ b/../x.c\n", "bad-patch-path"),
        ("--- a/x.c\n+++ /etc/x.c\n", "bad-patch-path"),
        ("# only a comment\n", "empty-patch"),
    ],
)
def test_patched_files_rejects(diff: str, problem: str) -> None:
    with pytest.raises(KernelBuildError) as err:
        patched_files(diff)
    assert err.value.problem == problem


def test_patched_files_reads_targets_once() -> None:
    diff = "--- a/a.c\t2026\n+++ b/a.c\t2026\n@@ -1 +1 @@\n-x\n+y\n+++ b/d/b.h\n+++ b/a.c\n"
    assert patched_files(diff) == ("a.c", "d/b.h")


def _nonmi_source(root: Path) -> None:
    """The patch's pre-image (its context and removed lines) as the source file."""
    lines = [
        line[1:]
        for line in NONMI_PATCH.read_text().splitlines()
        if line[:1] in (" ", "-") and not line.startswith("---")
    ]
    path = root / _SMP_C
    path.parent.mkdir(parents=True)
    path.write_text("static int pseries_cause_nmi_ipi(int cpu)\n" + "\n".join(lines) + "\n")


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch is not installed")
def test_patch_goes_to_a_copy_in_the_build_tree(tmp_path: Path) -> None:
    """The shared source stays as unpacked; the build tree's copy carries the change, and
    the object must be recorded as compiled from it (Kbuild's .<obj>.cmd)."""
    kb = KbuildLayout(tmp_path, NONMI)
    _nonmi_source(kb.source)
    kb.build.mkdir()
    original = (kb.source / _SMP_C).read_text()
    _apply_patch(kb, NONMI_PATCH)
    assert (kb.source / _SMP_C).read_text() == original
    assert "return 0;" in (kb.build / _SMP_C).read_text()
    assert not list(kb.build.rglob("*.orig")) and not list(kb.build.rglob("*.rej"))
    cmd = kb.build / "arch/powerpc/platforms/pseries/.smp.o.cmd"
    cmd.write_text(f"source_arch/powerpc/platforms/pseries/smp.o := {kb.source / _SMP_C}\n")
    with pytest.raises(KernelBuildError) as err:
        _check_patched(kb, NONMI_PATCH)
    assert err.value.problem == "patch-not-built"
    cmd.write_text(f"source_arch/powerpc/platforms/pseries/smp.o := {_SMP_C}\n")
    _check_patched(kb, NONMI_PATCH)
