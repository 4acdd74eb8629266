# SPDX-License-Identifier: GPL-2.0-or-later
"""Will the crash kernel fit its region? An estimate of what it needs to boot and dump. Pure.

The crash kernel runs inside the crashkernel= region and nowhere else.  At its
peak it holds, at once:

* the loaded segments (its image at its memsz, the initrd, device tree,
  purgatory, core header, backup area): :attr:`HeadroomInput.footprint`;
* the initramfs unpacked into its tmpfs root: every regular file rounded up
  to whole pages (tmpfs stores file data in page-cache pages), plus an inode
  and a dentry per entry (:data:`ENTRY_BYTES`); and as much again, because a
  tmpfs may fill only half of RAM (mm/shmem.c ``shmem_default_max_blocks``:
  ``totalram_pages() / 2``, fixed when the root is mounted, before the initrd's
  memory is freed): below that the kernel says "Initramfs unpacking failed:
  write error" and cannot mount a root.  The root is a tmpfs only when the
  command line has neither ``root=`` nor ``rootfstype=`` (or the latter names
  tmpfs), else a ramfs without that limit (init/do_mounts.c ``init_rootfs``, 6.1);
* the kernel's own allocations (:data:`KERNEL_BYTES`), a figure per CPU it
  brings up (:data:`PER_CPU_BYTES`) and the memory map, one ``struct page`` per
  page of the region (:data:`STRUCT_PAGE_BYTES`);
* the dump's work: its user space and makedumpfile's buffers while the dump is
  written off the machine, to a disk or the network, as kdump-tools, kdumpctl
  and SUSE's kdump do (:data:`DUMP_WORK_BYTES`);
* a dump the payload keeps in its own memory instead (``HeadroomInput.dump_in_ram``,
  twice in a tmpfs root): pykexec cannot see where a payload writes, so it is 0
  unless the caller knows better.

The figures are calibrated in the lab (``lab/calibration/crashkernel.json``,
remade by ``python3 -m lab calibrate-crashkernel``): the smallest crashkernel=
with which the lab's payloads boot and dump, for a lean payload (busybox and
makedumpfile, the dump streamed off the machine) and for a full Debian root with
Python that writes its dump into its tmpfs root; ``tests/test_headroom.py`` holds
the model to every row.  A load is refused when the region cannot hold what
booting takes (segments, initramfs, kernel, CPUs, memory map), since then it
cannot work whatever the dump does; it is warned about when the whole estimate
leaves less than :data:`WARN_FRACTION` spare, and :func:`recommend` names a
crashkernel= size that leaves that margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from pykexec.formats.initramfs import Initramfs

MIB = 1 << 20
# include/linux/mm_types.h struct page: 64 bytes on 64-bit kernels (without debug options).
STRUCT_PAGE_BYTES = 64
# shmem_inode_info (~750 B on 6.1 ppc64le, /proc/slabinfo shmem_inode_cache) plus a
# dentry (192 B, dentry cache): what each unpacked entry costs besides its data.
ENTRY_BYTES = 1024
# What the crash kernel reserves for itself besides its image, whatever the dump does:
# MemTotal 517 MiB in a 576 MiB region with a 40.5 MiB image (Debian 6.1, 64 KiB
# pages, pseries; the lean payload's crash kernel: MemTotal 203520 kB in 256 MiB).
KERNEL_BYTES = 19 * MIB
# What the kernel allocates at run time while it boots (slab, page tables, per-CPU
# pages): the lean payload's 6.1 crash kernel ran out of memory at 104 MiB with 18 MiB
# of slab ("System is deadlocked on memory") and booted at 112 MiB.  No size the lab
# saw a crash kernel boot at is refused (tests/test_headroom.py) for any figure up to
# 24 MiB (with PER_CPU_BYTES below); 22 keeps a margin.  Kernels differ: bookworm-
# backports' 6.12 needs up to 16 MiB more than 6.1 to boot (64 KiB pages), so 4 of the
# 24 sizes the lab saw a crash kernel fail to boot at are warned about, not refused.
RUN_TIME_BYTES = 22 * MIB
# The dump's work while the dump leaves the machine (disk or network), per page size:
# the largest "smallest passing size minus the other terms" over the lean payload's
# rows of the table with that page size (tests/test_headroom.py checks it), rounded up.
DUMP_WORK_BYTES: dict[int, int] = {65536: 27 * MIB, 4096: 9 * MIB}
DEFAULT_DUMP_WORK_BYTES = 27 * MIB
DUMP_TERM = "dump work"
RAM_DUMP_TERM = "dump kept in RAM"
RUN_TIME_TERM = "kernel at run time"
HALF_RAM_TERM = "tmpfs half-RAM limit"
# Per CPU the crash kernel brings up, per page size: per-CPU areas (the first chunk is
# 1 MiB with 64 KiB pages, mm/percpu.c pcpu_embed_first_chunk), idle-task and IRQ
# stacks, run queues, per-CPU slab and page lists.  In the table nr_cpus=4 costs the
# 6.1 64 KiB-page kernel 8 and 16 MiB more than nr_cpus=1 (full and lean payload), the
# 6.12 4 KiB-page one nothing, each known to one 8 MiB step.
PER_CPU_BYTES: dict[int, int] = {65536: 4 * MIB, 4096: 1 * MIB}
DEFAULT_PER_CPU_BYTES = 4 * MIB
# Per-file page rounding when an archive's files cannot be read (zstd, lz4): the
# lab payload's measured ratio of page-rounded file bytes to its cpio stream
# (lab/calibration/crashkernel.json: pages_64k_bytes / stream_bytes = 2.27,
# pages_4k_bytes / stream_bytes = 1.05), rounded up.
UNKNOWN_ROUNDING: dict[int, float] = {65536: 2.3, 4096: 1.1}
WARN_FRACTION = 0.125  # warn when less than 1/8 of the estimate is spare
RECOMMEND_ALIGN = 16 * MIB


@dataclass(frozen=True)
class HeadroomInput:
    """What the estimate needs: the region, the load and the crash kernel's CPUs."""

    region: int  # bytes in the crashkernel= region
    footprint: int  # bytes the segments take from it (memsz)
    initramfs: Initramfs | None
    page_size: int
    cpus: int  # CPUs the crash kernel brings up (nr_cpus=, maxcpus=, or all)
    footprint_exact: bool = True  # False: kexec_file_load builds the segments itself
    tmpfs_root: bool = True  # see rootfs_is_tmpfs()
    dump_in_ram: int = 0  # bytes of dump the payload keeps in its own memory (module doc)


@dataclass(frozen=True)
class Headroom:
    """The estimate, term by term, against the region."""

    region: int
    terms: tuple[tuple[str, int], ...]
    boot_needed: int  # what it needs to boot at all: estimate() without the dump's terms
    notes: tuple[str, ...] = ()

    @property
    def needed(self) -> int:
        return sum(size for _, size in self.terms)

    @property
    def spare(self) -> int:
        return self.region - self.needed

    @property
    def fits(self) -> bool:
        """Whether the crash kernel can boot in the region (a load below is refused)."""
        return self.region >= self.boot_needed

    @property
    def tight(self) -> bool:
        """Whether it boots but the whole estimate leaves less than the margin (a warning)."""
        return self.fits and self.spare < WARN_FRACTION * self.needed

    @property
    def recommended(self) -> int:
        """A crashkernel= size (bytes) that leaves :data:`WARN_FRACTION` spare."""
        return recommend(self.needed)

    def summary(self) -> str:
        """One line: needed, region, spare and the crashkernel= that would do."""
        spare = self.spare
        share = f"{100 * spare / self.needed:.0f} %" if self.needed else "-"
        return (
            f"the crash kernel needs about {_mib(self.needed)}, at least "
            f"{_mib(self.boot_needed)} to boot "
            f"({', '.join(f'{name} {_mib(size)}' for name, size in self.terms)}); "
            f"the crash region holds {_mib(self.region)}, "
            f"{'spare ' + _mib(spare) if spare >= 0 else 'short by ' + _mib(-spare)} "
            f"({share}); crashkernel={self.recommended // MIB}M would leave "
            f"{100 * WARN_FRACTION:.1f} % spare"
        )


def _mib(size: int) -> str:
    return f"{size / MIB:.0f} MiB"


def recommend(needed: int) -> int:
    """The smallest multiple of 16 MiB that leaves :data:`WARN_FRACTION` of ``needed`` spare."""
    want = int(needed * (1 + WARN_FRACTION)) + 1
    return -(-want // RECOMMEND_ALIGN) * RECOMMEND_ALIGN


def crash_cpus(command_line: str, possible: int) -> int:
    """The CPUs a crash kernel with ``command_line`` brings up: the smallest of
    ``nr_cpus=`` (caps the possible CPUs, kernel/smp.c), ``maxcpus=`` (caps those
    brought up at boot) and the machine's ``possible`` CPUs (when known, > 0)."""
    limits = [possible] if possible > 0 else []
    for word in command_line.split():
        name, _, value = word.partition("=")
        if name in ("nr_cpus", "maxcpus") and value.isdigit() and value.isascii():
            limits.append(max(1, int(value)))
    return min(limits) if limits else 1


def rootfs_is_tmpfs(command_line: str) -> bool:
    """Whether the initramfs root is a tmpfs (half-RAM limit) rather than a ramfs:
    init/do_mounts.c init_rootfs() (6.1): no root= and no rootfstype=, or a
    rootfstype= naming tmpfs."""
    words = dict(w.partition("=")[::2] for w in command_line.split())
    if "rootfstype" in words:
        return "tmpfs" in words["rootfstype"]
    return "root" not in words


def unpacked_bytes(initramfs: Initramfs, page_size: int) -> tuple[int, bool]:
    """Bytes the initramfs takes once unpacked into tmpfs, and whether that is exact."""
    total, exact = 0, True
    rounding = UNKNOWN_ROUNDING.get(page_size, max(UNKNOWN_ROUNDING.values()))
    for part in initramfs.parts:
        if part.files is None:
            total += int(part.stream * rounding)
            exact = False
            continue
        total += sum(-(-size // page_size) * page_size for size in part.files)
        total += part.entries * ENTRY_BYTES
        exact = exact and part.exact
    return total, exact


def estimate(inp: HeadroomInput) -> Headroom:
    """What the crash kernel needs, term by term, against ``inp.region``.

    Beside the fixed terms (segments, the kernel's reservations, CPUs, memory map),
    the rest of the region must hold, at once, what its tmpfs root holds (the
    unpacked initramfs, and a dump kept in RAM) together with the kernel's run-time
    allocations and the dump's work; and the tmpfs content may be at most half of
    it.  So that part is ``max(2 x content, content + run time + dump work)`` with a
    tmpfs root, and the half-RAM term is what the first exceeds the second by.  To
    boot, the same holds without the dump's terms."""
    notes = []
    fixed = [("segments", inp.footprint), ("kernel", KERNEL_BYTES),
             (f"{inp.cpus} CPU{'s' if inp.cpus != 1 else ''}",
              inp.cpus * PER_CPU_BYTES.get(inp.page_size, DEFAULT_PER_CPU_BYTES)),
             ("memory map", inp.region // inp.page_size * STRUCT_PAGE_BYTES)]  # fmt: skip
    if not inp.footprint_exact:
        notes.append("segments estimated: kexec_file_load places them in the kernel")
    unpacked = 0
    if inp.initramfs is not None:
        unpacked, exact = unpacked_bytes(inp.initramfs, inp.page_size)
        if not exact:
            notes.append(f"initramfs estimated from its headers ({inp.initramfs.describe()})")
    work = DUMP_WORK_BYTES.get(inp.page_size, DEFAULT_DUMP_WORK_BYTES)
    content = unpacked + inp.dump_in_ram
    terms = [*fixed, ("unpacked initramfs", unpacked)]
    if inp.dump_in_ram:
        terms.append((RAM_DUMP_TERM, inp.dump_in_ram))
    terms += [(RUN_TIME_TERM, RUN_TIME_BYTES), (DUMP_TERM, work)]
    if inp.tmpfs_root and content > RUN_TIME_BYTES + work:
        terms.append((HALF_RAM_TERM, content - RUN_TIME_BYTES - work))
    boot = sum(size for _, size in fixed) + unpacked + RUN_TIME_BYTES
    if inp.tmpfs_root:
        boot += max(0, unpacked - RUN_TIME_BYTES)
    return Headroom(inp.region, tuple(terms), boot, tuple(notes))
