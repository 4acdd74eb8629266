# SPDX-License-Identifier: GPL-2.0-or-later
"""The client corpus in the lab guest: kexec-tools 2.0.32 and pykexec side by side (issue 19).

tests/clientcorpus.py holds the command lines that clients really send (CORPUS) and the
ones people get wrong (MISTAKES), with what a script observes from each: the exit
status and the shape of stdout and stderr (OUTCOMES; KEXEC_TOOLS where kexec-tools
deliberately differs, each in pykexec(8) DIFFERENCES).  Those expectations are
checked there on a fake machine.  Here every form that does not jump runs in a real
guest, once with Debian's kexec-tools 2.0.32 (sid's package, run by sid's own
dynamic loader and libc from a private directory: it needs glibc 2.38 and the guest
is bookworm's 2.36) and once with pykexec, each from the same state (nothing loaded
for a panic, a kernel loaded for -e unless the form says otherwise), and the guest
reports per form and tool: the exit status, the two shapes and the two loaded flags.

Two boots: the lab's CONFIG_KEXEC_FILE kernel (both syscalls: the corpus' machine)
and Debian's 6.1 (no kexec_file_load: the MISTAKES forms that say so).
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
from pathlib import Path

from lab.assets import _run, download_debs
from lab.errors import AssetError
from lab.initramfs import GuestFile
from lab.model import SID_KEXEC, SID_KEXEC_DIR, Kernel, Loader, Scenario, Stage, Step
from lab.paths import CacheLayout

SID_SUITE = "sid"
# kexec-tools 2.0.32 as Debian builds it, and the C library it was linked against.
SID_PACKAGES = ("kexec-tools", "libc6")
# sid moves: the download is checked for this version (Debian's epoch and upstream),
# whose messages tests/fixtures/corpus-lab-2.0.32.txt records.
SID_KEXEC_VERSION = "1:2.0.32-"
GUEST_DIR = SID_KEXEC_DIR  # kexec, ld64.so.2 and libc.so.6 of sid
REFERENCE = SID_KEXEC
# The corpus' paths, in the guest.  The initrd is a one-file newc archive: the forms'
# observables do not depend on its size, and a small one keeps 60 loads short.
PATHS = {
    "/boot/vmlinux-6.1.0-50-powerpc64le": "/boot/vmlinux",
    "/var/lib/kdump/initrd.img": "/lab/corpus-initrd.img",
}
TOOLS = {"kexec-tools": REFERENCE, "pykexec": "pykexec"}
NO_FILE_LOAD = "no kexec_file_load"  # the MISTAKES forms for a kernel without it
STEP_TIMEOUT = 1500.0
# kexec-tools' ppc64 kexec_load path prints what it built and chose (kexec/arch/ppc64/
# kexec-elf-ppc64.c): "Modified cmdline:" on stdout and stderr, and without --append
# "Warning: append= option is not passed. Using the first kernel root partition" on
# stdout.  pykexec says those only under -d: a documented difference (pykexec(8)
# DIFFERENCES), so the shapes are compared without those lines (raw shapes kept beside).
NOISE = ("Modified cmdline:", "Warning: append= option is not passed.")


@dataclasses.dataclass(frozen=True)
class Form:
    """One command line: its name, argv, and whether a kernel is loaded for -e first."""

    name: str
    argv: tuple[str, ...]
    exec_loaded: bool = True

    def words(self) -> str:
        out = []
        for word in self.argv:
            for old, new in PATHS.items():
                word = word.replace(old, new)
            out.append(shlex.quote(word))
        return " ".join(out)


def sid_kexec_tools(layout: CacheLayout) -> Path:
    """A directory with sid's kexec, ld64.so.2 and libc.so.6 (fetched once, cached)."""
    d = layout.root / "kexec-tools-sid"
    out, done = d / "guest", d / "done"
    if done.is_file() and (out / "kexec").is_file():
        return out
    shutil.rmtree(d, ignore_errors=True)
    debs, tree = d / "debs", d / "tree"
    fetched = download_debs(layout, SID_SUITE, SID_PACKAGES, debs)
    versions = [_run(["dpkg-deb", "-f", str(deb), "Package", "Version"]).split()
                for deb in fetched]  # fmt: skip
    kexec = next((v[3] for v in versions if v[1] == "kexec-tools"), "none")
    if not kexec.startswith(SID_KEXEC_VERSION):
        raise AssetError(
            f"sid's kexec-tools is {kexec}, not {SID_KEXEC_VERSION}*: the corpus record "
            f"(tests/fixtures/corpus-lab-2.0.32.txt) and its test are for that version; "
            "record the corpus again with the new one", problem="sid-moved")  # fmt: skip
    for deb in fetched:
        _run(["dpkg-deb", "-x", str(deb), str(tree)])
    out.mkdir()
    for name, pattern in (("kexec", "usr/sbin/kexec"), ("ld64.so.2", "usr/lib/*/ld64.so.2"),
                          ("libc.so.6", "usr/lib/*/libc.so.6")):  # fmt: skip
        found = sorted(tree.glob(pattern)) or sorted(tree.glob(pattern.replace("usr/", "", 1)))
        if not found:
            raise FileNotFoundError(f"{pattern} in sid's {', '.join(SID_PACKAGES)}")
        shutil.copyfile(found[0].resolve(), out / name)
        (out / name).chmod(0o755)
    (out / "versions").write_text("".join(f"{v[1]} {v[3]}\n" for v in versions))
    shutil.rmtree(tree)
    done.write_text("")
    return out


def _newc_one_file() -> bytes:
    """A newc archive holding one small file: what the corpus loads as its initrd."""

    def entry(name: bytes, mode: int, data: bytes) -> bytes:
        fields = (1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + name + b"\0"
        head += bytes(-len(head) % 4)
        return head + data + bytes(-len(data) % 4)

    blob = entry(b"init", 0o100755, b"#!/bin/sh\n") + entry(b"TRAILER!!!", 0, b"")
    return blob + bytes(-len(blob) % 512)


_FUNCTIONS = """\
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
shape() {  # the shape of a captured stream: - (empty), usage, line or text
    if [ ! -s "$1" ]; then echo -; elif grep -qi '^usage:' "$1"; then echo usage
    elif [ "$(wc -l < "$1")" -le 1 ]; then echo line; else echo text; fi
}
reset() {  # nothing loaded for a panic; a kernel for -e when $1 = 1
    /sbin/kexec -p -u 2>/dev/null; /sbin/kexec -u 2>/dev/null
    if [ "$1" = 1 ]; then /sbin/kexec -l /boot/vmlinux --append=corpus || echo reset failed; fi
}
form() {  # form KEY EXEC_LOADED TOOL ARGS...: run one form, report what a script sees
    key=$1 loaded=$2
    shift 2
    reset "$loaded"
    "$@" > /tmp/corpus.out 2> /tmp/corpus.err < /dev/null
    rc=$?
    grep -v NOISE_PATTERNS /tmp/corpus.out > /tmp/corpus.out.f
    grep -v NOISE_PATTERNS /tmp/corpus.err > /tmp/corpus.err.f
    lab_result "$key" "$rc $(shape /tmp/corpus.out.f) $(shape /tmp/corpus.err.f) \
$(cat /sys/kernel/kexec_loaded)$(cat /sys/kernel/kexec_crash_loaded) \
$(shape /tmp/corpus.out) $(shape /tmp/corpus.err)"
    lab_result "${key}_out" "$(head -c 200 /tmp/corpus.out | tr '\\n' '|')"
    lab_result "${key}_err" "$(head -c 300 /tmp/corpus.err | tr '\\n' '|')"
}
cp /sys/firmware/fdt /tmp/dtb
lab_result reference_version "$(REF_VERSION)"
"""


def key(index: int, tool: str) -> str:
    return f"corpus_{index}_{tool.replace('-', '_')}"


def script(forms: list[Form]) -> str:
    """The guest's shell script: every form with every tool, from the same state."""
    head = _FUNCTIONS.replace("REF_VERSION", f"{REFERENCE} --version 2>&1 | head -n 1")
    patterns = " ".join(f"-e {shlex.quote('^' + n)}" for n in NOISE)
    lines = [head.replace("NOISE_PATTERNS", patterns)]
    for i, f in enumerate(forms):
        for tool, command in TOOLS.items():
            lines.append(f"form {key(i, tool)} {int(f.exec_loaded)} {command} {f.words()}")
    lines.append("reset 0")
    return "\n".join(lines) + "\n"


def scenario(kernel: Kernel, forms: list[Form]) -> Scenario:
    step = Step("corpus", "sh /lab/corpus.sh", timeout=STEP_TIMEOUT)
    return Scenario(
        name=f"corpus-{kernel}",
        description=f"the client corpus, kexec-tools 2.0.32 and pykexec, on {kernel}",
        loader=Loader.PYKEXEC,
        cpus=1,
        mem_mib=2048,
        crashkernel="640M",
        kernel=kernel,
        stages=((Stage.FIRST, (step,)),),
    )


def kexec_files(layout: CacheLayout) -> tuple[GuestFile, ...]:
    """sid's kexec, ld64.so.2 and libc.so.6 in the guest's GUEST_DIR (what
    ``Scenario.sid_kexec`` runs as $KEXEC)."""
    sid = sid_kexec_tools(layout)
    return tuple(GuestFile(f"{GUEST_DIR.lstrip('/')}/{n}", (sid / n).read_bytes(), 0o755)
                 for n in ("kexec", "ld64.so.2", "libc.so.6"))  # fmt: skip


def guest_files(layout: CacheLayout, forms: list[Form]) -> tuple[GuestFile, ...]:
    files = list(kexec_files(layout))
    files.append(GuestFile("lab/corpus-initrd.img", _newc_one_file()))
    files.append(GuestFile("lab/corpus.sh", script(forms).encode()))
    return tuple(files)


@dataclasses.dataclass(frozen=True)
class Seen:
    """What a script saw from one form with one tool."""

    status: int
    stdout: str  # "", "line", "text" or "usage" (tests/test_cli.py's shapes), NOISE left out
    stderr: str
    loaded: str  # kexec_loaded and kexec_crash_loaded after the form, e.g. "10"
    raw: str  # the two shapes with NOISE, e.g. "line line"
    out: str  # the start of stdout and of stderr, for the record
    err: str

    def outcome(self) -> tuple[int, str, str]:
        return self.status, self.stdout, self.stderr


def parse(results: dict[str, str], count: int) -> list[dict[str, Seen]]:
    """The guest's report, per form, per tool."""
    out: list[dict[str, Seen]] = []
    for i in range(count):
        row = {}
        for tool in TOOLS:
            rc, so, se, loaded, raw_out, raw_err = results[key(i, tool)].split()
            row[tool] = Seen(int(rc), _shape(so), _shape(se), loaded, f"{raw_out} {raw_err}",
                             results.get(key(i, tool) + "_out", ""),
                             results.get(key(i, tool) + "_err", ""))  # fmt: skip
        out.append(row)
    return out


def _shape(word: str) -> str:
    return "" if word == "-" else word
