# SPDX-License-Identifier: GPL-2.0-or-later
"""The first five input families (elf, compressed, fdt, snapshot, cli; the others
are in :mod:`tests.fuzz.archives`, :mod:`tests.fuzz.records` and
:mod:`tests.fuzz.outputs`): each makes one :class:`Case` from a seeded generator.

A case writes its inputs under its own directory (they are the reproducer if it
fails) and carries the call to make: an API call (``kind == "api"``: it may
raise only :class:`~pykexec.errors.KexecError`) or an argument list for
:func:`pykexec.commands.cli.main` (``kind == "cli"``).
"""

from __future__ import annotations

import functools
import gzip
import json
import lzma
import os
import random
import shutil
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pykexec.core.devicetree.tree import Node
from tests.fuzz.mutate import damage, damage_tree, number, put
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot

SNAPSHOTS = Path(__file__).resolve().parent.parent / "fixtures" / "snapshots"


@dataclass
class Case:
    """One generated input: what it is, its files, and what to run."""

    family: str
    what: list[str]
    directory: Path
    kind: str = "api"  # or "cli"
    call: Callable[[], object] | None = None
    argv: list[str] = field(default_factory=list)
    #: For a cli case: (stdout, exit code) -> None, or "class :: detail" if it broke a rule.
    check: Callable[[str, int], str | None] | None = None


# -- kernels -------------------------------------------------------------------

# gABI Elf64_Ehdr field offsets and struct codes (System V ABI, "ELF Header").
EHDR = {
    "e_ident[EI_CLASS]": (4, "B"),
    "e_ident[EI_DATA]": (5, "B"),
    "e_type": (16, "H"),
    "e_machine": (18, "H"),
    "e_entry": (24, "Q"),
    "e_phoff": (32, "Q"),
    "e_phentsize": (54, "H"),
    "e_phnum": (56, "H"),
}
# gABI Elf64_Phdr field offsets (the synthetic kernels put the table at 64, 56 bytes each).
PHDR = {
    "p_type": (0, "I"),
    "p_offset": (8, "Q"),
    "p_vaddr": (16, "Q"),
    "p_paddr": (24, "Q"),
    "p_filesz": (32, "Q"),
    "p_memsz": (40, "Q"),
}
PHOFF, PHENTSIZE = 64, 56


def kernel_bytes(rng: random.Random) -> tuple[bytearray, list[str]]:
    """A synthetic ppc64 vmlinux, then one to four header or byte mutations."""
    endian = rng.choice(("little", "big"))
    loads = rng.randint(1, 3)
    size = rng.choice((0x1000, 0x8000, 0x30000))
    data = bytearray(make_vmlinux(endian, size=size, loads=loads, memsz=size * rng.randint(1, 4)))
    order = "<" if endian == "little" else ">"
    what = [f"{endian} vmlinux, {loads} PT_LOAD"]
    for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
        kind = rng.random()
        if kind < 0.35:
            name, (offset, code) = rng.choice(list(EHDR.items()))
            bits = 8 * struct.calcsize(code)
            put(data, offset, order + code, number(rng, min(bits, 64)))
            what.append(name)
        elif kind < 0.8:
            name, (offset, code) = rng.choice(list(PHDR.items()))
            index = rng.randrange(loads + 1)
            bits = 8 * struct.calcsize(code)
            put(data, PHOFF + index * PHENTSIZE + offset, order + code, number(rng, bits))
            what.append(f"phdr {index} {name}")
        else:
            what.append(damage(rng, data))
    return data, what


def elf_case(rng: random.Random, directory: Path) -> Case:
    data, what = kernel_bytes(rng)
    path = directory / "vmlinux"
    path.write_bytes(data)
    return Case("elf", what, directory, call=functools.partial(_use_kernel, path, rng.random()))


def _use_kernel(path: Path, plan_chance: float) -> None:
    from pykexec.commands.inspect import describe_image, render
    from pykexec.core.formats.elf import parse_kernel

    kernel = parse_kernel(path.read_bytes(), str(path))
    info = describe_image(kernel)
    render(info)
    json.dumps(info)
    kernel.image()
    _ = kernel.entry_offset
    if plan_chance < 0.1:
        _plan_with(kernel, crash=plan_chance < 0.05)


@functools.lru_cache(maxsize=1)
def _machine_and_tree():  # type: ignore[no-untyped-def]
    from pykexec.core.machine import describe
    from pykexec.system.procfs import drop_name_properties, read_tree

    tree = drop_name_properties(read_tree(SNAPSHOTS / "pseries-1cpu-crash/proc/device-tree"))
    return describe(tree), tree


def _plan_with(kernel: object, *, crash: bool) -> None:
    from pykexec.core.arch.ppc64 import PlanInput, plan

    machine, tree = _machine_and_tree()
    plan(PlanInput(kernel=kernel, machine=machine, running_tree=tree, bootargs="x", crash=crash))  # type: ignore[arg-type]


# Bombs are the same for every case: made once (sizes in MiB of inflated zeros).
BOMB_SIZES = (16, 128, 300)


@functools.lru_cache(maxsize=8)
def bomb(kind: str, mib: int, elf_head: bool) -> bytes:
    head = make_vmlinux("little", size=0x1000)[:0x1100] if elf_head else b""
    zero = bytes(1 << 20)
    if kind == "gzip":
        engine = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        parts = [engine.compress(head)] + [engine.compress(zero) for _ in range(mib)]
        return b"".join([*parts, engine.flush()])
    xz = lzma.LZMACompressor(lzma.FORMAT_XZ, preset=0)
    parts = [xz.compress(head)] + [xz.compress(zero) for _ in range(mib)]
    return b"".join([*parts, xz.flush()])


def compressed_case(rng: random.Random, directory: Path) -> Case:
    kind = rng.choice(("gzip", "xz"))
    if rng.random() < 0.03:
        mib = rng.choice(BOMB_SIZES)
        head = rng.random() < 0.7
        data = bytearray(bomb(kind, mib, head))
        what = [f"{kind} bomb of {mib} MiB" + (" behind an ELF header" if head else "")]
    else:
        inner, what = kernel_bytes(rng) if rng.random() < 0.5 else (bytearray(make_vmlinux()), [])
        packed = gzip.compress(bytes(inner), 1) if kind == "gzip" else lzma.compress(bytes(inner))
        data = bytearray(packed)
        what = [*what, kind]
        for _ in range(rng.choice((0, 1, 1, 2))):
            what.append(damage(rng, data))
    path = directory / f"vmlinux.{kind}"
    path.write_bytes(data)
    return Case("compressed", what, directory, call=functools.partial(_use_kernel, path, 1.0))


# -- device trees --------------------------------------------------------------

# DTSpec v0.4 §5.2: the header's ten big-endian u32 fields, by offset.
FDT_HEADER = ("magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap",
              "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings",
              "size_dt_struct")  # fmt: skip


def base_tree(rng: random.Random):  # type: ignore[no-untyped-def]
    """A running tree to start from: a synthetic pseries or a captured guest's."""
    if rng.random() < 0.6:
        return pseries(lmbs=rng.choice((0, 2, 4, 64)), drmem=rng.choice((1, 2)),
                       cpus=rng.choice((1, 2)))  # fmt: skip
    return _snapshot_tree(rng.choice(_snapshot_names())).copy()


@functools.lru_cache(maxsize=1)
def _snapshot_names() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in SNAPSHOTS.iterdir() if p.is_dir()))


@functools.lru_cache(maxsize=8)
def _snapshot_tree(name: str):  # type: ignore[no-untyped-def]
    from pykexec.system.procfs import read_tree

    return read_tree(SNAPSHOTS / name / "proc/device-tree")


def fdt_blob(rng: random.Random) -> tuple[bytearray, list[str]]:
    from pykexec.core.devicetree.fdt import DeviceTree, build_fdt
    from pykexec.system.procfs import drop_name_properties

    root = drop_name_properties(base_tree(rng))
    what = [damage_tree(rng, root) for _ in range(rng.choice((0, 1, 1, 2)))]
    blob = bytearray(build_fdt(DeviceTree(root), pad=rng.choice((0, 0, 64))))
    for _ in range(rng.choice((0, 1, 1, 2))):
        if rng.random() < 0.4:
            index = rng.randrange(len(FDT_HEADER))
            put(blob, 4 * index, ">I", number(rng, 32))
            what.append(f"header {FDT_HEADER[index]}")
        elif rng.random() < 0.5:
            start = int.from_bytes(blob[8:12], "big")
            at = start + 4 * rng.randrange(max((len(blob) - start) // 4, 1))
            put(blob, at, ">I", rng.choice((1, 2, 3, 4, 9, number(rng, 32))))
            what.append(f"structure word at {at:#x}")
        else:
            what.append(damage(rng, blob))
    return blob, what


def fdt_case(rng: random.Random, directory: Path) -> Case:
    blob, what = fdt_blob(rng)
    path = directory / "tree.dtb"
    path.write_bytes(blob)
    return Case("fdt", what, directory, call=functools.partial(_use_blob, path))


def _use_blob(path: Path) -> None:
    from pykexec.core.crash.kdump import add_usable_memory, crash_layout
    from pykexec.core.devicetree.fdt import build_fdt, parse_fdt
    from pykexec.core.devicetree.nexttree import finish, next_tree
    from pykexec.core.machine import describe

    tree = parse_fdt(path.read_bytes())
    build_fdt(tree)
    machine = describe(tree.root)
    nxt = next_tree(tree.root, bootargs="console=hvc0", initrd=None, reserved=[])
    if machine.crash is not None:
        add_usable_memory(nxt.root, machine, crash_layout(machine).usable)
    finish(nxt, None)


# -- snapshots -----------------------------------------------------------------

SYSTEM_FILES = (
    "sys/kernel/vmcoreinfo",
    "sys/devices/system/cpu/possible",
    "sys/devices/system/cpu/cpu0/crash_notes",
    "sys/devices/system/cpu/cpu0/crash_notes_size",
    "sys/kernel/kexec_loaded",
    "sys/kernel/kexec_crash_loaded",
    "sys/kernel/crash_elfcorehdr_size",
    "proc/cmdline",
    "proc/iomem",
)
GARBAGE_TEXT = (
    "", "\n", "-1\n", "ffffffffffffffffffffffff\n", "0x\n", "zz 10\n", "1_0\n", "\xff\xfe\n",
    "0-4294967295\n", "3-1\n", "0-\n", ",,,\n", "0x10 -5\n", "1 2 3\n", "٣\n",
    "18446744073709551616 1\n", "00000000-zzzz : Kernel code\n",
    "0-1 : Kernel data\n", "ffffffffffffffff-ffffffffffffffffff : Kernel bss\n",
)  # fmt: skip


IOMEM = "00000000-3fffffff : System RAM\n  00000000-01ffffff : Kernel code\n"


def write_snapshot(rng: random.Random, root: Path) -> list[str]:
    """A sysroot with a (mutated) device tree and (mutated) /proc and /sys files."""
    tree = base_tree(rng)
    what = [damage_tree(rng, tree) for _ in range(rng.choice((0, 1, 1, 2)))]
    if tree.find("/chosen/linux,kernel-end") is not None and rng.random() < 0.2:
        tree.find("/chosen").delete("linux,kernel-end")  # type: ignore[union-attr]
        what.append("no linux,kernel-end (read /proc/iomem)")
    write_sysroot(root, Node(""), cpus=1)
    write_tree(tree, root / "proc/device-tree")
    (root / "proc/iomem").write_text(IOMEM)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        what.append(damage_file(rng, root))
    return what


def write_tree(tree: Node, path: Path) -> None:
    """Lay ``tree`` out as /proc/device-tree does, without recursion and through
    directory descriptors, so that a tree deeper than PATH_MAX can be written."""
    path.mkdir(parents=True, exist_ok=True)
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    stack: list[tuple[int, Node]] = [(top, tree)]
    opened = [top]
    try:
        while stack:
            fd, node = stack.pop()
            for name, value in node.props.items():
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
                os.write(out, value)
                os.close(out)
            for child in node.children:
                os.mkdir(child.name, dir_fd=fd)
                sub = os.open(child.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                opened.append(sub)
                stack.append((sub, child))
    finally:
        for fd in opened:
            os.close(fd)


def damage_file(rng: random.Random, root: Path) -> str:
    """Garbage in a system file, or a FIFO, device, directory or loop in its place."""
    rel = rng.choice(SYSTEM_FILES)
    if rng.random() < 0.3:
        props = [p for p in (root / "proc/device-tree").glob("*/*") if p.is_file()]
        if props:
            rel = str(rng.choice(props).relative_to(root))
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    kind = rng.randrange(10)
    if kind == 0:
        os.mkfifo(path)
        return f"FIFO at {rel}"
    if kind == 1 and os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero
        return f"endless character device at {rel}"
    if kind == 2:
        path.mkdir()
        return f"directory at {rel}"
    if kind == 3:
        os.symlink(path.name, path)
        return f"symlink loop at {rel}"
    if kind == 4:
        with open(path, "wb") as f:
            f.truncate(rng.choice((300 << 20, 2 << 30)))  # sparse
        return f"huge sparse file at {rel}"
    if kind == 5:
        return f"removed {rel}"
    path.write_text(rng.choice(GARBAGE_TEXT), errors="surrogateescape")
    return f"garbage in {rel}"


@functools.lru_cache(maxsize=1)
def _kernel_file(directory: str) -> Path:
    path = Path(directory) / "vmlinux"
    path.write_bytes(make_vmlinux("little", size=0x40000, memsz=0x80000))
    return path


def snapshot_case(rng: random.Random, directory: Path, shared: Path) -> Case:
    from pykexec.core.options import LoadOptions

    root = directory / "root"
    what = write_snapshot(rng, root)
    initrd = None
    if rng.random() < 0.3:
        initrd = directory / "initrd"
        initrd.write_bytes(rng.randbytes(rng.randint(1, 0x20000)))
    opts = LoadOptions(
        kernel=_kernel_file(str(shared)),
        initrd=initrd,
        command_line=rng.choice((None, "root=/dev/sda2", "x" * 3000, "\udcff\udcfe")),
        reuse_cmdline=rng.random() < 0.3,
        crash=rng.random() < 0.5,
        dt_no_old_root=rng.random() < 0.2,
        hotplug=rng.random() < 0.1,
    )
    what.append(f"plan {'-p' if opts.crash else '-l'}")
    endian = rng.choice(("little", "big"))
    return Case("snapshot", what, directory, call=functools.partial(_plan, opts, root, endian))


def _plan(opts: object, root: Path, endian: str) -> None:
    from pykexec.system import loader
    from pykexec.system.sysinfo import SystemView

    view = SystemView(root)
    loader.status(True, view)
    loader.crash_reservation_size(view)
    loader.plan_load(opts, view, purgatory_endian=endian)  # type: ignore[arg-type]


# -- command lines -------------------------------------------------------------

ADDRESSES = ("0", "16M", "0x1000000", "-1", "-0x10", "garbage", "", "0x", "99999999999999999999G",
             "1k", "0x1_000")  # fmt: skip
APPENDS = ("root=/dev/sda2", "", " ", "x" * 5000, "\udcff\udcfe bad utf-8", "a\tb\nc",
           "irqpoll nr_cpus=1")  # fmt: skip
PLAUSIBLE = ("-l", "-p", "-f", "-lc", "-ls", "-pc", "-ps", "-l", "-p")
GARBAGE_WORDS = ("-", "--", "---", "-z", "--nope", "--lo", "--app=x", "-lpe", "-tx", "=", "\udcff")


def file_argument(rng: random.Random, directory: Path, shared: Path, what: str) -> str:
    """A path for KERNEL, --initrd or --dtb: good, damaged, missing or not a file."""
    path = directory / f"{what}-{len(list(directory.iterdir()))}"
    kind = rng.randrange(8)
    if kind <= 2:
        if what == "dtb":
            path.write_bytes(fdt_blob(rng)[0])
        elif what == "kernel":
            return str(_kernel_file(str(shared)))
        else:
            path.write_bytes(rng.randbytes(rng.randint(0, 4096)))
    elif kind == 3:
        path.write_bytes(kernel_bytes(rng)[0])
    elif kind == 4:
        os.mkfifo(path)
    elif kind == 5:
        path.mkdir()
    elif kind == 6:
        return str(directory / "missing")
    else:
        path.write_bytes(b"")
    return str(path)


def cli_case(rng: random.Random, directory: Path, shared: Path) -> Case:
    from pykexec.commands.cli import OPTIONS

    argv: list[str] = []
    if rng.random() < 0.6:  # a plausible command, then a few options on top
        argv.append(rng.choice(PLAUSIBLE))
        argv.append(str(_kernel_file(str(shared))))
        if rng.random() < 0.5:
            argv.append("--append=" + rng.choice(APPENDS))
        if rng.random() < 0.3:
            argv.append("--dtb=" + file_argument(rng, directory, shared, "dtb"))
    for _ in range(rng.randint(0, 6 - 4 * bool(argv))):
        opt = rng.choice(OPTIONS)
        name = rng.choice(opt.names)
        if not opt.arg:
            argv.append(name)
            continue
        value = _option_value(rng, opt.arg, directory, shared)
        joined = name.startswith("--") and rng.random() < 0.5
        argv += [f"{name}={value}"] if joined else [name, value]
    plausible = bool(argv) and argv[0] in PLAUSIBLE
    if rng.random() < (0.05 if plausible else 0.8):
        argv.append(file_argument(rng, directory, shared, "kernel"))
    if rng.random() < 0.15:
        argv.append(rng.choice(GARBAGE_WORDS))
    rng.shuffle(argv)
    if rng.random() < 0.85:
        argv += ["--dry-run", "--sysroot", str(_sysroot(str(shared)))]
    if rng.random() < 0.1:
        argv = ["inspect", *rng.sample(argv, rng.randint(0, min(2, len(argv))))]
    return Case("cli", [" ".join(argv)], directory, kind="cli", argv=argv)


def _option_value(rng: random.Random, arg: str, directory: Path, shared: Path) -> str:
    if arg == "FILE":
        return file_argument(rng, directory, shared, rng.choice(("initrd", "dtb")))
    if arg == "ADDR":
        return rng.choice(ADDRESSES)
    if arg == "DIR":
        return rng.choice((str(_sysroot(str(shared))), str(directory / "missing"), "/"))
    if arg == "TYPE":
        return rng.choice(("elf-ppc64", "bzImage", ""))
    return rng.choice(APPENDS)


@functools.lru_cache(maxsize=1)
def _sysroot(directory: str) -> Path:
    root = Path(directory) / "sysroot"
    if not root.exists():
        write_sysroot(root, pseries(lmbs=4, cpus=2), cpus=2)
    return root
