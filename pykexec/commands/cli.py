# SPDX-License-Identifier: GPL-2.0-or-later
"""kexec-tools' command line, for ppc64; the only place errors become exit codes.

The options are data (:mod:`pykexec.commands.optable`, GNU getopt_long over kexec-tools'
table).  Parsing yields a :class:`Command`; flags are not order-dependent except
where kexec-tools 2.0.32 makes the order observable (``-u`` before or after a load).
What a script sees follows kexec-tools 2.0.32 (:func:`exit_code`): an option error
exits 1 with the usage on stdout, no kernel to act on 255, ``-S`` the sysfs value.
With ``--json`` stdout holds exactly one JSON document, also for a refused command
line or a failure; the one-line error and warnings go to stderr either way.
Imports are deferred so that each command loads only what it needs.
"""

from __future__ import annotations

import posix  # not os: see pykexec.system.fileio (start-up)
import sys

from pykexec.commands.optable import BY_NAME, OPTIONS, PROG, Option, parse_address, split_options
from pykexec.errors import KexecError, OptionError, SyscallError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from pykexec.core.options import LoadOptions
    from pykexec.core.planner import LoadPlan
    from pykexec.system.sysinfo import SystemView

__all__ = ["BY_NAME", "OPTIONS", "PROG", "Command", "Option", "main", "parse", "parse_address"]
ACTIONS = ("load", "panic", "exec", "force", "unload", "status", "print_ckr_size", "verify",
           "recommend")  # fmt: skip
# kexec-tools 2.0.32 main(): getopt_long's '?' (unknown or ambiguous option, missing or
# unexpected argument) and a bad --mem-min/--mem-max/--entry value print the usage on
# stdout and return 1; "No kernel specified" (do_kexec_file_load(), my_load()) prints
# it and returns -1, exit status 255.
GETOPT_PROBLEMS = frozenset({"unknown", "ambiguous", "missing-argument",
                             "unexpected-argument", "bad-value"})  # fmt: skip
NO_KERNEL_PROBLEMS = frozenset({"no-kernel", "nothing-to-do"})
# Options whose value names a file or a directory: a NUL byte cannot be in a path.
PATH_KEYS = frozenset(opt.key for opt in OPTIONS if opt.arg in ("FILE", "DIR"))


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
        action: str,  # load, exec, load-exec, load-shutdown, unload, unload-load, status, ...
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
        syscall: str = "auto",  # a pykexec.core.options.SyscallChoice value
        flags: frozenset[str] = frozenset(),
    ) -> None:
        self.action, self.options, self.crash = action, options, crash
        self.status_of_exec_kernel, self.dry_run, self.json = status_of_exec_kernel, dry_run, json
        self.no_sync, self.no_ifdown, self.sysroot = no_sync, no_ifdown, sysroot
        self.save_dir, self.syscall, self.flags = save_dir, syscall, flags

    def __repr__(self) -> str:
        return f"Command({self.action!r}, flags={sorted(self.flags)})"


def _refuse(seen: dict[str, str]) -> None:
    for key in seen:
        opt = next(o for o in OPTIONS if o.key == key)
        if opt.status.startswith("refused"):
            raise OptionError("unsupported", option=opt.names[0], reason=opt.status[9:])


def _syscall(seen: dict[str, str]) -> str:
    chosen = {k for k in ("syscall_file", "syscall_load", "syscall_auto") if k in seen}
    if len(chosen) > 1:
        raise OptionError("syscall-choice", option="-s")
    return {
        "syscall_file": "file",
        "syscall_load": "load",
    }.get(chosen.pop() if chosen else "", "auto")


def _loads_after_unload(order: list[str]) -> bool:
    """``-u -l KERNEL``: in kexec-tools 2.0.32 ``-u`` clears do_load and a later ``-l`` or
    ``-p`` sets it again, so both run (unload, then load); ``-l K -u`` only unloads."""
    last = {key: i for i, key in enumerate(order)}
    return max(last.get("load", -1), last.get("panic", -1)) > last["unload"]


def _action(seen: dict[str, str], kernel: str | None, order: list[str]) -> str:
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
        plain = "exec" in asked or "force" in asked or not _loads_after_unload(order)
        return "unload" if plain else "unload-load"
    loads = {"load", "panic"} & set(asked)
    if "exec" in asked and loads:
        raise OptionError("exec-with-load", option="-e")
    if "force" in asked:
        return "load-exec" if kernel else "exec"
    if "exec" in asked:
        return "exec"
    if loads:
        return "load"
    if kernel:
        return "load-shutdown"
    raise OptionError("nothing-to-do", option="")


def _check_paths(pairs: list[tuple[Option, str]], kernel: str | None) -> None:
    """A NUL byte cannot be in a path (the kernel's strings end there): one usage line."""
    named = [(opt.names[0], value) for opt, value in pairs if opt.key in PATH_KEYS]
    for option, value in [*named, ("KERNEL", kernel or "")]:
        if "\0" in value:
            raise OptionError("nul-byte", option="" if option == "KERNEL" else option,
                              name=option, path=value)  # fmt: skip


def parse(argv: Sequence[str]) -> Command:
    """The command line as a :class:`Command`; raises :class:`UsageError`."""
    pairs, rest = split_options(argv)
    seen = {opt.key: value for opt, value in pairs}
    if "help" in seen or "version" in seen:
        # kexec-tools' -? is getopt's '?': the usage, exit status 1 (see split_options).
        query = seen.get("help") == "?"
        return Command("query-help" if query else "help" if "help" in seen else "version",
                       json="json" in seen)  # fmt: skip
    _refuse(seen)
    if len(rest) > 1:
        raise OptionError("extra-kernel", option="", words=" ".join(rest))
    kernel = rest[0] if rest else None
    _check_paths(pairs, kernel)
    if "type" in seen and seen["type"] not in ("elf-ppc64", "elf64-ppc64"):
        raise OptionError("bad-type", option="--type", text=seen["type"])
    action = _action(seen, kernel, [opt.key for opt, _ in pairs])
    crash = "panic" in seen
    syscall = _syscall(seen)
    options = None
    if action.startswith("load") or action == "recommend" or (action == "unload-load" and kernel):
        if kernel is None:
            raise OptionError("no-kernel", option="", prog=PROG)
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
        raise OptionError("sysroot-needs-dry-run", option="--sysroot")
    if "save" in seen and "dry_run" not in seen:
        raise OptionError("save-needs-dry-run", option="--save")
    if "overwrite" in seen and "save" not in seen:
        raise OptionError("overwrite-needs-save", option="--overwrite")
    if "json" in seen and live and action in ("exec", "unload", "unload-load"):
        raise OptionError("json-needs-dry-run", option="--json")


def _load_options(seen: dict[str, str], kernel: str, crash: bool, syscall: str) -> LoadOptions:
    """The load options, built from the option table's ``dest`` and ``kind`` columns."""
    from pathlib import Path

    from pykexec.core.options import LoadOptions, SyscallChoice, check

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
    return "kexec" if _stem(sys.argv[0] if argv0 is None else argv0) == "kexec" else PROG


def _stem(path: str) -> str:
    """A program path's file name up to its first dot (``/usr/sbin/kexec.pyz``: kexec)."""
    return path.rpartition("/")[2].split(".")[0]


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


def _show(cmd: Command, text: str | None, document: Mapping[str, object]) -> None:
    """An action's output: ``text`` on stdout (nothing when None), or with --json the
    one document."""
    if cmd.json:
        import json

        print(json.dumps(document, indent=2))
    elif text is not None:
        print(text)


def run(cmd: Command) -> int:
    if cmd.action in ("help", "query-help"):
        _show(cmd, usage(), {"action": "help", "usage": usage()})
        return 1 if cmd.action == "query-help" else 0
    if cmd.action == "version":
        from pykexec import KEXEC_TOOLS_COMPAT, __version__

        text = f"{PROG} {__version__} (kexec-tools {KEXEC_TOOLS_COMPAT} compatible command line)"
        doc = {"action": "version", "version": __version__, "kexec_tools": KEXEC_TOOLS_COMPAT}
        _show(cmd, text, doc)
        return 0
    from pykexec.system.sysinfo import SystemView

    view = SystemView(cmd.sysroot)
    if cmd.action in ("print-ckr-size", "status", "verify"):
        return _run_report(cmd, view)
    if cmd.action in ("unload", "unload-load"):
        return _run_unload(cmd, view)
    if cmd.action == "exec":
        from pykexec.system import control

        if cmd.dry_run:
            facts = control.execute_facts(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
            text = control.describe_execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
            _show(cmd, text, facts)
            return 0
        control.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    assert cmd.options is not None
    return _run_load(cmd, cmd.options, view)


def _run_report(cmd: Command, view: SystemView) -> int:
    """The actions that only read: --print-ckr-size, -S (-d), --verify."""
    from pykexec.system import control

    crash = not cmd.status_of_exec_kernel
    kind = "crash" if crash else "exec"
    if cmd.action == "print-ckr-size":
        size = control.crash_reservation_size(view)
        _show(cmd, str(size), {"action": "print-ckr-size", "crash_size": size})
        return 0
    if cmd.action == "status":
        # kexec-tools' k_status(): the exit code is the content of the sysfs file.
        code = control.status_code(crash=crash, view=view)
        if cmd.json or "debug" in cmd.flags:
            from pykexec.commands import status

            text = status.describe(view, crash) if not cmd.json else None
            data = status.report(view, crash) if cmd.json else {}
            _show(cmd, text, {"action": "status", **data, "exit_status": code})
        return code
    from pykexec.commands import status

    intact, lines = status.verify_loaded(view, crash=crash)
    _show(cmd, "\n".join(lines), {"action": "verify", "kind": kind, "intact": intact,
                                  "report": lines})  # fmt: skip
    return 0 if intact else 1


def _run_unload(cmd: Command, view: SystemView) -> int:
    """-u, and -u before -l/-p (kexec-tools 2.0.32 runs both, see _loads_after_unload)."""
    from pykexec.system import control

    then_load = cmd.action == "unload-load"
    if cmd.dry_run:
        facts = control.unload_facts(cmd.crash, cmd.syscall, view)
        text = control.describe_unload(cmd.crash, cmd.syscall, view)
        if not then_load:
            _show(cmd, text, facts)
            return 0
        if cmd.options is None:
            raise OptionError("no-kernel-to-reload", option="", prog=PROG)
        return _run_load(cmd, cmd.options, view, unloading=(text, facts))
    via = control.unload(crash=cmd.crash, syscall=cmd.syscall)
    control.forget_record(view, cmd.crash)  # not pykexec.system.record: -u starts fast
    if then_load and cmd.options is None:  # kexec-tools unloads, then finds no kernel
        raise OptionError("no-kernel-to-reload", option="", prog=PROG)
    if not then_load or via == control.FILE:
        # kexec-tools 2.0.32 keeps KEXEC_FILE_UNLOAD in the flags of the kexec_file_load
        # that follows, so the kernel unloads again: nothing is loaded.
        return 0
    assert cmd.options is not None
    return _run_load(cmd, _with_syscall(cmd.options, "load"), view)


def _with_syscall(opts: LoadOptions, syscall: str) -> LoadOptions:
    from dataclasses import replace

    from pykexec.core.options import SyscallChoice

    return replace(opts, syscall=SyscallChoice(syscall))


def _run_load(
    cmd: Command,
    opts: LoadOptions,
    view: SystemView,
    unloading: tuple[str, dict[str, object]] | None = None,
) -> int:
    from pykexec.commands import report
    from pykexec.system import loader

    if cmd.action == "recommend":
        from pykexec.commands import status

        text = status.recommend(opts, view, detail=opts.debug)
        _show(cmd, text, _recommend_document(text))
        return 0
    if cmd.dry_run:
        plan = loader.plan(opts, view)
        then = _afterwards(cmd, plan)
        document = report.plan_dict(plan, then)
        text = report.plan_text(plan, then)
        if unloading is not None:
            text = f"{unloading[0]}\n{text}"
            document = {**document, "unload_first": unloading[1]}
        if "save" in cmd.flags:
            loader.save_plan(plan, _save_dir(cmd), document, overwrite="overwrite" in cmd.flags)
        _show(cmd, text, document)
        return 0
    result = loader.load(opts, view)
    for warning in result.warnings:
        print(f"{invoked_name()}: warning: {warning}", file=sys.stderr)
    _show(cmd, None, report.plan_dict(result, None))
    if opts.debug:
        print(report.plan_text(result, None), file=sys.stderr)
    if cmd.action == "load-exec":
        from pykexec.system import control

        control.execute(view, sync=not cmd.no_sync, ifdown=not cmd.no_ifdown)
        return 1
    if cmd.action == "load-shutdown":
        from pykexec.system import control

        control.shutdown_reboot()
    return 0


def _recommend_document(text: str) -> dict[str, object]:
    """--recommend-crashkernel --json: its first line is ``crashkernel=SIZE``, the rest
    (with -d) the estimate term by term."""
    first, *detail = text.splitlines()
    return {
        "action": "recommend-crashkernel",
        "crashkernel": first.partition("=")[2],
        "detail": detail,
    }


def _afterwards(cmd: Command, plan: LoadPlan) -> str | None:
    """What a dry run of -f, of a bare KERNEL, or of -u -l would do after the load."""
    if cmd.action == "load-exec":
        steps = [] if cmd.no_sync else ["sync"]
        steps += [] if cmd.no_ifdown else ["take network interfaces down"]
        return "then " + ", ".join([*steps, "jump into it at once (-f: no shutdown)"])
    if cmd.action == "load-shutdown":
        return "then run `shutdown -r now`, which ends in the kexec"
    if cmd.action == "unload-load" and str(plan.decision.first) == "kexec_file_load":
        return (
            "but the load goes to kexec_file_load with KEXEC_FILE_UNLOAD still set, as in "
            "kexec-tools 2.0.32, so the kernel unloads again: nothing is loaded (-c loads)"
        )
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


def exit_code(err: KexecError) -> int:
    """The exit status of an error, as kexec-tools 2.0.32 gives it where it has one
    (:data:`GETOPT_PROBLEMS`: 1, :data:`NO_KERNEL_PROBLEMS`: 255, a kexec_file_load that
    -s does not let fall back: 253), else the error's own."""
    if isinstance(err, OptionError):
        if err.problem in GETOPT_PROBLEMS:
            return 1
        if err.problem in NO_KERNEL_PROBLEMS:
            return 255
    if isinstance(err, SyscallError) and err.call.startswith("kexec_file_load"):
        from pykexec.uapi import FILE_LOAD_FALLBACK

        # kexec-tools' EFALLBACK (-3): "syscall kexec_file_load not available."
        if err.errno in FILE_LOAD_FALLBACK:
            return 253
    return err.exit_code


def error_document(err: BaseException, code: int) -> dict[str, object]:
    """An error as --json prints it: its kind, its typed fields, the message, the status."""
    plain = (str, int, float, bool, type(None))
    fields = {k: v for k, v in vars(err).items()
              if not k.startswith("_") and k != "exit_code" and isinstance(v, plain)}  # fmt: skip
    message = str(err)
    if isinstance(err, OSError):
        name = None if err.filename is None else str(err.filename)
        fields, message = {"errno": err.errno, "filename": name}, err.strerror or message
    return {"error": {"kind": type(err).__name__, **fields, "message": message,
                      "exit_status": code}}  # fmt: skip


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for --json, also when it does not parse (the error
    is then printed as a JSON document too)."""
    if argv[:1] == ["inspect"]:
        return "--json" in argv
    try:
        return any(opt.key == "json" for opt, _ in split_options(argv)[0])
    except KexecError:
        words = argv[: list(argv).index("--")] if "--" in argv else argv
        return any(w.startswith("--j") and "--json".startswith(w.partition("=")[0]) for w in words)


def _fail(err: Exception, code: int, as_json: bool, line: str) -> int:
    """Report a failure: one line on stderr; on stdout the error document (--json) or,
    for the option errors kexec-tools answers with its usage, the usage."""
    print(one_line(line), file=sys.stderr)
    if as_json:
        import json

        print(json.dumps(error_document(err, code), indent=2))
    elif isinstance(err, OptionError) and err.problem in GETOPT_PROBLEMS | NO_KERNEL_PROBLEMS:
        print(usage())
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = invoked_name()
    if _stem(sys.argv[0]) == "vmcore-dmesg":
        name = "vmcore-dmesg"  # kexec-tools' vmcore-dmesg: its usage, its exit statuses
    _keep_argument_bytes()
    as_json = wants_json(argv)
    try:
        if name == "vmcore-dmesg" or (argv[:1] == ["vmcore-dmesg"] and name == PROG):
            from pykexec.commands.vmcoredmesg import main as vmcore_dmesg_main

            if name == PROG:
                code = vmcore_dmesg_main(argv[1:], f"{PROG} vmcore-dmesg", False)
            else:
                code = vmcore_dmesg_main(argv, sys.argv[0])
        elif argv[:1] == ["inspect"] and name == PROG:
            from pykexec.commands.inspect import main as inspect_main

            _check_paths([], next((w for w in argv[1:] if "\0" in w), None))

            code = inspect_main(argv[1:])
        else:
            code = run(parse(argv))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`pykexec --help | head -1`): end quietly, as a C program
        # killed by SIGPIPE would, but with status 0; stdout must not be flushed again.
        posix.dup2(posix.open("/dev/null", posix.O_WRONLY), sys.stdout.fileno())
        return 0
    except KexecError as err:
        if posix.environ.get(b"PYKEXEC_TRACEBACK"):
            raise
        return _fail(err, exit_code(err), as_json, f"{name}: {err}")
    except OSError as err:  # an I/O error no layer below anticipated: still one line
        if posix.environ.get(b"PYKEXEC_TRACEBACK"):
            raise
        where = f": {err.filename}" if err.filename else ""
        return _fail(err, 1, as_json, f"{name}: {err.strerror or err}{where}")
    except KeyboardInterrupt as err:
        if as_json:  # the one document, even then
            import json

            print(json.dumps(error_document(err, 130), indent=2))
        return 130


if __name__ == "__main__":
    sys.exit(main())
