# SPDX-License-Identifier: GPL-2.0-or-later
"""Will the crash kernel fit its region? What it provably needs, and what it likely needs. Pure.

The crash kernel runs inside the crashkernel= region and nowhere else.  Two
figures are made from the same facts:

**The floor** (:attr:`Headroom.floor`): what the crash kernel cannot boot
without, each term a lower bound read from the files and the kernel's code.  A
load is refused only below it.  While ``populate_rootfs`` unpacks the initramfs
(init/initramfs.c), memory holds at once: the kernel image at its memsz; the
initrd, reserved until it is unpacked (``free_initrd_mem`` comes after); the
memory map, a ``struct page`` of at least :data:`STRUCT_PAGE_BYTES` per page of
the region (include/linux/mm_types.h); a per-CPU area for every *possible* CPU
(:func:`percpu_unit`); and the unpacked files, each rounded up to whole pages
(tmpfs and ramfs keep file data in page-cache pages).  When the root is a tmpfs
(:func:`rootfs_limits`) it also has limits fixed when it is mounted, before the
initrd is freed (mm/shmem.c ``shmem_fill_super``): by default half of the RAM the
kernel manages then (``shmem_default_max_blocks``: ``totalram_pages() / 2``) and
as many inodes (``shmem_default_max_inodes``), where that RAM is at most the
region less the image, the initrd, the memory map and the per-CPU areas; or the
``size=`` and ``nr_inodes=`` of ``initramfs_options=`` (Linux 6.18 and later,
init/do_mounts.c; Fedora's and RHEL's kdump pass it).  Past a limit the kernel
says "Initramfs unpacking failed: write error" and, without a root, panics
(lab: debian-6.1 at crashkernel=296M, ``lab/calibration/matrix.json``).  The
unpacked content's lower bound assumes each path is unpacked once (a later
archive that replaces a file frees it); a zstd or lz4 part whose files cannot be
read counts its proven lower bound (``Part.stream_min``) as memory and nothing
against the tmpfs limits.

**The estimate** (:attr:`Headroom.needed`): the floor's terms at their likely
size plus what the lab measured: what the kernel reserves besides its image
(:data:`KERNEL_BYTES`), its run-time allocations while it boots
(:data:`RUN_TIME_BYTES`), each CPU it brings up (:data:`ONLINE_CPU_BYTES`), and
the dump's work while the dump leaves the machine (:data:`DUMP_WORK_BYTES`), as
kdump-tools, kdumpctl and SUSE's kdump write it to disk or network; a dump the
payload keeps in RAM is an input (``dump_in_ram``), 0 unless the caller knows.
With a tmpfs root the content and the rest share the region as
``max(2 x content, content + run time + dump work)``.  Below the estimate with
:data:`WARN_FRACTION` spare a load is warned about with the figures;
:func:`recommend` names a crashkernel= that leaves that margin.  The matrix in
``lab/calibration/matrix.json`` (kexec-tools' crash kernel at 8 MiB steps, 6.1
and 6.12, 4 and 64 KiB pages, gzip, zstd and xz, two payloads, 1 and 4 CPUs) holds
the model to this (tests/test_headroom.py).
"""

from __future__ import annotations

from typing import NamedTuple

from pykexec.core.formats.initramfs import Initramfs

MIB = 1 << 20
KIB = 1 << 10
# include/linux/mm_types.h struct page: 64 bytes on 64-bit kernels without debug options
# (more with them: a lower bound).
STRUCT_PAGE_BYTES = 64
# The estimate's cost of an unpacked entry besides its data: a shmem inode (~750 B,
# /proc/slabinfo shmem_inode_cache on 6.1 ppc64le) and a dentry (192 B).
ENTRY_BYTES = 1024
# The per-CPU first chunk, one unit per possible CPU: arch/powerpc/kernel/setup_64.c
# setup_per_cpu_areas() calls pcpu_embed_first_chunk(0, PERCPU_MODULE_RESERVE +
# PERCPU_DYNAMIC_RESERVE, ...) (include/linux/percpu.h: 8 KiB + 28 KiB on 64-bit);
# mm/percpu.c pcpu_build_alloc_info() sizes a unit PFN_ALIGN(static + reserved + dyn),
# at least PCPU_MIN_UNIT_SIZE, and pcpu_embed_first_chunk() frees the rest of each
# allocation.  Lab (debian-6.1): "percpu: Embedded 10 pages/cpu s603432 r0 d51928
# u655360" for its 603432-byte .data..percpu.
PERCPU_RESERVE = 36 * KIB
PCPU_MIN_UNIT_SIZE = 32 * KIB
# Without the vmlinux's section: Debian's 6.1 and 6.12 have 118-598 KiB; the estimate
# takes 1 MiB, the floor nothing.
PERCPU_GUESS = 1 * MIB
# What the crash kernel reserves besides its image, initrd, memory map and per-CPU
# areas (device tree, RTAS, paca and stacks, early allocations): the lab's 6.1 crash
# kernel reports 593 MiB reserved of 512 MiB below the region + a 304 MiB region,
# i.e. 21.7 MiB beside its 40.5 MiB image and 18.9 MiB initrd (matrix.json).
KERNEL_BYTES = 22 * MIB
# What the kernel allocates at run time while it boots (slab, page tables): the lean
# payload's 6.1 crash kernel ran out of memory at 104 MiB with 18 MiB of slab.
RUN_TIME_BYTES = 22 * MIB
# Each CPU brought up (idle task, stacks, run queue, per-CPU slab and page lists), per
# page size: the lab's 4-CPU rows against their 1-CPU twins (tests/test_headroom.py).
ONLINE_CPU_BYTES: dict[int, int] = {65536: 6 * MIB, 4096: 1 * MIB}
# The dump's work while the dump leaves the machine (makedumpfile's buffers, the
# payload's user space), per page size: the lean payload's rows (tests/test_headroom.py).
DUMP_WORK_BYTES: dict[int, int] = {65536: 27 * MIB, 4096: 9 * MIB}
# Per-file page rounding when an archive's files cannot be read (zstd, lz4 without a
# decoder): the lab payloads' page-rounded file bytes over their cpio stream (full
# payload: 2.22 with 64 KiB pages, 1.05 with 4 KiB), rounded up.
UNKNOWN_ROUNDING: dict[int, float] = {65536: 2.3, 4096: 1.1}
WARN_FRACTION = 0.125  # warn when less than 1/8 of the estimate is spare
RECOMMEND_ALIGN = 16 * MIB
# init/do_mounts.c: initramfs_options= (mount options of the rootfs) since Linux 6.18.
INITRAMFS_OPTIONS_SINCE = (6, 18)
DUMP_TERM = "dump work"
RAM_DUMP_TERM = "dump kept in RAM"
RUN_TIME_TERM = "kernel at run time"
HALF_RAM_TERM = "tmpfs limit"


class RootfsLimits(NamedTuple):
    """The initramfs root as the crash kernel's command line makes it."""

    tmpfs: bool  # else a ramfs, without limits
    size: int | None = None  # initramfs_options=size= in bytes (0: unlimited)
    size_percent: int | None = None  # ... or in percent of RAM
    inodes: int | None = None  # initramfs_options=nr_inodes= (0: unlimited)
    honoured: bool | None = None  # the kernel reads initramfs_options= (None: unknown)


class HeadroomInput(NamedTuple):
    """What the estimate needs: the region, the load and the crash kernel's CPUs."""

    region: int  # bytes in the crashkernel= region
    footprint: int  # bytes the segments take from it (memsz)
    kernel_memsz: int  # the kernel image's memsz (part of footprint)
    initramfs: Initramfs | None
    page_size: int  # the crash kernel's page size
    possible_cpus: int  # CPUs it allocates per-CPU areas for (nr_cpus= caps them)
    online_cpus: int  # CPUs it brings up (maxcpus= caps them too)
    percpu_bytes: int | None = None  # its .data..percpu section (None: unknown)
    page_size_known: bool = True  # False: a guess (the floor then takes 4 KiB)
    footprint_exact: bool = True  # False: kexec_file_load builds the segments itself
    rootfs: RootfsLimits = RootfsLimits(True)
    dump_in_ram: int = 0  # bytes of dump the payload keeps in its own memory


class Headroom(NamedTuple):
    """The floor and the estimate, term by term, against the region.  (A NamedTuple, as
    the crash modules' other records: a -p builds these classes at import, and a frozen
    dataclass costs 4 times as much to build; bench/README.md.)"""

    region: int
    terms: tuple[tuple[str, int], ...]  # the estimate
    boot_needed: int  # the estimate of what booting takes (without the dump's terms)
    floor_terms: tuple[tuple[str, int], ...] = ()
    floor: int = 0  # below this the crash kernel provably cannot boot
    impossible: str = ""  # a limit no region size can meet
    notes: tuple[str, ...] = ()

    @property
    def needed(self) -> int:
        return sum(size for _, size in self.terms)

    @property
    def spare(self) -> int:
        return self.region - self.needed

    @property
    def fits(self) -> bool:
        """Whether the crash kernel may boot in the region (a load below is refused)."""
        return not self.impossible and self.region >= self.floor

    @property
    def tight(self) -> bool:
        """Whether it may boot but the estimate leaves less than the margin (a warning)."""
        return self.fits and self.spare < WARN_FRACTION * self.needed

    @property
    def recommended(self) -> int:
        """A crashkernel= size (bytes) that leaves :data:`WARN_FRACTION` spare."""
        return recommend(max(self.needed, self.floor))

    def summary(self) -> str:
        """One line: the estimate, the floor, the region and the crashkernel= that would do."""
        spare = self.spare
        share = f"{100 * spare / self.needed:.0f} %" if self.needed else "-"
        floor = ", ".join(f"{name} {_mib(size)}" for name, size in self.floor_terms)
        why = f"; {self.impossible}" if self.impossible else ""
        return (
            f"the crash kernel needs about {_mib(self.needed)} "
            f"({', '.join(f'{name} {_mib(size)}' for name, size in self.terms)}), "
            f"about {_mib(self.boot_needed)} to boot, at least {_mib(self.floor)} "
            f"({floor}){why}; the crash region holds {_mib(self.region)}, "
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


def _words(command_line: str) -> dict[str, str]:
    """The last value of each ``name=value`` word (the kernel's parameters take the last)."""
    return dict(w.partition("=")[::2] for w in command_line.split())


def crash_cpus(command_line: str, possible: int) -> tuple[int, int]:
    """(possible, online) CPUs of a crash kernel with ``command_line`` on a machine with
    ``possible`` CPUs (0: unknown, taken as 1): ``nr_cpus=N`` caps the possible CPUs
    (kernel/smp.c nrcpus: N > 0), ``maxcpus=N`` only those brought up at boot
    (kernel/smp.c maxcpus: 0 disables SMP, one CPU); per-CPU areas are allocated for
    every possible CPU (mm/percpu.c)."""
    words = _words(command_line)
    possible = max(1, possible)
    nr = _number(words.get("nr_cpus"))
    if nr is not None and 0 < nr < possible:
        possible = nr
    online = possible
    most = _number(words.get("maxcpus"))
    if most is not None:
        online = max(1, min(online, most))
    return possible, online


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


def rootfs_is_tmpfs(command_line: str) -> bool:
    """Whether the initramfs root is a tmpfs (with limits) rather than a ramfs:
    init/do_mounts.c init_rootfs(): no root= and no rootfstype=, or a rootfstype=
    naming tmpfs."""
    words = _words(command_line)
    if "rootfstype" in words:
        return "tmpfs" in words["rootfstype"]
    return "root" not in words


# lib/cmdline.c memparse: K, M, G, T, P, E suffixes (either case), powers of 1024.
_SUFFIX = {c: 1 << (10 * (i + 1)) for i, c in enumerate("kmgtpe")}


def _memparse(text: str) -> int | None:
    digits = text.rstrip("kmgtpeKMGTPE")
    if not digits.isascii() or not digits.isdigit() or len(text) - len(digits) > 1:
        return None
    scale = _SUFFIX[text[-1].lower()] if len(text) > len(digits) else 1
    return int(digits) * scale


def rootfs_limits(command_line: str, release: tuple[int, int] | None) -> RootfsLimits:
    """The root's kind and the ``size=``/``nr_inodes=`` of ``initramfs_options=``
    (mm/shmem.c shmem_parse_one: memparse, ``size=`` also ``N%`` of RAM)."""
    tmpfs = rootfs_is_tmpfs(command_line)
    options = _words(command_line).get("initramfs_options")
    if not tmpfs or options is None:
        return RootfsLimits(tmpfs)
    size = percent = inodes = None
    for option in options.split(","):
        name, _, value = option.partition("=")
        if name == "size" and value.endswith("%") and value[:-1].isascii() and value[:-1].isdigit():
            percent = int(value[:-1])
        elif name == "size":
            size = _memparse(value)
        elif name == "nr_inodes":
            inodes = _memparse(value)
    honoured = None if release is None else release >= INITRAMFS_OPTIONS_SINCE
    return RootfsLimits(True, size, percent, inodes, honoured)


def percpu_unit(percpu_bytes: int, page_size: int) -> int:
    """Bytes the per-CPU first chunk keeps per possible CPU (see :data:`PERCPU_RESERVE`)."""
    unit = -(-(percpu_bytes + PERCPU_RESERVE) // page_size) * page_size
    return max(unit, PCPU_MIN_UNIT_SIZE)


class Content(NamedTuple):
    """What the initramfs unpacks to: bounds on its data pages, memory and entries."""

    pages_min: int  # page-rounded file data, a lower bound (what the tmpfs limit counts)
    memory_min: int  # a lower bound of the memory it takes
    memory: int  # the estimate (data pages, inodes and dentries)
    entries_min: int  # inodes it creates, a lower bound
    entries: int
    exact: bool


def content(initramfs: Initramfs | None, page_size: int, floor_page: int) -> Content:
    """The unpacked content with ``page_size`` pages (``floor_page`` for the bounds)."""
    if initramfs is None:
        return Content(0, 0, 0, 0, 0, True)
    pages_min = memory_min = memory = entries_min = entries = 0
    exact = True
    rounding = UNKNOWN_ROUNDING.get(page_size, max(UNKNOWN_ROUNDING.values()))
    for part in initramfs.parts:
        if part.files is None:
            memory_min += part.stream_min
            memory += int(part.stream * rounding)
            exact = False
            continue
        pages = sum(-(-size // floor_page) * floor_page for size in part.files)
        pages_min += pages
        memory_min += pages
        memory += sum(-(-size // page_size) * page_size for size in part.files)
        memory += part.entries * ENTRY_BYTES
        entries_min += max(0, part.entries - 1)  # "." makes no inode (it exists)
        entries += part.entries
        exact = exact and part.exact
    return Content(pages_min, memory_min, memory, entries_min, entries, exact)


def unpacked_bytes(initramfs: Initramfs, page_size: int) -> tuple[int, bool]:
    """The estimate of the memory the initramfs takes unpacked, and whether it is exact."""
    c = content(initramfs, page_size, page_size)
    return c.memory, c.exact


def _floor(inp: HeadroomInput, c: Content) -> tuple[tuple[tuple[str, int], ...], int, str]:
    """The provable floor: its terms, its size and a limit no size can meet (or "")."""
    page = inp.page_size if inp.page_size_known else 4096
    percpu = percpu_unit(inp.percpu_bytes or 0, page) if inp.percpu_bytes else 0
    initrd = inp.initramfs.file_size if inp.initramfs is not None else 0
    base = [("kernel image", inp.kernel_memsz), ("initrd", initrd),
            ("memory map", inp.region // page * STRUCT_PAGE_BYTES),
            (f"per-CPU areas of {inp.possible_cpus} possible CPUs",
             inp.possible_cpus * percpu)]  # fmt: skip
    fixed = sum(size for _, size in base)
    need = fixed + c.memory_min
    terms = [*base, ("unpacked initramfs", c.memory_min)]
    limit, impossible = _tmpfs_floor(inp.rootfs, c, page, fixed)
    if limit > need:
        terms.append((HALF_RAM_TERM, limit - need))
        need = limit
    return tuple(terms), need, impossible


def _tmpfs_floor(r: RootfsLimits, c: Content, page: int, fixed: int) -> tuple[int, str]:
    """The region a tmpfs root's limits need at least, with ``fixed`` bytes reserved; or
    why no region can do.  When the kernel may or may not read initramfs_options=, the
    weaker of the two readings counts."""
    if not r.tmpfs:
        return 0, ""
    default = fixed + 2 * max(c.pages_min, (c.entries_min + 1) * page)  # half of RAM
    if r.honoured is False or (r.size is None and r.size_percent is None and r.inodes is None):
        return default, ""
    blocks, inodes, impossible = 0, 0, []
    if r.size:
        if c.pages_min > r.size:
            impossible.append(f"initramfs_options=size= allows {_mib(r.size)}, the files "
                              f"take at least {_mib(c.pages_min)}")  # fmt: skip
    elif r.size_percent is not None:  # 0% is no limit, as size=0
        blocks = fixed + c.pages_min * 100 // r.size_percent if r.size_percent else 0
    elif r.size is None:
        blocks = fixed + 2 * c.pages_min
    if r.inodes and c.entries_min + 1 > r.inodes:
        impossible.append(f"initramfs_options=nr_inodes={r.inodes}, the initramfs has "
                          f"at least {c.entries_min} entries")  # fmt: skip
    elif r.inodes is None:
        inodes = fixed + 2 * (c.entries_min + 1) * page
    honoured = max(blocks, inodes)
    if r.honoured is None:  # a release the vmlinux does not tell: the weaker reading
        return min(default, honoured), ""
    return honoured, "; ".join(impossible)


def estimate(inp: HeadroomInput) -> Headroom:
    """The floor and the estimate of what the crash kernel needs against ``inp.region``."""
    floor_page = inp.page_size if inp.page_size_known else 4096
    c = content(inp.initramfs, inp.page_size, floor_page)
    floor_terms, floor, impossible = _floor(inp, c)
    notes = []
    if not inp.footprint_exact:
        notes.append("segments estimated: kexec_file_load places them in the kernel")
    if not c.exact and inp.initramfs is not None:
        notes.append(f"initramfs estimated from its headers ({inp.initramfs.describe()})")
    if not inp.page_size_known:
        notes.append(f"page size {inp.page_size // KIB} KiB assumed (the floor takes 4 KiB)")
    percpu = percpu_unit(inp.percpu_bytes, inp.page_size) if inp.percpu_bytes else PERCPU_GUESS
    online = ONLINE_CPU_BYTES.get(inp.page_size, max(ONLINE_CPU_BYTES.values()))
    fixed = [("segments", inp.footprint), ("kernel", KERNEL_BYTES),
             (f"per-CPU areas of {inp.possible_cpus} possible CPUs", inp.possible_cpus * percpu),
             (f"{inp.online_cpus} CPU{'s' if inp.online_cpus != 1 else ''} up",
              inp.online_cpus * online),
             ("memory map", inp.region // inp.page_size * STRUCT_PAGE_BYTES)]  # fmt: skip
    work = DUMP_WORK_BYTES.get(inp.page_size, max(DUMP_WORK_BYTES.values()))
    held = c.memory + inp.dump_in_ram
    share = _share(inp.rootfs, held, c.entries, inp.page_size)
    terms = [*fixed, ("unpacked initramfs", c.memory)]
    if inp.dump_in_ram:
        terms.append((RAM_DUMP_TERM, inp.dump_in_ram))
    terms += [(RUN_TIME_TERM, RUN_TIME_BYTES), (DUMP_TERM, work)]
    if share > held + RUN_TIME_BYTES + work:
        terms.append((HALF_RAM_TERM, share - held - RUN_TIME_BYTES - work))
    base = sum(size for _, size in fixed)
    boot_share = _share(inp.rootfs, c.memory, c.entries, inp.page_size)
    boot = base + max(c.memory + RUN_TIME_BYTES, boot_share)
    return Headroom(inp.region, tuple(terms), boot, floor_terms, floor, impossible, tuple(notes))


def quiet(h: Headroom) -> bool:
    """Whether ``h`` loads without a word: it fits, the boot estimate is inside the
    region and the estimate leaves the margin (:data:`WARN_FRACTION`).

    Judged on an initramfs known only from its headers (parts without files: the
    floor counts their stream, the estimate their stream x :data:`UNKNOWN_ROUNDING`
    and, on a tmpfs, twice that), a quiet verdict stands without reading the files:
    the floor with the files read counts their page-rounded data, at most the
    estimate's rounded stream, and the estimate with the files read rounds each file
    up to its page, which the calibrated :data:`UNKNOWN_ROUNDING` bounds for the lab's
    payloads (tests/test_headroom.py holds every calibration case to it).  Any other
    verdict (a refusal, a warning) is made again with the files read."""
    return h.fits and not h.tight and h.region >= h.boot_needed


def _share(r: RootfsLimits, held: int, entries: int, page: int) -> int:
    """What a tmpfs root holding ``held`` bytes and ``entries`` inodes takes of the region
    beside the fixed terms, by its limits (0 for a ramfs: no limit)."""
    if not r.tmpfs:
        return 0
    if r.honoured and r.size_percent:
        return held * 100 // r.size_percent
    if r.honoured and r.size is not None:
        return 0
    return 2 * max(held, (entries + 1) * page)
