# SPDX-License-Identifier: GPL-2.0-or-later
"""Test-session rules: the lab runs only when asked for; under CI nothing skips.

- Tests marked ``lab`` boot the emulated POWER machine (minutes each). Plain
  ``pytest`` deselects them; ``PYKEXEC_LAB=1`` (tools/test.sh sets it) or a ``-m``
  expression naming ``lab`` asks for them. A test that uses the lab's fixtures
  must carry the marker, and a test without it cannot boot a guest or start the
  lab's kernel build.
- Under CI (``CI=true``) a skipped test is reported as failed: a CI run that lacks
  an oracle must not pass (tests/oracles.py gives the install hints).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NoReturn

import pytest

from tests import oracles
from tests.oracles import lab_env, strict

LAB_MARK = "lab"
LAB_FIXTURES = frozenset({"lab_cache", "lab_runs"})


def lab_requested(config: pytest.Config) -> bool:
    """``PYKEXEC_LAB=1``, or ``-m`` names the lab marker (``-m lab``, ``-m 'lab and ...'``)."""
    expression = str(config.getoption("markexpr", "") or "")
    return lab_env() or re.search(rf"\b{LAB_MARK}\b", expression) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker(LAB_MARK) is None
    ]
    if unmarked:
        raise pytest.UsageError(
            f"these tests use the lab's fixtures but lack @pytest.mark.{LAB_MARK}: {unmarked}"
        )
    if lab_requested(config):
        return
    lab = [item for item in items if item.get_closest_marker(LAB_MARK) is not None]
    if lab:
        config.hook.pytest_deselected(items=lab)
        items[:] = [item for item in items if item.get_closest_marker(LAB_MARK) is None]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if strict() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a missing oracle fails in CI): {reason}"


@pytest.fixture(autouse=True)
def _no_guest_outside_the_lab(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lab marker, booting a guest or building the lab kernel fails the test."""
    if request.node.get_closest_marker(LAB_MARK) is not None:
        return
    import lab.kbuild
    import lab.vm

    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError(
            f"{request.node.nodeid} boots a guest or builds the lab kernel: "
            f"mark it @pytest.mark.{LAB_MARK}"
        )

    monkeypatch.setattr(lab.vm.Guest, "__init__", refuse)
    monkeypatch.setattr(lab.kbuild, "_unpack", refuse)
    monkeypatch.setattr(lab.kbuild, "_make", refuse)


@pytest.fixture(autouse=True)
def _no_exec_no_sync(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test replaces the test process (pykexec's shutdown hand-over execs
    ``shutdown -r now``) or syncs the host's disks: the product calls them through
    :mod:`posix` (pykexec.system.fileio says why), and a test that forgets to record
    them fails here instead of acting."""

    def refuse(*_args: object, **_kwargs: object) -> NoReturn:
        raise AssertionError(f"{request.node.nodeid} reached exec or sync: record it")

    import os
    import posix

    for module in (posix, os):
        monkeypatch.setattr(module, "execv", refuse)
        monkeypatch.setattr(module, "sync", refuse)


@pytest.fixture(scope="session")
def libfdt() -> ModuleType:
    """pylibfdt, the device-tree oracle (the test skips, or fails under CI, without it)."""
    return oracles.libfdt()
