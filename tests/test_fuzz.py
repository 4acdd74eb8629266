# SPDX-License-Identifier: GPL-2.0-or-later
"""The bounded part of the fuzz harness (:mod:`tests.fuzz`) that CI runs: a fixed
seed, a few thousand inputs over every family, each held to the rule (only
KexecError from the API; exit 0, 1 or 2 with at most one stderr line from the
CLI; within 2 s).  The long run is ``python3 -m tests.fuzz --count 1000000``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.runner import remove, run

# Inputs per family: about 40 s on one core in all.
COUNTS = {"elf": 1500, "compressed": 300, "fdt": 500, "snapshot": 400, "cli": 300}


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A directory in memory when there is one (thousands of small files per family)."""
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    path = Path(tempfile.mkdtemp(prefix="pykexec-fuzz-", dir=memory))
    yield path
    remove(path)


@pytest.mark.parametrize("family", list(COUNTS))
def test_fuzz_family(family: str, tmp_path: Path, work: Path) -> None:
    keep = tmp_path / "failures"
    stats = run((family,), COUNTS[family], seed=20261129, work=work, keep=keep)
    assert stats.counts[family] == COUNTS[family]
    saved = sorted(p.name for p in keep.iterdir()) if keep.exists() else []
    assert not stats.failures, f"{dict(stats.failures)}; reproducers: {saved}"
