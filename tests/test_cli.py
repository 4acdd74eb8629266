# SPDX-License-Identifier: GPL-2.0-or-later
"""The command line: real invocations of kexec by the tools that call it, and errors.

Each corpus entry is an argv that a client really sends (Debian kdump-tools,
Fedora kdumpctl, systemd, petitboot, kexecboot, people) and the meaning pykexec
must take from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pykexec.commands.cli import BY_NAME, OPTIONS, main, parse
from pykexec.errors import OptionError
from tests.clientcorpus import CORPUS, KEXEC_TOOLS, MISTAKES, OUTCOMES, I, K
from tests.typed import cli_error


def _shape(text: str) -> str:
    if text.startswith("usage:"):
        return "usage"
    return {0: "", 1: "line"}.get(len(text.splitlines()), "text")


class _Jump(Exception):
    """The process would have been replaced (execv of shutdown, reboot into the kernel)."""


def _observe(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    exec_loaded: bool = True,
    file_load: bool = True,
) -> tuple[int | str, str, str]:
    """Run ``argv`` as the live command on a fake machine (a snapshot under tmp_path, the
    kernel calls recorded; without ``file_load`` kexec_file_load fails with ENOSYS) and
    return what a script sees."""
    import contextlib
    import errno
    import io
    import posix

    from pykexec.core.devicetree.fdt import DeviceTree, build_fdt
    from pykexec.errors import SyscallError
    from pykexec.system import control, syscalls, sysinfo
    from tests.machines import pseries

    root, kernel = _machine(tmp_path)
    (root / "sys/kernel/kexec_loaded").write_text("1\n" if exec_loaded else "0\n")
    (root / "sys/kernel/kexec_crash_loaded").write_text("0\n")
    initrd, dtb = tmp_path / "initrd", tmp_path / "dtb"
    initrd.write_bytes(b"070701" + bytes(200000))
    dtb.write_bytes(build_fdt(DeviceTree(root=pseries(), reserve_map=[])))

    def jump(*args: object) -> None:
        raise _Jump

    def file_call(*args: object) -> None:
        if not file_load:
            raise SyscallError(
                "failed", errno=errno.ENOSYS, call="kexec_file_load", advice="not in this kernel"
            )

    class Live(sysinfo.SystemView):
        live = True  # type: ignore[assignment]

        def __init__(self, _root: object = "/") -> None:
            super().__init__(root)

    for module, name, value in (
        (syscalls, "kexec_load", lambda *a: None),
        (syscalls, "kexec_file_load", file_call),
        (syscalls, "reboot_kexec", jump),
        (posix, "execv", jump),
        (posix, "sync", lambda: None),
        (control, "take_interfaces_down", lambda view: None),
        (sysinfo, "SystemView", Live),
    ):
        monkeypatch.setattr(module, name, value)
    paths = {K: str(kernel), I: str(initrd), "/tmp/dtb": str(dtb)}
    words = [w for w in argv]
    for old, new in paths.items():
        words = [w.replace(old, new) for w in words]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str = main(words)
        except _Jump:
            code = "jump"
    return code, _shape(out.getvalue()), _shape(err.getvalue())


def test_every_corpus_form_has_its_observables() -> None:
    assert set(OUTCOMES) == {c[0] for c in CORPUS}
    assert set(KEXEC_TOOLS) <= set(OUTCOMES)


@pytest.mark.parametrize(
    "client,argv",
    [(c[0], c[1]) for c in CORPUS] + [(m[0], m[1]) for m in MISTAKES],
    ids=[c[0] for c in CORPUS] + [m[0] for m in MISTAKES],
)
def test_what_a_script_sees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: str, argv: list[str]
) -> None:
    expected = OUTCOMES.get(client) or dict((m[0], m[2]) for m in MISTAKES)[client]
    loaded = client != "-e, nothing loaded for it"
    file_load = "no kexec_file_load" not in client
    assert _observe(monkeypatch, tmp_path, argv, loaded, file_load) == expected


@pytest.mark.parametrize("client,argv,action,expect", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(client: str, argv: list[str], action: str, expect: dict[str, object]) -> None:
    cmd = parse(argv)
    assert cmd.action == action, client
    for key, value in expect.items():
        assert cmd.options is not None
        assert getattr(cmd.options, key) == value, (client, key)


def test_flags_and_status_details() -> None:
    assert parse(["-p", "-u"]).crash
    assert not parse(["-u"]).crash
    assert parse(["-l", "-S"]).status_of_exec_kernel
    assert not parse(["-S"]).status_of_exec_kernel
    assert parse(["-e", "-x", "-y"]).no_ifdown and parse(["-e", "-y"]).no_sync


@pytest.mark.parametrize(
    "argv,option,problem",
    [
        (["-s", "-l", "--dtb=/x", K], "--dtb", "conflict"),
        (["-s", "-l", "--reuseinitrd", K], "--reuseinitrd", "conflict"),
        (["-l"], "", "no-kernel"),
        ([], "", "nothing-to-do"),
        (["-l", K, "--bogus"], "--bogus", "unknown"),
        (["-l", K, "-t", "multiboot-x86"], "--type", "bad-value"),
        (["--load-preserve-context", "-l", K], "--load-preserve-context", "unsupported"),
        (["-l", "-e", K], "-e", "conflict"),
        (["-s", "-c", "-l", K], "-s", "conflict"),
        (["-l", K, "--mem-min=lots"], "--mem-min", "bad-value"),
        (["-l", K, "--hotplug"], "--hotplug", "conflict"),
        (["-l", K, "another"], "", "extra-kernel"),
        (["-l", K, "--sysroot=/x"], "--sysroot", "needs-dry-run"),
        (["-l", K, "--save=/x"], "--save", "needs-dry-run"),
        (["-e", "--json"], "--json", "needs-dry-run"),
        (["-l", K, "--mem-min=0x2000000", "--mem-max=0x1000000"], "--mem-max", "conflict"),
    ],
)
def test_refusals(argv: list[str], option: str, problem: str) -> None:
    """Which rule refused the command line, by the error's attributes (not its words)."""
    with pytest.raises(OptionError) as err:
        parse(argv)
    assert (err.value.option, err.value.problem) == (option, problem), str(err.value)
    assert err.value.exit_code == 2 and len(str(err.value).splitlines()) == 1


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert main(["-l", str(missing), "--dry-run", "--sysroot", str(tmp_path), "--json"]) != 0
    error = cli_error(capsys)  # one line on stderr, no traceback
    assert (error["kind"], error["problem"], error["path"]) == (
        "ImageError",
        "missing",
        str(missing),
    )
    not_elf = tmp_path / "vmlinux"
    not_elf.write_bytes(b"MZ" + bytes(100))
    assert main(["-l", str(not_elf), "--dry-run", "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["name"]) == (
        "ImageError",
        "not-elf",
        str(not_elf),
    )


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for opt in OPTIONS:
        assert opt.names[0] in out


def test_readme_option_table_matches() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for opt in OPTIONS:
        row = next(
            (line for line in readme.splitlines() if line.startswith("| `" + opt.names[0])), None
        )
        assert row is not None, f"README has no row for {opt.names[0]}"
        assert opt.status.split(":")[0] in row, (opt.names[0], opt.status)
        meaning = opt.help if opt.status in ("supported", "ignored") else opt.status[9:]
        assert f"| {meaning} |" in row, (opt.names[0], "README's meaning is not --help's")


@pytest.mark.parametrize(
    "text,value",
    [("0x2000000", 0x2000000), ("33554432", 33554432), ("010", 8), (" +0X10", 16), ("", 0),
     ("0", 0), ("512M", None), ("0x", None), ("08", None), ("-1", None), ("1 ", None)],
)  # fmt: skip
def test_addresses_read_as_strtoul_base_0(text: str, value: int | None) -> None:
    """kexec-tools 2.0.32 main(): strtoul(optarg, &end, 0) and *end must be NUL (C's
    strtoul, as Python's ctypes calls it, is the oracle)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.strtoul.restype = ctypes.c_ulong
    end = ctypes.c_char_p()
    raw = ctypes.create_string_buffer(text.encode())
    c_value = libc.strtoul(raw, ctypes.byref(end), 0)
    c_ok = end.value == b"" and not text.lstrip().startswith("-")
    assert (c_value if c_ok else None) == value, "the oracle disagrees with the table"
    if value is None:
        with pytest.raises(OptionError):
            parse(["-l", K, f"--mem-min={text}"])
    else:
        cmd = parse(["-l", K, f"--mem-min={text}"])
        assert cmd.options is not None and cmd.options.mem_min == value


def test_getopt_long_semantics() -> None:
    cmd = parse(["-pd", K, "-telf-ppc64"])
    assert cmd.options is not None and cmd.options.crash and cmd.options.debug
    assert parse(["-l", "-t", "elf-ppc64", K]).action == "load"
    cmd = parse(["-l", "--", "-weird-kernel-name"])
    assert cmd.options is not None and cmd.options.kernel == Path("-weird-kernel-name")
    cmd = parse(["-l", K, "--append", "--looks-like-an-option"])
    assert cmd.options is not None and cmd.options.command_line == "--looks-like-an-option"


@pytest.mark.parametrize(
    "argv,option,problem",
    [
        (["-l", K, "--re"], "--re", "ambiguous"),
        (["--load=x", K], "--load", "unexpected-argument"),
        (["-l", K, "--append"], "--append", "missing-argument"),
        (["-l", K, "-t"], "-t", "missing-argument"),
        (["-lq", K], "-q", "unknown"),
    ],
)
def test_getopt_errors(argv: list[str], option: str, problem: str) -> None:
    with pytest.raises(OptionError) as err:
        parse(argv)
    assert (err.value.option, err.value.problem) == (option, problem), str(err.value)


def test_no_test_switch_in_the_product() -> None:
    """Faults are injected by the lab (lab/guest/inject.py), never through an option."""
    from dataclasses import fields

    from pykexec.core.options import LoadOptions

    assert [n for opt in OPTIONS for n in opt.names if n.startswith("--test")] == []
    assert {f.name for f in fields(LoadOptions)} & {"corrupt_digest", "test_reject_load"} == set()
    assert main(["--test-c", "-p", "/boot/vmlinux", "--dry-run"]) == 1  # getopt: unknown
    src = Path(__file__).parent.parent / "pykexec"
    hits = [
        p for p in src.rglob("*.py") if "test-" in p.read_text() or "tests only" in p.read_text()
    ]
    assert hits == []


# -- what a script observes, as kexec-tools 2.0.32 ---------------------------------------

# kexec-tools 2.0.32's long options on ppc64 for Python's own getopt (the oracle below):
# KEXEC_OPTIONS in kexec/kexec.h, then kexec/arch/ppc64/include/arch/options.h.
_KT_LONG = (
    "help", "version", "force", "no-checks", "no-ifdown", "no-sync", "load", "unload", "exec",
    "exec-live-update", "load-preserve-context", "load-jump-back-helper", "load-live-update",
    "entry=", "type=", "load-panic", "mem-min=", "mem-max=", "reuseinitrd",
    "kexec-file-syscall", "kexec-syscall", "kexec-syscall-auto", "debug", "status",
    "print-ckr-size", "hotplug", "elf64-core-headers", "dt-no-old-root", "command-line=",
    "append=", "ramdisk=", "initrd=", "devicetreeblob=", "dtb=", "args-linux", "reuse-cmdline",
)  # fmt: skip


def test_abbreviations_resolve_as_getopt_long_does_over_kexec_tools_table() -> None:
    """Every prefix of every kexec-tools long option: Python's getopt.gnu_getopt over
    kexec-tools' table (no two of whose names that share a prefix are aliases) says
    which option it is or that it is ambiguous; pykexec must agree."""
    import getopt

    from pykexec.commands.optable import long_option

    names = [n.rstrip("=") for n in _KT_LONG]
    for name in names:
        for end in range(1, len(name) + 1):
            prefix = name[:end]
            try:
                found = getopt.gnu_getopt([f"--{prefix}", "x"], "", _KT_LONG)[0][0][0]
            except getopt.GetoptError:
                with pytest.raises(OptionError) as err:
                    long_option(prefix)
                assert err.value.problem == "ambiguous", prefix
                continue
            assert long_option(prefix) is BY_NAME[found], prefix


def test_the_abbreviations_issue_19_names() -> None:
    assert parse(["--v"]).action == "version"
    assert parse(["--s"]).action == "status"
    cmd = parse(["-l", K, "--t", "elf-ppc64", "--i", I])
    assert cmd.options is not None and cmd.options.initrd == Path(I)
    assert parse(["--f", K]).action == "load-exec"
    assert parse(["--veri"]).action == "verify"  # pykexec's own, past kexec-tools' names


def test_question_mark_prints_the_usage_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-?"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("usage:") and err == ""


@pytest.mark.parametrize(
    "argv,status",
    [
        (["--bogus"], 1),
        (["-q"], 1),
        (["--re", K], 1),
        (["-l", K, "--append"], 1),
        (["--load=x", K], 1),
        (["-l", K, "--mem-max=x"], 1),
        ([], 255),
        (["-l"], 255),
        (["-p", "--append=x"], 255),
    ],
)
def test_usage_on_stdout_with_kexec_tools_status(
    argv: list[str], status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """getopt's '?' and a bad address: usage, 1; "No kernel specified": usage, 255."""
    assert main(argv) == status
    out, err = capsys.readouterr()
    assert out.startswith("usage:") and err.count("\n") == 1


def test_own_refusals_exit_2_without_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-s", "-c", "-l", K]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1


@pytest.mark.parametrize("content,status", [(None, 255), ("0\n", 0), ("1\n", 1)])
def test_status_is_the_sysfs_value(
    tmp_path: Path, content: str | None, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """kexec-tools' k_status(): the number in the file, -1 (255) when it cannot be read."""
    if content is not None:
        (tmp_path / "sys/kernel").mkdir(parents=True)
        (tmp_path / "sys/kernel/kexec_crash_loaded").write_text(content)
    assert main(["-S", "--sysroot", str(tmp_path)]) == status
    assert capsys.readouterr() == ("", "")


def _machine(tmp_path: Path) -> tuple[Path, Path]:
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    root = write_sysroot(tmp_path / "root", pseries())
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(make_vmlinux(size=0x40000))
    return root, kernel


@pytest.mark.parametrize(
    "release,debug,flag",
    [(None, [], 0), (None, ["-d"], 0x8), ("6.8.0-1-powerpc64le", ["-d"], 0x8),
     ("6.12.9", ["-d"], 0x8), ("6.1.0-28-powerpc64le", ["-d"], 0), ("5.14.0-570.el9", ["-d"], 0)],
)  # fmt: skip
def test_debug_sets_kexec_file_debug(
    tmp_path: Path,
    release: str | None,
    debug: list[str],
    flag: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kexec-tools 2.0.32 main(): -d ORs KEXEC_FILE_DEBUG (0x8, include/uapi/linux/kexec.h),
    which Linux 6.8 added to KEXEC_FILE_FLAGS; an older kernel would refuse the load with
    EINVAL (and -a fall back to kexec_load), so it is left out there."""
    import json

    root, kernel = _machine(tmp_path)
    if release is not None:
        (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
        (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    argv = ["-s", "-p", str(kernel), *debug, "--dry-run", "--sysroot", str(root), "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["kexec_file_load"]["flags"] & 0x8 == flag


@pytest.mark.parametrize(
    "argv,file_load,calls",
    [
        (["-c", "-u", "-l", "{k}"], True, ["kexec_load", "kexec_load"]),
        (["-s", "-u", "-l", "{k}"], True, ["kexec_file_load"]),
        (["-u", "-l", "{k}"], True, ["kexec_file_load"]),
        (["-u", "-l", "{k}"], False, ["kexec_file_load", "kexec_load", "kexec_load"]),
        (["-l", "{k}", "-u"], True, ["kexec_file_load"]),
        (["-c", "-l", "{k}", "-u"], True, ["kexec_load"]),
        (["-c", "-u", "-p"], True, ["kexec_load"]),
    ],
)
def test_unload_with_a_load_follows_kexec_tools_per_syscall(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    file_load: bool,
    calls: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kexec-tools 2.0.32 main(): -u then -l/-p leaves do_unload and do_load both set;
    the load's kexec_file_load keeps KEXEC_FILE_UNLOAD in its flags (so it unloads
    again), a kexec_load (-c, or -a without kexec_file_load) loads.  -l then -u: unload."""
    import errno

    from pykexec.errors import SyscallError
    from pykexec.system import syscalls, sysinfo

    root, kernel = _machine(tmp_path)
    seen: list[str] = []

    def file_call(*args: object) -> None:
        seen.append("kexec_file_load")
        if not file_load:
            raise SyscallError(
                "failed", errno=errno.ENOSYS, call="kexec_file_load", advice="ENOSYS"
            )

    class Live(sysinfo.SystemView):
        live = True  # type: ignore[assignment]

        def __init__(self, _root: object = "/") -> None:
            super().__init__(root)

    monkeypatch.setattr(syscalls, "kexec_file_load", file_call)
    monkeypatch.setattr(syscalls, "kexec_load", lambda *a: seen.append("kexec_load"))
    monkeypatch.setattr(sysinfo, "SystemView", Live)
    code = main([w.format(k=kernel) for w in argv])
    assert seen == calls
    assert code == (255 if "{k}" not in argv else 0), capsys.readouterr().err
