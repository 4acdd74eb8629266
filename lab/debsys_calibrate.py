# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab.debsys_calibrate``: crash sizing on kdump-tools' own initramfs.

The busybox lab's calibration (:mod:`lab.calibrate`) measures the lab's payloads;
this measures the Debian system (:mod:`lab.debsys`) as a distribution runs it:
kdump-tools loads its crash kernel at boot (kexec-tools, or the project's .deb's
pykexec with ``--loader pykexec``) with the kdump initramfs it built itself, a
sysrq crash, and the crash kernel boots that initramfs, mounts the root and runs
kdump-tools-dump.service (systemd), which saves the dump and the dmesg.

A probe is one ``kdump`` run at one ``crashkernel=`` size (the QEMU lock taken for
that run only).  Its console log says how far the crash kernel got
(:data:`STAGES`): *booted* is its initramfs's init running (initramfs-tools'
"Loading, please wait..."), the busybox lab's "reached its userspace"; *dumped* is
the host's check of the disk afterwards (the makedumpfile dump and the dmesg with
the run's marker, :func:`lab.debsys_run.check_dump`) with the system back up.
The first kernel gets ``panic=10`` (:data:`PANIC_WORD`): kdump-config passes its
command line on, so a crash kernel (or the kdump initramfs) that panics reboots
into the system, which reports no dump, rather than waiting for the time limit.
A run stopped by virtio-blk's probe hang (:data:`lab.debsys_run.VIRTIO_HANG`) says
nothing about the size: it is run once more and counted in the probe.  (Its cause was
the panic's CPU, lab/README.md "kdump from another CPU"; runs panic on CPU 0 since.)

The case's facts are the lab's own: the vmlinux by pyelftools, the kdump initramfs
read from the disk image with debugfs and walked as a cpio (:mod:`lab.calibrate`),
the crash command line as kdump-config printed it.  They and every probe go to
``lab/calibration/debsys.json``, from which tests/test_headroom.py computes
pykexec's verdict at every step as for the matrix's cases.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from lab import debsys, debsys_run
from lab.calibrate import (
    STEP_MIB,
    YIELD_SECONDS,
    _decompressed,
    _qemu_lock,
    _walk_newc,
    kernel_facts,
    pykexec_parts,
    report,
    thresholds,
)
from lab.debsys_image import DebianSystem
from lab.errors import AssetError
from lab.paths import REPO_ROOT, CacheLayout, cache

TABLE = REPO_ROOT / "lab" / "calibration" / "debsys.json"
COMMAND = "python3 -m lab.debsys_calibrate"
PANIC_WORD = "panic=10"
PROBE_TIMEOUT = 540.0  # a good run took 150-305 s (a loaded host); a thrashing one stops here
LOADERS = {"kexec-tools": "kexec", "pykexec": "pykexec"}  # the matrix's loader names
# How far the crash kernel got, each stage by a console line of its own (after the
# crash kernel's "Linux version"): initramfs-tools' init (scripts in the kdump
# initramfs), systemd on the root, kdump-tools-dump.service's kdump-config, the
# vmcore saved (kdump-config's own words).
STAGES = (
    ("init", "Loading, please wait..."),
    ("systemd", "systemd[1]: "),
    ("kdump-config", "Starting kdump-tools:"),
    ("vmcore saved", "saved vmcore in"),
)
OOM = ("Out of memory", "oom-kill")
TROUBLE = ("Initramfs unpacking failed", *OOM, "Kernel panic", "blocked for more than")
_KERNEL = re.compile(r"\] Linux version ")
_CMDLINE = "Modified cmdline:"  # kdump-config's line with the crash kernel's command line
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\0", "xz"))


def kernels(log: str) -> list[str]:
    """The console log cut at each kernel's "Linux version" line: [before, 1st, 2nd, ...]."""
    lines = log.splitlines()
    cuts = [i for i, line in enumerate(lines) if _KERNEL.search(line)]
    edges = [0, *cuts, len(lines)]
    return ["\n".join(lines[a:b]) for a, b in zip(edges, edges[1:])]


def crash_evidence(log: str) -> dict[str, Any]:
    """What the crash kernel's part of the log (the second kernel) shows."""
    parts = kernels(log)
    crash = parts[2] if len(parts) > 2 else ""
    reached = [name for name, text in STAGES if text in crash]
    trouble = sorted({word for word in TROUBLE if word in crash})
    memory = next((ln.split("] ", 2)[-1] for ln in crash.splitlines() if "] Memory: " in ln), "")
    first = parts[1] if len(parts) > 1 else ""
    line = next((ln.split(_CMDLINE, 1)[1].strip() for ln in first.splitlines()
                 if _CMDLINE in ln), "")  # fmt: skip
    return {"reached": reached, "trouble": trouble, "crash_memory": memory[:200],
            "crash_cmdline": line}  # fmt: skip


def _once(layout: CacheLayout, system: DebianSystem, mib: int, loader: str, cpus: int) -> Any:
    with _qemu_lock():
        report = debsys_run.run_scenario(
            layout, system, "kdump", loader, crashkernel=f"{mib}M",
            cmdline=(PANIC_WORD,), timeout=PROBE_TIMEOUT, cpus=cpus,
        )  # fmt: skip
    time.sleep(YIELD_SECONDS)  # whoever waits for the lock has it first
    return report


def _flaky(report: Any) -> bool:
    """Stopped by virtio-blk's probe hang in a crash kernel that had not run out of memory:
    the known flakiness, which says nothing about the size (after an OOM kill the same
    hang is the size's)."""
    if report.reason != debsys_run.VIRTIO_HANG:
        return False
    trouble = crash_evidence(report.log.read_text(errors="replace"))["trouble"]
    return not set(trouble) & set(OOM)


def probe(layout: CacheLayout, system: DebianSystem, mib: int, loader: str,
          cpus: int = debsys_run.CPUS) -> dict[str, Any]:  # fmt: skip
    """One kdump run at ``mib`` (twice when the first ends in the flaky virtio-blk hang)."""
    started, hangs = time.monotonic(), 0
    report = _once(layout, system, mib, loader, cpus)
    if _flaky(report):
        hangs += 1
        report = _once(layout, system, mib, loader, cpus)
        hangs += _flaky(report)
    seen = crash_evidence(report.log.read_text(errors="replace"))
    flaky = _flaky(report)
    result = {"crashkernel_mib": mib, "loader": LOADERS[loader],
              "booted": None if flaky else "init" in seen["reached"],
              "dumped": None if flaky else report.passed,
              "reason": (report.reason.splitlines() or [""])[0][:200],
              "virtio_hangs": hangs, "kernel_boots": report.boots, **seen,
              "sizing": [i for i in report.info if "sizing: " in i][:12],
              "seconds": round(report.seconds, 1),
              "wall_seconds": round(time.monotonic() - started, 1),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    print(f"debsys-calibrate: {loader} crashkernel={mib}M booted={result['booted']} "
          f"dumped={result['dumped']} reached={seen['reached']} hangs={hangs} "
          f"{result['seconds']} s: {result['reason']}", flush=True)  # fmt: skip
    return result


def initrd_facts(system: DebianSystem) -> dict[str, Any]:
    """kdump-tools' initramfs as it lies on the disk image (debugfs), walked as a cpio."""
    name = f"/var/lib/kdump/initrd.img-{system.kernel_version}"
    with tempfile.TemporaryDirectory(prefix="pykexec-debcal-") as tmp:
        path = Path(tmp) / "initrd.img"
        debsys_run.debugfs(system.image, f"dump {name} {path}")
        data = path.read_bytes()
        codec = next((name for magic, name in _MAGIC if data.startswith(magic)), "")
        if not codec:
            raise AssetError(f"{name} in {system.image}: not gzip, zstd or xz ({data[:6]!r})")
        with _decompressed(path, codec) as f:
            unpacked = _walk_newc(f)
    return {"path": name, "format": codec, "file_bytes": len(data), **unpacked,
            "pykexec_parts": pykexec_parts(data)}  # fmt: skip


def case_row(system: DebianSystem, cpus: int) -> dict[str, Any]:
    """The case's facts (the command line comes with the first probe)."""
    return {"id": f"debsys-{system.kernel_version}:kdump-tools:{cpus}cpu",
            "kernel": "debsys", "kernel_version": system.kernel_version,
            "payload": "kdump-tools", "cpus": cpus, "crash_word": "maxcpus=1",
            "command_line": "", "kernel_image": kernel_facts(system.vmlinux),
            "initrd": initrd_facts(system), "status": "not run", "probes": []}  # fmt: skip


def load_table(table: Path = TABLE) -> dict[str, Any]:
    if table.is_file():
        doc: dict[str, Any] = json.loads(table.read_text())
        return doc
    return {"command": COMMAND, "step_mib": STEP_MIB, "machine_mem_mib": debsys_run.MEM_MIB,
            "cases": []}  # fmt: skip


def save(row: dict[str, Any], table: Path = TABLE) -> None:
    """``row`` into the table as it is now (read, changed, written at once)."""
    doc = load_table(table)
    doc["cases"] = [r for r in doc["cases"] if r["id"] != row["id"]] + [row]
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(json.dumps(doc, indent=1) + "\n")


def _counted(row: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The probes that tell ``key`` (None: a run that says nothing about it)."""
    return [p for p in row["probes"] if p[key] is not None]


def at(layout: CacheLayout, system: DebianSystem, row: dict[str, Any], mib: int,
       loader: str = "kexec-tools") -> None:  # fmt: skip
    """Probe at ``mib`` and save the row with its thresholds at once."""
    p = probe(layout, system, mib, loader, row["cpus"])
    row["probes"].append(p)
    if not row["command_line"] and p["crash_cmdline"] and loader == "kexec-tools":
        row["command_line"] = re.sub(r" elfcorehdr=\S+", "", p["crash_cmdline"])
    row.update(boot=thresholds(_counted(row, "booted"), "booted"),
               dump=thresholds(_counted(row, "dumped"), "dumped"),
               status="measured")  # fmt: skip
    save(row)


def bisect(layout: CacheLayout, system: DebianSystem, row: dict[str, Any], key: str,
           runs: list[int]) -> None:  # fmt: skip
    """Probe between the largest size without ``key`` and the smallest with it."""
    while runs[0] > 0:
        t = thresholds(_counted(row, key), key)
        lo, hi = t["max_not"], t["min"]
        if lo is None or hi is None or hi - lo <= STEP_MIB:
            return
        runs[0] -= 1
        at(layout, system, row, (lo + hi) // 2 // STEP_MIB * STEP_MIB)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    ap.add_argument("--at", type=int, nargs="*", default=[], help="sizes (MiB) to probe first")
    ap.add_argument("--runs", type=int, default=12, help="bisection probes at most")
    ap.add_argument("--loader", choices=tuple(LOADERS), default="kexec-tools")
    ap.add_argument("--deb", type=Path, help="the project's .deb (--loader pykexec)")
    ap.add_argument("--cpus", type=int, default=debsys_run.CPUS, help="the guest's CPUs")
    ap.add_argument("--facts-only", action="store_true", help="measure the facts, no QEMU")
    ap.add_argument(
        "--report",
        action="store_true",
        help="print the table with pykexec's verdicts (stored beside), no QEMU",
    )
    args = ap.parse_args(argv)
    if args.report:
        print(report(TABLE))
        return 0
    layout = cache()
    debsys.install_host_tools()
    system = debsys.system_for(layout, args.loader, args.deb)
    base = debsys.system(layout)
    fresh = case_row(base, args.cpus)
    row = next((r for r in load_table()["cases"] if r["id"] == fresh["id"]), fresh)
    row.update(kernel_image=fresh["kernel_image"], initrd=fresh["initrd"])
    save(row)
    if args.facts_only:
        return 0
    for mib in args.at:
        at(layout, system, row, mib, args.loader)
    if args.loader == "kexec-tools":
        runs = [args.runs]
        bisect(layout, system, row, "dumped", runs)
        bisect(layout, system, row, "booted", runs)
    print(f"debsys-calibrate: {row['id']}: boot {row.get('boot')}, dump {row.get('dump')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
