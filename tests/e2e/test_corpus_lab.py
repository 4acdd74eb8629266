# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 19: every form of the client corpus against kexec-tools 2.0.32 in the lab guest.

Each form that does not jump runs with sid's kexec-tools 2.0.32 and with pykexec from the
same state (lab/corpus.py).  What a script observes (exit status, stdout and stderr
shapes, the images loaded afterwards) must be the same for both tools, except for the
forms whose difference KEXEC_TOOLS documents (pykexec(8) DIFFERENCES), where each tool
must do what tests/clientcorpus.py says of it.
"""

from __future__ import annotations

import pytest

from lab import corpus
from lab.model import Kernel
from lab.paths import CacheLayout
from lab.runner import RunOptions, run
from tests.clientcorpus import CORPUS, KEXEC_TOOLS, MISTAKES, OUTCOMES

pytestmark = pytest.mark.lab

EXPECTED: dict[str, tuple[int | str, str, str]] = {
    **OUTCOMES,
    **{name: outcome for name, _, outcome in MISTAKES},
}
_ARGV = {**{c[0]: c[1] for c in CORPUS}, **{m[0]: m[1] for m in MISTAKES}}


def forms(kernel: Kernel) -> list[corpus.Form]:
    """The forms that do not jump, for a kernel with (or, for Debian's 6.1, without)
    kexec_file_load."""
    no_file = kernel is Kernel.DEBIAN_61
    out = []
    for name, argv in _ARGV.items():
        if "jump" in (EXPECTED[name][0], KEXEC_TOOLS.get(name, EXPECTED[name])[0]):
            continue
        if (corpus.NO_FILE_LOAD in name) != no_file:
            continue
        out.append(corpus.Form(name, tuple(argv), name != "-e, nothing loaded for it"))
    return out


def table(found: list[corpus.Form], rows: list[dict[str, corpus.Seen]]) -> str:
    """The record: one line per form, both tools' observables and loaded flags."""

    def cell(s: corpus.Seen) -> str:
        return f"{s.status:3} {s.stdout or '-':5} {s.stderr or '-':5} {s.loaded}"

    lines = [f"{'form':38} | kexec-tools 2.0.32     | pykexec"]
    for f, row in zip(found, rows):
        lines.append(f"{f.name:38} | {cell(row['kexec-tools'])} | {cell(row['pykexec'])}")
    return "\n".join(lines)


@pytest.mark.parametrize("kernel", [Kernel.KEXEC_FILE_61, Kernel.DEBIAN_61], ids=str)
def test_corpus_matches_kexec_tools(lab_cache: CacheLayout, kernel: Kernel) -> None:
    found = forms(kernel)
    options = RunOptions(corpus.scenario(kernel, found), timeout=1800,
                         files=corpus.guest_files(lab_cache, found))  # fmt: skip
    report = run(lab_cache, options)
    assert report.passed, report.format()
    assert "2.0.32" in report.results["reference_version"]
    rows = corpus.parse(report.results, len(found))
    print(f"\n{kernel}: {report.results['reference_version']}\n{table(found, rows)}")
    wrong = []
    for f, row in zip(found, rows):
        ours, theirs = row["pykexec"], row["kexec-tools"]
        if f.name in KEXEC_TOOLS:  # a documented difference: each tool as documented
            if theirs.outcome() != KEXEC_TOOLS[f.name]:
                wrong.append(f"{f.name}: kexec-tools {theirs.outcome()} ({theirs.err})")
            if ours.outcome() != EXPECTED[f.name]:
                wrong.append(f"{f.name}: pykexec {ours.outcome()} != {EXPECTED[f.name]}")
            continue
        if not same(ours, theirs):
            wrong.append(f"{f.name}: pykexec {ours.outcome()} ({ours.err}) != kexec-tools "
                         f"{theirs.outcome()} ({theirs.err})")  # fmt: skip
        if ours.loaded != theirs.loaded:
            wrong.append(f"{f.name}: loaded {ours.loaded} (pykexec) != {theirs.loaded}")
    assert not wrong, "\n".join(wrong)


def same(ours: corpus.Seen, theirs: corpus.Seen) -> bool:
    """What a script sees is the same: exit status and stdout's shape, and stderr's shape,
    where a failure's message may be one line against kexec-tools' several (pykexec(8)
    DIFFERENCES, "Error messages")."""
    if (ours.status, ours.stdout) != (theirs.status, theirs.stdout):
        return False
    failed = ours.status != 0 and {ours.stderr, theirs.stderr} <= {"line", "text"}
    return ours.stderr == theirs.stderr or failed
