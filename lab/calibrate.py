# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab calibrate-crashkernel``: the smallest crashkernel= that boots and dumps.

For each row (guest CPUs, payload initrd plain or gzip, the crash kernel's
nr_cpus=, which payload), the kdump scenario runs with its ``crashkernel`` field
overridden, bisecting between a size known to fail and one known to pass, to
:data:`STEP_MIB`.  "Passes" means the whole run passes.  Two payloads:

* ``full`` (reference-kdump): ``/boot/initrd.img``, the first kernel's own Debian
  root with Python; the crash kernel finds the nonce in /proc/vmcore and
  ``makedumpfile -d 31`` writes the dump into its RAM root (a tmpfs);
* ``lean`` (reference-kdump-lean): ``/boot/initrd-kdump.img``, busybox and
  makedumpfile only; the dump leaves the machine through the dump port and the
  host finds the nonce in it (lab.dumpcheck), as a distribution's kdump writes
  to disk or network.

The reference scenarios (kexec-tools) load the payload, so that pykexec's own
headroom refusal cannot bias the measurement: what the crash kernel needs does
not depend on which loader placed it.

Each run takes the lab lock (``/tmp/pykexec-lab.lock``) for itself only, so
other QEMU users interleave.  The table is written after every row, with the
payload's facts measured here by the lab's own means (pyelftools for the
kernel's memsz, a cpio walk for the initrd), which tests/test_headroom.py
compares with pykexec's headroom model.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from lab.assets import kernel_layout, newer_makedumpfile
from lab.initramfs import GuestFile, build
from lab.kernels import KERNEL_FACTS, needs_newer_makedumpfile
from lab.model import Kernel, Loader, Scenario, render
from lab.paths import REPO_ROOT, CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import CRASH_WORDS, SCENARIOS

TABLE = REPO_ROOT / "lab" / "calibration" / "crashkernel.json"
COMMAND = "python3 -m lab calibrate-crashkernel"
LOCK = os.environ.get("PYKEXEC_LAB_LOCK", "/tmp/pykexec-lab.lock")
STEP_MIB = 8
LOW_MIB, HIGH_MIB = 128, 512  # the failing and the kdump scenario's passing size
LEAN_LOW_MIB = 64  # below the 6.1 kernel's 40.5 MiB image and its own 19 MiB
# (guest CPUs, gzip the payload initrd, the crash kernel's nr_cpus=, the lean payload)
Row = tuple[int, bool, int, bool]
ROWS: tuple[Row, ...] = (
    (1, False, 1, False), (4, False, 1, False), (1, True, 1, False), (4, False, 4, False),
    (1, False, 1, True), (4, False, 1, True), (4, False, 4, True),
)  # fmt: skip
PAYLOADS = {False: "reference-kdump", True: "reference-kdump-lean"}
DUMPS = {False: "ram-root", True: "off-machine"}  # where the payload writes its dump
_NEWC = (b"070701", b"070702")
_S_IFMT, _S_IFREG = 0o170000, 0o100000


@contextmanager
def _lab_lock() -> Iterator[None]:
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _scenario(
    cpus: int, crashkernel_mib: int, nr_cpus: int = 1, lean: bool = False,
    kernel: Kernel = Kernel.DEBIAN_61,
) -> Scenario:  # fmt: skip
    base = SCENARIOS[PAYLOADS[lean]]
    words = CRASH_WORDS.replace("nr_cpus=1", f"nr_cpus={nr_cpus}")
    stages = tuple(
        (stage, tuple(dataclasses.replace(st, script=st.script.replace(CRASH_WORDS, words))
                      for st in steps))
        for stage, steps in base.stages
    )  # fmt: skip
    return dataclasses.replace(
        base, loader=Loader.KEXEC, cpus=cpus, kernel=kernel,
        crashkernel=f"{crashkernel_mib}M", stages=stages,
    )  # fmt: skip


def _probe(layout: CacheLayout, row: Row, mib: int, kernel: Kernel) -> dict[str, object]:
    cpus, gzip_, nr_cpus, lean = row
    started = time.monotonic()
    with _lab_lock():
        scenario = _scenario(cpus, mib, nr_cpus, lean, kernel)
        report = run(layout, RunOptions(scenario, timeout=400.0, compress=gzip_))
    reason = report.reason.splitlines()[0][:200] if report.reason else ""
    probe: dict[str, object] = {"crashkernel_mib": mib, "passed": report.passed,
                                "reason": reason,
                                "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    for key in ("dump_bytes", "host_dump_data_bytes", "meminfo"):  # the dump's size, where
        if key in report.results:
            probe[key] = report.results[key]
    print(f"calibrate: {kernel} {PAYLOADS[lean]} cpus={cpus} gzip={gzip_} nr_cpus={nr_cpus} "
          f"crashkernel={mib}M -> "
          f"{'PASS' if report.passed else 'FAIL ' + reason}", flush=True)  # fmt: skip
    return probe


def _walk_newc(stream: IO[bytes]) -> dict[str, int]:
    """Count what a newc stream unpacks to: entries, regular files, their bytes,
    and those bytes rounded up per file to 4 KiB and 64 KiB pages (tmpfs pages)."""
    facts = {"entries": 0, "files": 0, "data_bytes": 0, "stream_bytes": 0,
             "pages_4k_bytes": 0, "pages_64k_bytes": 0}  # fmt: skip
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        data = stream.read(n)
        pos += len(data)
        return data

    while True:
        head = take(4)
        if len(head) < 4:
            break
        if head == b"\0\0\0\0":
            continue
        head += take(106)
        if head[:6] not in _NEWC:
            raise ValueError(f"not a newc header at {pos - 110}")
        mode, size, namesize = (int(head[off : off + 8], 16) for off in (14, 54, 94))
        name = take(namesize)
        take(-(110 + namesize) % 4)
        take(size)
        take(-size % 4)
        if name.rstrip(b"\0") == b"TRAILER!!!":
            continue
        facts["entries"] += 1
        if mode & _S_IFMT == _S_IFREG:
            facts["files"] += 1
            facts["data_bytes"] += size
            facts["pages_4k_bytes"] += -(-size // 4096) * 4096
            facts["pages_64k_bytes"] += -(-size // 65536) * 65536
    facts["stream_bytes"] = pos
    return facts


def _kernel_facts(vmlinux: Path) -> dict[str, int]:
    from elftools.elf.elffile import ELFFile

    with vmlinux.open("rb") as f:
        loads = [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD"]
        start = min(s["p_paddr"] for s in loads)
        end = max(s["p_paddr"] + s["p_memsz"] for s in loads)
    return {"file_bytes": vmlinux.stat().st_size, "memsz": end - start}


def _payload_facts(
    layout: CacheLayout, gzip_: bool, lean: bool, kernel: Kernel
) -> dict[str, object]:
    """The initrd the crash kernel gets, as the runner builds it for ``kernel``."""
    scenario = _scenario(1, HIGH_MIB, lean=lean, kernel=kernel)
    newer = newer_makedumpfile(layout) if lean and needs_newer_makedumpfile(scenario) else None
    with tempfile.TemporaryDirectory(prefix="pykexec-calibrate-") as tmp:
        script = render(scenario)
        images = build(layout, Path(tmp), [GuestFile("lab/scenario.sh", script.encode())],
                       compress=gzip_, kdump=lean, kdump_newer=newer)  # fmt: skip
        path = images.kdump_initrd if lean and images.kdump_initrd else images.next_initrd
        gzip_ = gzip_ and not lean  # the lean initrd is never compressed
        opener = gzip.open if gzip_ else open
        with opener(path, "rb") as f:
            unpacked = _walk_newc(f)  # type: ignore[arg-type]
        return {"format": "gzip" if gzip_ else "cpio", "file_bytes": path.stat().st_size,
                **unpacked}  # fmt: skip


def _bisect(layout: CacheLayout, row: Row, kernel: Kernel) -> dict[str, object]:
    low = LEAN_LOW_MIB if row[3] else LOW_MIB
    probes = [_probe(layout, row, HIGH_MIB, kernel)]
    if not probes[-1]["passed"]:
        return {"probes": probes, "min_passing_mib": None, "max_failing_mib": None}
    probes.append(_probe(layout, row, low, kernel))
    if probes[-1]["passed"]:
        return {"probes": probes, "min_passing_mib": low, "max_failing_mib": None}
    lo, hi = low, HIGH_MIB
    while hi - lo > STEP_MIB:
        mid = (lo + hi) // 2 // STEP_MIB * STEP_MIB
        probes.append(_probe(layout, row, mid, kernel))
        lo, hi = (lo, mid) if probes[-1]["passed"] else (mid, hi)
    result: dict[str, object] = {"probes": probes, "min_passing_mib": hi, "max_failing_mib": lo}
    if not row[3]:  # the full payload keeps its dump in its tmpfs root: how big it was
        passing = [p for p in probes if p["crashkernel_mib"] == hi and "dump_bytes" in p]
        if passing:
            result["dump_in_ram_bytes"] = int(str(passing[0]["dump_bytes"]))
    return result


def _key(row: dict[str, object]) -> tuple[object, ...]:
    initrd = row["initrd"]
    assert isinstance(initrd, dict)
    return (row["kernel"], row["cpus"], initrd["format"], row["crash_nr_cpus"], row["payload"])


def calibrate(
    layout: CacheLayout, rows: tuple[Row, ...] = ROWS, table: Path = TABLE,
    kernel: Kernel = Kernel.DEBIAN_61,
) -> int:  # fmt: skip
    """Bisect every row on ``kernel`` and write the table, keeping the rows of other
    configurations already in it; 0 when every row found its edge."""
    document: dict[str, object] = {
        "command": COMMAND,
        "what": "smallest crashkernel= (MiB, to the step) with which the lab's kdump "
        "payload boots and dumps (reference-kdump for the full payload, which dumps into "
        "its RAM root; reference-kdump-lean for the lean one, which dumps off the "
        "machine), pseries under QEMU",
        "step_mib": STEP_MIB,
        "machine_mem_mib": SCENARIOS["reference-kdump"].mem_mib,
        "crash_words": CRASH_WORDS,
        "rows": [],
    }
    booted = kernel_layout(layout, kernel)
    kernel_row = {"kernel": str(kernel), "kernel_version": booted.kernel_version(),
                  "page_size": KERNEL_FACTS[kernel].page_kib * 1024,
                  "kernel_image": _kernel_facts(booted.vmlinux)}  # fmt: skip
    old = json.loads(table.read_text()).get("rows", []) if table.is_file() else []
    payloads = {(g, lean): _payload_facts(booted, g, lean, kernel)
                for g, lean in sorted({(g, lean) for _, g, _, lean in rows})}  # fmt: skip
    done: list[dict[str, object]] = []
    for cpus, gzip_, nr_cpus, lean in rows:
        row = {**kernel_row, "cpus": cpus, "crash_nr_cpus": nr_cpus,
               "payload": "lean" if lean else "full", "dump": DUMPS[lean],
               "initrd": payloads[(gzip_, lean)],
               **_bisect(layout, (cpus, gzip_, nr_cpus, lean), kernel)}  # fmt: skip
        done.append(row)
        keys = {_key(r) for r in done}
        document["rows"] = [r for r in old if _key(r) not in keys] + done
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if all(r["min_passing_mib"] is not None for r in done) else 1
