# SPDX-License-Identifier: GPL-2.0-or-later
"""kexec-tools' command line, for ppc64; the only place errors become exit codes.

The option table :data:`OPTIONS` is declared once, as data: it drives parsing
(GNU getopt_long semantics, as kexec-tools': ``--opt=value`` and ``--opt value``,
unique prefixes, the kernel path anywhere), ``--help``, and the README's
option table (a test keeps them in step).  Parsing yields a frozen
:class:`Command`; flags are not order-dependent, unlike kexec-tools, where
``-d -p`` loses the debug flag.  Imports are deferred so that each command
loads only what it needs.
"""

from __future__ import annotations

import os
import sys

from pykexec.errors import KexecError, OptionError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pykexec.options import LoadOptions
    from pykexec.sysinfo import SystemView

PROG = "pykexec"


class Option:
    """One kexec-tools option: its spellings, its argument, what pykexec does with it.

    ``dest`` names the :class:`~pykexec.options.LoadOptions` field the option sets
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
    Option(("-h", "--help"), "help", "print this help and exit"),
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
        "pykexec: print the plan (with --dry-run) or the record of what was loaded as JSON",
    ),
    Option(
        ("--save",),
        "save",
        "pykexec: with --dry-run, also write plan.json and each segment's bytes into DIR",
        "DIR",
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
ACTIONS = ("load", "panic", "exec", "force", "unload", "status", "print_ckr_size", "verify",
           "recommend")  # fmt: skip


def parse_address(text: str, what: str) -> int:
    """An address or size as kexec-tools reads them: decimal or 0x-prefixed, K/M/G suffix."""
    text = text.strip()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale != 1 else text
    try:
        value = int(digits, 0) * scale if digits.isascii() and not digits.startswith("-") else -1
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 64:
        raise OptionError(
            f"{what}: {text!r} is not an address (use 0x1000000 or 16M)", what, "bad-value"
        )
    return value


class Command:
    """What the command line asks for: an action, and for loads the options.

    Paths are strings, and the load options are built only for loads: `pykexec -e`,
    `-S` and `-u` then start without dataclasses, pathlib and typing.
    """

    __slots__ = (
        "action", "crash", "dry_run", "flags", "json", "no_ifdown", "no_sync", "options",
        "save_dir", "status_of_exec_kernel", "syscall", "sysroot",
    )  # fmt: skip

    def __init__(
        self,
        action: str,  # load, exec, load-exec, load-shutdown, unload, status, ...
        options: LoadOptions | None = None,
        *,
        crash: bool = False,
        status_of_exec_kernel: bool = False,
        dry_run: bool = False,
        json: bool = False,
        no_sync: bool = False,
        no_ifdown: bool = False,
        sysroot: str = "/",
        save_dir: str = "",
        syscall: str = "auto",  # a pykexec.options.SyscallChoice value
        flags: frozenset[str] = frozenset(),
    ) -> None:
        self.action, self.options, self.crash = action, options, crash
        self.status_of_exec_kernel, self.dry_run, self.json = status_of_exec_kernel, dry_run, json
        self.no_sync, self.no_ifdown, self.sysroot = no_sync, no_ifdown, sysroot
        self.save_dir, self.syscall, self.flags = save_dir, syscall, flags

    def __repr__(self) -> str:
        return f"Command({self.action!r}, flags={sorted(self.flags)})"


def _long_option(name: str) -> Option:
    """A long option by its name or a unique prefix of it, as getopt_long(3) allows."""
    exact = BY_NAME.get("--" + name)
    if exact is not None:
        return exact
    matches = {opt.key: opt for opt in OPTIONS
               for n in opt.names if n.startswith("--" + name)}  # fmt: skip
    if len(matches) == 1:
        return next(iter(matches.values()))
    what = "is ambiguous" if matches else "not recognized"
    problem = "ambiguous" if matches else "unknown"
    raise OptionError(f"option --{name} {what} (see {PROG} --help)", f"--{name}", problem)


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
            opt = _long_option(name)
            if opt.arg and not eq:
                if i == len(words):
                    raise OptionError(
                        f"option --{name} requires an argument", f"--{name}", "missing-argument"
                    )
                value, i = words[i], i + 1
            elif eq and not opt.arg:
                raise OptionError(
                    f"option --{name} must not have an argument",
                    f"--{name}",
                    "unexpected-argument",
                )
            pairs.append((opt, value))
        elif word.startswith("-") and word != "-":
            for j, letter in enumerate(word[1:], start=2):
                opt = BY_NAME.get("-" + letter)  # type: ignore[assignment]
                if opt is None:
                    raise OptionError(
                        f"option -{letter} not recognized (see {PROG} --help)",
                        f"-{letter}",
                        "unknown",
                    )
                if not opt.arg:
                    pairs.append((opt, ""))
                    continue
                value = word[j:]
                if not value:
                    if i == len(words):
                        raise OptionError(
                            f"option -{letter} requires an argument",
                            f"-{letter}",
                            "missing-argument",
                        )
                    value, i = words[i], i + 1
                pairs.append((opt, value))
                break
        else:
            rest.append(word)
    return pairs, rest


def _refuse(seen: dict[str, str]) -> None:
    for key in seen:
        opt = next(o for o in OPTIONS if o.key == key)
        if opt.status.startswith("refused"):
            raise OptionError(
                f"{opt.names[0]} is not supported: {opt.status[9:]}", opt.names[0], "unsupported"
            )


def _syscall(seen: dict[str, str]) -> str:
    chosen = {k for k in ("syscall_file", "syscall_load", "syscall_auto") if k in seen}
    if len(chosen) > 1:
        raise OptionError("choose one of -s, -c and -a", "-s", "conflict")
    return {
        "syscall_file": "file",
        "syscall_load": "load",
    }.get(chosen.pop() if chosen else "", "auto")


def _action(seen: dict[str, str], kernel: str | None) -> str:
    asked = [a for a in ACTIONS if a in seen]
    if "print_ckr_size" in asked:
        return "print-ckr-size"
    if "recommend" in asked:
        return "recommend"
    if "verify" in asked:  # -S --verify and -p --verify mean the same
        return "verify"
    if "status" in asked:
        return "status"
    if "unload" in asked:
        return "unload"
    loads = {"load", "panic"} & set(asked)
    if "exec" in asked and loads:
        raise OptionError(
            "-e starts the kernel already loaded; load with -l first, or "
            "use -f KERNEL to load and start at once",
            "-e",
            "conflict",
        )
    if "force" in asked:
        return "load-exec" if kernel else "exec"
    if "exec" in asked:
        return "exec"
    if loads:
        return "load"
    if kernel:
        return "load-shutdown"
    raise OptionError(
        "nothing to do: give -l KERNEL, -p KERNEL, -e, -u or -S (see --help)", "", "nothing-to-do"
    )


def parse(argv: Sequence[str]) -> Command:
    """The command line as a :class:`Command`; raises :class:`UsageError`."""
    pairs, rest = split_options(argv)
    seen = {opt.key: value for opt, value in pairs}
    if "help" in seen or "version" in seen:
        return Command("help" if "help" in seen else "version")
    _refuse(seen)
    if len(rest) > 1:
        raise OptionError(f"one kernel image at most, got {' '.join(rest)}", "", "extra-kernel")
    kernel = rest[0] if rest else None
    if "type" in seen and seen["type"] not in ("elf-ppc64", "elf64-ppc64"):
        raise OptionError(
            f"--type {seen['type']}: ppc64 images are of type elf-ppc64 only", "--type", "bad-value"
        )
    action = _action(seen, kernel)
    crash = "panic" in seen
    syscall = _syscall(seen)
    options = None
    if action.startswith("load") or action == "recommend":
        if kernel is None:
            raise OptionError(
                f"no kernel given: {PROG} -l KERNEL [--initrd FILE] [--append STRING]",
                "",
                "no-kernel",
            )
        crash = crash or action == "recommend"
        options = _load_options(seen, kernel, crash, syscall)
    _check_modes(seen, action)
    return Command(
        action=action,
        options=options,
        crash=crash,
        status_of_exec_kernel="load" in seen,
        dry_run="dry_run" in seen,
        json="json" in seen,
        no_sync="no_sync" in seen,
        no_ifdown="no_ifdown" in seen,
        sysroot=seen.get("sysroot") or "/",
        save_dir=seen.get("save", ""),
        syscall=syscall,
        flags=frozenset(seen),
    )


def _check_modes(seen: dict[str, str], action: str) -> None:
    """--sysroot, --save and --json never turn into a live action by surprise."""
    live = "dry_run" not in seen and action not in ("status", "print-ckr-size", "recommend")
    if "sysroot" in seen and live:
        raise OptionError(
            "--sysroot reads a snapshot, never the machine a live action acts on: "
            "add --dry-run to plan from it",
            "--sysroot",
            "needs-dry-run",
        )
    if "save" in seen and "dry_run" not in seen:
        raise OptionError(
            "--save writes what a dry run would hand the kernel: add --dry-run",
            "--save",
            "needs-dry-run",
        )
    if "json" in seen and live and not action.startswith("load"):
        raise OptionError(
            "--json prints plans and load records: use it with -l, -p or --dry-run",
            "--json",
            "needs-dry-run",
        )


def _load_options(seen: dict[str, str], kernel: str, crash: bool, syscall: str) -> LoadOptions:
    """The load options, built from the option table's ``dest`` and ``kind`` columns."""
    from pathlib import Path

    from pykexec.options import LoadOptions, SyscallChoice, check

    values: dict[str, object] = {}
    for opt in OPTIONS:
        if not opt.dest or opt.key not in seen:
            continue
        text = seen[opt.key]
        if opt.kind == "flag":
            values[opt.dest] = True
        elif opt.kind == "path":
            values[opt.dest] = Path(text)
        elif opt.kind == "address":
            values[opt.dest] = parse_address(text, opt.names[0])
        else:
            values[opt.dest] = text
    opts = LoadOptions(
        kernel=Path(kernel),
        crash=crash,
        syscall=SyscallChoice(syscall),
        **values,  # type: ignore[arg-type]
    )
    check(opts)
    return opts


def invoked_name(argv0: str | None = None) -> str:
    """``kexec`` when run under that name (console script, link, zipapp named kexec),
    else ``pykexec``: the name that usage and error messages use."""
    base = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "kexec" if base.split(".")[0] == "kexec" else PROG


def usage() -> str:
    lines = [
        f"usage: {invoked_name()} [options] [KERNEL]",
        "       pykexec inspect KERNEL [--json]",
        "",
        "Load and start a new ppc64 kernel (kexec), or load a crash kernel (kdump).",
        "Accepts kexec-tools' options with the same meanings; installed or linked as",
        "kexec, it is the system's kexec.",
        "",
    ]
    for opt in OPTIONS:
        spell = ", ".join(
            n + (f"={opt.arg}" if opt.arg and n.startswith("--") else "") for n in opt.names
        )
        if opt.status == "supported":
            what = opt.help
        else:
            what = f"{opt.help} ({opt.status})" if opt.help else opt.status
        lines.append(f"  {spell:<38} {what}")
    return "\n".join(lines)


def run(cmd: Command) -> int:
    if cmd.action == "help":
        print(usage())
        return 0
    if cmd.action == "version":
        from pykexec import KEXEC_TOOLS_COMPAT, __version__

        print(f"{PROG} {__version__} (kexec-tools {KEXEC_TOOLS_COMPAT} compatible command line)")
        return 0
    from pykexec import control
    from pykexec.sysinfo import SystemView

    view = SystemView(cmd.sysroot)
    if cmd.action == "print-ckr-size":
        print(control.crash_reservation_size(view))
        return 0
    if cmd.action == "status":
        # kexec-tools' k_status(): the exit code is the content of the sysfs file.
        crash = not cmd.status_of_exec_kernel
        if cmd.json or "debug" in cmd.flags:
            from pykexec import status

            print(status.describe(view, crash, as_json=cmd.json))
        return int(control.status(crash=crash, view=view))
    if cmd.action == "verify":
        from pykexec import status

        intact, lines = status.verify_loaded(view, crash=not cmd.status_of_exec_kernel)
        print("\n".join(lines))
        return 0 if intact else 1
    if cmd.action == "unload":
        if cmd.dry_run:
            print(control.describe_unload(cmd.crash, cmd.syscall, view))
            return 0
        control.unload(crash=cmd.crash, syscall=cmd.syscall)
        from pykexec import record

        record.remove(view, cmd.crash)
        return 0
    if cmd.action == "exec":
        if cmd.dry_run:
            print(control.describe_execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown))
            return 0
        control.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    assert cmd.options is not None
    return _run_load(cmd, cmd.options, view)


def _run_load(cmd: Command, opts: LoadOptions, view: SystemView) -> int:
    from pykexec import loader, report

    if cmd.action == "recommend":
        from pykexec import status

        print(status.recommend(opts, view, detail=opts.debug))
        return 0
    if cmd.dry_run:
        plan = loader.plan(opts, view)
        then = _afterwards(cmd)
        document = report.plan_dict(plan, then)
        print(report.to_json(document) if cmd.json else report.plan_text(plan, then))
        if "save" in cmd.flags:
            loader.save_plan(plan, _save_dir(cmd), document)
        return 0
    result = loader.load(opts, view)
    for warning in result.warnings:
        print(f"{invoked_name()}: warning: {warning}", file=sys.stderr)
    if cmd.json:
        print(report.to_json(report.plan_dict(result, None)))
    elif opts.debug:
        print(report.plan_text(result, None), file=sys.stderr)
    if cmd.action == "load-exec":
        from pykexec import control

        control.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    if cmd.action == "load-shutdown":
        from pykexec import control

        control.shutdown_reboot()
    return 0


def _afterwards(cmd: Command) -> str | None:
    """What a dry run of -f or of a bare KERNEL would do after the load."""
    if cmd.action == "load-exec":
        steps = [] if cmd.no_sync else ["sync"]
        steps += [] if cmd.no_ifdown else ["take network interfaces down"]
        return "then " + ", ".join([*steps, "jump into it at once (-f: no shutdown)"])
    if cmd.action == "load-shutdown":
        return "then run `shutdown -r now`, which ends in the kexec"
    return None


def _save_dir(cmd: Command) -> Path:
    from pathlib import Path

    return Path(cmd.save_dir)


def one_line(text: str) -> str:
    """An error message on one line: the words it quotes from arguments or files may
    hold newlines and other control characters; they are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _keep_argument_bytes() -> None:
    """Arguments that were not UTF-8 reach Python as surrogate escapes (PEP 383); echoing
    them (a plan's command line) writes their original bytes instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "encoding", "").lower() in ("utf-8", "utf8"):
            reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = invoked_name()
    if os.path.basename(sys.argv[0]).split(".")[0] == "vmcore-dmesg":
        name = "vmcore-dmesg"  # kexec-tools' vmcore-dmesg: its usage, its exit statuses
    _keep_argument_bytes()
    try:
        if name == "vmcore-dmesg" or (argv[:1] == ["vmcore-dmesg"] and name == PROG):
            from pykexec.vmcoredmesg import main as vmcore_dmesg_main

            if name == PROG:
                code = vmcore_dmesg_main(argv[1:], f"{PROG} vmcore-dmesg", False)
            else:
                code = vmcore_dmesg_main(argv, sys.argv[0])
        elif argv[:1] == ["inspect"] and name == PROG:
            from pykexec.inspect import main as inspect_main

            code = inspect_main(argv[1:])
        else:
            code = run(parse(argv))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`pykexec --help | head -1`): end quietly, as a C program
        # killed by SIGPIPE would, but with status 0; stdout must not be flushed again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KexecError as err:
        if os.environ.get("PYKEXEC_TRACEBACK"):
            raise
        print(one_line(f"{name}: {err}"), file=sys.stderr)
        return err.exit_code
    except OSError as err:  # an I/O error no layer below anticipated: still one line
        if os.environ.get("PYKEXEC_TRACEBACK"):
            raise
        where = f": {err.filename}" if err.filename else ""
        print(one_line(f"{name}: {err.strerror or err}{where}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
