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

from lab import debsys, debsys_run
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


# Open (issue 17), and not the loader's: in this image the crash kernel's virtio-blk
# probe can wait forever for its first read (the partition scan; "task (udev-worker)
# blocked for more than 120 seconds" in virtblk_probe, udev settle times out), with
# irqpoll and maxcpus=1 on its command line.  Seen with kexec-tools (2 of 2 runs on one
# image, then passing) and with pykexec (1 of 4), more often on a loaded host.  A run
# that shows exactly that hang (the watcher stops it there: lab.debsys_run.VIRTIO_HANG)
# is run once more; any other failure, or the hang twice, fails.
@pytest.mark.parametrize("loader", debsys.LOADERS)
def test_kdump_the_debian_way(lab_cache: CacheLayout, loader: str) -> None:
    """kdump-tools loads at boot through /sbin/kexec; sysrq c; the dump is saved; back up."""
    report = _run(lab_cache, "kdump", loader)
    if not report.passed and report.reason == debsys_run.VIRTIO_HANG:
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
