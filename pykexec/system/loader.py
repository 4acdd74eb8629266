# SPDX-License-Identifier: GPL-2.0-or-later
"""The I/O shell of a load: gather the facts once, plan purely, then call the kernel.

This is also pykexec's small public API: :func:`plan`, :func:`plan_load`,
:func:`load`, :func:`load_crash`, :func:`save_plan`, and (re-exported from
:mod:`pykexec.system.control`) :func:`unload`, :func:`execute`, :func:`status`.  Every
function raises :class:`~pykexec.errors.KexecError` subclasses; none exits.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pykexec.core.devicetree.chosen import encode_bootargs, root_word
from pykexec.core.devicetree.nexttree import RNG_SEED_SIZE
from pykexec.core.options import LoadOptions, check
from pykexec.core.planner import FileCall, LoadFacts, LoadPlan, segment_plan
from pykexec.core.planner import plan as plan_pure
from pykexec.core.policy import (
    LOCKDOWN_LEVELS,
    KexecSupport,
    Syscall,
    decide_syscall,
)
from pykexec.errors import ImageError, KexecError, SyscallError, UsageError
from pykexec.system import fileio, syscalls
from pykexec.system.control import crash_reservation_size, execute, shutdown_reboot, status, unload
from pykexec.system.loadrecord import options_from_record, record_fields
from pykexec.system.sysinfo import SystemView, config_page_size
from pykexec.uapi import FILE_LOAD_FALLBACK

if TYPE_CHECKING:
    from typing import Union

    from pykexec.core.arch.ppc64 import Plan
    from pykexec.core.formats.elf import Endian, KernelImage
    from pykexec.core.formats.elfcore import CoreNote

    #: A load's kernel and initrd, mapped (:func:`read_images`).
    Images = tuple[KernelImage, Union[bytes, memoryview, None]]

__all__ = [
    "crash_reservation_size",
    "execute",
    "gather",
    "load",
    "load_crash",
    "plan",
    "plan_load",
    "read_kernel",
    "save_plan",
    "shutdown_reboot",
    "status",
    "unload",
]

#: How a file the user named fails: an ImageError with the message.
_ERROR = ImageError  # fileio raises it with FILE_MESSAGES problems
KALLSYMS_KEXEC_FILE = (b" kexec_add_buffer\n", b" kexec_image_probe_default\n")  # kexec_file.c


def read_file(path: Path, what: str) -> bytes | memoryview:
    """A regular file's bytes, mapped rather than copied where possible.

    Anything but a regular file (a FIFO, a device, a directory) is refused before it
    is read (:func:`_open`), so that no input can make pykexec wait forever.  The mapping
    is private and writable (ACCESS_COPY) so that ctypes can hand its address to the
    kernel without a copy; nothing ever writes to it.  Without a mapping, the read stops
    at the size the file had when opened.
    """
    import mmap

    fd, size = _open(path, what)
    try:
        if size == 0:
            raise ImageError("empty", what=what, path=str(path))
        try:
            return memoryview(mmap.mmap(fd, 0, access=mmap.ACCESS_COPY))
        except (OSError, ValueError):
            return fileio.read_fd(fd, os.fspath(path), what, _ERROR, size)
    finally:
        os.close(fd)


def read_kernel(path: Path) -> KernelImage:
    from pykexec.core.formats.elf import parse_kernel

    return parse_kernel(read_file(path, "kernel"), str(path))


def read_images(opts: LoadOptions) -> Images:
    """The kernel and the initrd, each mapped once for every plan of one load: a -p that
    falls back from kexec_file_load to kexec_load sizes the crash kernel from the same
    mappings its segments then come from (a second mapping faults every page in again)."""
    kernel = read_kernel(opts.kernel)
    return kernel, read_file(opts.initrd, "initrd") if opts.initrd is not None else None


def _lockdown(text: str | None) -> str | None:
    """The active level of /sys/kernel/security/lockdown: ``none [integrity] ...``."""
    for word in (text or "").split():
        if word.startswith("[") and word.endswith("]") and word[1:-1] in LOCKDOWN_LEVELS:
            return word[1:-1]
    return None


def _file_load_support(
    view: SystemView, thorough: bool, config: tuple[str | None, str]
) -> tuple[bool | None, str]:
    """Whether the running kernel has kexec_file_load, and how that was told."""
    from pykexec.system.features import config_has

    if config[0] is not None:
        return config_has(config[0], "CONFIG_KEXEC_FILE"), config[1]
    if thorough:
        symbols = view.read_bytes("proc/kallsyms")
        if symbols:
            found = any(name in symbols for name in KALLSYMS_KEXEC_FILE)
            return found, "/proc/kallsyms"
    return None, "not told by /boot/config-*" + (" or /proc/kallsyms" if thorough else "")


def _release_at_least(view: SystemView, wanted: tuple[int, int]) -> bool | None:
    """Whether the running kernel's release (osrelease, ``6.1.0-28-powerpc64le``) is at
    least ``wanted``; None when it cannot be read."""
    words = (view.read_text("proc/sys/kernel/osrelease") or "").strip().split(".")[:2]
    if len(words) < 2 or not words[0].isdigit():
        return None
    minor = "".join(c for c in words[1][:3] if c.isdigit()) if words[1][:1].isdigit() else ""
    return (int(words[0]), int(minor)) >= wanted if minor else None


def _load_limit(view: SystemView, rel: str) -> int | None:
    """kernel.kexec_load_limit_{panic,reboot} (Linux 6.6+): loads left, or -1 for no limit
    (its default: kernel/kexec_core.c load_limit_reboot/panic, ``.limit = -1``)."""
    text = view.read_text(rel)
    if text is not None and text.split()[:1] == ["-1"]:
        return -1
    return view.read_int(rel)


def read_support(view: SystemView, crash: bool, *, thorough: bool = False) -> KexecSupport:
    """What the running kernel offers, read without loading anything.

    ``thorough`` (dry runs) also scans /proc/kallsyms when no kernel config says
    whether kexec_file_load exists; a live load then simply tries it, as kexec-tools.
    """
    from pykexec.system import features

    config = features.kernel_config(view)
    file_load, source = _file_load_support(view, thorough, config)
    load, load_source = features.kexec_load_support(view, config, thorough)
    limit = _load_limit(view, f"proc/sys/kernel/kexec_load_limit_{'panic' if crash else 'reboot'}")
    return KexecSupport(
        load=load,
        load_source=load_source,
        ima=features.ima_measuring(view),
        tpm=features.tpm_present(view),
        file_load=file_load,
        file_load_source=source,
        load_disabled=view.read_int("proc/sys/kernel/kexec_load_disabled") == 1,
        lockdown=_lockdown(view.read_text("sys/kernel/security/lockdown")),
        loads_left=limit,
        file_debug=_release_at_least(view, (6, 8)),
    )


def _running_endian(view: SystemView) -> Endian:
    """The running kernel's byte order (the purgatory runs in it): uname's machine."""
    arch = (view.read_text("proc/sys/kernel/arch") or "").strip()
    if not arch and view.live:
        arch = os.uname().machine
    return "big" if arch == "ppc64" else "little"


# arch/powerpc/include/uapi/asm/cputable.h; include/uapi/linux/auxvec.h
AT_HWCAP2 = 26
PPC_FEATURE2_VEC_CRYPTO = 0x02000000
PURGATORY_SHA256 = "PYKEXEC_PURGATORY_SHA256"  # "scalar" or "vector": overrides the CPU's say


def _vector_crypto(view: SystemView) -> bool:
    """Whether the purgatory may hash with the POWER8 vector crypto instructions: the
    CPU says so in AT_HWCAP2 (a POWER8 in POWER7 compatibility mode does not), unless
    PYKEXEC_PURGATORY_SHA256 says otherwise."""
    choice = os.environ.get(PURGATORY_SHA256, "")
    if choice in ("scalar", "vector"):
        return choice == "vector"
    if not view.live:
        return False
    import struct

    auxv = view.read_bytes("proc/self/auxv") or b""
    for key, value in struct.iter_unpack("=QQ", auxv[: len(auxv) // 16 * 16]):
        if key == AT_HWCAP2:
            return bool(value & PPC_FEATURE2_VEC_CRYPTO)
    return False


def _mem_total(view: SystemView) -> int:
    for line in (view.read_text("proc/meminfo") or "").splitlines():
        name, _, value = line.partition(":")
        if name == "MemTotal":
            words = value.split()
            if words and words[0].isdigit() and words[0].isascii():
                return int(words[0]) * 1024
    return 0


def headroom_facts(
    opts: LoadOptions,
    view: SystemView,
    facts: LoadFacts,
    images: Images | None = None,
    *,
    remember: bool = False,
) -> LoadFacts:
    """``facts`` with what a crash load's headroom needs: the kernel's memsz and traits,
    the initrd's contents, the crash region, the possible CPUs, the old root=.  A live
    load (``remember``) keeps what the initrd unpacks to for the next load of the same
    file (:mod:`pykexec.system.recordcache`).  The kernel and initrd are the ``images``
    the caller mapped, else mapped here (:func:`read_images`)."""
    from pykexec.core.formats.elf import kernel_traits

    kernel, initrd = images if images is not None else read_images(opts)
    traits = kernel_traits(kernel)  # the page size and per-CPU area of the crash kernel
    facts = replace(
        facts,
        kernel_memsz=kernel.memsz,
        initrd_size=len(initrd) if initrd is not None else 0,
        crash_size=crash_reservation_size(view) or None,
        cpu_count=len(view.possible_cpus()),
        page_size=view.page_size(),
        crash_page_size=traits.page_size or config_page_size(opts.kernel),
        kernel_percpu=traits.percpu_bytes,
        kernel_release=traits.release,
        old_root=root_word(view.dt_prop("chosen", "bootargs") or b""),
    )
    if initrd is not None and facts.initramfs is None:
        facts = _initramfs_facts(opts, view, facts, initrd, remember)
    return facts


def _initramfs_facts(
    opts: LoadOptions, view: SystemView, facts: LoadFacts, initrd: bytes | memoryview,
    remember: bool,
) -> LoadFacts:  # fmt: skip
    """``facts`` with what the initrd unpacks to, read no further than the verdict needs:
    the summary remembered for this file; else the sizes its headers state when they
    make the load quiet (:func:`pykexec.core.crash.headroom.quiet`); else its contents,
    read up to the crash region (content past it cannot fit) and remembered."""
    from pykexec.core.formats.initramfs import Initramfs, Part, summarize
    from pykexec.core.formats.initramfs_claims import claims
    from pykexec.system import recordcache

    assert opts.initrd is not None
    what, region = f"initrd {opts.initrd}", facts.crash_size
    key = recordcache.key_of(opts.initrd, len(initrd)) if view.live else None
    known = recordcache.lookup(view, key, region)
    if known is not None:
        return replace(facts, initramfs=known)
    stated = claims(initrd, what) if region and opts.dtb is None else None
    if stated is not None and _quiet(opts, replace(facts, initramfs=stated)):
        return replace(facts, initramfs=stated)
    try:
        initramfs = summarize(initrd, what, region)
    except ImageError as err:
        # The kernel keeps what it cannot unpack as /initrd.image (init/initramfs.c).
        size = len(initrd)
        initramfs = Initramfs(size, (Part("image", 0, size, size, True, (size,), 1),))
        note = f"{err}: the crash kernel would keep it as a ramdisk image"
        return replace(facts, initramfs=initramfs, notes=(*facts.notes, note))
    if remember:
        recordcache.store(view, key, region, initramfs)
    return replace(facts, initramfs=initramfs)


def _quiet(opts: LoadOptions, facts: LoadFacts) -> bool:
    """Whether the load would be quiet on every command line it may use (and with either
    page size when the crash kernel's is not known), judged on ``facts``."""
    from pykexec.core.crash.headroom import estimate, quiet
    from pykexec.core.planner import headroom_input, judged_lines

    assert facts.crash_size is not None
    try:
        lines = judged_lines(opts, facts, decide_syscall(opts, facts.support))
    except KexecError:
        return False
    pages = (facts.page_size,) if facts.crash_page_size else (4096, 0x10000)
    return all(
        quiet(estimate(headroom_input(replace(facts, page_size=page), facts.crash_size, line)))
        for _, line in lines
        for page in pages
    )


def gather(
    opts: LoadOptions,
    view: SystemView,
    *,
    segments: bool,
    thorough: bool = False,
    headroom: bool = True,
    known: LoadFacts | None = None,
    remember: bool = False,
    images: Images | None = None,
) -> LoadFacts:
    """Read everything the load needs, once: the system's facts (or those ``known``
    from an earlier gather of the same load) and, when a kexec_load plan is wanted
    (``segments``), the kernel, initrd, blob and tree (the kernel and initrd ``images``
    already mapped, if given); for a crash load (unless not ``headroom``) what its
    headroom needs (``remember``: a live load, see :func:`headroom_facts`)."""
    check(opts)
    facts = known or LoadFacts(
        cmdline=view.cmdline(), support=read_support(view, opts.crash, thorough=thorough)
    )
    if not segments:
        if opts.crash and headroom:
            return headroom_facts(opts, view, facts, remember=remember)
        return facts
    from pykexec.core.devicetree.fdt import parse_fdt

    core_notes: tuple[CoreNote, ...] = ()
    if opts.crash:
        from pykexec.core.formats.elfcore import CoreNote

        notes = [CoreNote(n.address, n.size) for n in view.crash_notes()]
        vmcoreinfo = view.vmcoreinfo()
        if vmcoreinfo is not None:
            notes.append(CoreNote(*vmcoreinfo))
        core_notes = tuple(notes)
    kernel, initrd = images if images is not None else read_images(opts)
    if opts.crash and headroom:
        facts = headroom_facts(opts, view, facts, (kernel, initrd), remember=remember)
    return replace(
        facts,
        kernel=kernel,
        initrd=initrd,
        dtb=parse_fdt(bytes(read_file(opts.dtb, "device tree blob"))) if opts.dtb else None,
        tree=view.device_tree(),
        kernel_end_iomem=view.kernel_end(),
        core_notes=core_notes,
        possible_cpus=len(view.possible_cpus()) if opts.hotplug else 0,
        hotplug_elfcorehdr_size=view.crash_elfcorehdr_size() if opts.hotplug else None,
        page_size=view.page_size(),
        total_ram=_mem_total(view),
        running_endian=_running_endian(view),
        vector_crypto=_vector_crypto(view),
        # As kexec_file_load's (drivers/of/kexec.c); zeros in a plan from a snapshot,
        # which is never loaded, so that such a plan is reproducible.
        rng_seed=os.urandom(RNG_SEED_SIZE) if view.live else bytes(RNG_SEED_SIZE),
    )


def plan(opts: LoadOptions, view: SystemView | None = None) -> LoadPlan:
    """Everything the kernel would get, read and planned without touching it (a dry run)."""
    view = view or SystemView()
    check(opts)
    support = read_support(view, opts.crash, thorough=True)
    needs = decide_syscall(opts, support).needs_segments
    return plan_pure(opts, gather(opts, view, segments=needs, thorough=True))


def plan_load(
    opts: LoadOptions, view: SystemView | None = None, purgatory_endian: Endian | None = None
) -> Plan:
    """The kexec_load plan (segments, entry, flags) for ``opts``, whatever the syscall."""
    facts = gather(opts, view or SystemView(), segments=True)
    if purgatory_endian is not None:
        facts = replace(facts, running_endian=purgatory_endian)
    return segment_plan(opts, facts)


def load(opts: LoadOptions, view: SystemView | None = None) -> LoadPlan:
    """Load a kernel for ``kexec -e`` (or, with ``opts.crash``, for a panic).

    The syscall is chosen by :func:`pykexec.core.policy.decide_syscall`; with -a a
    kexec_file_load failing with one of the fallback errors is followed by a planned
    kexec_load.  Nothing is handed to the kernel before its whole plan is built and
    checked against the kernel's rules (and, for -p, its headroom).  A successful
    load is recorded in /run/pykexec (:mod:`pykexec.system.record`).  When a -p load fails
    after the kernel freed the crash kernel loaded before, the recorded one is
    loaded again (see :func:`_recover_crash`).  Returns the plan that was loaded.
    """
    view = view or SystemView()
    if not view.live:
        raise UsageError("sysroot-load", path=str(view.root))
    from pykexec.system import record

    with record.Lock(view) as lock:
        result = _load_and_record(opts, view)
    if lock.note:
        result = replace(result, warnings=(*result.warnings, lock.note))
    return result


def _load_and_record(opts: LoadOptions, view: SystemView) -> LoadPlan:
    """The load and its record, under the record lock."""
    from pykexec.system import record

    before = (view.kexec_crash_loaded(), record.read(view, True)) if opts.crash else None
    try:
        result, loaded = _load(opts, view)
    except SyscallError as err:
        if before is not None:
            _recover_crash(err, view, *before)
        raise
    fields = record_fields(result, loaded)
    try:
        record.write(view, opts.crash, record.new_record(view, opts.crash, fields))
    except KexecError as err:  # loaded all the same: say what is missing
        note = f"{err}: -S -d, --verify and a failed -p reload cannot use it"
        result = replace(result, warnings=(*result.warnings, note))
    return result


def _load(opts: LoadOptions, view: SystemView) -> tuple[LoadPlan, LoadFacts | None]:
    """The load itself: the plan and, for kexec_load, the facts it was planned from."""
    facts = gather(opts, view, segments=False, headroom=False)
    notes: tuple[str, ...] = ()
    images = None  # mapped for the crash sizing, kept for a kexec_load after a fallback
    if decide_syscall(opts, facts.support).first is Syscall.FILE:
        if opts.crash:
            images = read_images(opts)
            facts = headroom_facts(opts, view, facts, images, remember=True)
        result = plan_pure(opts, facts, need_segments=False)
        try:
            _file_load(result.file_call)  # type: ignore[arg-type]
            return replace(result, notes=(*result.notes, "loaded with kexec_file_load")), None
        except SyscallError as err:
            if not result.decision.fallback or err.errno not in FILE_LOAD_FALLBACK:
                raise
            notes = (f"kexec_file_load failed ({_errname(err.errno)}): fell back to kexec_load",)
    # The headroom facts of a fallback were gathered above, from these images.
    facts = gather(opts, view, segments=True, known=facts, remember=True, images=images,
                   headroom=images is None)  # fmt: skip
    result = plan_pure(opts, facts, need_segments=True)
    assert result.segments is not None
    image = result.segments.image
    raw = [syscalls.RawSegment(s.buf, s.mem.start, s.mem.size) for s in image.segments]
    syscalls.kexec_load(image.entry, raw, int(image.flags) | syscalls.KEXEC_ARCH_PPC64)
    return replace(result, notes=(*notes, *result.notes, "loaded with kexec_load")), facts


def _recover_crash(
    err: SyscallError, view: SystemView, was_loaded: bool, previous: dict[str, Any] | None
) -> None:
    """After a failed -p load: when the kernel had already freed the crash kernel
    loaded before (kernel/kexec.c do_kexec_load and kernel/kexec_file.c
    kexec_file_load both free it before building the new image), load the recorded
    one again and say so; raise in every case.

    EBUSY is not such a failure: both syscalls return it when kexec_trylock() fails,
    before they free anything (another program's load holds the lock; what it leaves
    loaded is its own): nothing is reloaded and the record is kept."""
    import errno

    if err.errno == errno.EBUSY:
        raise SyscallError("busy-unchanged", errno=err.errno, call=err.call, cause=err) from None
    if not was_loaded or view.kexec_crash_loaded():
        raise err
    if previous is None:
        raise SyscallError(
            "crash-freed-foreign", errno=err.errno, call=err.call, cause=err
        ) from None
    from pykexec.system import record

    try:
        _load_and_record(options_from_record(previous), view)
    except KexecError as again:
        if isinstance(again, SyscallError) and again.errno == errno.EBUSY:
            raise SyscallError(
                "crash-freed-busy", errno=err.errno, call=err.call, cause=err
            ) from None
        record.remove(view, True)
        raise SyscallError("crash-reload-failed", errno=err.errno, call=err.call, cause=err,
                           again=again) from None  # fmt: skip
    raise SyscallError("crash-reloaded", errno=err.errno, call=err.call, cause=err,
                       kernel=previous["options"]["kernel"],
                       loaded_at=previous["loaded_at_utc"]) from None  # fmt: skip


def _errname(err: int) -> str:
    import errno

    return errno.errorcode.get(err, str(err))


def _file_load(call: FileCall) -> None:
    kernel_fd = _kernel_fd(call.kernel)
    initrd_fd = -1
    try:
        if call.initrd is not None:
            initrd_fd = _open(call.initrd, "initrd")[0]
        text = encode_bootargs(call.command_line) if call.command_line else b""
        syscalls.kexec_file_load(kernel_fd, initrd_fd, text, call.flags)
    finally:
        os.close(kernel_fd)
        if initrd_fd >= 0:
            os.close(initrd_fd)


def _open(path: Path, what: str) -> tuple[int, int]:
    """``(descriptor, size)`` of the regular file the user named, opened non-blocking
    (:func:`pykexec.system.fileio.open_regular`); its absence is an error."""
    opened = fileio.open_regular(os.fspath(path), what, _ERROR)
    if opened is None:
        raise ImageError("missing", what=what, path=str(path))
    return opened


def _kernel_fd(path: Path) -> int:
    """A descriptor of the kernel; a compressed one is inflated into a memfd first
    (the ppc64 kernel's file loader takes plain ELF only), as kexec-tools does."""
    from pykexec.core.formats.elf import parse_kernel

    fd = _open(path, "kernel")[0]
    head = os.pread(fd, 6, 0)
    if head.startswith(b"\x7fELF"):
        return fd
    os.close(fd)
    kernel = parse_kernel(read_file(path, "kernel"), str(path))
    memfd = os.memfd_create("pykexec-kernel", os.MFD_CLOEXEC)
    data = memoryview(kernel.data)
    while data:
        data = data[os.write(memfd, data) :]
    os.lseek(memfd, 0, os.SEEK_SET)
    return memfd


def load_crash(opts: LoadOptions, view: SystemView | None = None) -> LoadPlan:
    """Load a crash kernel (``kexec -p``)."""
    return load(replace(opts, crash=True), view)


def save_plan(
    result: LoadPlan, directory: Path, document: dict[str, object], *, overwrite: bool = False
) -> list[Path]:
    """Write what the kernel would get into ``directory``: ``plan.json`` and, for a
    kexec_load plan, each segment's bytes (``NN-kind.bin``; the device tree as
    ``.dtb``, the core header as ``.elf``) for dtc, readelf and objdump.  Only inside
    ``directory``, never through a symlink, into an empty one unless ``overwrite``
    (:mod:`pykexec.system.savedir`)."""
    from pykexec.system.savedir import write_files

    suffix = {"device-tree": ".dtb", "elfcorehdr": ".elf"}
    files: list[tuple[str, bytes]] = []
    if result.segments is not None:
        for i, seg in enumerate(result.segments.image.segments):
            name = f"{i:02d}-{seg.kind}{suffix.get(str(seg.kind), '.bin')}"
            files.append((name, bytes(seg.buf)))
    if result.file_call is not None:
        line = result.file_call.command_line.encode("utf-8", "surrogateescape")
        files.append(("kexec_file_load-cmdline.txt", line))
    files.append(("plan.json", (json.dumps(document, indent=2) + "\n").encode()))
    return write_files(directory, files, overwrite=overwrite)
