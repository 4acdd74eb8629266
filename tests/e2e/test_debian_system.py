# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec as Debian's kexec in a real Debian 12 ppc64el system (lab/debsys.py).

Each boot scenario runs with kexec-tools (the reference: the image as Debian installs
it) and with the project's .deb installed (kexec diverted to pykexec).  The verdict
comes from the guest's console and from the image itself, read afterwards with
debugfs: the result file, the makedumpfile dump's header, the saved dmesg with this
run's marker.
"""

from __future__ import annotations

import pytest

from lab import debsys
from lab.debsys_run import DebsysReport, require_tools, run_scenario
from lab.paths import CacheLayout

pytestmark = pytest.mark.lab


def _run(layout: CacheLayout, scenario: str, loader: str) -> DebsysReport:
    require_tools()
    extra = debsys.package_life_files(layout, None) if scenario == "package-life" else {}
    system = debsys.system_for(layout, loader, None, scenario)
    return run_scenario(layout, system, scenario, loader, extra=extra)


def _whose_kexec(report: DebsysReport) -> str:
    """Whose `kexec --version` the guest printed (run.sh's whose_kexec): pykexec's line
    names kexec-tools too ("kexec-tools 2.0.32 compatible command line")."""
    line = next((i for i in report.info if "] kexec: " in i), "")
    return "pykexec" if "pykexec" in line else "kexec-tools" if "kexec-tools" in line else line


# The panic is on CPU 0 (lab.debsys_run.CRASH_CPU): a crash kernel started from a
# panic on CPU 1 of this QEMU pseries machine hangs in virtio-blk's probe, whichever
# tool loaded it (lab/README.md "kdump from another CPU").  Any failure fails.
@pytest.mark.parametrize("loader", debsys.LOADERS)
def test_kdump_the_debian_way(lab_cache: CacheLayout, loader: str) -> None:
    """kdump-tools loads at boot through /sbin/kexec; sysrq c; the dump is saved; back up."""
    report = _run(lab_cache, "kdump", loader)
    assert report.passed, report.format()
    assert _whose_kexec(report) == loader, report.format()
    assert report.boots == 3, report.format()  # the system, the crash kernel, the system


@pytest.mark.parametrize("loader", debsys.LOADERS)
def test_kexec_through_systemd(lab_cache: CacheLayout, loader: str) -> None:
    """/etc/default/kexec's kernel loaded with kexec -l, then systemctl kexec: the next
    kernel has the run's marker on its command line.  (Debian 12's own LOAD_KEXEC=true
    path, kexec-load.service loading at `systemctl reboot`, loads the kernel but
    systemd 252 then reboots through the firmware: scenario kexec-reboot shows it.)"""
    report = _run(lab_cache, "kexec-systemctl", loader)
    assert report.passed, report.format()
    assert _whose_kexec(report) == loader, report.format()


def test_package_life(lab_cache: CacheLayout) -> None:
    """.deb over kexec-tools, reinstall, trixie's upgrade, remove: one kexec each time."""
    report = _run(lab_cache, "package-life", "pykexec")
    assert report.passed, report.format()
