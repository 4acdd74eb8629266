# SPDX-License-Identifier: GPL-2.0-or-later
"""The manual page pykexec(8) and the bash completion, both generated from ``cli.OPTIONS``.

``python3 -m pykexec.commands.manpage`` rewrites ``doc/pykexec.8`` and ``completion/pykexec``
in the checkout (``--check`` only compares); a test does the same comparison, so an
option added to the table without regenerating fails the tests.  The prose sections
are data here; the OPTIONS section and the completion's word list come from the table.
Facts about kexec-tools are from its ``kexec/kexec.c`` (``main()``, ``k_status()``,
``kexec_loaded()``) and ``kexec/arch/ppc64`` as of release 2.0.32; about petitboot from
``discover/boot.c`` (``kexec_load()``, ``kexec_reboot()``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pykexec import KEXEC_TOOLS_COMPAT, __version__
from pykexec.commands.cli import OPTIONS, Option

ROOT = Path(__file__).resolve().parents[2]  # the checkout: pykexec/commands/manpage.py
MAN_PAGE = Path("doc/pykexec.8")
COMPLETION = Path("completion/pykexec")

# ---- roff helpers -----------------------------------------------------------------------------


def roff_text(text: str) -> str:
    """Escape running text for roff: backslashes, hyphens, a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _spelling(opt: Option) -> str:
    """``\\fB\\-\\-initrd\\fR=\\fIFILE\\fR, ...``: every name of the option."""
    words = []
    for name in opt.names:
        word = f"\\fB{roff_text(name)}\\fR"
        if opt.arg:
            word += ("=" if name.startswith("--") else " ") + f"\\fI{opt.arg}\\fR"
        words.append(word)
    return ", ".join(words)


def _status(opt: Option) -> str:
    if opt.status == "ignored":
        return "Accepted and ignored, as kexec\\-tools does on ppc64."
    if opt.status.startswith("refused"):
        return "Refused (exit status 2): " + roff_text(opt.status[len("refused: ") :]) + "."
    return ""


def options_section() -> list[str]:
    lines = [".SH OPTIONS"]
    for opt in OPTIONS:
        lines += [".TP", _spelling(opt)]
        text = opt.help if opt.help.startswith("pykexec") else opt.help[:1].upper() + opt.help[1:]
        what = roff_text(text) + "." if text else ""
        lines.append(" ".join(t for t in (what, _status(opt)) if t))
    return lines


# ---- the prose sections -----------------------------------------------------------------------

_HEAD = f"""\
.\\" SPDX-License-Identifier: GPL-2.0-or-later
.TH PYKEXEC 8 "" "pykexec {__version__}" "System Administration"
.SH NAME
pykexec, kexec, vmcore\\-dmesg \\- load and start a new Linux kernel on 64\\-bit \
PowerPC, or load a crash kernel; print a crashed kernel's log
.SH SYNOPSIS
.B pykexec
.RI [ options ]
.RI [ KERNEL ]
.br
.B kexec
.RI [ options ]
.RI [ KERNEL ]
.br
.B pykexec inspect
.I KERNEL
.RB [ \\-\\-json ]
.br
.B pykexec vmcore\\-dmesg
.I VMCORE
.br
.B vmcore\\-dmesg
.I VMCORE
.br
.B python3
.I pykexec.pyz
.RI [ options ]
.RI [ KERNEL ]
.SH DESCRIPTION
.B pykexec
loads a ppc64 or ppc64le ELF kernel (vmlinux), an initial ramdisk and a device tree
into memory with
.BR kexec_load (2)
or
.BR kexec_file_load (2),
to be started later with
.B \\-e
without going through the firmware, or, with
.BR \\-p ,
as the crash (kdump) kernel that the running kernel starts when it panics.
It builds the device tree and the purgatory (the code that runs between the two
kernels) itself, and needs only the Python standard library (Python 3.9 or later).
.PP
It accepts the command line of kexec\\-tools {KEXEC_TOOLS_COMPAT}, with the same meanings.
Invoked under the name
.B kexec
(a link, the Debian package's diversion, or the one\\-file zipapp named kexec) it is a
drop\\-in
.BR kexec (8);
.B \\-\\-version
then still says that it is pykexec.
.PP
.B pykexec vmcore\\-dmesg
.IR VMCORE ,
or the program run under the name
.B vmcore\\-dmesg
(the console script, a link, the Debian package's diversion), prints the log of the
crashed kernel that
.I VMCORE
(/proc/vmcore in a crash kernel, or a saved ELF dump) holds, read through its
VMCOREINFO: the lockless ring buffer of Linux 5.10 and later, the printk_log records of
3.5 to 5.9, or the plain log_buf before them, in either byte order.  Its output, usage
and exit codes are kexec\\-tools' vmcore\\-dmesg's, byte for byte; a dump that would
make that program loop or read outside its buffers is refused in one line (exit 1).
.PP
An action is chosen by
.B \\-l
(load),
.B \\-p
(load a crash kernel),
.B \\-e
(start the loaded kernel),
.B \\-f
(load and start at once),
.B \\-u
(unload) or
.B \\-S
(status); a
.I KERNEL
without an action is loaded and then the system is rebooted into it with
.BR "shutdown \\-r now" ,
as kexec\\-tools does.
"""

_TAIL = """\
.SH EXIT STATUS
As kexec\\-tools 2.0.32 where a script can see it:
.TP
.B 0
Success; with
.BR \\-S :
no kernel of that kind is loaded.
.TP
.B 1
A failure: the image, the device tree, the memory layout or a system call; the
one\\-line message on standard error says what and what to do.
An option kexec\\-tools' getopt rejects (unknown, ambiguous, a missing or unexpected
argument, a bad address) and
.BR \\-? :
1, with the usage on standard output.
With
.BR \\-S :
a kernel is loaded.
.B \\-e
with nothing loaded, or that returns (the kernel refused to start the new kernel), 1.
.TP
.B 2
A command line pykexec refuses (options that exclude each other or cannot work on
ppc64, \\fB\\-\\-sysroot\\fR, \\fB\\-\\-save\\fR or \\fB\\-\\-json\\fR without
\\fB\\-\\-dry\\-run\\fR where they need it, a path holding a NUL byte).
.TP
.B 255
No kernel to act on (no arguments, \\fB\\-l\\fR without \\fIKERNEL\\fR), with the usage on
standard output; with
.BR \\-S :
the sysfs file cannot be read.
.TP
.B 253
With \\fB\\-s\\fR: kexec_file_load is missing or fails with ENOSYS, EINVAL, ENOEXEC or
ENOTSUP, where \\fB\\-a\\fR would fall back to kexec_load.
.TP
.B 130
Interrupted.
.PP
With
.BR \\-\\-json ,
standard output holds exactly one JSON document, also when the command line is
refused or the action fails (then an object \\fBerror\\fR with \\fBkind\\fR, the error's
fields, \\fBmessage\\fR and \\fBexit_status\\fR); the one\\-line message and warnings
still go to standard error, and the exit status is the same as without it.
.SH ENVIRONMENT
.TP
.B PYKEXEC_TRACEBACK
If set, an error ends with the Python traceback instead of the one\\-line message.
.TP
.B PYKEXEC_PURGATORY_SHA256
\\fBscalar\\fR or \\fBvector\\fR: the purgatory's SHA\\-256 code. By default vector
(vshasigmaw) when AT_HWCAP2 has PPC_FEATURE2_VEC_CRYPTO (POWER8 and later, not in
POWER7 compatibility mode), else scalar.
.SH FILES
.TP
.I /proc/device\\-tree
The running kernel's device tree, flattened into the next kernel's (unless
.BR \\-\\-dtb ).
.TP
.IR /proc/iomem ", " /proc/cmdline
Memory ranges (System RAM, the crash kernel region); the command line for
.BR \\-\\-reuse\\-cmdline .
.TP
.IR /sys/kernel/kexec_loaded ", " /sys/kernel/kexec_crash_loaded
Whether a kernel (crash kernel) is loaded:
.B \\-S
and
.BR \\-e .
.TP
.IR /sys/kernel/kexec_crash_size ", " /sys/kernel/crash_elfcorehdr_size ", " /sys/kernel/vmcoreinfo
The crash kernel reservation, the room for the ELF core header with
.BR \\-\\-hotplug ,
the vmcoreinfo note.
.TP
.IR /run/pykexec/crash.json ", " /run/pykexec/exec.json
The record of what pykexec loaded (options, files, plan digest), read by
.BR "\\-S \\-d" ,
.B \\-\\-verify
and a failed crash reload.
.TP
.IR /sys/devices/system/cpu ", " /sys/class/net
The possible CPUs (their crash notes); the interfaces that
.B \\-e
takes down.
.SH EXAMPLES
Load a kernel and start it (what
.B systemctl kexec
does):
.PP
.nf
.RS
kexec \\-l /boot/vmlinux \\-\\-initrd=/boot/initrd.img \\-\\-reuse\\-cmdline
kexec \\-e
.RE
.fi
.PP
Load the crash kernel (as Debian's kdump\\-config and Fedora's kdumpctl do):
.PP
.nf
.RS
kexec \\-p \\-\\-command\\-line="root=/dev/sda2 irqpoll nr_cpus=1 reset_devices" \\e
      \\-\\-initrd=/var/lib/kdump/initrd.img /boot/vmlinux
kexec \\-p \\-u
.RE
.fi
.PP
What petitboot runs: the device tree it built, then
.BR "shutdown \\-r now" ,
.BR "kexec \\-e" ,
.BR "kexec \\-e \\-f" :
.PP
.nf
.RS
kexec \\-l \\-\\-initrd=/tmp/initrd \\-\\-dtb=/tmp/dtb \\-\\-append="console=hvc0" /tmp/vmlinux
.RE
.fi
.PP
Plan a load on another machine from a captured snapshot, without loading:
.PP
.nf
.RS
pykexec \\-l vmlinux \\-\\-dry\\-run \\-\\-sysroot snapshot/
python3 pykexec.pyz \\-l vmlinux \\-\\-dry\\-run \\-\\-json
.RE
.fi
.SH DIFFERENCES FROM KEXEC\\-TOOLS
Compared with kexec\\-tools 2.0.32, one line each:
.TP
Option order
Flags do not depend on their order, except \\fB\\-u\\fR before or after \\fB\\-l\\fR/\\fB\\-p\\fR,
which follows kexec\\-tools (see \\fB\\-u \\-l\\fR).
.TP
\\fB\\-u \\-l\\fR \\fIKERNEL\\fR
As kexec\\-tools: unload, then load with kexec_load (nothing loaded after kexec_file_load);
pykexec does not read \\fIKERNEL\\fR in the kexec_file_load case.
.TP
\\fB\\-e \\-f\\fR
Both orders start the loaded kernel; kexec\\-tools' \\fB\\-e \\-f\\fR asks for a load and fails
with "No kernel specified".
.TP
\\fB\\-\\-dtb\\fR under \\fB\\-a\\fR
Accepted (kexec_load is used at once); kexec\\-tools tries kexec_file_load, which refuses
\\fB\\-\\-dtb\\fR (exit 1).
.TP
\\fB\\-\\-dtb\\fR with \\fB\\-\\-initrd\\fR or \\fB\\-\\-append\\fR
Both go into the blob (as kexec\\-lite does); kexec\\-tools refuses the initrd (exit 255) and
keeps the blob's bootargs.
.TP
Crash region too small
\\fB\\-p\\fR refuses (exit 1, with the figures) a crash kernel that provably cannot boot in its
region; kexec\\-tools loads it.
.TP
Byte order
\\fB\\-p\\fR refuses (exit 2) a crash kernel of the other byte order, whose /proc/vmcore could
not be read; kexec\\-tools loads it.
.TP
Refused options
Preserve\\-context and Xen live\\-update options are refused at once (exit 2) instead of failing
later.
.TP
Failures
Exit 1; kexec\\-tools returns 255 for most failed loads and unloads and an \\fB\\-e\\fR that
returns, 1 for its fatal errors.
.TP
Messages of a kexec_load
None unless \\fB\\-d\\fR; kexec\\-tools prints "Modified cmdline:" with the command line it
built (stdout and stderr) and, without \\fB\\-\\-append\\fR, a warning that it keeps the running
kernel's root= (stdout).
.TP
Error messages
One line on stderr; kexec\\-tools prints one or several for the same failure (the exit
status is the same).
.TP
\\fB\\-d\\fR before Linux 6.8
KEXEC_FILE_DEBUG is left out for a kernel whose release predates it; kexec\\-tools passes it,
and the kernel refuses the load (EINVAL: \\fB\\-s\\fR fails, \\fB\\-a\\fR falls back to kexec_load).
.TP
Chatter
\\fB\\-\\-help\\fR prints all its usage on standard output (kexec\\-tools prints its loader's
options on standard error); a load prints nothing without \\fB\\-d\\fR (kexec\\-tools' ppc64
loader prints "Modified cmdline:").
.TP
\\fB\\-S \\-d\\fR
Also prints what is loaded, since when and what changed, on standard output; kexec\\-tools
prints nothing.
.TP
Newer options
\\fB\\-\\-no\\-cma\\fR and \\fB\\-\\-force\\-dtb\\fR (kexec\\-tools after 2.0.32) are accepted;
abbreviations keep their 2.0.32 meaning.
.SH SEE ALSO
.BR kexec (8),
.BR kdump\\-config (8),
.BR kdumpctl (8),
.BR kexec_load (2),
.BR kexec_file_load (2),
.BR reboot (2)
"""


def man_page() -> str:
    """The whole of pykexec(8) in roff."""
    return _HEAD + "\n".join(options_section()) + "\n" + _TAIL


# ---- bash completion --------------------------------------------------------------------------


# What follows an option that takes a value, by its metavar: bash words for COMPREPLY.
_COMPLETE_ARGS = (
    (("FILE",), '$(compgen -f -- "$cur")'),
    (("DIR",), '$(compgen -d -- "$cur")'),
    (("TYPE",), '$(compgen -W "elf-ppc64" -- "$cur")'),
    (("STRING", "ADDR"), ""),
)


def completion() -> str:
    """A bash completion for ``pykexec`` and ``kexec``: every option of the table."""
    words = " ".join(n for opt in OPTIONS for n in opt.names)
    cases = []
    for args, reply in _COMPLETE_ARGS:
        names = "|".join(n for opt in OPTIONS if opt.arg in args for n in opt.names)
        if names:
            cases.append(f"        {names}) COMPREPLY=({reply}); return ;;")
    case_lines = "\n".join(cases)
    return f"""\
# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for pykexec and kexec (pykexec); generated from pykexec/commands/cli.py's
# OPTIONS by python3 -m pykexec.commands.manpage: do not edit.
_pykexec() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    case $prev in
{case_lines}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "{words}" -- "$cur"))
    elif [[ $COMP_CWORD == 1 && ${{COMP_WORDS[0]##*/}} == pykexec ]]; then
        COMPREPLY=($(compgen -W "inspect" -f -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F _pykexec pykexec kexec
"""


GENERATED = {MAN_PAGE: man_page, COMPLETION: completion}


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated files in the checkout; ``--check``: only report stale ones."""
    args = sys.argv[1:] if argv is None else argv
    stale = []
    for rel, make in GENERATED.items():
        path, text = ROOT / rel, make()
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(rel))
        if "--check" not in args:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        verb = "stale" if "--check" in args else "written"
        print(f"pykexec.commands.manpage: {verb}: {', '.join(stale)}", file=sys.stderr)
    return 1 if stale and "--check" in args else 0


if __name__ == "__main__":
    sys.exit(main())
