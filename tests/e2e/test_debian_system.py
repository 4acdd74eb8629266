# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec as Debian's kexec in a real Debian 12 ppc64el system (lab/debsys.py).

Each scenario runs with kexec-tools (the reference: the image as Debian installs it)
and with the project's .deb installed (kexec diverted to pykexec).  The verdict
comes from the guest's console and from the image itself, read afterwards with
debugfs: the makedumpfile dump's header, the saved dmesg with this run's marker.
"""

from __future__ import annotations

import pytest

from lab import debsys
from lab.debsys_run import require_tools, run_scenario
from lab.paths import CacheLayout

pytestmark = pytest.mark.lab

# Which kexec each loader's image has, as `kexec --version`'s first line names it.
VERSION_WORD = {"kexec-tools": "kexec-tools", "pykexec": "pykexec"}


def _kexec_line(info: list[str]) -> str:
    return next((i for i in info if "kexec: " in i), "")


@pytest.mark.parametrize("loader", debsys.LOADERS)
@pytest.mark.parametrize("scenario", ("kdump", "kexec-reboot"))
def test_debian_system(lab_cache: CacheLayout, scenario: str, loader: str) -> None:
    require_tools()
    system = debsys.system_for(lab_cache, loader, None)
    report = run_scenario(lab_cache, system, scenario, loader)
    assert report.passed, report.format()
    assert VERSION_WORD[loader] in _kexec_line(report.info), report.format()
    if scenario == "kdump":
        assert report.boots >= 3, report.format()  # system, crash kernel, system again
