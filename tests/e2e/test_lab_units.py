# SPDX-License-Identifier: GPL-2.0-or-later
"""Unit tests of the lab itself (no QEMU): cpio, scenario rendering, markers, capture, helpers."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from lab.capture import _Collector, guest_script, unpack
from lab.cpio import NEWC_FIELDS, NEWC_MAGIC, NewcWriter
from lab.elfdeps import needed_sonames
from lab.errors import AssetError, ScenarioError
from lab.initramfs import GuestFile, _concat, overlay_archive
from lab.judge import Judge, Report, parse_marker
from lab.paths import GUEST_DIR
from lab.runner import RunOptions, kernel_cmdline
from lab.scenarios import (
    POWERNV_TWINS,
    SCENARIOS,
    SKIBOOT_START,
    Loader,
    Machine,
    Stage,
    Step,
    render,
    shell_scenario,
)
from lab.vm import INITRD_MAX_BYTES, ConsoleLine, MachineConfig
from tests.oracles import require_tool


def _parse_newc(data: bytes) -> list[tuple[str, int, bytes]]:
    """Independent reader: (name, mode, data) per entry, checking 4-byte alignment."""
    out: list[tuple[str, int, bytes]] = []
    pos = 0
    while True:
        assert data[pos : pos + 6] == NEWC_MAGIC
        fields = dict(
            zip(NEWC_FIELDS, (int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)))
        )
        name_at = pos + 110
        name = data[name_at : name_at + fields["namesize"] - 1].decode()
        body_at = name_at + fields["namesize"]
        body_at += -body_at % 4
        body = data[body_at : body_at + fields["filesize"]]
        pos = body_at + fields["filesize"]
        pos += -pos % 4
        if name == "TRAILER!!!":
            assert pos == len(data)
            return out
        out.append((name, fields["mode"], body))


def _archive() -> bytes:
    buf = io.BytesIO()
    w = NewcWriter(buf)
    w.directory("usr")
    w.file("usr/hello", b"hello\n", 0o755)
    w.symlink("bin", "usr/bin")
    w.chardev("dev/console", 5, 1)
    w.finish()
    return buf.getvalue()


def test_cpio_roundtrip() -> None:
    entries = _parse_newc(_archive())
    assert [(n, oct(m)) for n, m, _ in entries] == [
        ("usr", "0o40755"),
        ("usr/hello", "0o100755"),
        ("bin", "0o120777"),
        ("dev/console", "0o20600"),
    ]
    assert entries[1][2] == b"hello\n" and entries[2][2] == b"usr/bin"


def test_cpio_gnu_reads_it() -> None:
    done = subprocess.run(
        [require_tool("cpio"), "-it", "--quiet"], input=_archive(), capture_output=True, check=True
    )
    assert done.stdout.decode().split() == ["usr", "usr/hello", "bin", "dev/console"]


def test_cpio_rejects_duplicates() -> None:
    w = NewcWriter(io.BytesIO())
    w.file("a", b"")
    with pytest.raises(ScenarioError) as err:  # a ValueError too
        w.file("/a/", b"")
    assert err.value.problem == "duplicate-entry"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rendered_scenarios_are_valid_sh(name: str, tmp_path: Path) -> None:
    script = render(SCENARIOS[name])
    for stage, steps in SCENARIOS[name].stages:
        assert f"lab_stage_{stage}() {{" in script
        assert all(f"lab_step_{s.name}() {{" in script for s in steps)
    assert f"KEXEC={SCENARIOS[name].loader}" in script
    path = tmp_path / "scenario.sh"
    path.write_text(script)
    for sh in (path, GUEST_DIR / "init.sh"):
        subprocess.run(["sh", "-n", str(sh)], check=True)


def test_rendered_stage_runs_in_host_sh(tmp_path: Path) -> None:
    """Run stage 2 of reference-kexec under the host's sh with the init helpers."""
    helpers = (GUEST_DIR / "init.sh").read_text()
    helpers = helpers[helpers.index("lab_finish()") : helpers.index('echo "LAB-USERSPACE')]
    helpers = helpers.replace("poweroff -f", "exit 0")
    helpers = helpers.replace(". /lab/lib.sh", (GUEST_DIR / "lib.sh").read_text())
    script = tmp_path / "t.sh"
    script.write_text(
        helpers + render(SCENARIOS["reference-kexec"]) + "LAB_marker=abc\nLAB_cpus=$(nproc)\n"
        "lab_stage_2\n"
    )
    out = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True).stdout
    assert "LAB-RESULT marker=abc" in out and out.strip().endswith("LAB-PASS")


def test_loader_is_one_variable() -> None:
    ref, py = SCENARIOS["reference-kexec"], SCENARIOS["kexec"]
    assert ref.loader is Loader.KEXEC and py.loader is Loader.PYKEXEC
    assert render(ref).replace("KEXEC=kexec", "KEXEC=pykexec").replace(
        "reference-kexec: kexec", "kexec: pykexec"
    ) == render(py).replace("scenario kexec: pykexec", "scenario kexec: pykexec")
    assert ref.with_overrides(loader=Loader.PYKEXEC, cpus=4).cpus == 4


def _judge_lines(lines: list[str], scenario_name: str = "reference-kexec") -> Report:
    scenario = SCENARIOS[scenario_name]
    report = Report(scenario_name, "k", Path("/dev/null"), {})
    judge = Judge(scenario, report, "abc")
    for i, text in enumerate(lines):
        ev = parse_marker(ConsoleLine(float(i), text))
        if ev is not None:
            judge.feed(ev)
    assert judge.done
    return report


def test_judge_pass_and_timings() -> None:
    report = _judge_lines(
        [
            "[ 1.0] booting",
            "LAB-USERSPACE stage=1 uptime=2.0",
            "LAB-BEGIN load",
            "LAB-END load rc=0",
            "LAB-BEGIN exec",
            "[    0.000000] Linux version",
            "LAB-USERSPACE stage=2 uptime=1.0",
            "LAB-RESULT marker=abc",
            "LAB-PASS",
        ]
    )
    assert report.passed, report.reason
    labels = dict(report.timings)
    assert labels["boot to userspace (stage 1)"] == 1.0
    assert labels["exec to userspace (stage 2)"] == 2.0
    assert labels["step load [rc=0] (stage 1)"] == 1.0


def test_judge_rejects_wrong_marker_and_early_pass() -> None:
    bad = _judge_lines(["LAB-USERSPACE stage=2", "LAB-RESULT marker=zzz", "LAB-PASS"])
    assert not bad.passed and "marker" in bad.reason
    early = _judge_lines(["LAB-USERSPACE stage=1", "LAB-PASS"])
    assert not early.passed and "expected stage 2" in early.reason
    failed = _judge_lines(["LAB-USERSPACE stage=1", "LAB-FAIL step load rc=1"])
    assert not failed.passed and "step load rc=1" in failed.reason


def test_kernel_cmdline_and_qemu_argv(tmp_path: Path) -> None:
    words = kernel_cmdline(
        RunOptions(SCENARIOS["reference-kdump"], extra_cmdline=("x=1",)), "m", "n"
    )
    assert "crashkernel=512M" in words and words[-1] == "x=1"
    assert f"lab.stage={Stage.FIRST}" in words
    argv = MachineConfig(tmp_path / "k", tmp_path / "i", words, cpus=4, mem_mib=2048).argv()
    assert argv[argv.index("-M") + 1] == "pseries,x-vof=on"
    assert "-no-reboot" in argv and argv[argv.index("-smp") + 1] == "4"
    append = argv[argv.index("-append") + 1]
    assert append.startswith("console=hvc0 panic=-1 ")


def test_capture_collector_roundtrip(tmp_path: Path) -> None:
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as tar:
        data = b"\x00\x00\x00\x01"
        info = tarfile.TarInfo("./proc/device-tree/#size-cells")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    blob = tar_buf.getvalue()
    collector = _Collector()
    lines = [f"LAB-DATA-BEGIN {hashlib.sha256(blob).hexdigest()}"]
    encoded = base64.b64encode(blob).decode()
    lines += [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    lines += ["[   3.0] a kernel message", "LAB-DATA-END"]
    for text in lines:
        collector(ConsoleLine(0.0, text))
    assert unpack(collector.payload(), tmp_path / "snap") == 1
    assert (tmp_path / "snap/proc/device-tree/#size-cells").read_bytes() == data
    assert "cp -r /sys/firmware/devicetree/base" in guest_script()


def _load_helper(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lab_guest_{name}", GUEST_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ima_replay_folds_template_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """lab/guest/imareplay.py: SHA-1 PCR extends in list order, a violation's zero digest
    extended as 0xff bytes; the PCR file's uppercase hex read as the kernel prints it."""
    replay = _load_helper("imareplay")
    one, violation = bytes(range(20)), bytes(20)
    expected = hashlib.sha1(hashlib.sha1(bytes(20) + one).digest() + b"\xff" * 20).digest()
    lst, pcr = tmp_path / "list", tmp_path / "pcr"
    lst.write_text(
        f"10 {one.hex()} ima-ng sha256:{'ab' * 32} boot_aggregate\n"
        f"10 {violation.hex()} ima-ng sha256:{'00' * 32} /mnt/ima/f1\n"
    )
    pcr.write_text(expected.hex().upper() + "\n")
    monkeypatch.setattr(replay, "LIST", str(lst))
    monkeypatch.setattr(replay, "PCR", str(pcr))
    assert replay.main(["imareplay.py", "1"]) == 0
    assert "ima_replay_1=match" in capsys.readouterr().out
    pcr.write_text(bytes(20).hex())
    assert replay.main(["imareplay.py", "2"]) == 0
    assert "ima_replay_2=mismatch" in capsys.readouterr().out
    monkeypatch.setattr(replay, "PCR", str(tmp_path / "absent"))
    assert replay.main(["imareplay.py", "3"]) == 1
    assert "ima_replay_3=unavailable: " in capsys.readouterr().out


def test_vmcore_check_finds_nonce_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill, check = _load_helper("fill"), _load_helper("vmcore_check")
    rec = fill.record("00ff")
    assert rec == check.record("00ff") and len(rec) == 32
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack("<H", 4)
    core = tmp_path / "vmcore"
    core.write_bytes(ident.ljust(100, b"\0") + rec * (1024 * 1024 // 32) + b"tail")
    monkeypatch.setattr(check, "VMCORE", str(core))
    monkeypatch.setattr(check, "CHUNK", 4099)
    monkeypatch.setattr(sys, "argv", ["vmcore_check.py", "00ff", "1"])
    assert check.main() == 0
    out = capsys.readouterr().out
    assert "vmcore_elf=ok" in out and "nonce_records=32768/32768" in out


def test_needed_sonames_of_a_host_binary() -> None:
    assert "libc.so.6" in needed_sonames(Path("/bin/sh").resolve())
    assert needed_sonames(Path(__file__)) == []


def test_overlay_carries_init_scenario_and_pykexec() -> None:
    data = overlay_archive([GuestFile("lab/scenario.sh", b"KEXEC=kexec\n")], with_pyc=False)
    entries = {name: (mode, body) for name, mode, body in _parse_newc(data)}
    assert entries["init"][1].startswith(b"#!/bin/sh")
    assert entries["lab/scenario.sh"][1] == b"KEXEC=kexec\n"
    assert "lab/fill.py" in entries and "lab/vmcore_check.py" in entries
    assert not any("opt/pykexec" in name for name in entries)  # the zipapp, not the tree
    mode, program = entries["usr/sbin/pykexec"]
    assert mode & 0o111 and program.startswith(b"#!/usr/bin/python3 -ISc")
    with zipfile.ZipFile(io.BytesIO(program)) as z:  # zipfile reads past the shebang
        names = z.namelist()
    assert "__main__.py" in names and "pykexec/commands/cli.py" in names
    assert not any(n.endswith(".pyc") for n in names)  # with_pyc=False


def test_step_names_are_shell_identifiers() -> None:
    with pytest.raises(ScenarioError) as err:
        Step("cat-vmcore", "true")
    assert err.value.problem == "step-name"


def test_shell_scenario_is_one_step() -> None:
    s = shell_scenario("true", cpus=2)
    assert s.cpus == 2 and [st.name for st in s.steps(Stage.FIRST)] == ["cmd"]


def test_gzip_part_is_padded_so_the_next_archive_is_aligned(tmp_path: Path) -> None:
    """init/initramfs.c reads a cpio header after a compressed archive only at a 4-byte offset."""
    out = tmp_path / "next.img"
    for size in range(8):  # some of these gzip to a length that is not a multiple of 4
        _concat(out, [bytes(range(size)) * 3], compress=True)
        data = out.read_bytes()
        assert len(data) % 4 == 0
        inflate = zlib.decompressobj(wbits=31)
        assert inflate.decompress(data) == bytes(range(size)) * 3
        assert inflate.eof and set(inflate.unused_data) <= {0}


def test_powernv_argv_and_initrd_limit(tmp_path: Path) -> None:
    initrd = tmp_path / "initrd"
    initrd.write_bytes(bytes(16))
    config = MachineConfig(tmp_path / "k", initrd, ("x=1",), machine=Machine.POWERNV)
    argv = config.argv()
    assert argv[argv.index("-M") + 1] == "powernv9" and "x-vof=on" not in " ".join(argv)
    config.check()
    with initrd.open("r+b") as f:
        f.truncate(INITRD_MAX_BYTES[Machine.POWERNV] + 1)
    with pytest.raises(AssetError) as err:
        config.check()
    assert err.value.problem == "initrd-too-large"


def test_powernv_scenarios_reuse_the_pseries_steps() -> None:
    for name, twin in POWERNV_TWINS.items():
        ours, theirs = SCENARIOS[name], SCENARIOS[twin]
        assert ours.machine is Machine.POWERNV and theirs.machine is Machine.PSERIES
        assert ours.loader is theirs.loader and ours.crashkernel == theirs.crashkernel
        assert len(ours.stages) == len(theirs.stages)
        for (stage, steps), (twin_stage, twin_steps) in zip(ours.stages, theirs.stages):
            assert stage == twin_stage and steps[0].name == f"platform_{stage}"
            assert steps[-len(twin_steps) :] == twin_steps  # the same Step data, unchanged
        leaves = any(step.leaves for _, steps in ours.stages for step in steps)
        skiboot_rule = any(r.pattern == SKIBOOT_START and not r.present for r in ours.console)
        assert skiboot_rule == leaves, name  # every hand-over, and only those, is watched


def _flattened(blocks: list[tuple[int, bytes]], end: bool = True) -> bytes:
    """A stream in makedumpfile's flattened format, built from its description: a
    4096-byte header (signature, big-endian type 1 and version 1), then per block a
    big-endian (offset, size) and the data, then offset -1."""
    out = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    for offset, data in blocks:
        out += struct.pack(">qq", offset, len(data)) + data
    return out + (struct.pack(">qq", -1, -1) if end else b"")


def _elf_core(phnum_loads: int) -> bytes:
    """An ELF64 little-endian core header with one PT_NOTE and ``phnum_loads`` PT_LOADs."""
    ehdr = bytearray(64)
    ehdr[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<HHI", ehdr, 16, 4, 21, 1)  # e_type ET_CORE, EM_PPC64, version
    struct.pack_into("<Q", ehdr, 32, 64)  # e_phoff
    struct.pack_into("<HHH", ehdr, 52, 64, 56, 1 + phnum_loads)  # ehsize, phentsize, phnum
    phdrs = struct.pack("<II", 4, 0).ljust(56, b"\0")
    phdrs += b"".join(struct.pack("<II", 1, 7).ljust(56, b"\0") for _ in range(phnum_loads))
    return bytes(ehdr) + phdrs


def test_dumpcheck_unflattens_and_counts_the_nonce(tmp_path: Path) -> None:
    from lab import dumpcheck

    rec = _load_helper("fill").record("abcd")
    assert dumpcheck.record("abcd") == rec
    body = rec * (1024 * 1024 // len(rec))  # 1 MiB of records, split across blocks
    cut = 4096 * 3 + 7  # a block boundary inside a record
    stream = tmp_path / "dump.flat"
    base = 1 << 20
    blocks = [(0, _elf_core(2)), (base, body[:cut]), (base + cut, b""), (base + cut, body[cut:])]
    stream.write_bytes(_flattened(blocks))
    ok, facts, why = dumpcheck.check(stream, tmp_path / "vmcore", "abcd", 1)
    assert ok, why
    assert facts.elf == "ok" and (facts.loads, facts.notes) == (2, 1)
    assert facts.records == len(body) // len(rec) and facts.blocks == 4
    assert facts.file_bytes == (1 << 20) + len(body)


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"", "streamed no dump"),
        (b"not a dump".ljust(5000, b"\0"), "no flattened-format header"),
        (_flattened([(0, _elf_core(1))], end=False), "no end marker"),
        (_flattened([(0, _elf_core(1))])[:-20], "cut short"),
        (_flattened([(0, b"\x7fELF" + bytes(60))]), "not an ELF vmcore"),
        (_flattened([(0, _elf_core(1))]), "0/32768 nonce records"),
    ],
)
def test_dumpcheck_names_what_is_wrong(tmp_path: Path, stream: bytes, why: str) -> None:
    from lab import dumpcheck

    path = tmp_path / "dump.flat"
    path.write_bytes(stream)
    ok, _, got = dumpcheck.check(path, tmp_path / "vmcore", "abcd", 1)
    assert not ok and why in got, got
