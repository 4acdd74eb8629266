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
* the kernel's own allocations and the dump's user space: a base figure per
  page size (:data:`BASE_BYTES`), a figure per CPU it brings up
  (:data:`PER_CPU_BYTES`) and the memory map, one ``struct page`` per page of
  the region (:data:`STRUCT_PAGE_BYTES`).

The base figure is calibrated in the lab (``lab/calibration/crashkernel.json``,
remade by ``python3 -m lab calibrate-crashkernel``): the smallest crashkernel=
with which the lab's payload boots and dumps, minus the other terms; the test
``tests/test_headroom.py`` holds the model to that table.  Only the crash
kernel's own part of it (:data:`KERNEL_BYTES`) is counted for booting: a load is
refused when the region cannot hold what booting takes (segments, initramfs,
kernel, CPUs, memory map), since then it cannot work whatever the dump does; it is
warned about when the whole estimate (with the lab's dump work) leaves less than
:data:`WARN_FRACTION` spare, and :func:`recommend` names a crashkernel= size that
leaves that margin.
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
# Calibrated: lab/calibration/crashkernel.json (Debian 6.1, 64 KiB pages, pseries):
# the largest "smallest passing size minus the other terms" over its rows (tests/
# test_headroom.py checks it).  Of these 171 MiB about 19 MiB are the crash kernel's
# own reservations besides its image (MemTotal 517 MiB in a 576 MiB region with a
# 40.5 MiB image) and most of the rest is twice the lab's dump: makedumpfile -d 31
# writes 63-75 MiB into the same half-RAM tmpfs.  A payload that dumps to disk needs
# less: the figure errs on the safe side.  4 KiB-page kernels use the same figure
# until the lab has one (issue 12).
BASE_BYTES: dict[int, int] = {65536: 171 * MIB, 4096: 171 * MIB}
DEFAULT_BASE_BYTES = 171 * MIB
# Of the base, what the crash kernel itself reserves whatever the dump does (see above:
# 517 MiB MemTotal in a 576 MiB region less a 40.5 MiB image).  The rest is the dump's
# work, which depends on where and how it dumps: a region below segments + initramfs +
# this + CPUs + memory map cannot boot (refused), one below the whole estimate may boot
# but fail to dump the lab's way (warned).
KERNEL_BYTES = 19 * MIB
DUMP_TERM = "dump work (lab-calibrated)"
# Per CPU the crash kernel brings up: per-CPU areas (the first chunk is 1 MiB with
# 64 KiB pages, mm/percpu.c pcpu_embed_first_chunk), idle-task and IRQ stacks, run
# queues, per-CPU slab and page lists.  The table's nr_cpus=4 row needs one 8 MiB
# step more than its nr_cpus=1 twin (504 against 496 MiB): at most 2.7 MiB per CPU
# at that resolution, rounded up here.
PER_CPU_BYTES = 4 * MIB
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


@dataclass(frozen=True)
class Headroom:
    """The estimate, term by term, against the region."""

    region: int
    terms: tuple[tuple[str, int], ...]
    notes: tuple[str, ...] = ()

    @property
    def needed(self) -> int:
        return sum(size for _, size in self.terms)

    @property
    def spare(self) -> int:
        return self.region - self.needed

    @property
    def boot_needed(self) -> int:
        """What the crash kernel needs to boot at all: every term but the dump's work."""
        return sum(size for name, size in self.terms if name != DUMP_TERM)

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
    """What the crash kernel needs, term by term, against ``inp.region``."""
    notes = []
    terms = [("segments", inp.footprint)]
    if not inp.footprint_exact:
        notes.append("segments estimated: kexec_file_load places them in the kernel")
    if inp.initramfs is not None:
        unpacked, exact = unpacked_bytes(inp.initramfs, inp.page_size)
        terms.append(("unpacked initramfs", unpacked))
        if inp.tmpfs_root:
            terms.append(("tmpfs half-RAM limit", unpacked))
        if not exact:
            notes.append(f"initramfs estimated from its headers ({inp.initramfs.describe()})")
    base = BASE_BYTES.get(inp.page_size, DEFAULT_BASE_BYTES)
    terms.append(("kernel", KERNEL_BYTES))
    terms.append((DUMP_TERM, base - KERNEL_BYTES))
    terms.append((f"{inp.cpus} CPU{'s' if inp.cpus != 1 else ''}", inp.cpus * PER_CPU_BYTES))
    terms.append(("memory map", inp.region // inp.page_size * STRUCT_PAGE_BYTES))
    return Headroom(inp.region, tuple(terms), tuple(notes))
