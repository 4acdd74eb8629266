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
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from pykexec.errors import KexecError, UsageError

if TYPE_CHECKING:
    from pykexec.options import LoadOptions

PROG = "pykexec"


class Option(NamedTuple):
    """One kexec-tools option: its spellings, its argument, what pykexec does with it."""

    names: tuple[str, ...]  # "-l", "--load", ...
    key: str
    help: str
    arg: str = ""  # metavar when the option takes a value
    status: str = "supported"  # or "ignored", or "refused: why"


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
        "exit 1 if a crash kernel is loaded (with -l: a kernel for -e), else 0",
    ),
    Option(("-x", "--no-ifdown"), "no_ifdown", "with -e: do not take network interfaces down"),
    Option(("-y", "--no-sync"), "no_sync", "with -e: do not sync file systems"),
    Option(("-d", "--debug"), "debug", "print the plan; the purgatory prints progress"),
    Option(("-i", "--no-checks"), "no_checks", "the purgatory skips its SHA-256 check"),
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
        ("--command-line", "--append"), "command_line", "command line for the new kernel", "STRING"
    ),
    Option(
        ("--reuse-cmdline",),
        "reuse_cmdline",
        "start from the running kernel's command line (less BOOT_IMAGE=, and crashkernel= for -p)",
    ),
    Option(("--initrd", "--ramdisk"), "initrd", "initial ramdisk for the new kernel", "FILE"),
    Option(("--dtb", "--devicetreeblob"), "dtb", "use this device tree blob (not with -s)", "FILE"),
    Option(
        ("--reuseinitrd",),
        "reuseinitrd",
        "keep the running kernel's initrd (needs retain_initrd on its command line)",
    ),
    Option(
        ("--dt-no-old-root",),
        "dt_no_old_root",
        "do not copy root= from the running kernel's bootargs",
    ),
    Option(("--mem-min",), "mem_min", "lowest address a segment may use", "ADDR"),
    Option(("--mem-max",), "mem_max", "highest address a segment may use", "ADDR"),
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
    ),
    Option(
        ("--print-ckr-size",),
        "print_ckr_size",
        "print the size of the crash kernel reservation and exit",
    ),
    Option(("--no-cma",), "no_cma", "with -s: do not use CMA memory for the image"),
    Option(("--force-dtb",), "force_dtb", "with -s: ask the kernel to pass a device tree"),
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
    Option(("--dry-run",), "dry_run", "pykexec: plan the load and print it, do not load"),
    Option(("--json",), "json", "pykexec: with --dry-run, print the plan as JSON"),
    Option(("--sysroot",), "sysroot", "pykexec: read /proc and /sys under DIR (a snapshot)", "DIR"),
    Option(
        ("--test-corrupt-digest",),
        "corrupt_digest",
        "pykexec, tests only: store a wrong digest so the purgatory must stop",
    ),
)
BY_NAME = {name: opt for opt in OPTIONS for name in opt.names}
ACTIONS = ("load", "panic", "exec", "force", "unload", "status", "print_ckr_size")


def parse_address(text: str, what: str) -> int:
    """An address or size as kexec-tools reads them: decimal or 0x-prefixed, K/M/G suffix."""
    text = text.strip()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:].lower(), 1)
    try:
        return int(text[:-1] if scale != 1 else text, 0) * scale
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an address (use 0x1000000 or 16M)") from None


class Command(NamedTuple):
    """What the command line asks for: an action, and for loads the options.

    Records here are named tuples and paths strings, and the load options are built
    only for loads: `pykexec -e`, `-S` and `-u` then start without dataclasses and
    pathlib (a third of their start-up in the emulated guest).
    """

    action: str  # load, exec, load-exec, load-shutdown, unload, status, print-ckr-size, ...
    options: LoadOptions | None = None
    crash: bool = False
    status_of_exec_kernel: bool = False
    dry_run: bool = False
    json: bool = False
    no_sync: bool = False
    no_ifdown: bool = False
    sysroot: str = "/"
    syscall: str = "auto"  # a pykexec.options.SyscallChoice value
    flags: frozenset[str] = frozenset()


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
    raise UsageError(f"option --{name} {what} (see {PROG} --help)")


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
                    raise UsageError(f"option --{name} requires an argument")
                value, i = words[i], i + 1
            elif eq and not opt.arg:
                raise UsageError(f"option --{name} must not have an argument")
            pairs.append((opt, value))
        elif word.startswith("-") and word != "-":
            for j, letter in enumerate(word[1:], start=2):
                opt = BY_NAME.get("-" + letter)  # type: ignore[assignment]
                if opt is None:
                    raise UsageError(f"option -{letter} not recognized (see {PROG} --help)")
                if not opt.arg:
                    pairs.append((opt, ""))
                    continue
                value = word[j:]
                if not value:
                    if i == len(words):
                        raise UsageError(f"option -{letter} requires an argument")
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
            raise UsageError(f"{opt.names[0]} is not supported: {opt.status[9:]}")


def _syscall(seen: dict[str, str]) -> str:
    chosen = {k for k in ("syscall_file", "syscall_load", "syscall_auto") if k in seen}
    if len(chosen) > 1:
        raise UsageError("choose one of -s, -c and -a")
    return {
        "syscall_file": "file",
        "syscall_load": "load",
    }.get(chosen.pop() if chosen else "", "auto")


def _action(seen: dict[str, str], kernel: str | None) -> str:
    asked = [a for a in ACTIONS if a in seen]
    if "print_ckr_size" in asked:
        return "print-ckr-size"
    if "status" in asked:
        return "status"
    if "unload" in asked:
        return "unload"
    loads = {"load", "panic"} & set(asked)
    if "exec" in asked and loads:
        raise UsageError(
            "-e starts the kernel already loaded; load with -l first, or "
            "use -f KERNEL to load and start at once"
        )
    if "force" in asked:
        return "load-exec" if kernel else "exec"
    if "exec" in asked:
        return "exec"
    if loads:
        return "load"
    if kernel:
        return "load-shutdown"
    raise UsageError("nothing to do: give -l KERNEL, -p KERNEL, -e, -u or -S (see --help)")


def parse(argv: Sequence[str]) -> Command:
    """The command line as a :class:`Command`; raises :class:`UsageError`."""
    pairs, rest = split_options(argv)
    seen = {opt.key: value for opt, value in pairs}
    if "help" in seen or "version" in seen:
        return Command("help" if "help" in seen else "version")
    _refuse(seen)
    if len(rest) > 1:
        raise UsageError(f"one kernel image at most, got {' '.join(rest)}")
    kernel = rest[0] if rest else None
    if "type" in seen and seen["type"] not in ("elf-ppc64", "elf64-ppc64"):
        raise UsageError(f"--type {seen['type']}: ppc64 images are of type elf-ppc64 only")
    action = _action(seen, kernel)
    crash = "panic" in seen
    syscall = _syscall(seen)
    options = None
    if action.startswith("load"):
        if kernel is None:
            raise UsageError(f"no kernel given: {PROG} -l KERNEL [--initrd FILE] [--append STRING]")
        if syscall == "file" and "dtb" in seen:
            raise UsageError(
                "--dtb cannot be used with -s: kexec_file_load builds the "
                "device tree in the kernel (use -c)"
            )
        if syscall == "file" and "reuseinitrd" in seen:
            raise UsageError(
                "--reuseinitrd cannot be used with -s: kexec_file_load takes "
                "the initrd as a file (use -c)"
            )
        if "reuseinitrd" in seen and "initrd" in seen:
            raise UsageError("--reuseinitrd and --initrd exclude each other")
        if "hotplug" in seen and not crash:
            raise UsageError("--hotplug applies to crash kernels: use it with -p")
        options = _load_options(seen, kernel, crash, syscall)
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
        syscall=syscall,
        flags=frozenset(seen),
    )


def _load_options(seen: dict[str, str], kernel: str, crash: bool, syscall: str) -> LoadOptions:
    from pathlib import Path

    from pykexec.options import LoadOptions, SyscallChoice

    return LoadOptions(
        kernel=Path(kernel),
        initrd=Path(seen["initrd"]) if "initrd" in seen else None,
        command_line=seen.get("command_line"),
        reuse_cmdline="reuse_cmdline" in seen,
        dtb=Path(seen["dtb"]) if "dtb" in seen else None,
        crash=crash,
        mem_min=parse_address(seen["mem_min"], "--mem-min") if "mem_min" in seen else 0,
        mem_max=parse_address(seen["mem_max"], "--mem-max") if "mem_max" in seen else None,
        debug="debug" in seen,
        skip_checks="no_checks" in seen,
        dt_no_old_root="dt_no_old_root" in seen,
        reuse_initrd="reuseinitrd" in seen,
        hotplug="hotplug" in seen,
        syscall=SyscallChoice(syscall),
        no_cma="no_cma" in seen,
        force_dtb="force_dtb" in seen,
        corrupt_digest="corrupt_digest" in seen,
    )


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
        if opt.key == "corrupt_digest":
            continue
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
    from pykexec import loader

    if cmd.action == "help":
        print(usage())
        return 0
    if cmd.action == "version":
        from pykexec import KEXEC_TOOLS_COMPAT, __version__

        print(f"{PROG} {__version__} (kexec-tools {KEXEC_TOOLS_COMPAT} compatible command line)")
        return 0
    from pykexec.sysinfo import SystemView

    view = SystemView(cmd.sysroot)
    if cmd.action == "print-ckr-size":
        print(loader.crash_reservation_size(view))
        return 0
    if cmd.action == "status":
        # kexec-tools' k_status(): the exit code is the content of the sysfs file.
        return int(loader.status(crash=not cmd.status_of_exec_kernel, view=view))
    if cmd.action == "unload":
        loader.unload(crash=cmd.crash, syscall=cmd.syscall)
        return 0
    if cmd.action == "exec":
        loader.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    assert cmd.options is not None
    if cmd.dry_run:
        from pykexec.report import plan_json, plan_text

        plan = loader.plan_load(cmd.options, view)
        print(plan_json(plan) if cmd.json else plan_text(plan))
        return 0
    result = loader.load(cmd.options, view)
    if cmd.options.debug:
        from pykexec.report import describe_result

        print(describe_result(result), file=sys.stderr)
    if cmd.action == "load-exec":
        loader.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    if cmd.action == "load-shutdown":
        loader.shutdown_reboot()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # OpenSSL's SHA-256 for POWER8+ vector crypto runs ~10x slower than its generic C
    # code under emulation (measured in the lab's TCG guest: 2.5 s vs 0.25 s for 50 MB),
    # and the generic code costs only a fraction of a second for a whole load on real
    # hardware: prefer it, as kexec-tools' own portable SHA-256 does. Must be set before
    # libcrypto is loaded (the first hashlib import); an explicit setting wins.
    os.environ.setdefault("OPENSSL_ppccap", "0")
    name = invoked_name()
    try:
        if argv[:1] == ["inspect"] and name == PROG:
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
        print(f"{name}: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # an I/O error no layer below anticipated: still one line
        if os.environ.get("PYKEXEC_TRACEBACK"):
            raise
        print(
            f"{name}: {err.strerror or err}" + (f": {err.filename}" if err.filename else ""),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
