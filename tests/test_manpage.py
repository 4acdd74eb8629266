# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec(8) and the bash completion: generated from cli.OPTIONS, committed, in step.

Oracles: man-db/groff render the page (warnings are errors), bash runs the completion.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pykexec.commands import manpage
from pykexec.commands.cli import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / manpage.MAN_PAGE
COMPLETION = ROOT / manpage.COMPLETION


def test_committed_files_are_regenerated() -> None:
    """Fails when OPTIONS changed and `python3 -m pykexec.commands.manpage` was not run."""
    assert PAGE.read_text(encoding="utf-8") == manpage.man_page()
    assert COMPLETION.read_text(encoding="utf-8") == manpage.completion()
    assert manpage.main(["--check"]) == 0


def _rendered() -> str:
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed (tools/setup-host.sh installs it)")
    done = subprocess.run(
        ["man", "--warnings", "-l", str(PAGE)],
        capture_output=True,
        text=True,
        env={"MANWIDTH": "200", "LC_ALL": "C.UTF-8", "MANPAGER": "cat", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


def _section(text: str, title: str) -> str:
    match = re.search(rf"^{title}\n(.*?)(?=^\S)", text, re.M | re.S)
    assert match, title
    return match.group(1)


def test_man_renders_without_warnings_and_has_the_sections() -> None:
    text = _rendered()
    titles = re.findall(r"^([A-Z][A-Z -]+)$", text, re.M)
    for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES",
                  "EXAMPLES", "DIFFERENCES FROM KEXEC-TOOLS", "SEE ALSO"):  # fmt: skip
        assert title in titles
    assert "kexec(8)" in _section(text, "SEE ALSO")


def test_every_option_is_in_the_rendered_options_section() -> None:
    options = _section(_rendered(), "OPTIONS")
    for opt in OPTIONS:
        for name in opt.names:
            spelled = f"{name}={opt.arg}" if opt.arg and name.startswith("--") else name
            assert re.search(rf"(^|[ ,]){re.escape(spelled)}([ ,]|$)", options, re.M), name
        if opt.status.startswith("refused"):
            assert opt.status[len("refused: ") :] in " ".join(options.split())


def _complete(*words: str) -> list[str]:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    line = " ".join(words)
    script = (
        f"source {COMPLETION}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        '_pykexec; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile"], input=script, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_offers_every_option() -> None:
    offered = set(_complete("kexec", "-"))
    assert offered == {n for opt in OPTIONS for n in opt.names}
    assert _complete("pykexec", "--ini") == ["--initrd"]
    assert _complete("kexec", "--type", "") == ["elf-ppc64"]
    assert _complete("kexec", "--append", "") == []
