# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab capture NAME``: copy a booted guest's /proc and /sys facts into a fixture.

The guest copies the files a loader reads into /tmp/snap (laid out as a
sysroot: ``proc/device-tree/...``, ``sys/kernel/...``), then prints
``tar | gzip | base64`` between ``LAB-DATA-BEGIN <sha256>`` and
``LAB-DATA-END``.  The host checks the digest and unpacks the tree into
``tests/fixtures/snapshots/NAME/``.  Device-tree property files are binary and
kept byte-exact.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import io
import re
import shutil
import tarfile
from pathlib import Path

from lab.errors import GuestFailure
from lab.paths import SNAPSHOT_DIR, CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import POWERNV_MEM_MIB, Machine, Scenario, shell_scenario
from lab.vm import ConsoleLine

# Files copied when present (sysroot-relative); cpu* entries are globbed in the guest.
SNAPSHOT_FILES: tuple[str, ...] = (
    "proc/iomem",
    "proc/cmdline",
    "proc/meminfo",
    "sys/kernel/kexec_loaded",
    "sys/kernel/kexec_crash_loaded",
    "sys/kernel/kexec_crash_size",
    "sys/kernel/vmcoreinfo",
    "sys/kernel/crash_elfcorehdr_size",
    "sys/devices/system/cpu/possible",
    "sys/devices/system/cpu/present",
    "sys/devices/system/cpu/online",
    "sys/devices/system/cpu/cpu*/crash_notes",
    "sys/devices/system/cpu/cpu*/crash_notes_size",
)
BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")


def guest_script() -> str:
    """The busybox-sh step that gathers the snapshot and prints it."""
    copies = "\n".join(
        f'for f in /{rel}; do [ -e "$f" ] || continue; '
        'mkdir -p "$d$(dirname "$f")"; cat "$f" > "$d$f"; done'
        for rel in SNAPSHOT_FILES
    )
    return f"""d=/tmp/snap
mkdir -p $d/proc
cp -r /sys/firmware/devicetree/base $d/proc/device-tree || return 1
{copies}
tar -C $d -cf - . | gzip -9 > /tmp/snap.tgz || return 1
echo "LAB-DATA-BEGIN $(sha256sum < /tmp/snap.tgz | cut -d' ' -f1)"
base64 < /tmp/snap.tgz
echo "LAB-DATA-END"
"""


class _Collector:
    def __init__(self) -> None:
        self.digest: str | None = None
        self.chunks: list[str] = []
        self.inside = False
        self.complete = False

    def __call__(self, line: ConsoleLine) -> None:
        text = line.text.strip()
        if text.startswith("LAB-DATA-BEGIN "):
            self.digest, self.inside = text.split()[1], True
        elif text == "LAB-DATA-END":
            self.inside, self.complete = False, True
        elif self.inside and BASE64_LINE.match(text):
            self.chunks.append(text)

    def payload(self) -> bytes:
        if not self.complete or self.digest is None:
            raise GuestFailure("capture: no complete LAB-DATA block on the console")
        data = base64.b64decode("".join(self.chunks))
        if hashlib.sha256(data).hexdigest() != self.digest:
            raise GuestFailure("capture: data block digest mismatch (console interleaving?)")
        return data


def unpack(data: bytes, dest: Path) -> int:
    """Replace ``dest`` with the tree in the gzip'd tar ``data``; returns the file count."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
        return sum(1 for m in tar.getmembers() if m.isfile())


def capture_scenario(
    cpus: int, mem_mib: int, crashkernel: str | None, machine: Machine = Machine.PSERIES
) -> Scenario:
    s = shell_scenario(guest_script(), cpus=cpus, mem_mib=mem_mib, machine=machine)
    return dataclasses.replace(s, name="capture", crashkernel=crashkernel)


def default_mem_mib(machine: Machine, crashkernel: str | None) -> int:
    """pseries: 2 GiB with a crash reservation, else 1 GiB; powernv: at least 2 GiB."""
    if machine is Machine.POWERNV:
        return POWERNV_MEM_MIB
    return 2048 if crashkernel else 1024


def capture(layout: CacheLayout, args: argparse.Namespace) -> bool:
    """Boot, collect, verify and unpack one snapshot; prints a short report."""
    mem = args.mem or default_mem_mib(args.machine, args.crashkernel)
    scenario = capture_scenario(args.cpus, mem, args.crashkernel, args.machine)
    collector = _Collector()
    report = run(layout, RunOptions(scenario, timeout=args.timeout), collector)
    print(report.format())
    if not report.passed:
        return False
    dest = SNAPSHOT_DIR / args.name
    count = unpack(collector.payload(), dest)
    print(f"snapshot {args.name}: {count} files in {dest}")
    return True
