#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest helper: CPU and memory hotplug facts, as LAB-RESULT lines.

Usage:
  hotplug.py facts KEY          crash hotplug switches (/sys/devices/system/{cpu,memory}/
                                crash_hotplug), crash_elfcorehdr_size, CPUs present and
                                online, System RAM; saves the RAM list for `wait`
  hotplug.py wait CPUS MIB SECONDS
                                wait (bounded) until CPUS CPUs are online and System RAM
                                grew by MIB (a DIMM arrives one memory block at a time);
                                online offline blocks as movable; the new RAM as
                                hot_ram=[start, end) ranges (saved for `placement`)
  hotplug.py placement PID      how many pages of PID's largest anonymous mapping lie in
                                the hot-added RAM (/proc/PID/pagemap, root only)

Standard library only; a missing file is a result, never a traceback.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
import time

IOMEM = "/proc/iomem"
CPU = "/sys/devices/system/cpu"
MEMORY = "/sys/devices/system/memory"
BOOT_RAM = "/tmp/lab-boot-ram"
HOT_RAM = "/tmp/lab-hot-ram"
# Documentation/admin-guide/mm/pagemap.rst: bit 63 present, bits 0-54 the PFN.
PAGEMAP_PRESENT = 1 << 63
PAGEMAP_PFN = (1 << 55) - 1


def result(key: str, value: object) -> None:
    print(f"LAB-RESULT {key}={value}", flush=True)


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return f"unavailable: {exc.strerror}"


def system_ram() -> list[tuple[int, int]]:
    """Top-level System RAM ranges of /proc/iomem as [start, end)."""
    ranges = []
    with open(IOMEM) as f:
        for line in f:
            if line.startswith(" ") or not line.rstrip().endswith(": System RAM"):
                continue
            start, end = line.split(":")[0].strip().split("-")
            ranges.append((int(start, 16), int(end, 16) + 1))
    return ranges


def fmt(ranges: list[tuple[int, int]]) -> str:
    return ",".join(f"{a:#x}-{b:#x}" for a, b in ranges) or "none"


def save(path: str, ranges: list[tuple[int, int]]) -> None:
    with open(path, "w") as f:
        f.write(fmt(ranges) + "\n")


def load(path: str) -> list[tuple[int, int]]:
    text = read(path)
    if text in ("none", "") or text.startswith("unavailable"):
        return []
    pairs = (r.split("-") for r in text.split(","))
    return [(int(a, 16), int(b, 16)) for a, b in pairs]


def online_cpus() -> int:
    count = 0
    for part in read(f"{CPU}/online").split(","):
        if part.isdigit():
            count += 1
        elif "-" in part:
            a, b = part.split("-")
            count += int(b) - int(a) + 1
    return count


def facts(key: str) -> int:
    result(f"{key}_cpu_crash_hotplug", read(f"{CPU}/crash_hotplug"))
    result(f"{key}_memory_crash_hotplug", read(f"{MEMORY}/crash_hotplug"))
    result(f"{key}_elfcorehdr_size", read("/sys/kernel/crash_elfcorehdr_size"))
    result(f"{key}_cpus_present", read(f"{CPU}/present"))
    result(f"{key}_cpus_online", read(f"{CPU}/online"))
    result(f"{key}_auto_online_blocks", read(f"{MEMORY}/auto_online_blocks"))
    ram = system_ram()
    result(f"{key}_ram", fmt(ram))
    save(BOOT_RAM, ram)
    return 0


def online_blocks() -> int:
    """Online every offline memory block (movable: user pages come from it first)."""
    done = 0
    for name in sorted(os.listdir(MEMORY)):
        state = f"{MEMORY}/{name}/state"
        if name.startswith("memory") and read(state) == "offline":
            try:
                with open(state, "w", buffering=1) as f:
                    f.write("online_movable\n")
            except OSError as e:
                # The kernel's own auto-onlining (auto_online_blocks) can win the
                # race between our read and our write: the block is online then.
                if e.errno not in (errno.EINVAL, errno.EBUSY) or read(state) == "offline":
                    raise
                continue
            done += 1
    return done


def hot_ranges(boot: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """System RAM now that was not System RAM at boot (whole ranges outside boot's)."""
    return [(a, b) for a, b in system_ram() if not any(a < e and s < b for s, e in boot)]


def wait(cpus: int, mib: int, seconds: float) -> int:
    boot = load(BOOT_RAM)
    end = time.monotonic() + seconds
    onlined = 0
    while True:
        onlined += online_blocks()
        hot = hot_ranges(boot)
        grown = sum(b - a for a, b in hot) >= mib << 20
        if (online_cpus() >= cpus and grown) or time.monotonic() > end:
            break
        time.sleep(0.2)
    result("hot_cpus_online", read(f"{CPU}/online"))
    result("hot_cpus_present", read(f"{CPU}/present"))
    result("hot_blocks_onlined_here", onlined)
    result("hot_ram", fmt(hot))
    save(HOT_RAM, hot)
    return 0 if online_cpus() >= cpus and grown else 1


def largest_anon(pid: str) -> tuple[int, int]:
    best = (0, 0)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 5 or (len(fields) == 6 and fields[5] == "[heap]"):
                a, b = (int(x, 16) for x in fields[0].split("-"))
                if b - a > best[1] - best[0]:
                    best = (a, b)
    return best


def placement(pid: str) -> int:
    hot = load(HOT_RAM)
    start, end = largest_anon(pid)
    page = os.sysconf("SC_PAGE_SIZE")
    pages = (end - start) // page
    inside = present = 0
    with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as f:
        f.seek(start // page * 8)
        table = f.read(pages * 8)
    for (entry,) in struct.iter_unpack("=Q", table):
        if entry & PAGEMAP_PRESENT:
            present += 1
            phys = (entry & PAGEMAP_PFN) * page
            inside += any(a <= phys < b for a, b in hot)
    result("fill_pages_in_hot_ram", f"{inside}/{present}")
    return 0 if present and inside * 100 >= present * 95 else 1


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "facts":
        return facts(argv[2])
    if len(argv) == 5 and argv[1] == "wait":
        return wait(int(argv[2]), int(argv[3]), float(argv[4]))
    if len(argv) == 3 and argv[1] == "placement":
        return placement(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
