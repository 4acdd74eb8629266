# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's kdump-tools (``kdump-config``) driving pykexec as ``/sbin/kexec``.

``reference-kdump-tools`` proves the scenario with kexec-tools' own
``/sbin/kexec``; ``kdump-tools`` differs only in the loader.  kdump-config
loads, reports ready, unloads, loads again; the sysrq crash then boots the
crash kernel with kdump-config's command line, where the kdump scenario's
vmcore checks run.  The tests without the ``lab`` mark check the guest helper
(lab/guest/kdump_tools.py) on the host.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from lab.paths import GUEST_DIR
from lab.scenarios import CRASH_WORDS, SCENARIOS, Loader
from tests.e2e.kdump_facts import parse_loads
from tests.e2e.labruns import LabRuns

KDUMP_TOOLS = ["reference-kdump-tools", "kdump-tools"]  # reference first
SBIN_KEXEC = {"reference-kdump-tools": "/usr/sbin/kexec", "kdump-tools": "/usr/sbin/pykexec"}
VERSION = {"reference-kdump-tools": "kexec-tools", "kdump-tools": "pykexec"}


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lab_guest_kdump_tools",
                                                  GUEST_DIR / "kdump_tools.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_stand_in_answers_kdump_configs_two_questions(tmp_path: Path) -> None:
    """``file K | grep ELF`` (adds --args-linux) and the last word of ``file LINK`` (its target)."""
    kdump_tools = _helper()
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + bytes(46))
    link = tmp_path / "initrd.img"
    link.symlink_to(tmp_path / "initrd.img-6.1.0")
    data = tmp_path / "data"
    data.write_bytes(b"\x7fEL")
    assert kdump_tools.describe(str(kernel)) == f"{kernel}: ELF 64-bit LSB executable"
    assert kdump_tools.describe(str(link)).split()[-1] == f"{tmp_path}/initrd.img-6.1.0"
    assert "ELF" not in kdump_tools.describe(str(data))


def test_defaults_give_the_crash_command_line(tmp_path: Path) -> None:
    """Sourced as kdump-config does, KDUMP_CMDLINE + KDUMP_CMDLINE_APPEND are the crash words."""
    defaults = tmp_path / "kdump-tools"
    defaults.write_text(_helper().defaults("console=hvc0 lab.stage=crash", CRASH_WORDS))
    script = f'. {defaults}; echo "$USE_KDUMP $KDUMP_INITRD $KDUMP_CMDLINE $KDUMP_CMDLINE_APPEND"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "/boot/initrd.img", "console=hvc0", "lab.stage=crash",
                           *CRASH_WORDS.split()]  # fmt: skip


def test_kdump_tools_scenarios_differ_only_in_the_loader() -> None:
    ref, ours = SCENARIOS["reference-kdump-tools"], SCENARIOS["kdump-tools"]
    assert (ref.loader, ours.loader) == (Loader.KEXEC, Loader.PYKEXEC)
    assert ref.stages == ours.stages and ref.console == ours.console


@pytest.mark.lab
@pytest.mark.parametrize("name", KDUMP_TOOLS)
def test_kdump_config_loads_through_sbin_kexec(lab_runs: LabRuns, name: str) -> None:
    r = lab_runs.passed(name).results
    assert r["sbin_kexec"] == SBIN_KEXEC[name]
    assert r["sbin_kexec_version"].startswith(VERSION[name]), r["sbin_kexec_version"]
    for key in ("kdump_load", "kdump_reload"):
        cmd = r[f"{key}_kexec_cmd"]
        print(f"{name} {key}: {cmd}")
        words = shlex.split(cmd)
        assert words[:3] == ["/sbin/kexec", "-p", "--args-linux"], cmd
        assert words[-2:] == ["--initrd=/boot/initrd.img", "/boot/vmlinux"], cmd
        (line,) = [w for w in words if w.startswith("--command-line=")]
        assert line.split()[-3:] == CRASH_WORDS.split(), cmd
        assert r[f"{key}_rc"] == "0" and r[f"{key}_crash_loaded"] == "1"


@pytest.mark.lab
@pytest.mark.parametrize("name", KDUMP_TOOLS)
def test_kdump_config_status_and_unload(lab_runs: LabRuns, name: str) -> None:
    r = lab_runs.passed(name).results
    assert "current state   : ready to kdump" in r["kdump_status_out"]
    assert r["kdump_unload_crash_loaded"] == "0"
    assert "current state   : Not ready to kdump" in r["kdump_status_unloaded_out"]
    assert all(c.startswith("ok: ") for c in lab_runs.passed(name).console)


@pytest.mark.lab
@pytest.mark.parametrize("name", KDUMP_TOOLS)
def test_crash_kernel_dumps_with_kdump_configs_command_line(lab_runs: LabRuns, name: str) -> None:
    r = lab_runs.passed(name).results
    words = r["crash_cmdline"].split()
    for word in ("console=hvc0", "panic=-1", *CRASH_WORDS.split(), "lab.stage=crash"):
        assert word in words, r["crash_cmdline"]
    assert not any(w.startswith("systemd.unit=") for w in words), "kdump-tools' dump service"
    assert r["vmcore_elf"] == "ok"
    found, wanted = (int(x) for x in r["nonce_records"].split("/"))
    assert found * 100 >= wanted * 95
    assert int(r["dump_bytes"]) > 0


@pytest.mark.lab
def test_pykexec_vmcore_matches_kexec_tools_under_kdump_tools(lab_runs: LabRuns) -> None:
    ref = parse_loads(lab_runs.passed("reference-kdump-tools").results["vmcore_loads"])
    ours = parse_loads(lab_runs.passed("kdump-tools").results["vmcore_loads"])
    assert sorted((x.paddr, x.memsz) for x in ours) == sorted((x.paddr, x.memsz) for x in ref)
