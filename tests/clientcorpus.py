# SPDX-License-Identifier: GPL-2.0-or-later
"""The client corpus: command lines that clients of kexec really send, and what they see.

Each CORPUS entry is an argv that a client really sends (Debian kdump-tools, Fedora
kdumpctl, systemd, petitboot, kexecboot, people) with the meaning pykexec must take from
it; OUTCOMES is what a script observes of each (exit status, stdout and stderr shapes);
KEXEC_TOOLS the forms where kexec-tools 2.0.32 differs; MISTAKES the command lines people
and scripts get wrong, with the same observables.  Used by tests/test_cli.py and, in the
lab, by tests/e2e/test_corpus_lab.py.
"""

from __future__ import annotations

from pathlib import Path

from pykexec.core.options import SyscallChoice

K = "/boot/vmlinux-6.1.0-50-powerpc64le"
I = "/var/lib/kdump/initrd.img"
CMD = "root=UUID=1234 ro irqpoll nr_cpus=1 reset_devices"

# (client, argv, expected action, expected option values)
CORPUS = [
    (
        "kdump-tools load",
        ["-p", "--args-linux", f"--command-line={CMD}", f"--initrd={I}", K],
        "load",
        {
            "crash": True,
            "command_line": CMD,
            "initrd": Path(I),
            "kernel": Path(K),
            "syscall": SyscallChoice.AUTO,
        },
    ),
    (
        "kdump-tools load -s",
        ["-s", "-p", "--args-linux", f"--command-line={CMD}", f"--initrd={I}", K],
        "load",
        {"crash": True, "syscall": SyscallChoice.FILE},
    ),
    ("kdump-tools unload", ["-p", "-u"], "unload", {}),
    (
        "kdumpctl load",
        ["-s", "-p", f"--command-line={CMD}", f"--initrd={I}", K],
        "load",
        {"crash": True, "syscall": SyscallChoice.FILE, "command_line": CMD},
    ),
    ("kdumpctl unload", ["-p", "-u"], "unload", {}),
    (
        "kdumpctl -d",
        ["-d", "-p", f"--command-line={CMD}", f"--initrd={I}", K],
        "load",
        {"crash": True, "debug": True},
    ),
    (
        "kdumpctl -d after -p",
        ["-p", "-d", f"--command-line={CMD}", f"--initrd={I}", K],
        "load",
        {"crash": True, "debug": True},
    ),
    (
        "systemd",
        ["--load", K, "--append", "root=/dev/sda1 quiet", "--initrd", I],
        "load",
        {"crash": False, "command_line": "root=/dev/sda1 quiet", "initrd": Path(I)},
    ),
    (
        "petitboot",
        ["-l", "--dtb=/tmp/dtb", "--append=console=hvc0", f"--initrd={I}", K],
        "load",
        {"dtb": Path("/tmp/dtb"), "command_line": "console=hvc0"},
    ),
    (
        "petitboot debug",
        ["-l", "--debug", "--dtb=/tmp/dtb", '--append=""', K],
        "load",
        {"debug": True, "command_line": '""'},
    ),
    (
        # discover/boot.c kexec_load(): the kexec_file form puts -s where -l was, so as
        # in kexec-tools it is a load followed by `shutdown -r now` (kexec-lite: a load).
        "petitboot -s",
        ["-s", "--append=console=hvc0", f"--initrd={I}", K],
        "load-shutdown",
        {"syscall": SyscallChoice.FILE, "command_line": "console=hvc0", "crash": False},
    ),
    ("petitboot last fallback", ["-e", "-f"], "exec", {}),  # boot.c kexec_reboot()
    (
        "kexecboot",
        [
            "-d",
            "--mem-min=0x2000000",
            "--mem-max=0x20000000",
            "-l",
            "--command-line=root=/dev/mmcblk0p2",
            f"--initrd={I}",
            K,
        ],
        "load",
        {"mem_min": 0x2000000, "mem_max": 512 << 20},
    ),
    ("plain exec", ["-e"], "exec", {}),
    ("exec without ifdown", ["-e", "-x"], "exec", {}),
    ("force", ["-f", K, "--append=quiet"], "load-exec", {"command_line": "quiet"}),
    ("kernel first", [K, "-l", "--reuse-cmdline"], "load", {"reuse_cmdline": True}),
    ("no action", [K, "--append=x"], "load-shutdown", {}),
    ("status", ["-S"], "status", {}),
    ("status of -l", ["-l", "-S"], "status", {}),
    ("-c", ["-c", "-l", K], "load", {"syscall": SyscallChoice.LOAD}),
    ("-a", ["-a", "-l", K], "load", {"syscall": SyscallChoice.AUTO}),
    (
        "abbreviated long option",
        ["-l", K, "--comm", "x=1", "--ramd", I],
        "load",
        {"command_line": "x=1", "initrd": Path(I)},
    ),
    ("reuseinitrd", ["-l", "--reuseinitrd", K], "load", {"reuse_initrd": True}),
    ("hotplug", ["-p", "--hotplug", K], "load", {"hotplug": True}),
    ("dt-no-old-root", ["-l", "--dt-no-old-root", K], "load", {"dt_no_old_root": True}),
    ("no checks", ["-l", "-i", K, "-t", "elf-ppc64"], "load", {"skip_checks": True}),
    ("ckr size", ["--print-ckr-size"], "print-ckr-size", {}),
    ("elf64 core headers", ["-p", "--elf64-core-headers", K], "load", {"crash": True}),
]


# What a script observes from each corpus form on a machine with kexec_file_load, a
# crash region, a kernel loaded for -e and none for a panic: the exit status ("jump":
# the process is replaced, by shutdown or the new kernel) and the shape of stdout and
# stderr ("": empty, "line": one line, "text": several, "usage": the usage).  Equal to
# kexec-tools 2.0.32's, except where KEXEC_TOOLS says what it gives instead (each is
# in pykexec(8) DIFFERENCES).  pykexec's -d plan, like kexec-tools' debug output, is text
# on stderr.
OUTCOMES: dict[str, tuple[int | str, str, str]] = {
    "kdump-tools load": (0, "", ""),
    "kdump-tools load -s": (0, "", ""),
    "kdump-tools unload": (0, "", ""),
    "kdumpctl load": (0, "", ""),
    "kdumpctl unload": (0, "", ""),
    "kdumpctl -d": (0, "", "text"),
    "kdumpctl -d after -p": (0, "", "text"),
    "systemd": (0, "", ""),
    "petitboot": (0, "", ""),
    "petitboot debug": (0, "", "text"),
    "petitboot -s": ("jump", "", ""),
    "petitboot last fallback": ("jump", "", ""),
    "kexecboot": (0, "", "text"),
    "plain exec": ("jump", "", ""),
    "exec without ifdown": ("jump", "", ""),
    "force": ("jump", "", ""),
    "kernel first": (0, "", ""),
    "no action": ("jump", "", ""),
    "status": (0, "", ""),
    "status of -l": (1, "", ""),
    "-c": (0, "", ""),
    "-a": (0, "", ""),
    "abbreviated long option": (0, "", ""),
    "reuseinitrd": (1, "", "line"),  # the running kernel has no retain_initrd
    "hotplug": (0, "", ""),
    "dt-no-old-root": (0, "", ""),
    "no checks": (0, "", ""),
    "ckr size": (0, "line", ""),
    "elf64 core headers": (0, "", ""),
}
KEXEC_TOOLS = {
    # "--dtb not supported while using --kexec-file-syscall" (-a tries kexec_file_load);
    # without kexec_file_load, "Can't use ramdisk with device tree blob input", 255
    # (measured with Debian's 2.0.25 in the lab, whose default is -c).
    "petitboot": (1, "", "line"),
    "petitboot debug": (1, "", "line"),  # the same line (measured with 2.0.32 in the lab)
    # -e then -f: a load without a kernel, "No kernel specified" and the usage
    "petitboot last fallback": (255, "usage", "line"),
}
# Command lines people and scripts get wrong, with the same observables.
MISTAKES: list[tuple[str, list[str], tuple[int | str, str, str]]] = [
    ("no arguments", [], (255, "usage", "line")),
    ("no kernel", ["-l", f"--initrd={I}"], (255, "usage", "line")),
    ("unknown option", ["-l", K, "--bogus"], (1, "usage", "line")),
    ("ambiguous option", ["-l", K, "--re"], (1, "usage", "line")),
    ("missing argument", ["-l", K, "--append"], (1, "usage", "line")),
    ("bad address", ["-l", K, "--mem-min=lots"], (1, "usage", "line")),
    ("-?", ["-?"], (1, "usage", "")),
    ("help", ["--help"], (0, "usage", "")),
    ("version abbreviated", ["--v"], (0, "line", "")),
    ("-e, nothing loaded for it", ["-e"], (1, "", "line")),
    ("-u then -l, kexec_file_load", ["-u", "-l", K], (0, "", "")),
    ("-s, no kexec_file_load", ["-s", "-p", f"--initrd={I}", K], (253, "", "line")),
    ("-s -u, no kexec_file_load", ["-s", "-p", "-u"], (253, "", "line")),
    ("-u then -l, no kexec_file_load", ["-u", "-l", K], (0, "", "")),
]
