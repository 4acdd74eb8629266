# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 16 item 3: records you can rely on.

Each defect found on the landed code has a test here: a record field of the wrong
type, deep nesting, an overflowing kcore offset, a failed record write, an EBUSY from
a concurrent load, another loader's image, a --hotplug image after a hotplug event.
The kernel is tests/test_crash_trust.py's model of do_kexec_load(); this file adds
what the kernel exposes of the loaded image: ``struct kimage`` (laid out here from
include/linux/kexec.h, not from pykexec) behind ``kexec_crash_image`` in a
/proc/kallsyms, both readable through the /proc/kcore built here.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pykexec.commands import status
from pykexec.commands.cli import main
from pykexec.errors import RecordError, SyscallError
from pykexec.system import loader, record, syscalls
from pykexec.system.sysinfo import SystemView
from tests.test_crash_trust import REGION, CrashKernel, LiveSnapshot, machine  # noqa: F401
from tests.typed import raises

LINEAR = 0xC000000000000000  # ppc64's linear map: kernel virtual = LINEAR + physical
KIMAGE_AT = 0x100000  # physical addresses of the kimage and of kexec_crash_image
SYMBOL_AT = 0x200000
KCORE_BASE = 0x1000  # file offset of physical 0


class Kernel:
    """The model kernel, plus its kimage: each load leaves (entry, segments) behind."""

    def __init__(self, crash: CrashKernel, monkeypatch: pytest.MonkeyPatch) -> None:
        self.crash, self.entry = crash, 0
        monkeypatch.setattr(syscalls, "kexec_load", self.load)

    def load(self, entry: int, segments: list[syscalls.RawSegment], flags: int) -> None:
        self.crash.load(entry, segments, flags)
        self.entry = entry


def _kimage(entry: int, segments: list[tuple[int, int, bytes]]) -> bytes:
    """struct kimage (include/linux/kexec.h, 64-bit, little-endian) of a crash image:
    head = IND_DONE, entry = last_entry = &head, start, 3 pointers, nr_segments, and
    segment[] of {buf, bufsz, mem, memsz}."""
    me = LINEAR + KIMAGE_AT
    raw = struct.pack("<QQQQQQQQ", 4, me, me, entry, 0, 0, 0, len(segments))
    for mem, memsz, buf in segments:
        raw += struct.pack("<QQQQ", 0x7FFF0000, len(buf), mem, memsz)
    return raw + bytes(16 * 32 - 32 * len(segments))


def _kcore(view: SystemView, k: Kernel, *, symbols: bool = True, offset: int = KCORE_BASE) -> Path:
    """/proc/kcore (gABI ELF64 core, one PT_LOAD: physical 0-2 GiB, linear-map virtual
    addresses) holding the loaded segments, the kimage and the pointer to it; and
    /proc/kallsyms naming that pointer (address 0 when not ``symbols``)."""
    assert k.crash.loaded is not None
    path = Path(view.path("proc/kcore"))
    ehdr = b"\x7fELF\x02\x01\x01" + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 21, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 7, offset, LINEAR, 0, 2 << 30, 2 << 30, 0)
    with path.open("wb") as f:
        f.write(ehdr + phdr)
        for mem, _, buf in k.crash.loaded:
            f.seek(KCORE_BASE + mem)
            f.write(buf)
        f.seek(KCORE_BASE + KIMAGE_AT)
        f.write(_kimage(k.entry, k.crash.loaded))
        f.seek(KCORE_BASE + SYMBOL_AT)
        f.write(struct.pack("<Q", LINEAR + KIMAGE_AT))
        f.truncate(KCORE_BASE + (2 << 30))
    address = LINEAR + SYMBOL_AT if symbols else 0
    Path(view.path("proc/kallsyms")).write_text(
        f"c000000000000000 T _stext\n{address:016x} B kexec_crash_image\n"
        f"{address + 8:016x} B kexec_image\n"
    )
    return path


@pytest.fixture
def m(machine: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, LiveSnapshot, Kernel]:  # noqa: F811
    opts, view, crash = machine
    return opts, view, Kernel(crash, monkeypatch)


def _record_file(view: SystemView) -> Path:
    return Path(record.record_path(view, True))


def _status(view: SystemView, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["-S", *argv, f"--sysroot={view.root}"])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


def _verify(
    view: SystemView,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *more: str,
) -> tuple[int, str, str]:
    """``pykexec --verify`` on the live view (a live action takes no --sysroot)."""
    from pykexec.system import sysinfo

    monkeypatch.setattr(sysinfo, "SystemView", lambda root=None: view)
    code = main(["--verify", *more])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def _deep(n: int) -> str:
    return "[" * n + "]" * n


CORRUPT = {
    "not-json": ("{not json", "corrupt"),
    "deep": (_deep(20_000), "too-deep"),  # json.loads: RecursionError past ~1000
    "deep-in-string-is-fine-but-foreign": ('{"x": "' + "[" * 5000 + '"}', "foreign"),
    "foreign": (json.dumps({"format": 1, "program": "kdump-utils"}), "foreign"),
    "a-list": ("[1, 2]", "foreign"),
    "older": (json.dumps({"format": 1, "kind": "crash"}), "older"),
    "newer": (json.dumps({"format": record.RECORD_FORMAT + 1, "program": "pykexec"}), "newer"),
    "too-large": (" " * (record.MAX_RECORD_SIZE + 1) + "{}", "too-large"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_record_that_cannot_be_trusted_is_one_line_and_absent(
    case: str, m: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    opts, view, _ = m
    loader.load(opts, view)
    text, problem = CORRUPT[case]
    _record_file(view).write_text(text)
    rec, err = record.read_checked(view, True)
    assert rec is None and err is not None and err.problem == problem
    assert record.read(view, True) is None
    code, out = _status(view, capsys, "-d")
    assert code == 1  # kexec-tools' -S: 1 = loaded, whatever the record holds
    assert sum(line.startswith("record ignored: ") for line in out.splitlines()) == 1
    assert "loaded by another program: no pykexec record" in out


# Field edits a defective or hostile writer could make, each a defect seen on the
# landed code (TypeError, KeyError, OverflowError) or a bound of the schema.
EDITS = {
    "segment-address-a-string": lambda r: r["segments"][0].update(mem_start="0x0"),
    "segment-address-a-bool": lambda r: r["segments"][0].update(mem_start=True),
    "segment-past-64-bits": lambda r: r["segments"][0].update(mem_start=(1 << 64) - 4096),
    "segment-negative": lambda r: r["segments"][0].update(bufsz=-1),
    "options-a-list": lambda r: r.update(options=[]),
    "no-options": lambda r: r.pop("options"),
    "unknown-field": lambda r: r.update(extra=1),
    "files-path-a-number": lambda r: r["files"]["kernel"].update(path=7),
    "purgatory-slot-outside": lambda r: r["purgatory"].update(digest_offset=1 << 20),
    "purgatory-digest-short": lambda r: r["purgatory"].update(digest="ab"),
    "loaded-at-a-string": lambda r: r.update(loaded_at="yesterday"),
    "headroom-null": lambda r: r.update(headroom=None),
    "seventeen-segments": lambda r: r.update(segments=r["segments"] * 17),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_a_field_out_of_its_bounds_makes_the_record_absent(
    case: str, m: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    _kcore(view, k)
    rec = json.loads(_record_file(view).read_text())
    EDITS[case](rec)
    _record_file(view).write_text(json.dumps(rec))
    _, err = record.read_checked(view, True)
    assert err is not None and err.problem == "invalid", err
    assert _status(view, capsys, "-d")[0] == 1
    code, out, err = _verify(view, capsys, monkeypatch, "--json")
    assert code == 1 and len(err.splitlines()) == 1
    assert (json.loads(out)["error"]["kind"], json.loads(out)["error"]["problem"]) == (
        "VerifyError", "record-ignored"
    )  # fmt: skip


def test_the_schema_passes_what_a_load_writes(m: Any) -> None:
    from pykexec.core import recordschema

    opts, view, _ = m
    loader.load(opts, view)
    rec = json.loads(_record_file(view).read_text())
    assert rec["format"] == recordschema.RECORD_FORMAT and rec["program"] == "pykexec"
    assert recordschema.check(rec) is None
    assert recordschema.MAX_DEPTH == 4  # record > segments > [..] > pair, by the schema


def test_verify_refuses_a_kcore_offset_past_a_file_in_one_line(
    m: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    _kcore(view, k, offset=(1 << 63) - 0x1000)  # pread() would raise OverflowError
    code, out, err = _verify(view, capsys, monkeypatch, "--json")
    error = json.loads(out)["error"]
    assert code == 1 and len(err.splitlines()) == 1
    assert (error["kind"], error["problem"]) == ("VerifyError", "offset-too-large")
    assert error["offset"] + 0x1000 > (1 << 63) - 1  # past off_t


def test_a_failed_write_removes_the_previous_record(
    m: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    assert record.read(view, True) is not None

    def full(*args: Any, **kwargs: Any) -> None:  # a full /run: the rename never happens
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    result = loader.load(replace(opts, command_line="nr_cpus=1 second"), view)
    (warning,) = [w for w in result.warnings if "load record" in w]
    assert "No space left on device" in warning and "previous record was removed" in warning
    assert not _record_file(view).exists()
    assert [p.name for p in _record_file(view).parent.iterdir()] == ["lock"]  # no temp left
    _kcore(view, k)
    code, out = _status(view, capsys, "-d")
    assert code == 1 and "no pykexec record" in out and "second" not in out


def test_a_symlinked_record_directory_is_refused(m: Any, tmp_path: Path) -> None:
    opts, view, _ = m
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "crash.json").write_text("{}")
    directory = Path(view.path(record.RECORD_DIR))
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.symlink_to(elsewhere)
    result = loader.load(opts, view)
    assert any("is a symlink" in w for w in result.warnings)
    assert (elsewhere / "crash.json").read_text() == "{}"  # nothing written through it
    assert sorted(p.name for p in elsewhere.iterdir()) == ["crash.json"]
    _, err = record.read_checked(view, True)
    assert err is not None and err.problem == "symlink"


def test_ebusy_from_a_concurrent_load_keeps_the_record(
    m: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kexec_trylock() fails before anything is freed; meanwhile the other loader's load
    has freed the crash kernel (the flag reads 0): not a reason to reload or forget."""
    opts, view, k = m
    loader.load(opts, view)
    before = _record_file(view).read_text()
    calls = []

    def busy(entry: int, segments: list[syscalls.RawSegment], flags: int) -> None:
        calls.append(entry)
        k.crash.flag.write_text("0\n")  # the other loader is mid-load
        raise SyscallError("failed", errno=errno.EBUSY, call="kexec_load", advice="busy")

    monkeypatch.setattr(syscalls, "kexec_load", busy)
    with raises(SyscallError, "busy-unchanged", errno=errno.EBUSY, call="kexec_load"):
        loader.load(opts, view)
    assert len(calls) == 1  # no reload tried
    assert _record_file(view).read_text() == before


def test_a_concurrent_pykexec_load_is_waited_for_then_reported(
    m: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    lock = Path(view.path(f"{record.RECORD_DIR}/{record.LOCK_NAME}"))
    assert lock.read_text() == f"{os.getpid()}\n"
    monkeypatch.setattr(record, "LOCK_TRIES", 2)
    sleeps = []
    monkeypatch.setattr(record.time, "sleep", sleeps.append)
    with lock.open("r+") as other:  # another open file description: another pykexec
        fcntl.flock(other, fcntl.LOCK_EX)
        other.write("4242\n")
        other.flush()
        with raises(RecordError, "busy", pid="4242"):
            loader.load(replace(opts, command_line="nr_cpus=1 second"), view)
    assert len(sleeps) == 2
    assert k.crash.calls == ["loaded"]  # the kernel was not called
    loader.load(opts, view)  # released: the next load goes through
    assert k.crash.calls == ["loaded", "loaded"]


def test_status_and_verify_say_when_the_record_describes_the_loaded_image(
    m: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    _kcore(view, k)
    code, out = _status(view, capsys, "-d")
    assert code == 1 and "pykexec's record describes what is loaded" in out
    data = status.report(view, True)
    assert data["record_describes_loaded"]["verdict"] == "same"
    intact, lines = status.verify_loaded(view, True)
    assert intact and "describes what is loaded" in lines[1]


def _other_loader(k: Kernel) -> None:
    """Another program's -p load: its own purgatory and layout in the same region."""
    base = REGION[0]
    segs = [
        syscalls.RawSegment(b"K" * 0x30000, base, 0x40000),
        syscalls.RawSegment(b"P" * 0x2000, base + 0x200000, 0x10000),
    ]
    k.load(base + 0x200000, segs, 1)


def test_after_another_loader_status_and_verify_say_the_record_is_not_it(
    m: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, k = m
    loader.load(opts, view)
    _other_loader(k)
    _kcore(view, k)
    code, out = _status(view, capsys, "-d")
    assert code == 1 and "pykexec's record does NOT describe what is loaded" in out
    code, out, _ = _verify(view, capsys, monkeypatch)
    assert code == 1 and "does NOT describe what is loaded" in out and "nothing to verify" in out


def test_the_kimage_alone_proves_another_image(m: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Another loader whose segments miss pykexec's purgatory: its bytes stay in memory,
    the kernel's segment table tells."""
    opts, view, k = m
    loader.load(opts, view)
    mine = list(k.crash.loaded or [])
    k.load(
        REGION[0] + 0x1000000,
        [syscalls.RawSegment(b"Z" * 0x1000, REGION[0] + 0x1000000, 0x10000)],
        1,
    )
    _kcore(view, k)
    with Path(view.path("proc/kcore")).open("r+b") as f:  # pykexec's old bytes remain
        for mem, _, buf in mine:
            f.seek(KCORE_BASE + mem)
            f.write(buf)
    found = status.identity(view, record.read(view, True) or {}, True)
    assert found.verdict.name == "OTHER" and "1 segments" in found.reason


def test_without_kallsyms_it_cannot_tell_unless_the_purgatory_differs(m: Any) -> None:
    opts, view, k = m
    loader.load(opts, view)
    rec = record.read(view, True)
    assert rec is not None
    _kcore(view, k, symbols=False)
    found = status.identity(view, rec, True)
    assert found.verdict.name == "UNKNOWN" and "kexec_crash_image" in found.reason
    _other_loader(k)  # its segments overwrite pykexec's purgatory
    k.crash.loaded = [
        *(k.crash.loaded or []),
        (rec["purgatory"]["mem_start"], 0x10000, b"P" * 0x2000),
    ]
    _kcore(view, k, symbols=False)
    found = status.identity(view, rec, True)
    assert found.verdict.name == "OTHER" and "purgatory at" in found.reason
    intact, lines = status.verify_loaded(view, True)  # memory alone: verify says it all
    assert not intact and "purgatory" in lines[0] and "does NOT describe" in lines[1]
    assert any("segment purgatory" in line and "DIFFERS" in line for line in lines)


def test_verify_names_the_segments_a_hotplug_kernel_rewrites(
    m: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, k = m
    Path(view.path("sys/kernel/crash_elfcorehdr_size")).write_text("65536\n")
    loader.load(replace(opts, hotplug=True), view)
    rec = record.read(view, True)
    assert rec is not None and rec["kernel_rewrites"] == ["device-tree", "elfcorehdr"]
    _kcore(view, k)
    at = {s["kind"]: s["mem_start"] for s in rec["segments"]}
    with Path(view.path("proc/kcore")).open("r+b") as f:  # a memory hotplug event
        for kind in ("elfcorehdr", "device-tree"):
            f.seek(KCORE_BASE + at[kind] + 64)
            f.write(b"rewritten by the kernel")
    code, out, _ = _verify(view, capsys, monkeypatch)
    assert code == 0, out
    assert "image intact" in out.splitlines()[0]
    assert sum("rewrites it on CPU and memory hotplug" in line for line in out.splitlines()) == 2
    assert "DIFFERS" not in out


def test_no_record_directory_the_load_goes_on_with_warnings(m: Any) -> None:
    """A /run where nothing can be made (here a file stands for the directory): the image
    is loaded, and both the missing lock and the missing record are said."""
    opts, view, k = m
    Path(view.path("run")).mkdir(exist_ok=True)
    Path(view.path(record.RECORD_DIR)).write_text("not a directory\n")
    result = loader.load(opts, view)
    assert k.crash.calls == ["loaded"] and view.kexec_crash_loaded()
    assert any("cannot lock" in w for w in result.warnings)
    assert any("cannot write the load record" in w for w in result.warnings)
    assert record.read_checked(view, True) == (None, None)


def test_status_exit_code_is_the_sysfs_flag_whatever_the_record(
    m: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """kexec-tools' -S: 0 when nothing is loaded, a corrupt record notwithstanding."""
    opts, view, k = m
    loader.load(opts, view)
    k.crash.flag.write_text("0\n")
    _record_file(view).write_text('{"format": 2, "program": "pykexec", "kind": 7}')
    code, out = _status(view, capsys, "-d")
    assert code == 0 and out.splitlines()[0].startswith("crash kernel: not loaded")
    assert out.splitlines()[1].startswith("record ignored: ") and len(out.splitlines()) == 2


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_record_that_is_no_regular_file_is_not_followed_nor_waited_on(
    kind: str, m: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opts, view, _ = m
    loader.load(opts, view)
    target = tmp_path / "elsewhere.json"
    target.write_text(_record_file(view).read_text())  # a valid record, out of place
    _record_file(view).unlink()
    if kind == "symlink":
        _record_file(view).symlink_to(target)
    else:
        os.mkfifo(_record_file(view))
    _, err = record.read_checked(view, True)
    assert err is not None and err.problem == "unreadable"
    code, out = _status(view, capsys, "-d")
    assert code == 1 and "record ignored: " in out
