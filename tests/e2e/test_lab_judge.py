# SPDX-License-Identifier: GPL-2.0-or-later
"""Unit tests (no QEMU) of the judge's console rules and stops, the memcheck guest helper,
and the kdump range algebra the e2e tests rely on."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from lab.errors import ScenarioError
from lab.judge import STOP_GRACE, Judge, Report
from lab.model import ConsoleRule, Scenario, Stage, Step
from lab.paths import GUEST_DIR
from lab.scenarios import SCENARIOS
from lab.vm import ConsoleLine
from tests.e2e.kdump_facts import Span, differing, page_round, parse_spans, subtract, union


def _judge(name: str, lines: list[str], end: float | None = None) -> Report:
    report = Report(name, "k", Path("/dev/null"), {})
    judge = Judge(SCENARIOS[name], report, "abc")
    for i, text in enumerate(lines):
        judge.line(ConsoleLine(float(i), text))
    if end is not None and not judge.done:
        assert end >= judge.deadline
        assert judge.expired(end) is None
    assert judge.done
    return report


_DEBUG_RUN = [
    "LAB-USERSPACE stage=1 uptime=2.0",
    "LAB-BEGIN load",
    "LAB-END load rc=0",
    "LAB-BEGIN exec",
    "kexec: Starting switchover sequence.",
    "I'm in purgatory",
    "LAB-USERSPACE stage=2 uptime=1.0",
    "LAB-RESULT marker=abc",
    "LAB-PASS",
]


def test_required_console_line_between_stages() -> None:
    report = _judge("kexec-debug", _DEBUG_RUN)
    assert report.passed, report.reason
    assert report.console[0].startswith("ok: /I'm in purgatory/ must appear during exec")
    missing = _judge("kexec-debug", [t for t in _DEBUG_RUN if "purgatory" not in t])
    assert not missing.passed and "I'm in purgatory" in missing.reason


def test_forbidden_console_line_fails_the_run() -> None:
    lines = [*_DEBUG_RUN[:6], "purgatory: sha256 mismatch", *_DEBUG_RUN[6:]]
    report = _judge("kexec-debug", lines)
    assert not report.passed and "must not appear" in report.reason


def test_rule_outside_its_window_does_not_count() -> None:
    lines = ["LAB-USERSPACE stage=1", "I'm in purgatory", *_DEBUG_RUN[1:5], *_DEBUG_RUN[6:]]
    assert not _judge("kexec-debug", lines).passed


_STOP_RUN = [
    "LAB-USERSPACE stage=1 uptime=2.0",
    "LAB-BEGIN load",
    "LAB-END load rc=0",
    "LAB-BEGIN exec",
    "purgatory: sha256 mismatch",
    "expected: " + "ab" * 32,
    "computed: " + "cd" * 32,
]


def test_stop_pattern_then_quiet_passes() -> None:
    report = _judge("kexec-bad-digest", _STOP_RUN, end=4.0 + STOP_GRACE)
    assert report.passed, report.reason
    labels = dict(report.timings)
    assert labels["exec to /purgatory: sha256 mismatch/"] == 1.0
    assert labels["quiet after /purgatory: sha256 mismatch/"] == STOP_GRACE


def test_stop_pattern_then_a_marker_fails() -> None:
    report = _judge("kexec-bad-digest", [*_STOP_RUN, "LAB-USERSPACE stage=2"])
    assert not report.passed and "went on after" in report.reason


def test_stop_needs_its_rules_and_a_deadline_is_a_timeout() -> None:
    report = _judge("kexec-bad-digest", _STOP_RUN[:5], end=4.0 + STOP_GRACE)
    assert not report.passed and "expected:" in report.reason
    judge = Judge(SCENARIOS["kexec"], Report("kexec", "k", Path("/dev/null"), {}), "abc")
    judge.line(ConsoleLine(1.0, "LAB-USERSPACE stage=1"))
    judge.line(ConsoleLine(2.0, "LAB-BEGIN exec"))
    assert judge.deadline == 2.0 + SCENARIOS["kexec"].steps(Stage.FIRST)[-1].timeout
    assert "step exec to the next userspace" in (judge.expired(judge.deadline) or "")


def test_model_validates_rules_and_stops() -> None:
    with pytest.raises(ScenarioError) as err:
        Scenario("x", "", SCENARIOS["kexec"].loader, 1, 1, (), console=(ConsoleRule("a", "b"),))
    assert err.value.problem == "console-rule"
    with pytest.raises(ScenarioError) as err:
        Step("exec", "true", stops_with="x")
    assert err.value.problem == "stops-with"
    assert "lockdown=integrity" in SCENARIOS["lockdown"].cmdline


def _memcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lab_guest_memcheck", GUEST_DIR / "memcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _core(order: str, phdrs: list[tuple[int, int, int, int, int]], body: bytes) -> bytes:
    """An ELF64 core with e_phoff 64; phdrs = (type, offset, vaddr, paddr, memsz)."""
    ident = b"\x7fELF" + bytes([2, 1 if order == "<" else 2, 1]) + bytes(9)
    ehdr = ident + struct.pack(order + "HHIQQQIHHHHHH", 4, 21, 1, 0, 64, 0, 0, 64, 56,
                               len(phdrs), 0, 0, 0)  # fmt: skip
    table = b"".join(
        struct.pack(order + "IIQQQQQQ", t, 0, off, va, pa, memsz, memsz, 0)
        for t, off, va, pa, memsz in phdrs
    )
    return ehdr + table + body


@pytest.mark.parametrize("order", ["<", ">"])
def test_memcheck_vmcore_and_kcore(
    order: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mc = _memcheck()
    low = b"".join(i.to_bytes(4, "little") for i in range(0x4000))  # 64 KiB, chunks differ
    at = 64 + 56 * 3
    core = tmp_path / "vmcore"
    note = struct.pack(order + "III", 5, 8, 1) + b"CORE\0\0\0\0" + bytes(8)
    core.write_bytes(_core(order, [(4, at + 0x10000, 0, 0, len(note)), (1, at, 0, 0, 0x10000),
                                   (1, at, 0, 0x40000000, 0x1000)], low + note))  # fmt: skip
    monkeypatch.setattr(mc, "VMCORE", str(core))
    assert mc.vmcore() == 0
    kcore = tmp_path / "kcore"
    kcore.write_bytes(_core(order, [(1, 120 - 0x40, mc.PAGE_OFFSET - 0x40, 0, 0x20000)], low))
    monkeypatch.setattr(mc, "KCORE", str(kcore))
    assert mc.kcore("live") == 0
    lines = capsys.readouterr().out.splitlines()
    out = dict(line.removeprefix("LAB-RESULT ").split("=", 1) for line in lines)
    assert out["vmcore_loads"] == f"0x0:0x10000:{at:#x},0x40000000:0x1000:{at:#x}"
    assert out["vmcore_notes"] == "1" and out["vmcore_note_types"] == "CORE/1:1"
    crcs = ",".join(f"{zlib.crc32(low[i : i + 1024]):08x}" for i in range(0, 0x10000, 1024))
    assert out["low64k_vmcore"] == out["live"] == crcs
    monkeypatch.setattr(mc, "KCORE", str(tmp_path / "none"))
    assert mc.kcore("gone") == 1
    assert "unavailable" in capsys.readouterr().out


def test_kdump_range_algebra() -> None:
    ram = parse_spans("0x0-0x80000000")
    assert parse_spans("rtas:0x2fff0000-0x2fff082c") == [Span(0x2FFF0000, 0x2FFF082C)]
    rest = subtract(ram, [Span(0x20000000, 0x40000000)])
    assert rest == [Span(0, 0x20000000), Span(0x40000000, 0x80000000)]
    assert union([Span(0x10000, 0x20000), Span(0, 0x10000)]) == [Span(0, 0x20000)]
    assert page_round(Span(0x2FFF0000, 0x2FFF082C)) == Span(0x2FFF0000, 0x30000000)
    assert differing(["a", "b"], ["a", "c"]) == [1]
    with pytest.raises(AssertionError):  # the step's own word for no data, never spans
        parse_spans("unavailable: no /proc/kcore")
