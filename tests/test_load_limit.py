# SPDX-License-Identifier: GPL-2.0-or-later
"""kernel.kexec_load_limit_* as Linux 6.6+ shows it by default ("-1", no limit): a load
goes ahead (the lab's 6.12 kernels have it; pykexec refused every load there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykexec.errors import SystemInfoError
from pykexec.system.loader import read_support
from pykexec.system.sysinfo import SystemView
from tests.typed import raises


def _root(tmp_path: Path, limit: str) -> SystemView:
    sysctl = tmp_path / "proc/sys/kernel"
    sysctl.mkdir(parents=True)
    for kind in ("panic", "reboot"):
        (sysctl / f"kexec_load_limit_{kind}").write_text(limit)
    return SystemView(tmp_path)


@pytest.mark.parametrize(("text", "left"), [("-1\n", -1), ("0\n", 0), ("3\n", 3)])
def test_load_limit_read_as_the_kernel_writes_it(tmp_path: Path, text: str, left: int) -> None:
    for crash in (True, False):
        assert read_support(_root(tmp_path / str(crash), text), crash).loads_left == left


def test_load_limit_garbage_is_refused(tmp_path: Path) -> None:
    with raises(SystemInfoError, "not-a-number", text="-2\n"):
        read_support(_root(tmp_path, "-2\n"), crash=True)
