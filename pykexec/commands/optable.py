# SPDX-License-Identifier: GPL-2.0-or-later
"""kexec-tools' options as data, and GNU getopt_long(3) over them.

:data:`OPTIONS` is declared once: it drives parsing, ``--help``, pykexec(8), the
bash completion and the README's option table (tests keep them in step).  Long
options may be abbreviated as getopt_long allows, and an abbreviation means what it
means in kexec-tools 2.0.32 (:data:`KEXEC_TOOLS_LONG_OPTIONS`): ``--v`` is
``--version`` there, so it is here, although pykexec adds ``--verify``.
Plain classes and no imports beyond :mod:`pykexec.errors`: ``-e``, ``-S`` and ``-u``
start without :mod:`typing` (measured in the guest on the instruction clock).
"""

from __future__ import annotations

from pykexec.errors import OptionError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "pykexec"


class Option:
    """One kexec-tools option: its spellings, its argument, what pykexec does with it.

    ``dest`` names the :class:`~pykexec.core.options.LoadOptions` field the option sets
    (empty when it is not a load option) and ``kind`` how its text becomes that
    field's value: ``flag`` (True when given), ``path``, ``text`` or ``address``.
    A plain slotted class, not a named tuple: ``-e``, ``-S`` and ``-u`` then start
    without importing :mod:`typing` (measured in the guest on the instruction clock).
    """

    __slots__ = ("arg", "dest", "help", "key", "kind", "names", "status")

    def __init__(
        self,
        names: tuple[str, ...],  # "-l", "--load", ...
        key: str,
        help: str,
        arg: str = "",  # metavar when the option takes a value
        status: str = "supported",  # or "ignored", or "refused: why"
        dest: str = "",
        kind: str = "flag",
    ) -> None:
        self.names, self.key, self.help, self.arg = names, key, help, arg
        self.status, self.dest, self.kind = status, dest, kind

    def __repr__(self) -> str:
        return f"Option({self.names!r}, {self.key!r})"


OPTIONS: tuple[Option, ...] = (
    Option(
        ("-h", "--help"),
        "help",
        "print this help and exit (-? too, with exit status 1, as in kexec-tools)",
    ),
    Option(("-v", "--version"), "version", "print the version and exit"),
    Option(("-l", "--load"), "load", "load KERNEL, to be started with -e"),
    Option(("-p", "--load-panic"), "panic", "load KERNEL as the crash (kdump) kernel"),
    Option(("-e", "--exec"), "exec", "start the loaded kernel now"),
    Option(("-f", "--force"), "force", "load KERNEL (if given) and start it now, no shutdown"),
    Option(("-u", "--unload"), "unload", "unload the kernel (with -p: the crash kernel)"),
    Option(
        ("-S", "--status"),
        "status",
        "exit 1 if a crash kernel is loaded (with -l: a kernel for -e), else 0; with -d "
        "or --json also print what is loaded, since when, and what changed since",
    ),
    Option(("-x", "--no-ifdown"), "no_ifdown", "with -e: do not take network interfaces down"),
    Option(("-y", "--no-sync"), "no_sync", "with -e: do not sync file systems"),
    Option(
        ("-d", "--debug"),
        "debug",
        "print the plan; the purgatory prints progress",
        dest="debug",
    ),
    Option(
        ("-i", "--no-checks"),
        "no_checks",
        "the purgatory skips its SHA-256 check",
        dest="skip_checks",
    ),
    Option(("-t", "--type"), "type", "image type: only elf-ppc64 exists on ppc64", "TYPE"),
    Option(("-s", "--kexec-file-syscall"), "syscall_file", "use kexec_file_load only"),
    Option(("-c", "--kexec-syscall"), "syscall_load", "use kexec_load only"),
    Option(
        ("-a", "--kexec-syscall-auto"),
        "syscall_auto",
        "kexec_file_load, falling back to kexec_load on ENOSYS, EINVAL, ENOEXEC, "
        "ENOTSUP (the default)",
    ),
    Option(
        ("--command-line", "--append"),
        "command_line",
        "command line for the new kernel",
        "STRING",
        dest="command_line",
        kind="text",
    ),
    Option(
        ("--reuse-cmdline",),
        "reuse_cmdline",
        "start from the running kernel's command line (less BOOT_IMAGE=, and crashkernel= for -p)",
        dest="reuse_cmdline",
    ),
    Option(
        ("--initrd", "--ramdisk"),
        "initrd",
        "initial ramdisk for the new kernel",
        "FILE",
        dest="initrd",
        kind="path",
    ),
    Option(
        ("--dtb", "--devicetreeblob"),
        "dtb",
        "use this device tree blob, its /chosen/bootargs replaced by --append when given "
        "(needs kexec_load: not with -s)",
        "FILE",
        dest="dtb",
        kind="path",
    ),
    Option(
        ("--reuseinitrd",),
        "reuseinitrd",
        "keep the running kernel's initrd (needs retain_initrd on its command line)",
        dest="reuse_initrd",
    ),
    Option(
        ("--dt-no-old-root",),
        "dt_no_old_root",
        "do not copy root= from the running kernel's bootargs",
        dest="dt_no_old_root",
    ),
    Option(
        ("--mem-min",),
        "mem_min",
        "lowest address a segment may use",
        "ADDR",
        dest="mem_min",
        kind="address",
    ),
    Option(
        ("--mem-max",),
        "mem_max",
        "highest address a segment may use",
        "ADDR",
        dest="mem_max",
        kind="address",
    ),
    Option(
        ("--args-linux",), "args_linux", "accepted for compatibility; no effect", status="ignored"
    ),
    Option(
        ("--elf64-core-headers",),
        "elf64_core_headers",
        "ELF64 core headers (always the case on ppc64)",
        status="ignored",
    ),
    Option(
        ("--hotplug",),
        "hotplug",
        "with -p: let the kernel update the crash kernel's tree and core header on "
        "CPU and memory hotplug",
        dest="hotplug",
    ),
    Option(
        ("--print-ckr-size",),
        "print_ckr_size",
        "print the size of the crash kernel reservation and exit",
    ),
    Option(("--no-cma",), "no_cma", "with -s: do not use CMA memory for the image", dest="no_cma"),
    Option(
        ("--force-dtb",),
        "force_dtb",
        "with -s: ask the kernel to pass a device tree",
        dest="force_dtb",
    ),
    Option(
        ("--load-preserve-context",),
        "preserve_context",
        "",
        status="refused: ppc64 kernels have no preserve-context kexec",
    ),
    Option(
        ("--load-jump-back-helper",),
        "jump_back",
        "",
        status="refused: ppc64 kernels have no preserve-context kexec",
    ),
    Option(
        ("--entry",),
        "entry",
        "",
        "ADDR",
        status="refused: only with --load-preserve-context, which ppc64 lacks",
    ),
    Option(("--load-live-update",), "live_update", "", status="refused: Xen only"),
    Option(("--exec-live-update",), "exec_live_update", "", status="refused: Xen only"),
    Option(
        ("--dry-run",),
        "dry_run",
        "pykexec: do nothing, say what would be done: a load prints its plan (the syscall "
        "and what the kernel would get); -e, -f and -u say what they would do",
    ),
    Option(
        ("--json",),
        "json",
        "pykexec: print one JSON document on stdout, whatever the action (the plan, the "
        "record of what was loaded, the status, the verdict) or the error",
    ),
    Option(
        ("--save",),
        "save",
        "pykexec: with --dry-run, also write plan.json and each segment's bytes into DIR, "
        "new or empty unless --overwrite (never through a symlink)",
        "DIR",
    ),
    Option(
        ("--overwrite",),
        "overwrite",
        "pykexec: with --save, write into a DIR that is not empty, replacing files of "
        "the same names",
    ),
    Option(
        ("--sysroot",),
        "sysroot",
        "pykexec: with --dry-run or -S, read /proc and /sys under DIR (a snapshot)",
        "DIR",
    ),
    Option(
        ("--verify",),
        "verify",
        "pykexec: check the loaded crash kernel (with -l: the -e kernel) in memory, through "
        "/proc/kcore, against its load record and its purgatory's digest; exit 0 if intact",
    ),
    Option(
        ("--recommend-crashkernel",),
        "recommend",
        "pykexec: print the crashkernel= size that KERNEL with --initrd and --append needs "
        "as a crash kernel (-d: the estimate term by term) and exit",
    ),
    Option(
        ("--ignore-headroom",),
        "ignore_headroom",
        "pykexec: with -p, load even when the crash kernel's estimated needs exceed its "
        "region (a warning instead of a refusal)",
        dest="ignore_headroom",
    ),
)
BY_NAME = {name: opt for opt in OPTIONS for name in opt.names}

# kexec-tools 2.0.32's long options on ppc64, as its main() hands them to getopt_long:
# KEXEC_ALL_OPTIONS = KEXEC_OPTIONS (kexec/kexec.h) + KEXEC_ARCH_OPTIONS and the loader's
# (kexec/arch/ppc64/include/arch/options.h).  Names sharing a line share one option value
# (getopt_long does not call their common prefix ambiguous).  --no-cma and --force-dtb
# came after 2.0.32.
KEXEC_TOOLS_LONG_OPTIONS: tuple[tuple[str, ...], ...] = (
    ("help",), ("version",), ("force",), ("no-checks",), ("no-ifdown",), ("no-sync",),
    ("load",), ("unload",), ("exec",), ("exec-live-update",), ("load-preserve-context",),
    ("load-jump-back-helper",), ("load-live-update",), ("entry",), ("type",),
    ("load-panic",), ("mem-min",), ("mem-max",), ("reuseinitrd",), ("kexec-file-syscall",),
    ("kexec-syscall",), ("kexec-syscall-auto",), ("debug",), ("status",),
    ("print-ckr-size",), ("hotplug",), ("elf64-core-headers",), ("dt-no-old-root",),
    ("command-line", "append"), ("ramdisk", "initrd"), ("devicetreeblob", "dtb"),
    ("args-linux",), ("reuse-cmdline",),
)  # fmt: skip
_KEXEC_TOOLS_NAMES = tuple("--" + n for names in KEXEC_TOOLS_LONG_OPTIONS for n in names)


def parse_address(text: str, what: str) -> int:
    """An address as kexec-tools 2.0.32's main() reads --mem-min/--mem-max: strtoul(3)
    with base 0 (decimal, 0x hex, a leading 0 for octal) and nothing after the digits;
    a negative or wider than 64-bit value is refused too."""
    body = text.lstrip(" \t\n\v\f\r").removeprefix("+")
    if body[:2].lower() == "0x":
        base, digits = 16, body[2:]
    elif body.startswith("0"):
        base, digits = 8, body
    else:
        base, digits = 10, body
    valid = "0123456789abcdef"[:base]
    ok = all(c in valid for c in digits.lower()) and (digits != "" or base != 16)
    value = int(digits or "0", base) if ok else -1
    if not 0 <= value < 1 << 64:
        raise OptionError("not-an-address", option=what, text=text)
    return value


def _prefix_matches(prefix: str, names: Sequence[str]) -> dict[str, Option]:
    """The options (by key) that have a name in ``names`` starting with ``prefix``."""
    return {BY_NAME[n].key: BY_NAME[n] for n in names if n.startswith(prefix) and n in BY_NAME}


def long_option(name: str) -> Option:
    """A long option by its name or an abbreviation of it, as getopt_long(3) resolves it:
    an exact name first; then a prefix of kexec-tools 2.0.32's names, unique there (its
    scripts' abbreviations keep their meaning); then a prefix unique among all names."""
    exact = BY_NAME.get("--" + name)
    if exact is not None:
        return exact
    prefix = "--" + name
    matches = _prefix_matches(prefix, _KEXEC_TOOLS_NAMES)
    if not matches:
        matches = _prefix_matches(prefix, list(BY_NAME))
    if len(matches) == 1:
        return next(iter(matches.values()))
    raise OptionError("ambiguous" if matches else "unknown", option=prefix, prog=PROG)


def split_options(argv: Sequence[str]) -> tuple[list[tuple[Option, str]], list[str]]:
    """GNU getopt_long semantics over :data:`OPTIONS`: options anywhere, ``--`` ends
    them, ``--opt=value`` or ``--opt value``, ``-xVALUE`` or ``-x VALUE``, bundled
    short flags (``-pd``).  Returns (option, value) pairs and the other words."""
    pairs: list[tuple[Option, str]] = []
    rest: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            rest += words[i:]
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            opt = long_option(name)
            if opt.arg and not eq:
                if i == len(words):
                    raise OptionError("missing-argument", option=f"--{name}")
                value, i = words[i], i + 1
            elif eq and not opt.arg:
                raise OptionError("unexpected-argument", option=f"--{name}")
            pairs.append((opt, value))
        elif word.startswith("-") and word != "-":
            for j, letter in enumerate(word[1:], start=2):
                if letter == "?":  # kexec-tools' "h?v...": getopt's '?', the usage, exit 1
                    pairs.append((BY_NAME["--help"], "?"))
                    continue
                opt = BY_NAME.get("-" + letter)  # type: ignore[assignment]
                if opt is None:
                    raise OptionError("unknown", option=f"-{letter}", prog=PROG)
                if not opt.arg:
                    pairs.append((opt, ""))
                    continue
                value = word[j:]
                if not value:
                    if i == len(words):
                        raise OptionError("missing-argument", option=f"-{letter}")
                    value, i = words[i], i + 1
                pairs.append((opt, value))
                break
        else:
            rest.append(word)
    return pairs, rest
