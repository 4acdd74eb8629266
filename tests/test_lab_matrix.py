# SPDX-License-Identifier: GPL-2.0-or-later
"""lab.matrix, lab.kernels and lab.assets' kernel lookups, without QEMU or a network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab import beinit, matrix
from lab.assets import BACKPORTS_KERNELS, image_package, kernel_layout
from lab.catalog import ALL_SCENARIOS
from lab.errors import AssetError, ScenarioError
from lab.hotplug import PSERIES10_CORE, add_core, add_dimm
from lab.hotplug_scenarios import SMT_HOTPLUG_SCENARIOS
from lab.judge import Report, low64k_problem
from lab.kbuild import config_problems, parse_config
from lab.kernels import KERNEL_FACTS, MAKEDUMPFILE, for_kernel
from lab.krecipes import BIG_ENDIAN
from lab.model import SID_KEXEC, Kernel, Loader, Machine, Qemu, Stage, render
from lab.paths import CacheLayout
from lab.vm import MachineConfig
from tests.oracles import require_tool

# `apt-cache depends linux-image-powerpc64le-64k:ppc64el` against bookworm-backports.
DEPENDS_64K = """linux-image-powerpc64le-64k:ppc64el
  Depends: linux-image-6.12.95+deb12-powerpc64le-64k:ppc64el
"""


def test_image_package_from_apt_cache_depends() -> None:
    assert image_package(DEPENDS_64K, "m") == "linux-image-6.12.95+deb12-powerpc64le-64k"
    four_k = DEPENDS_64K.replace("-64k", "")
    assert image_package(four_k, "m") == "linux-image-6.12.95+deb12-powerpc64le"
    with pytest.raises(AssetError) as err:
        image_package("linux-image-powerpc64le:ppc64el\n", "m")
    assert err.value.problem == "no-image-package"


def test_every_kernel_has_facts_and_a_source() -> None:
    assert set(KERNEL_FACTS) == set(Kernel)
    assert set(BACKPORTS_KERNELS) == {Kernel.BPO_612, Kernel.BPO_612_64K}
    layout = CacheLayout(Path("/nonexistent"))
    assert kernel_layout(layout, Kernel.DEBIAN_61) is layout


def test_makedumpfile_skipped_with_its_reason_only_where_unsupported() -> None:
    kdump = ALL_SCENARIOS["kdump"]
    assert for_kernel(kdump) is kdump
    on_612 = for_kernel(kdump.with_overrides(kernel=Kernel.BPO_612))
    step = next(s for s in on_612.steps(Stage.CRASH) if s.name == MAKEDUMPFILE)
    assert "/lab/steps/makedumpfile.sh" in render(kdump)
    assert "/lab/steps/makedumpfile.sh" not in render(on_612)
    assert step.script.startswith(f"lab_result {MAKEDUMPFILE}_skipped ")
    assert [s.name for s in on_612.steps(Stage.CRASH)] == [s.name for s in kdump.steps(Stage.CRASH)]


def test_matrix_cells_name_catalog_scenarios() -> None:
    for cell in (*matrix.FULL, *matrix.CI):
        for name in cell.names:
            s = matrix.scenario_for(name, cell)
            assert (s.kernel, s.cpus, s.threads) == (cell.kernel, cell.cpus, cell.threads)
            assert s.machine is cell.machine
    assert {c.kernel for c in matrix.CI} == {Kernel.BPO_612, Kernel.BPO_612_64K}
    assert len(matrix.FULL) == len(set(matrix.FULL))


def test_run_matrix_puts_both_loaders_side_by_side(tmp_path: Path) -> None:
    cell = matrix.Cell(Kernel.BPO_612, Machine.PSERIES, "kdump", 1, 1)
    seen: list[str] = []

    def fake(name: str, c: matrix.Cell) -> Report:
        seen.append(name)
        r = Report(name, "v", tmp_path / "log", {}, passed=name == "reference-kdump")
        r.timings.append(("total", 12.34))
        return r

    lines = list(matrix.run_matrix([cell], fake, tmp_path / "lock"))
    assert seen == ["reference-kdump", "kdump"]
    assert lines[-1] == "| bpo-6.12 | pseries | kdump | 1 | pass 12.3 s | FAIL 12.3 s |"


def _distinct_renderings() -> dict[str, str]:
    """Each distinct rendered scenario once (variants can render byte-identically),
    named by the first scenario that renders it."""
    seen: dict[str, str] = {}
    for name in sorted(ALL_SCENARIOS):
        seen.setdefault(render(ALL_SCENARIOS[name]), name)
    return {name: text for text, name in seen.items()}


def test_every_rendered_scenario_parses_as_shell() -> None:
    """``sh -n`` (the host's POSIX shell) reads every scenario the guest's /init sources."""
    failed = {}
    for name, text in _distinct_renderings().items():
        done = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True)
        if done.returncode:
            failed[name] = done.stderr
    assert failed == {}


def test_big_endian_fragment_states_every_required_option() -> None:
    fragment = parse_config(BIG_ENDIAN.fragment.read_text(), origin=str(BIG_ENDIAN.fragment))
    assert config_problems(fragment, BIG_ENDIAN.required) == []
    assert set(BIG_ENDIAN.required) <= set(fragment)
    assert fragment["CONFIG_CPU_BIG_ENDIAN"] == "y"
    assert KERNEL_FACTS[Kernel.BE_61].big_endian


def test_be_init_archive_is_newc_with_console_and_init() -> None:
    archive = beinit.archive(b"\x7fELF-stand-in")
    assert archive.startswith(b"070701")  # newc magic (cpio(5))
    for name in (b"dev/console\0", b"init\0", b"TRAILER!!!\0"):
        assert name in archive
    with pytest.raises(beinit.BeInitError) as err:
        beinit.check_binary(b"\x7fELF\x02\x01" + bytes(60))  # little-endian
    assert err.value.problem == "not-be-elf64"


def test_hotplug_room_and_qmp_in_qemu_argv(tmp_path: Path) -> None:
    hot = ALL_SCENARIOS["hotplug"]
    assert hot.hotplug is not None
    config = MachineConfig(
        kernel=tmp_path / "k", initrd=tmp_path / "i", cmdline=(), cpus=1, mem_mib=2048,
        hotplug=hot.hotplug, qmp=tmp_path / "qmp.sock",
    )  # fmt: skip
    argv = config.argv()
    assert argv[argv.index("-smp") + 1] == "1,maxcpus=2"
    assert argv[argv.index("-m") + 1] == "2048M,slots=2,maxmem=4096M"
    assert argv[argv.index("-qmp") + 1] == f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off"
    smt = MachineConfig(kernel=tmp_path, initrd=tmp_path, cmdline=(), cpus=4, threads=2)
    assert smt.smp() == "4,cores=2,threads=2"
    with pytest.raises(ScenarioError) as err:
        add_dimm(0, 100)
    assert err.value.problem == "dimm-size"
    with pytest.raises(ScenarioError) as err:
        add_core(1, threads=2)
    assert err.value.problem == "core-id"


@pytest.mark.parametrize("threads", [2, 4])
def test_smt_hotplug_adds_a_whole_core_on_qemu_10(tmp_path: Path, threads: int) -> None:
    """1 core x T threads at boot, QEMU 10, nonmi-6.12; the host adds core-id T (spapr
    numbers cores by their first thread) of QEMU 10's POWER10; the crash on the new
    core's last thread; 2T CPU notes required; the reference twin is sid's kexec-tools,
    without pykexec's --verify step; both on kexec_load; a matrix cell, not CI's."""
    cpus, names = 2 * threads, matrix.PAIRS[(Machine.PSERIES, f"smt{threads}-hotplug-nonmi")]
    assert names == (f"reference-pseries-smt{threads}-hotplug-nonmi",
                     f"pseries-smt{threads}-hotplug-nonmi")  # fmt: skip
    for name in names:
        s = SMT_HOTPLUG_SCENARIOS[name]
        assert ALL_SCENARIOS[name] is s
        assert (s.cpus, s.threads, s.qemu, s.kernel) == (threads, threads, Qemu.V10,
                                                         Kernel.NONMI_612)  # fmt: skip
        assert KERNEL_FACTS[s.kernel].crash_hotplug and not s.known_failure
        assert s.hotplug is not None and s.hotplug.max_cpus == cpus
        action = s.hotplug.action("hotplug")
        assert action is not None
        assert action.commands[0].kwargs() == {
            "driver": PSERIES10_CORE, "id": f"core{threads}", "core-id": threads,
        }  # fmt: skip
        script = render(s)
        assert "-c -p --hotplug" in script and f"hotplug_wait.sh {cpus} 512 60" in script
        assert f"thread_siblings.sh siblings_hot {cpus} {threads}" in script
        assert "crash_on_cpu.sh last" in script and "kcore low64k_before" in script
        assert s.low64k_check
        assert f"vmcore_note_types=CORE/1:{cpus}," in script
        reference = name.startswith("reference-")
        assert s.loader is (Loader.KEXEC if reference else Loader.PYKEXEC)
        assert s.sid_kexec is reference and (f'KEXEC="{SID_KEXEC}"' in script) is reference
        assert ("lab_step_verify_hot" in script) is not reference
        config = MachineConfig(kernel=tmp_path, initrd=tmp_path, cmdline=(), cpus=s.cpus,
                               threads=s.threads, hotplug=s.hotplug)  # fmt: skip
        assert config.smp() == f"{threads},maxcpus={cpus},cores=2,threads={threads}"
    cell = next(c for c in matrix.FULL if c.names == names)
    assert (cell.kernel, cell.cpus, cell.threads) == (Kernel.NONMI_612, threads, threads)
    assert len(SMT_HOTPLUG_SCENARIOS) == 4
    assert not any("hotplug" in c.scenario for c in matrix.CI)  # lab-only


def test_low64k_check_compares_kib_1_to_63() -> None:
    """The host's low64k check (hotplug, the SMT hotplug scenarios): KiB 0 may differ."""
    assert ALL_SCENARIOS["hotplug"].low64k_check
    assert "kcore low64k_before" in render(ALL_SCENARIOS["hotplug"])
    assert not ALL_SCENARIOS["hotplug-stale"].low64k_check
    crcs = [f"{i:08x}" for i in range(64)]
    same = {"low64k_before": ",".join(crcs), "low64k_vmcore": ",".join(["x", *crcs[1:]])}
    assert low64k_problem(same) is None
    moved = {**same, "low64k_vmcore": ",".join([*crcs[:5], "y", *crcs[6:]])}
    assert low64k_problem(moved) == (
        "the vmcore's [0, 64 KiB) is not the old kernel's: 1 of KiB 1-63 differ"
    )
    problem = low64k_problem({"low64k_vmcore": "unavailable: no /proc/vmcore"})
    assert problem is not None and "want 64 CRCs" in problem


# What shellcheck cannot know about a rendered scenario: /init sets LAB_* (SC2154)
# and calls the step functions by name (SC2317); KEXEC is set for every scenario,
# also one whose steps name their commands (SC2034).
SHELLCHECK_EXCLUDE = "SC2154,SC2317,SC2034"


def test_every_rendered_scenario_passes_shellcheck(tmp_path: Path) -> None:
    """One shellcheck run over every distinct rendered scenario: no finding."""
    shellcheck = require_tool("shellcheck")
    for name, text in _distinct_renderings().items():
        (tmp_path / f"{name}.sh").write_text(text)
    done = subprocess.run(
        [shellcheck, "-s", "sh", "-S", "warning", "-e", SHELLCHECK_EXCLUDE, "-f", "gcc",
         *sorted(str(p) for p in tmp_path.iterdir())],
        text=True, capture_output=True,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "")


def test_guest_shell_files_pass_shellcheck() -> None:
    """/init, its function library and every step file, as shellcheck reads them (-x)."""
    shellcheck = require_tool("shellcheck")
    guest = Path(__file__).resolve().parent.parent / "lab" / "guest"
    files = [guest / "init.sh", guest / "lib.sh", *sorted(guest.glob("steps/*.sh"))]
    done = subprocess.run(
        [shellcheck, "-x", "-s", "sh", "-S", "warning", "-f", "gcc", *map(str, files)],
        cwd=guest.parent.parent, text=True, capture_output=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(files) > 2
