# SPDX-License-Identifier: GPL-2.0-or-later
"""The messages of the typed errors (:mod:`pykexec.errors`): per error class, problem ->
template, formatted with the error's fields (``str.format``) by
:meth:`pykexec.errors.KexecError.__str__`. Each message is one line: what was wrong and,
where the user can act, what to do (tests/test_error_messages.py checks every one).
"""

from __future__ import annotations

#: The messages of :mod:`pykexec.system.fileio`, shared by the classes it raises
#: (``what`` names the file's role, ``filetype`` what it is instead of a regular file,
#: ``reason`` the OS's strerror).
FILE_MESSAGES = {
    "missing": "{what} {path} does not exist",
    "nul-in-path": "{what} path {path!r} holds a NUL byte",
    "not-regular": "{what} {path} is {filetype}, not a regular file: give the file itself",
    "cannot-open": "cannot open {what} {path}: {reason}",
    "cannot-read": "cannot read {what} {path}: {reason}",
    "too-large": "{what} {path} holds {size} bytes, more than {limit:#x}",
    "no-data": "{what} {path}: no data at {offset:#x}+{size:#x}",
}

_NO_CRASH_REGION = "no memory is reserved for a crash kernel: boot with crashkernel=SIZE "

_INFLATE = "cannot inflate {compression}-compressed kernel: "

_STRUCT = "bad device tree structure block: "

_GONE = "no crash kernel is loaded now"

RECORD_PREVIOUS = (
    "the previous record could not be removed either: -S -d compares it with what is loaded",
    "the previous record was removed",
)

_TO_VERIFY = " (/run/pykexec): load it with pykexec to be able to verify it"

_SEGMENT = "the {what} at {start:#x}-{end:#x} "

#: KexecError (the base: the record's refusals that are neither usage nor record errors)
KEXEC_ERROR = {
    "record-under-sysroot": "refusing to write a load record under {path}",
    "record-options-unusable": "the load record's options cannot be used again: {cause}",
}

#: UsageError
USAGE_ERROR = {
    "kexec-disabled": "kexec is disabled on this system (kernel.kexec_load_disabled=1, "
    "which stays set until reboot)",
    "no-loads-left": "no {what} loads are left ({name}=0)",
    "locked-down-load": "kexec_load is refused under lockdown={lockdown}: use -s "
    "(kexec_file_load) with a kernel signed for this system",
    "no-file-load": "this kernel has no kexec_file_load ({source}): use -c or -a",
    "locked-down-obstacle": "{reason}, which lockdown={lockdown} refuses",
    "locked-down-no-file-load": "lockdown={lockdown} allows only kexec_file_load, which "
    "this kernel lacks ({source})",
    "no-old-initrd": "--reuseinitrd: the running kernel was booted without an initrd",
    "not-relocatable": "this kernel cannot be a crash kernel: its word at 0x5c is "
    '{value:#010x}, not the "run0" magic of a relocatable kernel, so it would not run '
    "where it is loaded (build it with CONFIG_RELOCATABLE)",
    "crash-endian": "a {endian}-endian crash kernel cannot read the dump of this "
    "{dump_endian}-endian kernel (its notes are in the dead kernel's byte order): load a "
    "{dump_endian}-endian crash kernel",
    "command-line-too-long": "the command line has {size} bytes; the ppc64 kernel takes "
    "at most {limit}",
    "no-device-tree": "no device tree: give --dtb or run on a system with one",
    "nul-in-command-line": "the command line holds a NUL byte; the kernel would cut it there",
    "inspect-unknown-option": "inspect: option {option!r} not recognized ({usage})",
    "inspect-images": "inspect takes one kernel image, got {count} ({usage})",
    "sysroot-jump": "refusing to jump with facts from {path}: --sysroot needs --dry-run",
    "sysroot-load": "refusing a live load planned from {path}: --sysroot is for --dry-run only",
    "no-shutdown-program": "loaded; no shutdown program found to reboot into it: run pykexec -e",
    "purgatory-regions": "purgatory: {count} SHA-256 regions, at most {limit}",
    "purgatory-digest": "purgatory: sha256_digest must be {expected} bytes, got {size}",
    "purgatory-head": "purgatory: kernel_head must hold the kernel's first {expected} "
    "bytes, got {size}",
    "purgatory-opal": "purgatory: an OPAL console needs opal_base and opal_entry",
    "purgatory-backup": "purgatory: panic_kernel needs backup_start (64 KiB backup area)",
    "purgatory-slot": "purgatory: {cause}",
}

#: OptionError
OPTION_ERROR = {
    "file-load-obstacle": "{reason} (use -c, or -a)",
    "reuseinitrd-with-initrd": "--reuseinitrd and --initrd exclude each other",
    "hotplug-needs-crash": "--hotplug applies to crash kernels: use it with -p",
    "mem-max-not-above-min": "--mem-max {value:#x} is not above --mem-min {low:#x}: no memory left",
    "syscall-choice": "choose one of -s, -c and -a",
    "exec-with-load": "-e starts the kernel already loaded; load with -l first, or use -f "
    "KERNEL to load and start at once",
    "overwrite-needs-save": "--overwrite applies to --save DIR",
    "not-physical": "{option} {value:#x} is not a 64-bit physical address",
    "not-an-address": "{option}: {text!r} is not an address (decimal, 0x hex or 0 octal, "
    "as strtoul reads it: 0x1000000)",
    "bad-type": "--type {text}: ppc64 images are of type elf-ppc64 only",
    "nul-in-option-path": "{option} {path!r} holds a NUL byte",
    "nul-byte": "{name} {path!r} holds a NUL byte, which no path can hold",
    "no-kernel": "no kernel given: {prog} -l KERNEL [--initrd FILE] [--append STRING]",
    "no-kernel-to-reload": "no kernel given: {prog} -u -l KERNEL",
    "sysroot-needs-dry-run": "--sysroot reads a snapshot, never the machine a live action "
    "acts on: add --dry-run to plan from it",
    "save-needs-dry-run": "--save writes what a dry run would hand the kernel: add --dry-run",
    "json-needs-dry-run": "--json prints plans, records and reports; with -e or -u it "
    "would only act: add --dry-run to see what they would do",
    "unsupported": "{option} is not supported: {reason}",
    "nothing-to-do": "nothing to do: give -l KERNEL, -p KERNEL, -e, -u or -S (see --help)",
    "extra-kernel": "one kernel image at most, got {words}",
    "unknown": "option {option} not recognized (see {prog} --help)",
    "ambiguous": "option {option} is ambiguous (see {prog} --help)",
    "missing-argument": "option {option} requires an argument",
    "unexpected-argument": "option {option} must not have an argument",
}

#: MissingSyscall
MISSING_SYSCALL = {
    "load-asked": "-c asks for kexec_load, but this kernel has no kexec_load ({source}): "
    "drop -c (the default -a and -s load with kexec_file_load)",
    "load-needed": "{reason}, but this kernel has no kexec_load ({source}): drop {option} "
    "and load with -s",
}

#: NoCrashRegion
NO_CRASH_REGION = {
    "no-crash-region": _NO_CRASH_REGION + "(for example crashkernel=512M) on the kernel "
    "command line",
    "no-crash-region-recommend": _NO_CRASH_REGION + "(pykexec --recommend-crashkernel "
    "KERNEL ... names one)",
}

#: ImageError
IMAGE_ERROR = {
    **FILE_MESSAGES,
    "nul-in-path": "{what} path {path!r} holds a NUL byte",
    "missing": "{what} {path} does not exist",
    "directory": "{what} {path} is a directory, not a file",
    "permission": "{what} {path} cannot be read: permission denied",
    "unopenable": "{what} {path} cannot be opened: {reason}",
    "empty": "{what} {path} is empty",
    "unreadable": "{what} {path} cannot be read: {reason}",
    "no-zstd": "a zstd-compressed kernel, and this Python has no zstd decoder "
    "(compression.zstd is new in Python 3.14): decompress it first (zstd -d vmlinux.zst "
    "-o vmlinux)",
    "inflates-too-far": _INFLATE + "it inflates past {limit:#x} bytes, more than any "
    "kernel image; use an intact vmlinux",
    "inflates-to-non-elf": _INFLATE + "it does not hold an ELF file; use an intact vmlinux",
    "truncated-stream": _INFLATE + "the file ends inside the stream (truncated); use an "
    "intact vmlinux",
    "corrupt-stream": _INFLATE + "{cause}; use an intact vmlinux",
    "small-phentsize": "{name}: program header entries of {size} bytes are too small",
    "truncated-phdrs": "{name}: truncated (program headers end past the file's end)",
    "truncated-segment": "{name}: truncated (segment {index} needs bytes up to "
    "{offset:#x}, file has {size:#x})",
    "filesz-over-memsz": "{name}: segment {index} has more file bytes than memory bytes",
    "not-elf": "{name}: not an ELF file (pykexec loads ppc64 vmlinux images: plain, gzip, "
    "xz or zstd)",
    "elf32": "{name}: 32-bit ELF; pykexec loads 64-bit ppc64 kernels only",
    "elf-byte-order": "{name}: unknown ELF byte order {value}",
    "truncated-elf-header": "{name}: truncated ELF header ({size} bytes)",
    "elf-machine": "{name}: ELF machine {value} is not PowerPC 64 (EM_PPC64 = 21)",
    "elf-type": "{name}: ELF type {value} is not an executable kernel",
    "no-pt-load": "{name}: no loadable (PT_LOAD) segment",
    "overlapping-pt-load": "{name}: overlapping PT_LOAD segments",
    "pt-load-beyond-64-bit": "{name}: a PT_LOAD segment ends past the 64-bit address space",
    "pt-load-span": "{name}: PT_LOAD segments span {size:#x} bytes of memory, more than "
    "the {limit:#x} of any kernel image: the file is damaged or not a kernel",
    # initramfs (pykexec/core/formats/initramfs.py): offsets are bytes into the file
    "cpio-not-newc": "{name}: not a newc cpio header at byte {offset}",
    "cpio-corrupt-header": "{name}: corrupt cpio header at byte {offset}",
    "cpio-long-name": "{name}: cpio entry at byte {offset} has a {size}-byte name",
    "cpio-no-trailer": "{name}: cpio archive at byte {offset} ends without its trailer",
    "member-truncated": "{name}: {compression} member at byte {offset} is truncated",
    "member-ratio": "{name}: {compression} member at byte {offset} unpacks to more than "
    "{limit}x its size: not an initramfs",
    "member-claims": "{name}: {compression} member at byte {offset} claims {value} bytes "
    "from {size}: not an initramfs",
    "member-lzma-corrupt": "{name}: {compression} member at byte {offset} is corrupt or "
    "needs more than {limit} MiB to decode: {cause}",
    "member-corrupt": "{name}: {compression} member at byte {offset} is corrupt: {cause}",
    "zstd-truncated": "{name}: zstd frame at byte {offset} is truncated",
    "zstd-reserved-bit": "{name}: zstd frame at byte {offset} sets a reserved bit",
    "zstd-block-corrupt": "{name}: zstd block at byte {offset} is corrupt",
    "zstd-size-mismatch": "{name}: zstd frame at byte {offset} claims {size} bytes, its "
    "blocks hold {low} to {high}",
    "lz4-truncated": "{name}: lz4 stream at byte {offset} is truncated",
}

#: DeviceTreeError
DEVICE_TREE_ERROR = {
    **FILE_MESSAGES,
    "ambiguous": "{path!r} is ambiguous: {name!r} matches {matches}",
    "duplicate-child": "node {node!r} already has a child {name!r}",
    "no-property": "node {node!r} has no property {prop!r}",
    "bad-property": "property {prop!r} of node {node!r}: {cause}",
    "no-node": "device tree has no node {path!r}",
    "header-truncated": "device tree blob truncated: {size} bytes, the header alone needs {limit}",
    "bad-magic": "not a flattened device tree: magic {value:#010x}, expected {expected:#010x}",
    "bad-version": "unsupported device tree version {version} (last compatible "
    "{last_compatible}); readable: {oldest} to {newest}",
    "blob-truncated": "device tree blob truncated: header says {limit} bytes, got {size}",
    "block-outside": "{name} at {offset:#x} (+{size:#x}) lies outside the blob of {limit:#x} bytes",
    "misaligned-structure": "structure block at {offset:#x} is not 4-byte aligned",
    "reservation-wraps": "reservation {address:#x}+{size:#x} at {offset:#x} wraps past 2^64",
    "reservations-unterminated": "memory reservation block at {offset:#x} is not "
    "terminated before the end of the blob",
    "second-root": _STRUCT + "a second root node at offset {offset:#x}",
    "property-outside-node": _STRUCT + "a property outside any node at offset {offset:#x}",
    "unopened-end-node": _STRUCT + "FDT_END_NODE without FDT_BEGIN_NODE at offset {offset:#x}",
    "misplaced-end": _STRUCT + "FDT_END inside a node or before the root at offset {offset:#x}",
    "unknown-token": _STRUCT + "unknown token {value:#x} at offset {offset:#x}",
    "no-end-token": _STRUCT + "truncated (no FDT_END token) at offset {offset:#x}",
    "unterminated-node-name": _STRUCT + "unterminated node name at offset {offset:#x}",
    "truncated-property-header": _STRUCT + "truncated property header at offset {offset:#x}",
    "value-past-end": _STRUCT + "property value of {size} bytes runs past the end at "
    "offset {offset:#x}",
    "name-offset-outside": _STRUCT + "property name offset {value:#x} outside the strings "
    "block at offset {offset:#x}",
    "name-too-long": _STRUCT + "property name at {value:#x} longer than {limit} at offset "
    "{offset:#x}",
    "negative-padding": "negative device tree padding {value}",
    "boot-cpuid-too-large": "boot_cpuid_phys {value:#x} does not fit in u32",
    "blob-too-large": "device tree of {size} bytes is too large for its header",
    "empty-reservation": "empty memory reservation at {address:#x} would end the list",
    "reservation-too-large": "memory reservation {address:#x}+{size:#x} does not fit in 64 bits",
    "bad-root-name": "the root node must be named '', not {name!r}",
    "bad-node-name": "bad node name {name!r} under {path!r}",
    "bad-property-name": "bad property name {prop!r} in node {path!r}",
    "bad-split-cells": "cannot split a property into values of {cells} cells",
    "ragged-cells": "property of {size} bytes is not a whole number of {cells}-cell values",
    "bad-encode-cells": "cannot encode values in {cells} cells",
    "value-too-wide": "value {value:#x} does not fit in {cells} cell(s)",
    "bad-u32": "expected a 4-byte <u32>, got {size} bytes",
    "bad-u64": "expected an 8-byte <u64>, got {size} bytes",
    "bad-number": "expected a 4- or 8-byte number, got {size} bytes",
    "nul-in-string": "string {text!r} contains a NUL byte",
    "unterminated-string": "string property {text!r} is not NUL-terminated",
    "bad-ncells": "node {node!r} has #address-cells {address_cells} and #size-cells "
    "{size_cells}; valid are 1 to {limit} and 0 to {limit}: the tree is damaged",
    "bad-entries": "{name} ({size} bytes) is not a list of {address_cells}+{size_cells}-cell "
    "entries",
    "no-directory": "no device tree directory at {path}",
    "bad-path": "bad device tree path {path!r} / property {prop!r}",
    "cannot-stat": "cannot stat device tree property {path}: {cause}",
    "cannot-list": "cannot list device tree node {path}: {cause}",
    "vanished": "device tree property {path} vanished while being read",
}

#: SystemInfoError
SYSTEM_INFO_ERROR = {
    # a fact of the kernel, not of the command line: exit 1, as kexec-tools 2.0.32
    "no-crash-hotplug": "--hotplug: this kernel has no crash hotplug support "
    "(no /sys/kernel/crash_elfcorehdr_size; Linux 6.10 or later)",
    **FILE_MESSAGES,
    "nul-in-root": "snapshot root {path!r} holds a NUL byte",
    "not-a-number": "{path}: expected a number, found {text!r}",
    "not-hex": "{path}: expected a hexadecimal number, found {text!r}",
    "no-device-tree": "no device tree at {path}: pykexec needs /proc/device-tree (a POWER "
    "machine, or --sysroot pointing at a snapshot)",
    "not-address-size": "{path}: expected a hexadecimal address and size, found {text!r}",
    "notes-beyond-64-bit": "{path}: crash notes at {address:#x} of {size:#x} bytes lie "
    "outside the 64-bit address space",
    "no-data": "{path}: no data at {offset:#x}+{size:#x}",
    "nothing-to-read": "{path}: nothing to read at {offset:#x}",
    "bad-cpu-list": "{path}: {text!r} is not a CPU number or range",
    "bad-cpu-range": "{path}: CPU range {text!r} is reversed or reaches past {limit}",
    "too-many-cpus": "{path}: more than {limit} CPUs listed",
    "bad-iomem-line": "{path}: cannot read the range of {text!r}",
    "too-many-program-headers": "the dump needs {count} memory ranges and {notes} notes, "
    "more than the {limit} program headers an ELF core header holds: the memory is too "
    "fragmented for kdump",
    "note-too-large": "crash note at {address:#x} of {size:#x} bytes does not fit an ELF "
    "core header: the system information is damaged",
    "beyond-linear-map": "memory {address:#x}+{size:#x} lies above {limit:#x}, where the "
    "ppc64 linear map cannot reach it: the memory description is damaged",
    "bad-lmb-size": "ibm,dynamic-reconfiguration-memory has no usable ibm,lmb-size "
    "({text}): the device tree is damaged",
    "truncated-drmem": "{what} is truncated ({size} bytes)",
    "short-drmem": "{what} announces {count} entries but holds {held}",
    "lmbs-beyond-64-bit": "{what}: {count} LMBs of {size:#x} bytes from {address:#x} run "
    "past the 64-bit address space: the device tree is damaged",
    "too-many-lmbs": "{what} describes {count} LMBs; pykexec handles at most {limit} "
    "(64 TiB of 16 MiB blocks): the device tree is damaged",
    "no-memory": "the device tree describes no memory (no memory@ node, no LMB)",
    "plan-needs-facts": "a kexec_load plan needs the kernel image and the running tree",
    "no-kernel-end": "cannot tell where the running kernel ends: neither "
    "/proc/device-tree/chosen/linux,kernel-end nor Kernel lines in /proc/iomem",
    "no-retain-initrd": "--reuseinitrd needs the running kernel booted with retain_initrd "
    "(otherwise its initrd memory has been freed)",
}

#: PlacementError
PLACEMENT_ERROR = {
    "no-hole": "no hole of {size:#x} bytes aligned to {align:#x} (free: {free})",
    "too-many-segments": "{count} segments planned; kexec_load takes at most {limit}",
    "misaligned-segment": "{segment} segment {start:#x}-{end:#x} is not aligned to {align:#x}",
    "buffer-too-large": "{segment} segment holds {size:#x} bytes in {start:#x}-{end:#x}",
    "overlapping-segments": "{segment} segment {start:#x}-{end:#x} overlaps {other} segment "
    "{other_start:#x}-{other_end:#x}",
    "cannot-place": "cannot place the {segment} ({size:#x} bytes) in {where}: {cause}",
    "not-free": "the {segment} at {start:#x}-{end:#x} is not inside free {where}",
}

#: CrashRegionTooSmall
CRASH_REGION_TOO_SMALL = {
    "cannot-boot": "refusing the crash kernel, it cannot boot: {summary}",
}

#: SyscallError
SYSCALL_ERROR = {
    "failed": "{call}: {advice}",
    "wrong-machine": "{call}: this is a {machine} machine; pykexec loads ppc64 kernels on "
    "ppc64 only (use --dry-run to plan a load elsewhere)",
    "busy-unchanged": "{cause}; another program was loading a kexec image at the same "
    "time: this load changed nothing (see pykexec -S -d when it has ended)",
    "crash-freed-foreign": "{cause}; the kernel freed the crash kernel loaded before (not "
    "by pykexec: no record to reload it from): " + _GONE,
    "crash-freed-busy": "{cause}; the kernel freed the crash kernel loaded before and "
    "another program's load was under way when pykexec tried to reload it: see pykexec "
    "-S -d when it has ended",
    "crash-reload-failed": "{cause}; the kernel freed the crash kernel loaded before and "
    "reloading it failed ({again}): " + _GONE,
    "crash-reloaded": "{cause}; the kernel had freed the crash kernel loaded before: "
    "reloaded it ({kernel}, first loaded {loaded_at})",
}

#: NothingLoaded
NOTHING_LOADED = {
    "nothing-loaded": "nothing has been loaded: run pykexec -l KERNEL first",
}

#: SaveError
SAVE_ERROR = {
    "io": "cannot {action} {target}: {reason}",
    "symlink": "--save {directory} is a symlink: name the directory itself",
    "not-a-directory": "--save {directory} is not a directory",
    "exists": "cannot replace {name} in {directory}: {reason}",
    "nul-byte": "--save {directory!r} holds a NUL byte",
    "not-empty": "--save {directory} is not empty ({count} entries, e.g. {name}): name an "
    "empty or new directory, or add --overwrite",
}

#: VmcoreError
VMCORE_ERROR = {
    "no-symbol": "VMCOREINFO has no SYMBOL({what}): is this a Linux kernel's dump?",
    "no-entry": "VMCOREINFO has no {name}",
    "bad-log-buf-len": "log_buf_len {size} is not a buffer size",
    "log-loops": "the log buffer loops (a second wrap at index {index:#x}): it is corrupt",
    "record-outside": "a log record leads to index {index:#x}, outside the {size}-byte log "
    "buffer: it is corrupt",
    "bad-ring-bits": "{name} is {value}: a ring of 2**{value} entries is corrupt",
    "head-state-bits": "head_id {value:#x} has state bits set: the walk from tail_id would "
    "never end",
    "text-past-ring": "a text block ({size} bytes at {offset:#x}) runs past the "
    "{limit}-byte text ring",
    "read-past-end": "cannot read {what}: {size} bytes at offset {offset:#x} (the dump has "
    "{limit} bytes)",
    "short-read": "cannot read {what}: short read at offset {offset:#x}",
    "outside-structure": "{what} at offset {offset} lies outside its {size}-byte structure "
    "(VMCOREINFO and the dump disagree)",
    "unmapped": "no program header covers {name} at {address:#x}",
    "no-ident": "cannot read an ELF identification (empty, short or unreadable file)",
    "not-elf": "not an ELF core (no ELF magic): give /proc/vmcore or an ELF dump "
    "(makedumpfile -E), not a compressed kdump file",
    "ident-version": "bad ELF identification version {value}",
    "elf-class": "unknown ELF class {value}",
    "elf-data": "unknown ELF data encoding {value}",
    "truncated-header": "truncated ELF header",
    "header-version": "bad ELF header version {value}",
    "phentsize": "ELF program header size {size}, expected {expected}",
    "phdrs-beyond": "{count} program headers at {offset:#x} lie beyond the dump's {limit} bytes",
    "phdrs-short-read": "short read of the program headers at {offset:#x}",
    "log-too-large": "the log is over 2 GiB: not written further",
    "write-failed": "cannot write the log: {reason}",
    "cannot-open": "cannot open {path}: {reason}",
}

#: RecordError
RECORD_ERROR = {
    "too-deep": "{path} nests deeper than a record ({limit})",
    "corrupt": "{path} is not JSON (corrupt)",
    "foreign": "{path} was not written by pykexec",
    "older": "{path} has record format {version}, this pykexec reads {expected} (an older "
    "pykexec wrote it)",
    "newer": "{path} has record format {version}, this pykexec reads {expected} (a newer "
    "pykexec wrote it)",
    "invalid": "{path}: {reason}",
    "unreadable": "cannot read {path}: {reason}",
    "too-large": "{path} holds {size} bytes, more than a record ({limit})",
    "symlink": "{directory} is a symlink: its records are not trusted",
    "other-boot": "{path} was written during another boot",
    "write-failed": "cannot write the load record {path}: {reason}; {previous}",
    "busy": "another pykexec load (pid {pid}) holds {path}: try again when it has ended",
}

#: AssemblyError
ASSEMBLY_ERROR = {
    "unknown-mnemonic": "unknown mnemonic {mnemonic!r}",
    "no-register": "no {what} {name}",
    "operand-count": "{mnemonic} takes {expected} operands, got {count}",
    "operand-kind": "{mnemonic}: {operand} cannot be operand {field} (it takes a {takes})",
    "misfit": "{mnemonic}: value {value} does not fit field {field} ({width}-bit {takes})",
    "misfit-aligned": "{mnemonic}: value {value} does not fit field {field} ({width}-bit "
    "{takes}, multiple of {multiple})",
    "bad-endian": "byte order {name!r}: 'little' or 'big'",
    "duplicate-label": "label {name!r} defined twice",
    "duplicate-slot": "slot {name!r} defined twice",
    "undefined-label": "{mnemonic} at {offset:#x}: undefined label {name!r}",
    "at-offset": "at offset {offset:#x}: {cause}",
    "no-slot": "no data slot named {name!r} (slots: {slots})",
    "slot-size": "slot {name!r} holds {size} bytes, got {count}",
    "slot-overflow": "slot {name!r} ({size} bytes) cannot hold {value:#x}",
    "no-word": "no 4-byte word at offset {offset:#x} of {size} bytes",
}

#: VerifyError
VERIFY_ERROR = {
    "nothing-loaded": "no {what} is loaded",
    "no-record": "no pykexec record of what is loaded" + _TO_VERIFY,
    "record-ignored": "{cause} (ignored)" + _TO_VERIFY,
    "unmapped": "/proc/kcore maps no range covering {address:#x}+{size:#x}",
    "offset-too-large": "/proc/kcore: offset {offset:#x} lies past what a file can hold",
    "odd-program-headers": "/proc/kcore: program headers of an unexpected size or place",
    "not-elf-core": "/proc/kcore is not an ELF core file",
    "truncated-program-headers": "/proc/kcore: truncated program headers",
    "no-segments": "the record has no segments (loaded with kexec_file_load: the kernel "
    "built them); verify needs an image loaded with kexec_load (-c)",
}

#: KernelRuleError
KERNEL_RULE_ERROR = {
    "nr_segments": "{count} segments; kexec_load takes at most {limit}",
    "page-aligned": _SEGMENT + "is not aligned to the kernel's {size:#x}-byte pages",
    "destination-limit": _SEGMENT + "ends above KEXEC_DESTINATION_MEMORY_LIMIT",
    "bufsz-le-memsz": "the {what} holds {count:#x} bytes in {size:#x}",
    "no-overlap": _SEGMENT + "overlaps the {other} at {other_start:#x}-{other_end:#x}",
    "half-of-ram": "the segments take {size:#x} bytes, more than half of RAM ({limit:#x} bytes)",
    "crash-region": "no crash region is reserved (crashkernel= on the command line)",
    "inside-crash-region": _SEGMENT + "is outside the crash region {other_start:#x}-{other_end:#x}",
    "entry-in-crash-region": "the entry {start:#x} is outside the crash region "
    "{other_start:#x}-{other_end:#x}",
    "above-kernel": _SEGMENT + "lies below the running kernel's end {limit:#x}",
    "tce": _SEGMENT + "overlaps the TCE table at {other_start:#x}-{other_end:#x}",
}

#: BuildError
BUILD_ERROR = {
    "toml-subset": "pyproject.toml: value {text!r} is outside the subset read",
    "missing-source": "{path} is missing (regenerate it: python3 -m pykexec.commands.manpage)",
    "gitignore-subset": "{path}: {text!r} is outside the .gitignore subset read",
}
