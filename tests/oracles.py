# SPDX-License-Identifier: GPL-2.0-or-later
"""The tests' gate for independent oracles: the tools and modules that are not pykexec.

A test that needs an oracle asks for it here, inside the test (so the gate is per
test, never per module): :func:`require_tool` for a program on ``PATH``,
:func:`require_module` for a Python module. A missing oracle skips the test with the
command that installs it; under CI (``CI=true``, which tools/test.sh sets) it fails the
test instead, so a CI run that lacks an oracle cannot pass by skipping.
:data:`INSTALL` says what installs each oracle (tools/setup-host.sh installs them all).
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping
from types import ModuleType
from typing import NoReturn

import pytest

#: program or module -> how to install it (apt packages as tools/setup-host.sh names them).
INSTALL: Mapping[str, str] = {
    "libfdt": "apt-get install swig python3-dev gcc && pip install pylibfdt",
    "dtc": "apt-get install device-tree-compiler",
    "powerpc64le-linux-gnu-": "apt-get install binutils-powerpc64le-linux-gnu",
    "powerpc64-linux-gnu-": "apt-get install binutils-powerpc64-linux-gnu",
    "qemu-ppc64": "apt-get install qemu-user",
    "qemu-system-ppc64": "apt-get install qemu-system-ppc",
    "cpio": "apt-get install cpio",
    "shellcheck": "apt-get install shellcheck",
    "ruff": "pip install -e '.[test]'",
    "mypy": "pip install -e '.[test]'",
    "elftools": "pip install -e '.[test]'",
    "hypothesis": "pip install -e '.[test]'",
}

_TRUE = frozenset({"1", "true", "yes", "on"})


def strict(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a missing oracle fails (CI) rather than skips (a developer's machine)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in _TRUE


def install_hint(name: str) -> str:
    """The install command for ``name`` (longest matching prefix of :data:`INSTALL`)."""
    matches = [key for key in INSTALL if name.startswith(key)]
    return INSTALL[max(matches, key=len)] if matches else "see tools/setup-host.sh"


def missing(what: str, hint: str) -> NoReturn:
    """Skip the current test because ``what`` is missing; fail it under CI."""
    message = f"oracle missing: {what} ({hint})"
    if strict():
        pytest.fail(f"{message}; CI=true makes a missing oracle a failure", pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of program ``name``; skips (fails under CI) the test when it is absent."""
    path = shutil.which(name)
    if path is None:
        missing(f"program {name!r} not on PATH", install_hint(name))
    return path


def require_module(name: str) -> ModuleType:
    """Module ``name``, imported; skips (fails under CI) the test when it cannot be."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        missing(f"Python module {name!r} ({err})", install_hint(name))


def libfdt() -> ModuleType:
    """pylibfdt, the device-tree oracle."""
    return require_module("libfdt")


def dtc() -> str:
    """The device-tree compiler, the second device-tree oracle."""
    return require_tool("dtc")


#: Set to 1 to run the lab scenarios (tools/test.sh does); a missing lab asset then fails.
LAB_ENV = "PYKEXEC_LAB"


def lab_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for the lab scenarios (``PYKEXEC_LAB=1``)."""
    env = os.environ if environ is None else environ
    return env.get(LAB_ENV, "").strip().lower() in _TRUE
