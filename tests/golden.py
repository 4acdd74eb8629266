# SPDX-License-Identifier: GPL-2.0-or-later
"""Golden plans: the exact load pykexec plans for each committed snapshot, reviewed once.

For every snapshot in tests/fixtures/snapshots/ and each load it supports (``-l``;
``-p`` where its /chosen has a crash region), with the synthetic kernels of
tests/kernels.py in both byte orders, tests/fixtures/golden/<case>.json pins the
entry, the flags, run_at_load, the command line and every segment: kind, address,
memsz, bufsz and the SHA-256 of its bytes.  So that a reviewer reads what changed, not
only that a digest did, the device tree is also pinned as text (tests/fixtures/golden/
<case>.dts, decompiled by dtc, an independent reader) and the ELF core header's program
headers as fields (read by pyelftools): a change shows as a diff of those.

The purgatory segment is pinned by address and memsz only. Its bytes are machine
code that changes with every purgatory edit, and its bufsz with every instruction
added; its behaviour is proven where it can be (tests/test_purgatory.py runs it
under qemu-user and disassembles it with GNU objdump), and what it is patched with
(entry points, digests of the other segments) follows from the pinned segments.
Pinning its bytes here would make every purgatory change rewrite every golden file,
and a golden diff that always appears is one nobody reads. Its footprint stays
pinned, because moving it moves the plan.

Regenerate on purpose, after reviewing the change:

    python3 -m tests.golden            # show what differs (exit status 1 if anything)
    python3 -m tests.golden --update   # rewrite the files, printing what changed
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.kernels import make_vmlinux

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "fixtures" / "snapshots"
GOLDEN = HERE / "fixtures" / "golden"
UPDATE = "python3 -m tests.golden --update"

#: The inputs every case shares, written to a temporary directory (deterministic bytes).
KERNEL_SIZE, KERNEL_MEMSZ = 0x120000, 0x200000
INITRD = b"070701" + bytes(range(256)) * 4000
APPEND = "console=hvc0"
BYTE_ORDERS = {"le": "little", "be": "big"}
UNPINNED_BYTES = frozenset({"purgatory"})  # see the module docstring


@dataclass(frozen=True)
class Case:
    snapshot: str
    load: str  # "-l" or "-p"
    order: str  # "le" or "be": the kernel's byte order

    @property
    def name(self) -> str:
        return f"{self.snapshot}{self.load.replace('-', '.')}.{self.order}"

    @property
    def path(self) -> Path:
        return GOLDEN / f"{self.name}.json"

    @property
    def dts_path(self) -> Path:
        return GOLDEN / f"{self.name}.dts"


def cases() -> list[Case]:
    """Every (snapshot, load, kernel byte order) that has a golden plan."""
    out = []
    for snap in sorted(p for p in SNAPSHOTS.iterdir() if (p / "proc/device-tree").is_dir()):
        crash = (snap / "proc/device-tree/chosen/linux,crashkernel-base").is_file()
        out += [Case(snap.name, "-l", order) for order in BYTE_ORDERS]
        if crash:  # a crash kernel must share the running (little-endian) kernel's order
            out.append(Case(snap.name, "-p", "le"))
    return out


def _hex(n: int) -> str:
    return f"{n:#x}"


def dts_text(blob: bytes) -> str:
    """The device tree as dtc decompiles it (``dtc -I dtb -O dts``)."""
    from tests.oracles import dtc

    done = subprocess.run(
        [dtc(), "-q", "-I", "dtb", "-O", "dts", "-s", "-"], input=blob, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def core_header_fields(blob: bytes) -> list[dict[str, str]]:
    """The ELF core header's program headers, as pyelftools reads them."""
    from elftools.elf.elffile import ELFFile

    return [
        {
            "type": str(s["p_type"]),
            "offset": _hex(s["p_offset"]),
            "vaddr": _hex(s["p_vaddr"]),
            "paddr": _hex(s["p_paddr"]),
            "filesz": _hex(s["p_filesz"]),
            "memsz": _hex(s["p_memsz"]),
        }
        for s in ELFFile(io.BytesIO(blob)).iter_segments()
    ]


def plan_dts(case: Case) -> str:
    """The planned device tree of ``case`` as text."""
    return _plan_texts(case)[1]


def plan_record(case: Case) -> dict[str, Any]:
    """The plan of ``case``, as the golden file records it."""
    return _plan_texts(case)[0]


def _plan_texts(case: Case) -> tuple[dict[str, Any], str]:
    from pykexec.commands.cli import parse
    from pykexec.system.loader import plan_load
    from pykexec.system.sysinfo import SystemView

    with tempfile.TemporaryDirectory() as tmp:
        kernel, initrd = Path(tmp) / "vmlinux", Path(tmp) / "initrd.img"
        kernel.write_bytes(
            make_vmlinux(BYTE_ORDERS[case.order], size=KERNEL_SIZE, memsz=KERNEL_MEMSZ)
        )
        initrd.write_bytes(INITRD)
        cmd = parse([case.load, str(kernel), f"--initrd={initrd}", f"--append={APPEND}"])
        assert cmd.options is not None
        plan = plan_load(cmd.options, SystemView(SNAPSHOTS / case.snapshot))
    segments: list[dict[str, Any]] = []
    dts = ""
    for s in plan.image.segments:
        seg: dict[str, Any] = {
            "kind": str(s.kind),
            "mem": _hex(s.mem.start),
            "memsz": _hex(s.mem.size),
        }
        if seg["kind"] not in UNPINNED_BYTES:
            seg["bufsz"] = _hex(len(s.buf))
            seg["sha256"] = hashlib.sha256(bytes(s.buf)).hexdigest()
        if seg["kind"] == "device-tree":
            dts = dts_text(bytes(s.buf))
            seg["dts"] = case.dts_path.name
        if seg["kind"] == "elfcorehdr":
            seg["program_headers"] = core_header_fields(bytes(s.buf))
        segments.append(seg)
    return {
        "case": {
            "snapshot": case.snapshot,
            "argv": [case.load, "KERNEL", "--initrd=INITRD", f"--append={APPEND}"],
            "kernel": f"tests.kernels.make_vmlinux({BYTE_ORDERS[case.order]!r}, "
            f"size={KERNEL_SIZE:#x}, memsz={KERNEL_MEMSZ:#x})",
            "initrd": f"tests.golden.INITRD ({len(INITRD)} bytes)",
        },
        "entry": _hex(plan.image.entry),
        "flags": _hex(int(plan.image.flags)),
        "run_at_load": _hex(plan.run_at_load),
        "command_line": plan.bootargs,
        "segments": segments,
    }, dts


def dts_differences(golden: str, actual: str, name: str) -> list[str]:
    """The device tree's change as a unified diff of its dts text."""
    diff = difflib.unified_diff(golden.splitlines(), actual.splitlines(), name, "planned", n=1)
    return [line for line in diff if not line.startswith(("---", "+++"))]


def differences(golden: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs, one line per field, golden -> actual: ``segment 3 (kernel): mem A -> B``."""
    out = [
        f"{key}: {golden.get(key)!r} -> {actual.get(key)!r}"
        for key in ("case", "entry", "flags", "run_at_load", "command_line")
        if golden.get(key) != actual.get(key)
    ]
    old, new = golden.get("segments", []), actual.get("segments", [])
    if [s["kind"] for s in old] != [s["kind"] for s in new]:
        out.append(f"segments: {[s['kind'] for s in old]} -> {[s['kind'] for s in new]}")
    for i in range(min(len(old), len(new))):
        a, b = old[i], new[i]
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"segment {i} ({b.get('kind')}): {key} {a.get(key)} -> {b.get(key)}")
    return out


def load(case: Case) -> dict[str, Any] | None:
    return json.loads(case.path.read_text()) if case.path.is_file() else None


def load_dts(case: Case) -> str:
    return case.dts_path.read_text() if case.dts_path.is_file() else ""


def stale_files() -> list[Path]:
    """Golden files that no case produces any more."""
    wanted = {p for c in cases() for p in (c.path, c.dts_path)}
    return sorted(p for p in GOLDEN.glob("*.*") if p not in wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.golden", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    args = parser.parse_args(argv)
    changed = 0
    print("golden plans (differences: golden -> planned)")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for case in cases():
        (actual, dts), golden = _plan_texts(case), load(case)
        diff = ["new"] if golden is None else differences(golden, actual)
        diff += dts_differences(load_dts(case), dts, case.dts_path.name) if golden else []
        changed += bool(diff)
        print(
            f"{case.name}: {'unchanged' if not diff else ('updated' if args.update else 'differs')}"
        )
        for line in diff:
            print(f"    {line}")
        if diff and args.update:
            case.path.write_text(json.dumps(actual, indent=2) + "\n")
            case.dts_path.write_text(dts)
    for path in stale_files():
        changed += 1
        print(f"{path.name}: {'removed' if args.update else 'stale'} (no such case)")
        if args.update:
            path.unlink()
    print(f"{changed} of {len(cases())} golden plans {'updated' if args.update else 'differ'}")
    return 0 if args.update or not changed else 1


if __name__ == "__main__":
    sys.exit(main())
