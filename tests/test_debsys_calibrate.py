# SPDX-License-Identifier: GPL-2.0-or-later
"""lab.debsys_calibrate reads a probe's console log: which kernel got how far.

The lines are the Debian system's own (a kdump run's console log, abridged); the
verdicts on the sizes are tests/test_headroom.py's.
"""

from __future__ import annotations

from lab.debsys_calibrate import crash_evidence, kernels

SYSTEM = """\
[   0.377] [    0.000000] Linux version 6.1.0-57-powerpc64le (debian-kernel@lists.debian.org)
[   3.149] Loading, please wait...
[  14.594] [   13.441541] kdump-tools[198]: Starting kdump-tools:
[  16.004] [   14.851036] kdump-tools[299]: Modified cmdline:console=hvc0 root=/dev/vda rw \
reset_devices systemd.unit=kdump-tools-dump.service maxcpus=1 irqpoll elfcorehdr=565824K
[  18.453] [   17.328767] LAB-CRASH-MARKER 31932f3ccc7e
"""
CRASH = """\
[  19.003] [    0.000000] Linux version 6.1.0-57-powerpc64le (debian-kernel@lists.debian.org)
[  19.070] [    0.000000] Memory: 0K/851968K available (14208K kernel code, 595904K reserved)
[  21.976] Loading, please wait...
"""
DUMP = """\
[  30.072] [   10.456552] systemd[1]: Reached target cryptsetup.target - Local Encrypted Volumes.
[  42.566] [   22.837508] kdump-tools[205]: Starting kdump-tools:
[  47.304] [   27.625868] kdump-tools[224]: kdump-tools: saved vmcore in /var/crash/202612071055.
"""
BACK = "[  47.816] [    0.000000] Linux version 6.1.0-57-powerpc64le (debian-kernel@lists...)\n"


def test_kernels_cut_at_each_linux_version() -> None:
    log = "qemu line\n" + SYSTEM + CRASH + DUMP + BACK
    parts = kernels(log)
    assert len(parts) == 4 and parts[0] == "qemu line"
    assert "LAB-CRASH-MARKER" in parts[1] and "saved vmcore" in parts[2]


def test_a_crash_kernel_that_dumped() -> None:
    seen = crash_evidence(SYSTEM + CRASH + DUMP + BACK)
    assert seen["reached"] == ["init", "systemd", "kdump-config", "vmcore saved"]
    assert seen["trouble"] == []
    assert seen["crash_memory"].startswith("Memory: 0K/851968K available")
    assert seen["crash_cmdline"].startswith("console=hvc0 root=/dev/vda rw reset_devices")


def test_the_first_kernels_lines_are_not_the_crash_kernels() -> None:
    """The system's own initramfs said "Loading, please wait..." and kdump-config started
    there: neither counts for a crash kernel that never printed past its banner."""
    stuck = CRASH.splitlines()[0] + "\n[  20.1] [ 1.0] Kernel panic - not syncing: Out of memory\n"
    seen = crash_evidence(SYSTEM + stuck)
    assert seen["reached"] == []
    assert seen["trouble"] == ["Kernel panic", "Out of memory"]
    assert crash_evidence(SYSTEM)["reached"] == []
