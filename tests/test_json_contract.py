# SPDX-License-Identifier: GPL-2.0-or-later
"""``--json``: exactly one JSON document on stdout for every action and every refusal,
with the exit status the same command has without ``--json``; the one-line error
(and warnings) stay on stderr.  Parsed back with the standard json module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykexec.commands.cli import main
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot
from tests.test_safety import Recorder


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path]:
    root = write_sysroot(tmp_path / "root", pseries())
    (root / "sys/kernel/kexec_loaded").write_text("1\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    return root, kernel


# (argv, exit status, the document's first key); {k} is the kernel, {r} the snapshot.
DRY = ["--dry-run", "--sysroot", "{r}"]
FORMS = [
    (["--help"], 0, "action"),
    (["-?"], 1, "action"),
    (["--version"], 0, "action"),
    (["--print-ckr-size", "--sysroot", "{r}"], 0, "action"),
    (["-S", "--sysroot", "{r}"], 0, "action"),
    (["-l", "-S", "--sysroot", "{r}"], 1, "action"),
    (["-S", "-d", "--sysroot", "{r}"], 0, "action"),
    (["--verify", *DRY], 1, "error"),  # nothing loaded
    (["-l", "--verify", *DRY], 1, "error"),  # loaded, but no record
    (["--recommend-crashkernel", "{k}", "--sysroot", "{r}"], 0, "action"),
    (["-e", *DRY], 0, "action"),
    (["-e", "-f", *DRY], 0, "action"),
    (["-u", *DRY], 0, "action"),
    (["-p", "-u", *DRY], 0, "action"),
    (["-u", "-l", "{k}", *DRY], 0, "format"),
    (["-c", "-u", "-p", "{k}", *DRY], 0, "format"),
    (["-l", "{k}", *DRY], 0, "format"),
    (["-p", "{k}", *DRY], 0, "format"),
    (["-s", "-p", "{k}", "--append=irqpoll", *DRY], 0, "format"),
    (["-f", "{k}", *DRY], 0, "format"),
    (["{k}", *DRY], 0, "format"),
    (["inspect", "{k}"], 0, "format"),
    # refusals and failures
    ([], 255, "error"),
    (["-l"], 255, "error"),
    (["--bogus"], 1, "error"),
    (["--re", "{k}"], 1, "error"),
    (["-l", "{k}", "--mem-min=lots"], 1, "error"),
    (["-e"], 2, "error"),
    (["-u"], 2, "error"),
    (["-s", "-c", "-l", "{k}"], 2, "error"),
    (["-l", "{k}", "--sysroot", "{r}"], 2, "error"),
    (["--load-preserve-context", "-l", "{k}"], 2, "error"),
    (["-l", "{k}\0"], 2, "error"),
    (["-l", "{k}.missing", *DRY], 1, "error"),
    (["-e", "--sysroot", "{r}", "--dry-run", "-l", "-S", "--load-jump-back-helper"], 2, "error"),
    (["inspect", "{k}.missing"], 1, "error"),
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,status,key", FORMS, ids=[" ".join(f[0]) or "(none)" for f in FORMS])
def test_one_document_whatever_happens(
    monkeypatch: pytest.MonkeyPatch,
    machine: tuple[Path, Path],
    argv: list[str],
    status: int,
    key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, kernel = machine
    rec = Recorder(monkeypatch)
    words = [w.format(k=kernel, r=root) for w in argv]
    code, out, err = _run([*words, "--json"], capsys)
    assert code == status, err
    document = json.loads(out)  # one document: json.loads refuses trailing text
    assert isinstance(document, dict) and next(iter(document)) == key, out[:200]
    if key == "error":
        assert document["error"]["exit_status"] == status
        assert {"kind", "problem", "message"} <= set(document["error"])  # typed: fields too
        assert err.count("\n") == 1 and document["error"]["message"] in err
    elif "-d" not in words:
        assert err == ""
    assert rec.calls == []
    if document.get("error", {}).get("option") != "--json":  # else without it, it acts
        plain_code, _, _ = _run(words, capsys)
        assert plain_code == code


def test_error_document_carries_the_typed_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "-l", "/k", "--mem-max=1", "--mem-min=2", "--dry-run"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["kind"], error["option"], error["problem"]) == (
        "OptionError",
        "--mem-max",
        "conflict",
    )


def test_json_when_the_command_line_does_not_parse(capsys: pytest.CaptureFixture[str]) -> None:
    """--json (or its abbreviation) is honoured even next to an unknown option."""
    for argv in (["--js", "--bogus"], ["--bogus", "--json=x"], ["-q", "--json"]):
        assert main(argv) == 1
        problem = json.loads(capsys.readouterr().out)["error"]["problem"]
        assert problem in ("unknown", "unexpected-argument")


def test_save_refusal_document(tmp_path: Path, machine: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    root, kernel = machine
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    argv = ["-l", str(kernel), "--dry-run", "--sysroot", str(root), f"--save={tmp_path}/full"]
    assert main([*argv, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["kind"], error["problem"], error["exit_status"]) == ("SaveError", "not-empty", 2)
    assert error["directory"] == f"{tmp_path}/full" and "exit_code" not in error


def test_interrupted_still_one_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pykexec.commands import cli

    def interrupted(cmd: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    assert main(["-S", "--json"]) == 130
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "KeyboardInterrupt"


def test_no_error_field_shadows_the_document_keys() -> None:
    """The --json error document puts an error's fields beside its own keys: the class
    name under "kind", "message", "exit_status".  A field of one of those names would
    replace the key (PlacementError's segment kind once did)."""
    from pykexec.commands.cli import error_document
    from pykexec.errors import PlacementError
    from tests.test_error_messages import CLASSES, declared

    own = {"kind", "message", "exit_status"}
    assert {
        c.__name__: sorted(own & set(declared(c))) for c in CLASSES if own & set(declared(c))
    } == {}
    err = PlacementError("not-free", segment="initrd", start=0x1000, end=0x2000, where="RAM")
    document = error_document(err, 2)["error"]
    assert (document["kind"], document["segment"], document["exit_status"]) == (
        "PlacementError", "initrd", 2)  # fmt: skip
    assert document["message"] == "the initrd at 0x1000-0x2000 is not inside free RAM"
