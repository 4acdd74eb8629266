# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 8's harmful paths: --dry-run is harmless for every action, a live action never
reads a snapshot, output flags never load, --dtb loads take kexec_load and carry the
final bootargs, the syscall decision, and the kernel's own segment rules.

The kernel calls, sync, interface changes and exec of shutdown are replaced by
recorders; expected tree contents are read back with libfdt, core headers with
pyelftools (independent of pykexec's own parsers).
"""

from __future__ import annotations

import errno
import io
import json
import os
import posix
from pathlib import Path

import pytest

from pykexec.commands.cli import main, parse
from pykexec.core.devicetree.fdt import DeviceTree, build_fdt
from pykexec.core.memory import Range
from pykexec.core.options import LoadOptions, SyscallChoice
from pykexec.core.policy import (
    KernelLimits,
    KernelRuleError,
    KexecSupport,
    PlannedSegment,
    Syscall,
    check_kernel_rules,
    decide_syscall,
)
from pykexec.errors import OptionError
from pykexec.system import control, loader, syscalls
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot
from tests.typed import cli_error, raises

MiB = 1 << 20


class Recorder:
    """Every way pykexec could touch the machine, recorded instead of done."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        rec = self.calls.append
        monkeypatch.setattr(syscalls, "kexec_load", lambda *a: rec("kexec_load"))
        monkeypatch.setattr(syscalls, "kexec_file_load", lambda *a: rec("kexec_file_load"))
        monkeypatch.setattr(syscalls, "reboot_kexec", lambda: rec("reboot"))
        monkeypatch.setattr(posix, "sync", lambda: rec("sync"))
        monkeypatch.setattr(posix, "execv", lambda *a: rec("execv"))
        monkeypatch.setattr(control, "take_interfaces_down", lambda v: rec("ifdown"))


@pytest.fixture
def machine(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A snapshot with a kernel loaded for -e and a crash kernel, a kernel and an initrd."""
    root = write_sysroot(tmp_path / "root", pseries())
    (root / "sys/kernel/kexec_loaded").write_text("1\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("1\n")
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"070701" + bytes(200000))
    return root, kernel, initrd


DRY_ACTIONS = [
    ["-e"],
    ["-f"],
    ["-e", "-f"],
    ["-u"],
    ["-p", "-u"],
    ["-l", "{k}"],
    ["-p", "{k}", "--initrd={i}"],
    ["-f", "{k}"],
    ["{k}"],
    ["-s", "-p", "{k}", "--append=irqpoll"],
    ["-c", "-l", "{k}", "--json"],
]


@pytest.mark.parametrize("argv", DRY_ACTIONS, ids=lambda a: " ".join(a))
def test_dry_run_touches_nothing(
    monkeypatch: pytest.MonkeyPatch, machine: tuple[Path, Path, Path], argv: list[str], capsys
) -> None:  # type: ignore[no-untyped-def]
    root, kernel, initrd = machine
    rec = Recorder(monkeypatch)
    words = [w.format(k=kernel, i=initrd) for w in argv]
    assert main([*words, "--dry-run", "--sysroot", str(root)]) == 0
    assert rec.calls == []
    out = capsys.readouterr().out
    assert out.strip()
    assert (root / "sys/kernel/kexec_loaded").read_text() == "1\n"


def test_dry_run_exec_says_what_would_happen(
    monkeypatch: pytest.MonkeyPatch, machine: tuple[Path, Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = machine
    Recorder(monkeypatch)
    (root / "sys/class/net/eth0").mkdir(parents=True)
    (root / "sys/class/net/lo").mkdir(parents=True)
    assert main(["-e", "--dry-run", "--sysroot", str(root)]) == 0
    out = capsys.readouterr().out
    assert "sync file systems" in out and "take down eth0," in out and "eth0, lo" not in out
    assert main(["-e", "-x", "-y", "--dry-run", "--sysroot", str(root)]) == 0
    out = capsys.readouterr().out
    assert "not sync" in out and "leave network interfaces up" in out
    (root / "sys/kernel/kexec_loaded").write_text("0\n")
    # -e would fail the same way: kexec-tools' "Nothing has been loaded!", exit status 1
    assert main(["-e", "--dry-run", "--sysroot", str(root)]) == 1


def test_dry_run_unload_names_the_image(machine: tuple[Path, Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = machine
    assert main(["-p", "-u", "--dry-run", "--sysroot", str(root)]) == 0
    assert "would unload the crash kernel (loaded now)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["-l", "{k}"], ["-p", "{k}"], ["-e"], ["-u"], ["-f", "{k}"], ["{k}"], ["-l", "{k}", "--json"]],
    ids=lambda a: " ".join(a),
)
def test_sysroot_without_dry_run_is_refused(
    monkeypatch: pytest.MonkeyPatch, machine: tuple[Path, Path, Path], argv: list[str], capsys
) -> None:  # type: ignore[no-untyped-def]
    root, kernel, _ = machine
    rec = Recorder(monkeypatch)
    assert main([*(w.format(k=kernel) for w in argv), "--sysroot", str(root), "--json"]) == 2
    assert rec.calls == []
    error = cli_error(capsys)
    assert (error["kind"], error["case"], error["option"]) == (
        "OptionError", "sysroot-needs-dry-run", "--sysroot"
    )  # fmt: skip


def test_api_refuses_live_load_from_snapshot(
    monkeypatch: pytest.MonkeyPatch, machine: tuple[Path, Path, Path]
) -> None:
    root, kernel, _ = machine
    rec = Recorder(monkeypatch)
    from pykexec.errors import UsageError

    with pytest.raises(UsageError):
        loader.load(LoadOptions(kernel=kernel), SystemView(root))
    with pytest.raises(UsageError):
        control.execute(SystemView(root))
    assert rec.calls == []


ROOT_WORDS = ["/", "//", "/.", "/./", "/..", "/a/..", "/a/../..", "/../a/..", "///.//"]
NOT_ROOT_WORDS = ["/a", "/a/", "/a/b/..", "/../a", "a", "./a", "/a/./b/..", "/a/../b"]


@pytest.mark.parametrize("path", ROOT_WORDS + NOT_ROOT_WORDS)
def test_a_view_is_live_when_its_root_names_slash(path: str, tmp_path: Path) -> None:
    """SystemView.live (sysinfo.names_root, without os): what os.path.abspath says, but that
    abspath keeps a leading "//" (POSIX leaves its meaning open; Linux's is "/")."""
    expected = os.path.normpath(os.path.abspath(path).replace("//", "/", 1)) == "/"
    assert SystemView(path).live is expected
    assert (path in ROOT_WORDS) is expected  # the lists say what they mean


@pytest.mark.parametrize("rel", [".", "..", "../..", "x/.."])
def test_a_relative_root_is_taken_from_the_working_directory(
    rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative root is live exactly when it leads from the working directory to /
    (from /, every one of these does: ".." of / is /; three levels down, none does)."""
    deep = tmp_path.joinpath(*["d"] * 3)
    deep.mkdir(parents=True)
    for where, live in ((Path("/"), True), (deep, False)):
        monkeypatch.chdir(where)
        assert (os.path.abspath(rel) == "/") is live  # the oracle agrees with the claim
        assert SystemView(rel).live is live


@pytest.mark.parametrize("argv", [["-e", "--json"], ["-u", "--json"], ["-l", "{k}", "--save=x"]])
def test_output_flags_never_act(
    monkeypatch: pytest.MonkeyPatch, machine: tuple[Path, Path, Path], argv: list[str]
) -> None:
    _, kernel, _ = machine
    rec = Recorder(monkeypatch)
    assert main([w.format(k=kernel) for w in argv]) == 2
    assert rec.calls == []


def _support(**kw: object) -> KexecSupport:
    return KexecSupport(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options,support,first,fallback",
    [
        ({}, {}, Syscall.FILE, True),
        ({}, {"file_load": True}, Syscall.FILE, True),
        ({}, {"file_load": False}, Syscall.LOAD, False),
        ({"dtb": Path("x.dtb")}, {"file_load": True}, Syscall.LOAD, False),
        ({"reuse_initrd": True}, {}, Syscall.LOAD, False),
        ({}, {"lockdown": "integrity"}, Syscall.FILE, False),
        ({"syscall": SyscallChoice.LOAD}, {"file_load": True}, Syscall.LOAD, False),
        ({"syscall": SyscallChoice.FILE}, {}, Syscall.FILE, False),
    ],
)
def test_syscall_decision(
    options: dict[str, object], support: dict[str, object], first: Syscall, fallback: bool
) -> None:
    opts = LoadOptions(kernel=Path("k"), **options)  # type: ignore[arg-type]
    decision = decide_syscall(opts, _support(**support))
    assert (decision.first, decision.fallback) == (first, fallback)


@pytest.mark.parametrize(
    "options,support",
    [
        ({"syscall": SyscallChoice.LOAD}, {"lockdown": "integrity"}),
        ({"syscall": SyscallChoice.FILE}, {"file_load": False}),
        ({}, {"load_disabled": True}),
        ({"crash": True}, {"loads_left": 0}),
        ({"dtb": Path("x")}, {"lockdown": "confidentiality"}),
    ],
)
def test_syscall_refusals(options: dict[str, object], support: dict[str, object]) -> None:
    from pykexec.errors import UsageError

    with pytest.raises(UsageError):
        decide_syscall(LoadOptions(kernel=Path("k"), **options), _support(**support))  # type: ignore[arg-type]


def test_auto_with_dtb_goes_straight_to_kexec_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, machine: tuple[Path, Path, Path]
) -> None:
    """petitboot's form under the default -a: kexec_file_load cannot take --dtb, so it is
    not tried (it used to fail with an error the fallback did not catch)."""
    root, kernel, initrd = machine
    rec = Recorder(monkeypatch)
    blob = tmp_path / "given.dtb"
    blob.write_bytes(build_fdt(DeviceTree(root=pseries(), reserve_map=[])))

    class Live(SystemView):
        live = True  # type: ignore[assignment]

    result = loader.load(
        LoadOptions(kernel=kernel, dtb=blob, initrd=initrd, command_line="x"), Live(root)
    )
    assert rec.calls == ["kexec_load"]
    assert result.decision.first is Syscall.LOAD


def _given_blob(tmp_path: Path, *, initrd: tuple[int, int] | None) -> Path:
    tree = pseries()
    chosen = tree.child("chosen")
    assert chosen is not None
    chosen.set("bootargs", b"console=hvc0 root=/dev/sda2 from-the-blob\0")
    if initrd is not None:
        chosen.set_u64("linux,initrd-start", initrd[0])
        chosen.set_u64("linux,initrd-end", initrd[1])
    path = tmp_path / "given.dtb"
    path.write_bytes(build_fdt(DeviceTree(root=tree, reserve_map=[])))
    return path


def _saved(tmp_path: Path, root: Path, argv: list[str]) -> dict[str, bytes]:
    out = tmp_path / "saved"
    assert main([*argv, "--dry-run", "--sysroot", str(root), f"--save={out}"]) == 0
    return {p.name: p.read_bytes() for p in out.iterdir()}


def test_crash_dtb_without_append_carries_elfcorehdr(
    tmp_path: Path, machine: tuple[Path, Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    libfdt = pytest.importorskip("libfdt")
    root, kernel, _ = machine
    blob = _given_blob(tmp_path, initrd=None)
    saved = _saved(tmp_path, root, ["-p", str(kernel), f"--dtb={blob}"])
    dtb = next(v for k, v in saved.items() if k.endswith(".dtb"))
    fdt = libfdt.Fdt(dtb)
    bootargs = fdt.getprop(fdt.path_offset("/chosen"), "bootargs").as_str()
    plan = json.loads(saved["plan.json"])["kexec_load"]
    header = next(s for s in plan["segments"] if s["kind"] == "elfcorehdr")
    assert bootargs.startswith("console=hvc0 root=/dev/sda2 from-the-blob")
    assert f"elfcorehdr={header['mem'] >> 10}K" in bootargs.split()
    assert plan["command_line"] == bootargs


def test_crash_dtb_with_initrd(tmp_path: Path, machine: tuple[Path, Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    libfdt = pytest.importorskip("libfdt")
    root, kernel, initrd = machine
    blob = _given_blob(tmp_path, initrd=(0x3000000, 0x3100000))
    saved = _saved(tmp_path, root, ["-p", str(kernel), f"--dtb={blob}", f"--initrd={initrd}"])
    fdt = libfdt.Fdt(next(v for k, v in saved.items() if k.endswith(".dtb")))
    chosen = fdt.path_offset("/chosen")
    start = fdt.getprop(chosen, "linux,initrd-start").as_uint64()
    end = fdt.getprop(chosen, "linux,initrd-end").as_uint64()
    plan = json.loads(saved["plan.json"])["kexec_load"]
    seg = next(s for s in plan["segments"] if s["kind"] == "initrd")
    assert (start, end) == (seg["mem"], seg["mem"] + initrd.stat().st_size)
    assert Range(512 * MiB, 768 * MiB).contains(Range(start, end))
    memory = fdt.path_offset("/memory@0")
    assert fdt.getprop(memory, "linux,usable-memory", quiet=(libfdt.NOTFOUND,)) is not None
    rsv = {tuple(fdt.get_mem_rsv(i)[-2:]) for i in range(fdt.num_mem_rsv())}
    assert (start, initrd.stat().st_size) in rsv


def test_dtb_without_initrd_drops_stale_initrd(
    tmp_path: Path, machine: tuple[Path, Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    libfdt = pytest.importorskip("libfdt")
    root, kernel, _ = machine
    blob = _given_blob(tmp_path, initrd=(0x3000000, 0x3100000))
    saved = _saved(tmp_path, root, ["-l", str(kernel), f"--dtb={blob}", "--append=x"])
    fdt = libfdt.Fdt(next(v for k, v in saved.items() if k.endswith(".dtb")))
    chosen = fdt.path_offset("/chosen")
    assert fdt.getprop(chosen, "linux,initrd-start", quiet=(libfdt.NOTFOUND,)) == -libfdt.NOTFOUND
    assert fdt.getprop(chosen, "bootargs").as_str().startswith("x")


def test_saved_core_header_reads_with_pyelftools(
    tmp_path: Path, machine: tuple[Path, Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    elffile = pytest.importorskip("elftools.elf.elffile")
    root, kernel, _ = machine
    saved = _saved(tmp_path, root, ["-p", str(kernel), "--append=x"])
    core = next(v for k, v in saved.items() if k.endswith("elfcorehdr.elf"))
    elf = elffile.ELFFile(io.BytesIO(core))
    assert elf["e_type"] == "ET_CORE"
    assert next(s["p_type"] for s in elf.iter_segments()) == "PT_NOTE"
    names = sorted(saved)
    assert names[-1] == "plan.json" and any(n.endswith("-purgatory.bin") for n in names)


def test_file_syscall_plan_shows_what_the_kernel_gets(
    machine: tuple[Path, Path, Path], capsys
) -> None:  # type: ignore[no-untyped-def]
    root, kernel, _ = machine
    argv = ["-s", "-p", str(kernel), "--append=irqpoll nr_cpus=1", "--dry-run"]
    assert main([*argv, "--sysroot", str(root)]) == 0
    out = capsys.readouterr().out
    assert "syscall: kexec_file_load: -s asks for kexec_file_load" in out
    assert "command line (the kernel adds elfcorehdr= itself): irqpoll nr_cpus=1" in out
    assert "elfcorehdr=" not in out.split("irqpoll nr_cpus=1")[1]
    assert main([*argv, "--sysroot", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == 1 and doc["kexec_load"] is None
    assert doc["kexec_file_load"]["command_line"] == "irqpoll nr_cpus=1"
    assert doc["kexec_file_load"]["flag_names"] == "ON_CRASH|NO_INITRAMFS"


def test_support_read_from_snapshot(machine: tuple[Path, Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    root, kernel, _ = machine
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("6.1.0-test\n")
    (root / "boot").mkdir()
    (root / "boot/config-6.1.0-test").write_text("CONFIG_KEXEC=y\n# CONFIG_KEXEC_FILE is not set\n")
    assert main(["-l", str(kernel), "--dry-run", "--sysroot", str(root)]) == 0
    out = capsys.readouterr().out
    assert (
        "syscall: kexec_load: this kernel has no kexec_file_load (/boot/config-6.1.0-test)" in out
    )
    (root / "sys/kernel/security").mkdir(parents=True)
    (root / "sys/kernel/security/lockdown").write_text("none [integrity] confidentiality\n")
    assert main(["-l", str(kernel), "--dry-run", "--sysroot", str(root), "--json"]) == 2
    error = cli_error(capsys)
    assert (error["kind"], error["lockdown"]) == ("UsageError", "integrity")


def test_non_utf8_append_keeps_its_bytes(tmp_path: Path, machine: tuple[Path, Path, Path]) -> None:
    libfdt = pytest.importorskip("libfdt")
    root, kernel, _ = machine
    word = os.fsdecode(b"lab.x=\xff\xfe")
    saved = _saved(tmp_path, root, ["-c", "-l", str(kernel), f"--append={word}"])
    fdt = libfdt.Fdt(next(v for k, v in saved.items() if k.endswith(".dtb")))
    assert b"lab.x=\xff\xfe" in bytes(fdt.getprop(fdt.path_offset("/chosen"), "bootargs"))


@pytest.mark.parametrize("value", ["-1", "0x", "-0x10", str(1 << 64), "１２"])
def test_bad_addresses_are_usage_errors(
    value: str, machine: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """kexec-tools 2.0.32: "Bad option value in --mem-min=...", the usage, exit status 1."""
    _, kernel, _ = machine
    assert main(["-l", str(kernel), f"--mem-min={value}", "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and out.startswith("usage:")
    with raises(OptionError, "bad-value", case="not-an-address", option="--mem-min", text=value):
        parse(["-l", str(kernel), f"--mem-min={value}", "--dry-run"])


@pytest.mark.parametrize("what", ["kernel", "initrd", "dtb"])
def test_fifo_inputs_are_refused_not_waited_on(
    tmp_path: Path, machine: tuple[Path, Path, Path], what: str, capsys
) -> None:  # type: ignore[no-untyped-def]
    root, kernel, _ = machine
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    argv = {"kernel": [str(fifo)], "initrd": [str(kernel), f"--initrd={fifo}"]}.get(
        what, [str(kernel), f"--dtb={fifo}"]
    )
    assert main(["-c", "-l", *argv, "--dry-run", "--sysroot", str(root), "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["path"], error["filetype"]) == (
        "ImageError",
        "not-regular",
        str(fifo),
        "a FIFO",  # what os.mkfifo made
    )


def _seg(start: int, size: int, bufsz: int = 0) -> PlannedSegment:
    return PlannedSegment(Range.sized(start, size), bufsz, "segment")


LIMITS = KernelLimits(
    page_size=0x10000, total_ram=1 << 30, crash=Range(512 * MiB, 768 * MiB), kernel_end=0x2000000
)


@pytest.mark.parametrize(
    "segments,crash,limits,expected",
    [
        ((_seg(0x4000000, 0x8000),), False, LIMITS, errno.EADDRNOTAVAIL),
        ((_seg(0x4000000, 0x10000, 0x10001),), False, LIMITS, errno.EINVAL),
        ((_seg(0x4000000, 0x20000), _seg(0x4010000, 0x10000)), False, LIMITS, errno.EINVAL),
        (tuple(_seg(0x4000000 + i * 0x10000, 0x10000) for i in range(17)), False, LIMITS, 22),
        ((_seg(0x4000000, 600 * MiB),), False, LIMITS, errno.EINVAL),
        ((_seg(0x1000000, 0x10000),), False, LIMITS, errno.ETXTBSY),
        ((_seg(0x4000000, 0x10000),), True, LIMITS, errno.EADDRNOTAVAIL),
        (
            (_seg(0x8000000, 0x10000),),
            False,
            KernelLimits(0x10000, 1 << 30, None, 0, (Range(0x8000000, 0x8800000),)),
            errno.ETXTBSY,
        ),
    ],
)
def test_kernel_rules(
    segments: tuple[PlannedSegment, ...], crash: bool, limits: KernelLimits, expected: int
) -> None:
    with pytest.raises(KernelRuleError) as err:
        check_kernel_rules(segments[0].mem.start, segments, crash, limits)
    assert err.value.errno == expected


def test_kernel_rules_accept_a_good_crash_plan() -> None:
    segs = (_seg(512 * MiB, 0x100000), _seg(520 * MiB, 0x10000))
    check_kernel_rules(520 * MiB, segs, True, LIMITS)
    with pytest.raises(KernelRuleError) as err:
        check_kernel_rules(0x100, segs, True, LIMITS)
    assert err.value.rule == "entry-in-crash-region"


def test_every_errno_has_a_line() -> None:
    """The errnos the two calls can return on ppc64 each get advice, not strerror."""
    for number, applies, _ in syscalls.ERRNO_ADVICE:
        line = syscalls.explain("kexec_file_load" if applies == "file" else "kexec_load",
                                number, file_load=applies == "file")  # fmt: skip
        if number != errno.EPERM or os.geteuid() == 0:
            assert os.strerror(number) not in line


def test_non_utf8_argument_is_echoed_as_its_bytes(tmp_path: Path) -> None:
    """The plan's command line holds an argument that was not UTF-8: printed as the
    original bytes, not a UnicodeEncodeError (a real process: stdout is a pipe)."""
    import subprocess
    import sys

    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    snapshot = Path(__file__).parent / "fixtures/snapshots/pseries-1cpu"
    argv = [sys.executable.encode(), b"-m", b"pykexec", b"-c", b"-l", bytes(kernel),
            b"--append=lab.x=\xff", b"--dry-run", b"--sysroot", bytes(snapshot)]  # fmt: skip
    done = subprocess.run(argv, cwd=Path(__file__).parent.parent, capture_output=True, check=False)
    assert done.returncode == 0 and done.stderr == b""
    assert b"/chosen/bootargs): lab.x=\xff\n" in done.stdout


def test_error_quoting_control_characters_stays_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["-l", "k1", "a\tb\nc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a\\tb\\nc" in err


def test_crash_kernel_of_the_other_byte_order_is_refused(
    machine: tuple[Path, Path, Path], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Measured in the lab (le-to-be-kdump): a big-endian crash kernel after a
    little-endian one has no /proc/vmcore. -p refuses it; -l takes it."""
    root, _, _ = machine
    big = tmp_path / "vmlinux-be"
    big.write_bytes(make_vmlinux("big", size=0x40000))
    assert main(["-c", "-p", str(big), "--dry-run", "--sysroot", str(root), "--json"]) == 2
    error = cli_error(capsys)
    assert (error["problem"], error["endian"], error["dump_endian"]) == (
        "crash-endian", "big", "little"
    )  # fmt: skip
    assert main(["-c", "-l", str(big), "--dry-run", "--sysroot", str(root)]) == 0
