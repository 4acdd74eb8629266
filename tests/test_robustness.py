# SPDX-License-Identifier: GPL-2.0-or-later
"""One regression test per defect class the fuzzer found (issue 8, item 7), each with
the concrete input that broke it.  Every one must end in a KexecError subclass with a
one-line message, never another exception, a hang or a huge allocation; where an
independent oracle exists (libfdt, pyelftools, Python's gzip/lzma) it confirms the
input is what the test says."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import stat
import struct
import zlib
from pathlib import Path

import libfdt
import pytest
from elftools.elf.elffile import ELFFile

from pykexec.commands.cli import main
from pykexec.core.crash.kdump import add_usable_memory, crash_layout
from pykexec.core.devicetree.fdt import DeviceTree, build_fdt, parse_fdt
from pykexec.core.devicetree.nexttree import finish, next_tree
from pykexec.core.devicetree.tree import Node
from pykexec.core.formats.elf import MAX_INFLATED_SIZE, parse_kernel
from pykexec.core.formats.elfcore import MAX_PHNUM, CoreLoad, core_header
from pykexec.core.machine import describe
from pykexec.core.memory import MemoryMap, Range
from pykexec.errors import DeviceTreeError, ImageError, KexecError, SystemInfoError
from pykexec.system.procfs import read_prop, read_tree
from pykexec.system.sysinfo import SystemView, kernel_end_from_iomem, parse_cpu_list
from tests.kernels import make_vmlinux
from tests.machines import GiB, MiB, drmem_v1, drmem_v2, pseries, u32, u64, write_sysroot
from tests.typed import check, cli_error, raises

PHOFF, PHENTSIZE = 64, 56  # where tests.kernels puts the program headers


def one_line(err: pytest.ExceptionInfo[KexecError]) -> None:
    """The message (whatever it says: tests/test_error_messages.py checks that) is one line."""
    assert len(str(err.value).splitlines()) == 1


# -- sizes and counts taken from headers ---------------------------------------


def two_loads(second_paddr: int, memsz: int = 0x1000) -> bytes:
    """A valid 2-PT_LOAD vmlinux whose second segment is moved to ``second_paddr``."""
    blob = bytearray(make_vmlinux("little", size=0x2000, loads=2))
    struct.pack_into("<Q", blob, PHOFF + PHENTSIZE + 24, second_paddr)  # p_paddr
    struct.pack_into("<Q", blob, PHOFF + PHENTSIZE + 40, memsz)  # p_memsz
    return bytes(blob)


@pytest.mark.parametrize(
    "paddr,memsz,problem",
    [
        (1 << 60, 0x1000, "pt-load-span"),  # was MemoryError: a 2^60-byte image buffer
        ((1 << 64) - 0x1000, 0x2000, "pt-load-beyond-64-bit"),  # was OverflowError
    ],
)
def test_pt_load_span_bounded(paddr: int, memsz: int, problem: str) -> None:
    blob = two_loads(paddr, memsz)
    loads = [s for s in ELFFile(io.BytesIO(blob)).iter_segments() if s["p_type"] == "PT_LOAD"]
    assert loads[1]["p_paddr"] == paddr  # the oracle sees the same header
    with raises(ImageError, problem) as err:
        parse_kernel(blob)
    one_line(err)


def test_drmem_v2_lmb_count_bounded() -> None:
    # One set announcing 2^32-1 LMBs of 256 MiB: was a list of 4 billion LMB objects.
    tree = pseries(drmem=2)
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    dr.props["ibm,dynamic-memory-v2"] = drmem_v2([(0xFFFF_FFFF, GiB, 0x8)])
    with raises(SystemInfoError, "too-many-lmbs", count=0xFFFF_FFFF) as err:
        describe(tree)
    one_line(err)


def test_drmem_v2_large_set_not_expanded() -> None:
    # 1 Mi LMBs of 16 MiB in one set (16 TiB): accepted, and cheap because a set stays a run.
    count, size = 1 << 20, 16 * MiB
    tree = pseries(drmem=2, lmb_size=size)
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    dr.props["ibm,dynamic-memory-v2"] = drmem_v2([(1, 0, 0x8), (count, GiB, 0x8)])
    machine = describe(tree)
    assert len(machine.lmbs) == count + 1
    assert machine.lmbs[-1].range == Range.sized(GiB + (count - 1) * size, size)
    assert machine.ram.ranges[-1].end == GiB + count * size


@pytest.mark.parametrize(
    "name,value", [("ibm,lmb-size", u64(0)), ("ibm,lmb-size", b"\1\2\3"), ("ibm,lmb-size", b"")]
)
def test_lmb_size_checked(name: str, value: bytes) -> None:
    tree = pseries()
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    dr.props[name] = value
    with raises(SystemInfoError, "bad-lmb-size", text=value.hex() or "empty"):
        describe(tree)


def libfdt_cells(address: int, size: int) -> tuple[int, int]:
    """What libfdt says of a root with these #address-cells and #size-cells."""
    root = Node("", {"#address-cells": u32(address), "#size-cells": u32(size)})
    fdt = libfdt.Fdt(build_fdt(DeviceTree(root)))
    return libfdt.fdt_address_cells(fdt._fdt, 0), libfdt.fdt_size_cells(fdt._fdt, 0)


@pytest.mark.parametrize("address,size", [(0, 2), (0xFFFF_FFFF, 2), (5, 1), (2, 0xFFFF_FFFF)])
def test_bad_cell_counts_refused_as_libfdt_does(address: int, size: int) -> None:
    # Was ValueError (range() step 0) or MemoryError (4 * 0xffffffff-byte cells).
    assert -libfdt.BADNCELLS in libfdt_cells(address, size)
    tree = pseries()
    tree.props["#address-cells"], tree.props["#size-cells"] = u32(address), u32(size)
    with raises(DeviceTreeError, "bad-ncells", address_cells=address, size_cells=size) as err:
        describe(tree)
    one_line(err)


def test_good_cell_counts_accepted_as_libfdt_does() -> None:
    assert libfdt_cells(1, 0) == (1, 0)
    tree = pseries()
    tree.props["#address-cells"], tree.props["#size-cells"] = u32(2), u32(2)
    describe(tree)


# -- compressed kernels --------------------------------------------------------


def zero_bomb(mib: int) -> bytes:
    """An ELF header, then ``mib`` MiB of zeros, gzip-compressed (about 1 KiB per MiB)."""
    engine = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [engine.compress(make_vmlinux(size=0x1000))]
    parts += [engine.compress(bytes(1 << 20)) for _ in range(mib)]
    return b"".join([*parts, engine.flush()])


def test_gzip_bomb_stops_at_the_bound() -> None:
    bomb = zero_bomb((MAX_INFLATED_SIZE >> 20) + 16)
    assert len(bomb) < 2 * MiB
    with raises(ImageError, "inflates-too-far", compression="gzip", limit=MAX_INFLATED_SIZE) as err:
        parse_kernel(bomb)
    one_line(err)


def test_zero_bomb_without_elf_stops_at_once() -> None:
    bomb = gzip.compress(bytes(64 * MiB), 1)
    with raises(ImageError, "inflates-to-non-elf", compression="gzip"):
        parse_kernel(bomb)


@pytest.mark.parametrize(
    "compress,decompress,error",
    [
        (gzip.compress, gzip.decompress, (zlib.error, OSError, EOFError)),
        (lzma.compress, lzma.decompress, (lzma.LZMAError, EOFError)),
    ],
)
def test_corrupt_compressed_kernel(compress, decompress, error) -> None:  # type: ignore[no-untyped-def]
    # Was zlib.error / lzma.LZMAError escaping the API.
    packed = bytearray(compress(make_vmlinux()))
    packed[len(packed) // 2 : len(packed) // 2 + 8] = b"\xff" * 8
    with pytest.raises(error):
        decompress(bytes(packed))  # the oracle agrees it is corrupt
    with raises(ImageError, "corrupt-stream") as err:
        parse_kernel(bytes(packed))
    one_line(err)
    assert isinstance(err.value.cause, error)
    with raises(ImageError, "truncated-stream"):
        parse_kernel(compress(make_vmlinux())[:-20])


# -- garbage in /proc and /sys ---------------------------------------------------


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    return write_sysroot(tmp_path / "root", pseries(cpus=2), cpus=2)


@pytest.mark.parametrize(
    "rel,text",
    [
        ("sys/kernel/vmcoreinfo", "zz 10\n"),
        ("sys/kernel/vmcoreinfo", "2b1d000\n"),
        ("sys/kernel/vmcoreinfo", "-1 10\n"),
        ("sys/devices/system/cpu/possible", "0-x\n"),
        ("sys/devices/system/cpu/possible", "0-4294967295\n"),  # was MemoryError
        ("sys/devices/system/cpu/possible", "3-1\n"),
        ("sys/devices/system/cpu/cpu0/crash_notes", "-1\n"),  # was struct.error
        ("sys/devices/system/cpu/cpu0/crash_notes", "1" * 40 + "\n"),
        ("sys/devices/system/cpu/cpu0/crash_notes_size", "1_0\n"),
    ],
)
def test_garbage_system_files(sysroot: Path, rel: str, text: str) -> None:
    (sysroot / rel).write_text(text)
    view = SystemView(sysroot)
    with pytest.raises(SystemInfoError) as err:
        view.vmcoreinfo() if "vmcoreinfo" in rel else view.crash_notes()
    one_line(err)


@pytest.mark.parametrize(
    "iomem",
    ["00000000-zzzz : Kernel code\n", "0x-1 : Kernel data\n", "00000000 : Kernel bss\n"],
)
def test_garbage_kernel_line_in_iomem(iomem: str) -> None:
    with raises(SystemInfoError, "bad-iomem-line", text=iomem.strip()):
        kernel_end_from_iomem(iomem)


def test_iomem_kernel_end() -> None:
    text = "00000000-3fffffff : System RAM\n  00000000-01ffffff : Kernel code\n"
    assert kernel_end_from_iomem(text) == 0x2000000
    assert parse_cpu_list("0-3,8") == [0, 1, 2, 3, 8]


def test_ram_above_linear_map_is_typed() -> None:
    # memory@ at 2^62: its p_vaddr (PAGE_OFFSET + address) was a struct.error.
    tree = pseries()
    tree.add_child(Node("memory@4000000000000000", {"reg": u64(1 << 62) + u64(GiB)}))
    machine = describe(tree)
    loads = [CoreLoad(r, r.start) for r in crash_layout(machine).dumped]
    with raises(SystemInfoError, "beyond-linear-map", address=1 << 62, size=GiB) as err:
        core_header([], loads, "little")
    one_line(err)


def test_too_many_ram_ranges_is_typed() -> None:
    # Was a plain ValueError; fs/proc/vmcore.c reads e_phnum as is (no PN_XNUM).
    loads = [CoreLoad(Range.sized(i * 2 * MiB, MiB), i * 2 * MiB) for i in range(MAX_PHNUM + 1)]
    with raises(SystemInfoError, "too-many-program-headers", count=MAX_PHNUM + 1) as err:
        core_header([], loads, "little")
    one_line(err)


def test_property_length_checked() -> None:
    tree = pseries()
    chosen = tree.child("chosen")
    assert chosen is not None
    chosen.props["linux,kernel-end"] = b"\1\2\3"
    with raises(DeviceTreeError, "bad-property", node="chosen", prop="linux,kernel-end") as err:
        describe(tree)
    check(err.value.cause, DeviceTreeError, "bad-number", size=3)  # type: ignore[arg-type]


# -- deep trees ----------------------------------------------------------------


def chain(depth: int) -> Node:
    root = Node("")
    node = root
    for _ in range(depth):
        node = node.add_child(Node("a", {"p": b"\0"}))
    return root


def test_deep_tree_blob_round_trip() -> None:
    # 50,000 nested nodes: was RecursionError in the copy and the strip of next_tree.
    depth = 50_000
    tree = next_tree(chain(depth), bootargs="x", initrd=None, reserved=[])
    blob = finish(tree, None)
    fdt = libfdt.Fdt(blob)
    deepest = fdt.path_offset("/" + "/".join(["a"] * depth))  # libfdt finds the last node
    assert fdt.getprop(deepest, "p") == b"\0"
    node, levels = parse_fdt(blob).root.child("a"), 1
    while node is not None and node.children:
        node, levels = node.children[0], levels + 1
    assert levels == depth
    assert fdt.getprop(fdt.path_offset("/chosen"), "bootargs").as_str() == "x"


def test_deep_proc_device_tree(tmp_path: Path) -> None:
    # 900 nested directories: read, stripped and flattened (deepcopy of the running
    # tree recursed about six frames per level and failed near 170).  Below Python's
    # recursion limit only so that pytest's clean-up (shutil.rmtree) can remove it.
    depth = 900
    root = tmp_path / "dt"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=fd)
        fd, parent = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
        os.close(parent)
    leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"deep\0")
    os.close(leaf)
    os.close(fd)
    running = read_tree(root)
    blob = finish(next_tree(running, bootargs="", initrd=None, reserved=[]), None)
    fdt = libfdt.Fdt(blob)
    offset = fdt.path_offset("/" + "/".join(["a"] * depth))
    assert fdt.getprop(offset, "leaf").as_str() == "deep"


# -- files that are not regular files ------------------------------------------


def test_fifo_in_snapshot_refused(sysroot: Path) -> None:
    (sysroot / "sys/kernel/vmcoreinfo").unlink()
    os.mkfifo(sysroot / "sys/kernel/vmcoreinfo")  # reading it would block for ever
    with raises(SystemInfoError, "not-regular", path=str(sysroot / "sys/kernel/vmcoreinfo")) as err:
        SystemView(sysroot).vmcoreinfo()
    one_line(err)


def test_fifo_property_skipped(sysroot: Path) -> None:
    dt = sysroot / "proc/device-tree"
    os.mkfifo(dt / "chosen/fifo")
    assert read_prop(dt, "/chosen", "fifo") is None
    assert "fifo" not in read_tree(dt).find("/chosen").props  # type: ignore[union-attr]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_endless_device_in_snapshot_refused(sysroot: Path) -> None:
    target = sysroot / "proc/cmdline"
    target.unlink()
    os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero never ends
    with raises(SystemInfoError, "not-regular", path=str(target)):
        SystemView(sysroot).cmdline()


# -- fragmented memory: linear, not quadratic --------------------------------------


def fragmented(lmbs: int) -> Node:
    """``lmbs`` LMBs of 256 MiB above 1 GiB, every other one unassigned, the crash
    region above them all (so every LMB is usable memory of the crash kernel)."""
    top = GiB + lmbs * 256 * MiB
    tree = pseries(crash=(top, 256 * MiB))
    tree.add_child(Node("memory@top", {"reg": u64(top) + u64(GiB)}))
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    table = [(0, 0x8)] + [(GiB + i * 256 * MiB, 0x8 if i % 2 else 0) for i in range(lmbs)]
    dr.props["ibm,dynamic-memory"] = drmem_v1(table)
    return tree


def drconf_work(lmbs: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, bytes]:
    """Range operations an add_usable_memory pass over ``lmbs`` LMBs makes, and its output."""
    calls = 0
    real = Range.intersect

    def counting(self: Range, other: Range) -> Range | None:
        nonlocal calls
        calls += 1
        return real(self, other)

    tree = fragmented(lmbs)
    machine = describe(tree)
    usable = crash_layout(machine).usable
    monkeypatch.setattr(Range, "intersect", counting)
    add_usable_memory(tree, machine, usable)
    monkeypatch.setattr(Range, "intersect", real)
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    return calls, dr.props["linux,drconf-usable-memory"]


def test_fragmented_crash_plan_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    # 8,000 LMBs with holes took 25 s (each LMB scanned all usable ranges).
    small, _ = drconf_work(16_384, monkeypatch)
    large, prop = drconf_work(65_536, monkeypatch)
    assert large <= 4.5 * small  # four times the LMBs, about four times the work
    # The property lists, per LMB, its usable ranges: the assigned ones are whole.
    cells = struct.unpack(f">{len(prop) // 8}Q", prop)  # #size-cells = #address-cells = 2
    index, seen = 0, []
    while index < len(cells):
        count = cells[index]
        seen.append(cells[index + 1 : index + 1 + 2 * count])
        index += 1 + 2 * count
    assert len(seen) == 65_536 + 1
    assert seen[2] == (GiB + 256 * MiB, 256 * MiB) and seen[1] == ()


def test_memory_map_intersect_is_one_pass() -> None:
    a = MemoryMap(Range.sized(i * 4, 2) for i in range(100_000))
    b = MemoryMap(Range.sized(i * 4 + 1, 2) for i in range(100_000))
    both = a.intersect(b)
    assert len(both) == 100_000 and both.total == 100_000


# -- text -----------------------------------------------------------------------


def test_bootargs_not_utf8_survive() -> None:
    # An --append holding bytes that are not UTF-8 (os.fsdecode's surrogates) was a
    # UnicodeEncodeError; the kernel gets the bytes as given.
    text = os.fsdecode(b"root=/dev/sda2 label=\xff\xfe")
    blob = finish(next_tree(pseries(), bootargs=text, initrd=None, reserved=[]), None)
    fdt = libfdt.Fdt(blob)
    assert fdt.getprop(fdt.path_offset("/chosen"), "bootargs") == b"root=/dev/sda2 label=\xff\xfe\0"


def test_inspect_without_argument_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--json"]) == 2
    error = cli_error(capsys)
    assert (error["kind"], error["problem"], error["count"]) == ("UsageError", "inspect-images", 0)


def test_clamp_below_zero() -> None:
    # --mem-min=-1 reached Range(-1, ...) and its ValueError escaped the API.
    ram = MemoryMap([Range(0, 0x1000), Range(0x2000, 0x3000)])
    assert ram.clamp(-1, 0x2800) == MemoryMap([Range(0, 0x1000), Range(0x2000, 0x2800)])


def test_dumped_range_inside_the_backup() -> None:
    # Found by the long fuzz run: a crash region at 0x80 left RAM [0, 0x80) to dump, and
    # the part above the backup became Range(0x10000, 0x80): ValueError.
    from pykexec.core.crash.kdump import BACKUP_SIZE, core_loads

    dumped = MemoryMap([Range(0, 0x80), Range(0x20000, 0x30000)])
    loads = core_loads(dumped, backup=0x100_0000)
    assert loads == [
        CoreLoad(Range(0, 0x80), 0x100_0000),
        CoreLoad(Range(0x20000, 0x30000), 0x20000),
    ]
    assert all(ld.range.end <= BACKUP_SIZE or ld.range.start >= BACKUP_SIZE for ld in loads)
