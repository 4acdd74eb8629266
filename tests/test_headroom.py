# SPDX-License-Identifier: GPL-2.0-or-later
"""The headroom model against the lab's calibration matrix, and its parts.

lab/calibration/matrix.json holds, per case (kernel, payload, initrd codec, guest
CPUs, the crash kernel's CPU word), every probe ``python3 -m lab
calibrate-crashkernel`` ran: whether kexec-tools' crash kernel booted and dumped
at that crashkernel=, with the case's facts measured by the lab (pyelftools for the
vmlinux, a cpio walk, and what pykexec's initramfs reader makes of the initrd).
lab/calibration/debsys.json holds the same for kdump-tools' own crash kernel and
initramfs in the Debian system (``python3 -m lab.debsys_calibrate``).
pykexec's verdict at any size is computed here from those facts: refused, warned
about, or loaded silently.  It must never refuse where a crash kernel booted, never
load silently where none did, and recommend a size at or above where it dumped.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from lab.calibrate import load_facts, recommended, verdict
from pykexec.core.crash.headroom import (
    MIB,
    HeadroomInput,
    RootfsLimits,
    crash_cpus,
    estimate,
    percpu_unit,
    rootfs_is_tmpfs,
    rootfs_limits,
)
from pykexec.core.formats.initramfs import Initramfs, Part
from pykexec.core.planner import LoadFacts, headroom_input, judged_lines
from pykexec.core.policy import KexecSupport, Syscall, SyscallDecision
from tests.typed import cli_error

ROOT = Path(__file__).parent.parent
MATRIX = json.loads((ROOT / "lab" / "calibration" / "matrix.json").read_text())
CASES = MATRIX["cases"]
# lab/calibration/debsys.json: the Debian system's kdump-tools initramfs (lab.debsys_calibrate)
DEBSYS = json.loads((ROOT / "lab" / "calibration" / "debsys.json").read_text())
MEASURED = [c for c in CASES + DEBSYS["cases"] if c["status"] == "measured"]
ISSUE_CASE = "debian-6.1:full:gzip:1:nr_cpus=1"
LARGEST_MIB = 1024


def _kexec_probes(case: dict[str, Any]) -> list[dict[str, Any]]:
    """kexec-tools' probes that tell (booted None: stopped by a hang that says nothing)."""
    return [p for p in case["probes"] if p["loader"] == "kexec" and p["booted"] is not None]


def test_matrix_covers_the_issue() -> None:
    """At least 20 cases over pages, kernels, codecs, payloads and CPU words."""
    assert MATRIX["command"] == "python3 -m lab calibrate-crashkernel"
    assert len(CASES) >= 20
    assert {c["kernel_image"]["page_size"] for c in CASES} == {4096, 65536}
    assert {c["kernel_version"][:4] for c in CASES} >= {"6.1.", "6.12"}
    assert {c["codec"] for c in CASES} == {"gzip", "zstd", "xz"}
    assert {c["payload"] for c in CASES} == {"lean", "full"}
    assert {(c["cpus"], c["crash_word"]) for c in CASES} >= {
        (1, "nr_cpus=1"), (4, "nr_cpus=1"), (4, "maxcpus=1")}  # fmt: skip
    assert all(_kexec_probes(c) for c in MEASURED)
    assert all(c["status"].startswith(("measured", "not run: ")) for c in CASES)
    assert all(not c["probes"] for c in CASES if c["status"] != "measured")


@pytest.mark.parametrize("case", MEASURED, ids=lambda c: c["id"])
def test_never_refused_where_it_booted(case: dict[str, Any]) -> None:
    """Every size a crash kernel booted at, and every step above the smallest, loads."""
    for probe in _kexec_probes(case):
        if probe["booted"]:
            assert verdict(case, probe["crashkernel_mib"]) != "refuse", probe
    for mib in range(case["boot"]["min"] or LARGEST_MIB, LARGEST_MIB, MATRIX["step_mib"]):
        assert verdict(case, mib) != "refuse", mib


@pytest.mark.parametrize("case", MEASURED, ids=lambda c: c["id"])
def test_never_silent_where_it_did_not_boot(case: dict[str, Any]) -> None:
    """Every size a crash kernel did not boot at, and every step below, is refused or
    warned about."""
    highest = case["boot"]["max_not"]
    for probe in _kexec_probes(case):
        if not probe["booted"]:
            assert verdict(case, probe["crashkernel_mib"]) != "load", probe
    for mib in range(16, (highest or 0) + 1, MATRIX["step_mib"]):
        assert verdict(case, mib) != "load", mib


@pytest.mark.parametrize("case", MEASURED, ids=lambda c: c["id"])
def test_recommendation_dumps(case: dict[str, Any]) -> None:
    """--recommend-crashkernel names a size at or above where the crash kernel dumped
    (above every size where it did not), and loads there without a word; not more than
    twice the smallest that dumped."""
    size, dumped, failed = recommended(case), case["dump"]["min"], case["dump"]["max_not"]
    assert verdict(case, size) == "load"
    if dumped is not None:
        assert dumped <= size <= 2 * dumped, size
    if failed is not None:  # where only failures are known so far
        assert size > failed, size


def test_the_issues_case() -> None:
    """6.1, 64 KiB pages, the full payload, gzip: pykexec loads at 320M (its own crash
    kernel dumped there in the lab) and refuses at 128M with the figures."""
    case = next(c for c in MEASURED if c["id"] == ISSUE_CASE)
    assert verdict(case, 320) in ("load", "warn")
    ours = [p for p in case["probes"] if p["loader"] == "pykexec" and p["crashkernel_mib"] == 320]
    assert any(p["booted"] and p["dumped"] for p in ours)  # (the first hit a lab time limit)
    h = estimate(headroom_input(load_facts(case), 128 * MIB, case["command_line"]))
    assert not h.fits and h.floor > 128 * MIB
    assert "at least" in h.summary() and "crashkernel=" in h.summary()


def test_percpu_unit_as_the_kernel_printed_it() -> None:
    """The lab's 6.1 crash kernel: "percpu: Embedded 10 pages/cpu s603432 r0 d51928
    u655360" (its console log) for a 603432-byte .data..percpu with 64 KiB pages."""
    assert percpu_unit(603432, 65536) == 655360
    assert percpu_unit(0, 4096) == 36864 and percpu_unit(0, 65536) == 65536


def test_possible_and_online_cpus() -> None:
    assert crash_cpus("nr_cpus=1", 4) == (1, 1)
    assert crash_cpus("maxcpus=1", 4) == (4, 1)  # per-CPU areas for all 4
    assert crash_cpus("maxcpus=0", 4) == (4, 1)
    assert crash_cpus("nr_cpus=8", 4) == (4, 4) and crash_cpus("nr_cpus=0", 4) == (4, 4)
    assert crash_cpus("nr_cpus=2 maxcpus=1", 8) == (2, 1)
    assert crash_cpus("quiet", 0) == (1, 1)


def test_rootfs_limits() -> None:
    assert rootfs_is_tmpfs("console=hvc0") and not rootfs_is_tmpfs("root=/dev/sda2")
    assert rootfs_is_tmpfs("root=/dev/sda2 rootfstype=tmpfs")
    line = "console=hvc0 initramfs_options=size=64m,nr_inodes=2k"
    assert rootfs_limits(line, (6, 18)) == RootfsLimits(True, 64 * MIB, None, 2048, True)
    assert rootfs_limits(line, (6, 12)).honoured is False
    assert rootfs_limits(line, None).honoured is None
    assert rootfs_limits("initramfs_options=size=90%", (6, 18)).size_percent == 90
    assert rootfs_limits("root=/dev/vda initramfs_options=size=1m", (6, 18)) == RootfsLimits(False)


def _input(region_mib: int, line: str, release: tuple[int, int] | None) -> HeadroomInput:
    files = tuple([131072] * 1000)  # 1000 two-page files: 125 MiB with 64 KiB pages
    part = Part("cpio", 0, 125 * MIB, 125 * MIB, True, files, 1001)
    return HeadroomInput(region_mib * MIB, 100 * MIB, 40 * MIB, Initramfs(65 * MIB, (part,)),
                         65536, 1, 1, percpu_bytes=600_000,
                         rootfs=rootfs_limits(line, release))  # fmt: skip


def test_initramfs_options_move_the_floor() -> None:
    """Half of RAM by default; size=90% lets a smaller region hold the files; size=32m
    cannot hold them at any size; a kernel before 6.18 ignores the options."""
    default = estimate(_input(256, "console=hvc0", (6, 18))).floor
    roomy = estimate(_input(256, "initramfs_options=size=90%", (6, 18))).floor
    assert roomy < default
    small = estimate(_input(1024, "initramfs_options=size=32m", (6, 18)))
    assert not small.fits and "size=" in small.impossible
    assert estimate(_input(1024, "initramfs_options=size=32m", (6, 12))).fits
    unknown = estimate(_input(256, "initramfs_options=size=90%", None)).floor
    assert unknown == roomy  # the weaker reading
    inodes = estimate(_input(1024, "initramfs_options=nr_inodes=500", (6, 18)))
    assert not inodes.fits and "nr_inodes" in inodes.impossible


def test_inode_limit_with_64k_pages() -> None:
    """Half of RAM in pages bounds the inodes: 20000 empty files need 2 x 20001 pages."""
    part = Part("cpio", 0, 4 * MIB, 4 * MIB, True, tuple([0] * 20000), 20001)
    inp = HeadroomInput(2048 * MIB, 50 * MIB, 40 * MIB, Initramfs(4 * MIB, (part,)), 65536, 1, 1)
    assert estimate(inp).floor >= 40 * MIB + 4 * MIB + 2 * 20001 * 65536


def test_zstd_lower_bound_counts_toward_the_floor() -> None:
    """A part pykexec cannot read counts its proven lower bound as memory only."""
    part = Part("zstd", 0, 10 * MIB, 80 * MIB, False, None, 0, 30 * MIB)
    inp = HeadroomInput(64 * MIB, 50 * MIB, 40 * MIB, Initramfs(10 * MIB, (part,)), 65536, 1, 1)
    h = estimate(inp)
    assert dict(h.floor_terms)["unpacked initramfs"] == 30 * MIB
    assert h.floor == sum(size for _, size in h.floor_terms)


def test_every_syscall_tried_is_judged() -> None:
    """-a: kexec_file_load's line and the fallback's (with the old root=) both, from the
    same facts live or dry: with no tree the recorded root= word stands in for it."""
    from pykexec.core.options import LoadOptions

    opts = LoadOptions(kernel=Path("/vmlinux"), crash=True, command_line="irqpoll")
    facts = LoadFacts(cmdline="", support=KexecSupport(), old_root="root=/dev/sda2")
    both = judged_lines(opts, facts, SyscallDecision(Syscall.FILE, True, "auto"))
    assert both == ((Syscall.FILE, "irqpoll"), (Syscall.LOAD, "irqpoll root=/dev/sda2"))
    only = judged_lines(opts, facts, SyscallDecision(Syscall.FILE, False, "-s"))
    assert only == ((Syscall.FILE, "irqpoll"),)


def _elf_with_symbols(page: int, percpu: int) -> bytes:
    """A synthetic vmlinux with a .data..percpu section and empty_zero_page of ``page``."""
    from tests.kernels import make_vmlinux

    image = bytearray(make_vmlinux(size=0x20000))
    shstr = b"\0.data..percpu\0.symtab\0.strtab\0.shstrtab\0"
    strtab = b"\0__kstrtab_empty_zero_page\0__per_cpu_start\0"  # a merged suffix
    name = strtab.index(b"empty_zero_page")
    syms = bytes(24) + struct.pack("<IBBHQQ", name, 0x11, 0, 1, 0xC000000000100000, page)
    base = len(image)
    image += shstr + strtab + syms
    shoff = len(image)
    sh = struct.Struct("<IIQQQQIIQQ")
    image += bytes(64)
    image += sh.pack(1, 1, 3, 0xC000000000200000, 0x10000, percpu, 0, 0, 4096, 0)
    image += sh.pack(15, 2, 0, 0, base + len(shstr) + len(strtab), len(syms), 3, 1, 8, 24)
    image += sh.pack(23, 3, 0, 0, base + len(shstr), len(strtab), 0, 0, 1, 0)
    image += sh.pack(31, 3, 0, 0, base, len(shstr), 0, 0, 1, 0)
    struct.pack_into("<Q", image, 0x28, shoff)
    struct.pack_into("<HHH", image, 0x3A, 64, 5, 4)
    return bytes(image)


@pytest.mark.parametrize("page", [4096, 65536])
def test_kernel_traits_against_pyelftools(page: int, tmp_path: Path) -> None:
    from elftools.elf.elffile import ELFFile

    from pykexec.core.formats.elf import kernel_traits, parse_kernel

    data = _elf_with_symbols(page, 603432)
    path = tmp_path / "vmlinux"
    path.write_bytes(data)
    with path.open("rb") as f:
        elf = ELFFile(f)
        want_percpu = elf.get_section_by_name(".data..percpu")["sh_size"]
        want_page = elf.get_section_by_name(".symtab").get_symbol_by_name("empty_zero_page")
        want = (want_page[0]["st_size"], want_percpu)
    traits = kernel_traits(parse_kernel(data))
    assert (traits.page_size, traits.percpu_bytes) == want == (page, 603432)
    assert traits.release == (6, 1)
    bare = kernel_traits(parse_kernel(make_vmlinux_stripped()))
    assert bare.page_size is None and bare.percpu_bytes is None


def make_vmlinux_stripped() -> bytes:
    from tests.kernels import make_vmlinux

    return make_vmlinux(size=0x20000)


def test_page_size_from_meminfo_and_config(tmp_path: Path) -> None:
    from pykexec.system.sysinfo import config_page_size, meminfo_page_size

    big = "MemTotal: 2031616 kB\nMemFree: 1900544 kB\nCached: 65536 kB\nShmem: 128 kB\n"
    small = "MemTotal: 2031612 kB\nMemFree: 1900540 kB\nCached: 65532 kB\nShmem: 12 kB\n"
    assert meminfo_page_size(big) == 65536 and meminfo_page_size(small) == 4096
    assert meminfo_page_size("MemTotal: 64 kB\n") == 0
    (tmp_path / "config-6.12.0-1-powerpc64le").write_text("CONFIG_PPC_4K_PAGES=y\n")
    assert config_page_size(tmp_path / "vmlinux-6.12.0-1-powerpc64le") == 4096
    assert config_page_size(tmp_path / "vmlinux-6.1.0-1-powerpc64le") == 0
    assert config_page_size(tmp_path / "vmlinux") == 0


def test_planner_refuses_with_figures(tmp_path: Path) -> None:
    """A -p dry run into a 64 MiB region that holds the segments but not the unpacked
    initrd twice (the tmpfs half-RAM limit): CrashRegionTooSmall, naming crashkernel=."""
    from dataclasses import replace

    from pykexec.core.options import LoadOptions, SyscallChoice
    from pykexec.errors import CrashRegionTooSmall
    from pykexec.system import loader
    from pykexec.system.sysinfo import SystemView
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    root = write_sysroot(tmp_path / "root", pseries(crash=(512 * MIB, 64 * MIB)))
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x40000, memsz=40 * MIB))
    initrd = tmp_path / "initrd"  # no archive: a 10 MB ramdisk image in the tmpfs root
    initrd.write_bytes(bytes(range(256)) * 40_000)  # the old root= would make it a ramfs
    opts = LoadOptions(kernel=k, initrd=initrd, crash=True, syscall=SyscallChoice.LOAD,
                       command_line="x", dt_no_old_root=True)  # fmt: skip
    with pytest.raises(CrashRegionTooSmall) as err:
        loader.plan(opts, SystemView(root))
    assert err.value.needed > 64 * MIB and err.value.region == 64 * MIB
    assert err.value.recommended > err.value.needed  # the crashkernel= the message names
    plan = loader.plan(replace(opts, ignore_headroom=True), SystemView(root))
    assert any("cannot boot" in w for w in plan.warnings)


def test_recommendation_loads_without_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--recommend-crashkernel's size: a -p dry run into it plans without a warning,
    and into one where the image does not fit is refused."""
    from pykexec.commands.cli import main
    from tests.kernels import make_vmlinux
    from tests.machines import pseries, write_sysroot

    k = tmp_path / "vmlinux-6.1.0-t"  # its page size from the config-* beside it
    k.write_bytes(make_vmlinux(size=0x40000, memsz=40 * MIB))
    (tmp_path / "config-6.1.0-t").write_text("CONFIG_PPC_64K_PAGES=y\n")
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"not an archive: a ramdisk image" * 100_000)
    args = [str(k), f"--initrd={initrd}", "--append=nr_cpus=1"]
    probe = write_sysroot(tmp_path / "probe", pseries(crash=(512 * MIB, 256 * MIB)))
    assert main(["--recommend-crashkernel", *args, f"--sysroot={probe}"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("crashkernel=") and out.endswith("M")
    size = int(out[len("crashkernel=") : -1]) * MIB
    fits = write_sysroot(tmp_path / "fits", pseries(crash=(512 * MIB, size)))
    assert main(["-p", "-c", *args, f"--sysroot={fits}", "--dry-run"]) == 0
    text = capsys.readouterr()
    assert "headroom: " in text.out and "warning" not in text.out + text.err
    small = write_sysroot(tmp_path / "small", pseries(crash=(512 * MIB, 44 * MIB)))
    assert main(["-p", "-c", *args, f"--sysroot={small}", "--dry-run", "--json"]) == 1
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["region"]) == (
        "CrashRegionTooSmall", "cannot-boot", 44 * MIB
    )  # fmt: skip
    assert error["recommended"] > 44 * MIB


OLD = json.loads((ROOT / "lab" / "calibration" / "crashkernel.json").read_text())


def _old_case(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the earlier table (issue 9: plain cpio initrds, 6.1.0-50 and 6.12) in the
    matrix's form: its per-CPU section was not recorded (the floor then counts none)."""
    initrd = row["initrd"]
    part = {"format": "cpio", "size": initrd["file_bytes"], "stream": initrd["stream_bytes"],
            "stream_min": initrd["stream_bytes"], "exact": True, "entries": initrd["entries"],
            "files": True, "pages_4k_bytes": initrd["pages_4k_bytes"],
            "pages_64k_bytes": initrd["pages_64k_bytes"]}  # fmt: skip
    words = OLD["crash_words"].replace("nr_cpus=1", f"nr_cpus={row['crash_nr_cpus']}")
    return {"kernel_image": {**row["kernel_image"], "page_size": row["page_size"],
                             "percpu_bytes": None},
            "initrd": {**initrd, "pykexec_parts": [part]}, "cpus": row["cpus"],
            "kernel_version": row["kernel_version"],
            "command_line": f"console=hvc0 panic=-1 {words}"}  # fmt: skip


@pytest.mark.parametrize("row", OLD["rows"], ids=lambda r: f"{r['kernel']}-{r['payload']}-"
                         f"{r['cpus']}cpu-nr{r['crash_nr_cpus']}")  # fmt: skip
def test_earlier_table_agrees(row: dict[str, Any]) -> None:
    """The earlier table's probes (booted: passed, or failed in the crash stage): none
    that booted is refused, none that did not boot loads silently."""
    case = _old_case(row)
    for probe in row["probes"]:
        booted = probe["passed"] or "stage crash" in probe["reason"]
        got = verdict(case, probe["crashkernel_mib"])
        assert got != ("refuse" if booted else "load"), (probe, got)


def _stated(case: dict[str, Any]) -> Any:
    """The case's facts as the initrd's headers state them: each part's stream, no files."""
    from dataclasses import replace

    facts = load_facts(case)
    parts = tuple(p._replace(files=None, entries=0) for p in facts.initramfs.parts)
    return replace(facts, initramfs=Initramfs(facts.initramfs.file_size, parts))


@pytest.mark.parametrize("case", MEASURED, ids=lambda c: c["id"])
def test_a_quiet_verdict_from_stated_sizes_stands(case: dict[str, Any]) -> None:
    """Where the sizes an initrd's headers state make the load quiet (the loader then
    reads no further, pykexec.system.loader._initramfs_facts), the verdict with its
    files read is quiet too: at every size of every calibration case."""
    from pykexec.core.crash.headroom import quiet

    stated, quiet_sizes = _stated(case), 0
    for mib in range(16, LARGEST_MIB + 1, MATRIX["step_mib"]):
        h = estimate(headroom_input(stated, mib * MIB, case["command_line"]))
        if quiet(h):
            quiet_sizes += 1
            assert verdict(case, mib) == "load", mib
    assert quiet_sizes  # the stated sizes settle the roomy regions
