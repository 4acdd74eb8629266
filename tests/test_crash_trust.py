# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 9 on the host: load records, recovery after a rejected -p reload, -S -d,
--verify through a /proc/kcore built here, and both sysfs layouts.

The kernel is a small model of kernel/kexec.c do_kexec_load(): a -p load frees the
loaded crash image first, then checks each segment against the crash region
(kernel/kexec_core.c sanity_check_segment_list, EADDRNOTAVAIL).  The lab proves the
same against the real kernel (tests/e2e/test_crash_trust_lab.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lab.paths import GUEST_DIR
from pykexec.commands import status
from pykexec.commands.cli import main
from pykexec.core.arch import ppc64
from pykexec.core.options import LoadOptions, SyscallChoice
from pykexec.errors import ImageError, SyscallError
from pykexec.system import loader, record, syscalls
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot
from tests.typed import check, raises

MiB = 1 << 20
REGION = (512 * MiB, 512 * MiB)
SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"


class LiveSnapshot(SystemView):
    live = True  # type: ignore[assignment]


class CrashKernel:
    """do_kexec_load() for -p: free the loaded image, then check the new segments."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.flag = root / "sys/kernel/kexec_crash_loaded"
        self.loaded: list[tuple[int, int, bytes]] | None = None
        self.calls: list[str] = []
        monkeypatch.setattr(syscalls, "kexec_load", self.load)

    def load(self, entry: int, segments: list[syscalls.RawSegment], flags: int) -> None:
        self.loaded = None  # kimage_free(xchg(&kexec_crash_image, NULL))
        self.flag.write_text("0\n")
        lo, hi = REGION[0], REGION[0] + REGION[1]
        if any(not lo <= s.mem and s.mem + s.memsz <= hi for s in segments):
            self.calls.append("rejected")
            raise SyscallError("failed", errno=errno.EADDRNOTAVAIL, call="kexec_load", advice="x")
        self.calls.append("loaded")
        self.loaded = [(s.mem, s.memsz, bytes(s.buf)) for s in segments]
        self.flag.write_text("1\n")


@pytest.fixture
def machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[LoadOptions, LiveSnapshot, CrashKernel]:
    root = write_sysroot(tmp_path / "root", pseries(crash=REGION), cmdline="console=hvc0")
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x40000))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(_cpio([("init", b"#!/bin/sh\n"), ("data", bytes(100_000))]))
    opts = LoadOptions(
        kernel=k, initrd=initrd, command_line="nr_cpus=1", crash=True, syscall=SyscallChoice.LOAD
    )
    return opts, LiveSnapshot(root), CrashKernel(monkeypatch, root)


def _inject(monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """The lab's fault injector (lab/guest/inject.py), undone after the test."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lab_guest_inject", GUEST_DIR / "inject.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(syscalls, "kexec_load", syscalls.kexec_load)
    monkeypatch.setattr(ppc64, "region_digest", ppc64.region_digest)
    module.inject(fault)


def _cpio(files: list[tuple[str, bytes]]) -> bytes:
    """A newc archive (buffer-format.rst), written here for the initrd fixture."""
    out = b""
    for i, (name, data) in enumerate([*files, ("TRAILER!!!", b"")]):
        raw = name.encode() + b"\0"
        mode = 0o100644 if data or name != "TRAILER!!!" else 0
        fields = [i + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        head = b"070701" + b"".join(b"%08x" % f for f in fields) + raw
        out += head + bytes(-len(head) % 4) + data + bytes(-len(data) % 4)
    return out


def test_record_after_load_none_after_dry_run(
    machine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    opts, view, kernel = machine
    argv = ["-p", "-c", str(opts.kernel), f"--initrd={opts.initrd}", "--append=nr_cpus=1"]
    assert main([*argv, "--dry-run", f"--sysroot={view.root}"]) == 0
    assert "headroom: the crash kernel needs about" in capsys.readouterr().out
    assert record.read(view, True) is None
    loader.load(opts, view)
    rec = record.read(view, True)
    assert rec is not None and rec["syscall"] == "kexec_load"
    assert rec["files"]["kernel"]["size"] == opts.kernel.stat().st_size
    assert [(s["mem_start"], s["bufsz"]) for s in rec["segments"]] == [
        (mem, len(buf)) for mem, _, buf in kernel.loaded
    ]
    # the purgatory's digest slot holds the SHA-256 of the regions it lists
    regions = rec["purgatory"]["regions"]
    data = {mem: buf for mem, _, buf in kernel.loaded}
    h = hashlib.sha256(b"".join(data[start][:size] for start, size in regions))
    assert rec["purgatory"]["digest"] == h.hexdigest()


def test_rejected_reload_restores_the_recorded_crash_kernel(
    machine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, kernel = machine
    # the same /chosen/rng-seed for both loads (each live load draws a fresh one)
    monkeypatch.setattr(loader.os, "urandom", bytes)
    loader.load(opts, view)
    first = kernel.loaded
    _inject(monkeypatch, "reject-load")
    with raises(SyscallError, "crash-reloaded", errno=errno.EADDRNOTAVAIL, kernel=str(opts.kernel)):
        loader.load(replace(opts, command_line="nr_cpus=1 other"), view)
    assert kernel.calls == ["loaded", "rejected", "loaded"]
    assert view.kexec_crash_loaded() and kernel.loaded == first
    assert record.read(view, True)["options"]["command_line"] == "nr_cpus=1"  # type: ignore[index]


def test_rejected_load_without_record_says_none_is_loaded(
    machine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts, view, kernel = machine
    loader.load(opts, view)
    Path(record.record_path(view, True)).unlink()
    _inject(monkeypatch, "reject-load")
    with raises(SyscallError, "crash-freed-foreign", errno=errno.EADDRNOTAVAIL):
        loader.load(opts, view)
    assert kernel.calls == ["loaded", "rejected"] and not view.kexec_crash_loaded()


def test_failed_recovery_says_none_is_loaded(machine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    opts, view, _ = machine
    loader.load(opts, view)
    moved = opts.kernel.with_name("other")
    loader.load(replace(opts, kernel=shutil.copy(opts.kernel, moved)), view)
    moved.unlink()  # the recorded kernel is gone: the reload cannot work
    _inject(monkeypatch, "reject-load")
    with raises(SyscallError, "crash-reload-failed") as err:
        loader.load(opts, view)
    check(err.value.again, ImageError, "missing", what="kernel", path=str(moved))  # type: ignore[arg-type]
    assert not view.kexec_crash_loaded() and record.read(view, True) is None


def test_status_tells_files_and_machine_changes(machine: Any) -> None:
    opts, view, _ = machine
    loader.load(opts, view)
    text = status.describe(view, True)
    assert "crash kernel: loaded" in text and str(opts.kernel) in text
    assert "files: unchanged on disk" in text and "machine: unchanged" in text
    opts.initrd.write_bytes(opts.initrd.read_bytes() + bytes(4))
    iomem = Path(view.path("proc/iomem"))
    iomem.write_text(iomem.read_text() + "40000000-7fffffff : System RAM\n")
    data = json.loads(status.describe(view, True, as_json=True))
    assert data["stale"] and any("System RAM" in c for c in data["machine_changed"])
    assert any("initrd" in c and "size" in c for c in data["files_changed"])


def _kcore(path: Path, segments: list[tuple[int, int, bytes]]) -> None:
    """An ELF64 little-endian core (gABI) with one PT_LOAD mapping physical 0-2 GiB
    at file offset 0x1000 (vaddr 0xc000000000000000 + phys, as ppc64's linear map)."""
    ehdr = b"\x7fELF\x02\x01\x01" + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 21, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xC000000000000000, 0, 2 << 30, 2 << 30, 0)
    with path.open("wb") as f:
        f.write(ehdr + phdr)
        for mem, _, buf in segments:
            f.seek(0x1000 + mem)
            f.write(buf)
        f.truncate(0x1000 + (2 << 30))


def test_verify_intact_then_a_changed_segment(machine: Any) -> None:
    pytest.importorskip("elftools")
    from elftools.elf.elffile import ELFFile

    opts, view, kernel = machine
    loader.load(opts, view)
    kcore = Path(view.path("proc/kcore"))
    _kcore(kcore, kernel.loaded)
    with kcore.open("rb") as f:  # the oracle reads our core as we meant it
        (seg,) = [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD"]
        assert (seg["p_paddr"], seg["p_offset"]) == (0, 0x1000)
    intact, lines = status.verify_loaded(view, True)
    assert intact and "intact" in lines[0]
    initrd_at = next(
        s["mem_start"]
        for s in record.read(view, True)["segments"]  # type: ignore[index]
        if s["kind"] == "initrd"
    )
    with kcore.open("r+b") as f:
        f.seek(0x1000 + initrd_at + 10)
        f.write(b"X")
    intact, lines = status.verify_loaded(view, True)
    assert not intact and "initrd" in lines[0] and "purgatory digest" in lines[0]


def test_verify_names_a_corrupted_digest(machine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    opts, view, kernel = machine
    _inject(monkeypatch, "corrupt-digest")
    loader.load(opts, view)
    _kcore(Path(view.path("proc/kcore")), kernel.loaded)
    intact, lines = status.verify_loaded(view, True)
    assert not intact
    assert lines[0].endswith("NOT intact: purgatory digest differ")
    assert all("DIFFERS" not in line for line in lines)  # every segment as loaded


def _new_layout(src: Path, dst: Path) -> Path:
    """``src`` with /sys/kernel/kexec_* and crash_* moved to /sys/kernel/kexec/ (Linux
    6.19, Documentation/ABI/testing/sysfs-kernel-kexec-kdump) and no old files."""
    shutil.copytree(src, dst, symlinks=True)
    sysk = dst / "sys/kernel"
    new = sysk / "kexec"
    new.mkdir()
    moves = {
        "kexec_loaded": "loaded",
        "kexec_crash_loaded": "crash_loaded",
        "kexec_crash_size": "crash_size",
        "crash_elfcorehdr_size": "crash_elfcorehdr_size",
    }
    for old, name in moves.items():
        if (sysk / old).exists():
            (sysk / old).rename(new / name)
    return dst


@pytest.mark.parametrize("snapshot", sorted(p.name for p in SNAPSHOTS.glob("*-crash")))
@pytest.mark.parametrize("mode", ["-l", "-p"])
def test_new_sysfs_layout_plans_the_same(
    snapshot: str, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = SNAPSHOTS / snapshot
    dst = _new_layout(src, tmp_path / snapshot)
    assert not list((dst / "sys/kernel").glob("kexec_*")) and (dst / "sys/kernel/kexec").is_dir()
    assert SystemView(dst).kexec_crash_size() == SystemView(src).kexec_crash_size() is not None
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux("little", size=0x120000, memsz=0x200000))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(_cpio([("init", b"#!/bin/sh\n")]))
    plans = []
    for root in (src, dst):
        argv = [
            mode,
            "-c",
            str(k),
            f"--initrd={initrd}",
            "--append=nr_cpus=1",
            "--dry-run",
            "--json",
            f"--sysroot={root}",
        ]
        assert main(argv) == 0
        plans.append(json.loads(capsys.readouterr().out))
    assert plans[0] == plans[1]
    assert plans[0]["kexec_load"]["segments"]
    assert (plans[0]["headroom"] is not None) == (mode == "-p")


def test_command_line_forms() -> None:
    from pykexec.commands.cli import parse

    assert parse(["-S", "--verify"]).action == parse(["-p", "--verify"]).action == "verify"
    assert parse(["-l", "--verify"]).status_of_exec_kernel
    cmd = parse(["--recommend-crashkernel", "/k", "--initrd=/i", "--append=x"])
    assert cmd.action == "recommend" and cmd.options is not None and cmd.options.crash
    assert parse(["-S", "-d"]).action == "status" and "debug" in parse(["-S", "-d"]).flags


def test_verify_without_segment_checksums_checks_the_digest(machine: Any) -> None:
    """A record without per-segment checksums (what a -l load writes: no pass over its
    buffers) still verifies: the whole image against the purgatory's digest."""
    opts, view, kernel = machine
    loader.load(opts, view)
    _kcore(Path(view.path("proc/kcore")), kernel.loaded)
    rec = record.read(view, True)
    assert rec is not None
    for seg in rec["segments"]:
        seg.pop("crc32", None)
        seg.pop("sha256_through", None)
    record.write(view, True, rec)
    intact, lines = status.verify_loaded(view, True)
    assert intact, lines
    assert sum("no checksum of its own recorded (-l)" in line for line in lines) == len(
        rec["segments"]
    )


class Passes:
    """Big buffers (over loaded.SMALL_SEGMENT) given to SHA-256 and to CRC-32, by size."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import hashlib
        import zlib

        self.sha: list[int] = []
        self.crc: list[int] = []
        real_sha, real_crc = hashlib.sha256, zlib.crc32
        log = self._big

        class Counted:
            def __init__(self, data: bytes = b"", h: Any = None) -> None:
                self.h = h or real_sha(data)
                log(self_sha, data)

            def update(self, data: bytes) -> None:
                log(self_sha, data)
                self.h.update(data)

            def copy(self) -> Counted:
                return Counted(h=self.h.copy())

            def digest(self) -> bytes:
                return bytes(self.h.digest())

            def hexdigest(self) -> str:
                return str(self.h.hexdigest())

        self_sha = self.sha
        monkeypatch.setattr(hashlib, "sha256", Counted)
        monkeypatch.setattr(
            zlib, "crc32", lambda data, *a: log(self.crc, data) or real_crc(data, *a)
        )

    @staticmethod
    def _big(into: list[int], data: bytes) -> None:
        from pykexec.core.crash.loaded import SMALL_SEGMENT

        if memoryview(data).nbytes > SMALL_SEGMENT:
            into.append(memoryview(data).nbytes)


def test_each_segment_is_read_once_for_digest_and_record(
    machine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A -p load hashes a 3 MiB initrd once (the purgatory's digest pass); the record's
    per-segment check of it comes from that pass: no CRC-32 of it, no second SHA-256."""
    opts, view, _ = machine
    assert opts.initrd is not None
    opts.initrd.write_bytes(_cpio([("data", os.urandom(3 * MiB))]))
    size = opts.initrd.stat().st_size
    passes = Passes(monkeypatch)
    loader.load(opts, view)
    assert passes.sha == [size] and passes.crc == []
    rec = record.read(view, True)
    assert rec is not None
    (seg,) = [s for s in rec["segments"] if s["kind"] == "initrd"]
    assert "crc32" not in seg and len(seg["sha256_through"]) == 64


def test_verify_names_a_big_segment_by_the_running_digest(machine: Any) -> None:
    opts, view, kernel = machine
    assert opts.initrd is not None
    opts.initrd.write_bytes(_cpio([("data", os.urandom(3 * MiB))]))
    loader.load(opts, view)
    kcore = Path(view.path("proc/kcore"))
    _kcore(kcore, kernel.loaded)
    intact, lines = status.verify_loaded(view, True)
    assert intact, lines
    assert any("segment initrd" in line and "same (SHA-256" in line for line in lines)
    (at,) = [s["mem_start"] for s in record.read(view, True)["segments"]  # type: ignore[index]
             if s["kind"] == "initrd"]  # fmt: skip
    with kcore.open("r+b") as f:
        f.seek(0x1000 + at + 2 * MiB)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    intact, lines = status.verify_loaded(view, True)
    assert not intact and "initrd" in lines[0] and "purgatory digest" in lines[0]
    assert any("segment initrd" in line and "DIFFERS" in line for line in lines)
