# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m lab calibrate-crashkernel``: where kexec-tools' crash kernel boots and dumps.

A case is a lab kernel, a payload (``full``: the Debian root with Python, the
nonce found in /proc/vmcore; ``lean``: busybox and makedumpfile, the dump
streamed to the host, which finds the nonce in it), the payload initrd's codec,
the guest's CPUs and the crash kernel's CPU word (``nr_cpus=1``, ``maxcpus=1``
...).  A probe runs kexec-tools (or, ``loader=pykexec``, pykexec) at one
crashkernel= size and tells two things at once: whether the crash kernel reached
its userspace (booted) and whether the dump check passed (dumped).  Stage 1
only loads, fills and crashes; the crash stage only dumps, so a probe is short.

For each case the smallest size (in :data:`STEP_MIB` steps) that boots and the
smallest that dumps are bisected inside a bracket, each probe taking the QEMU
lock (:data:`LOCK`) for itself only, so others interleave.  Every probe is kept
in ``lab/calibration/matrix.json`` with the case's facts, measured here by the
lab's own means (pyelftools for the kernel's memsz, per-CPU section and page
size, a cpio walk of the decompressed initrd), from which tests/test_headroom.py
computes pykexec's verdict at every step and holds it to the thresholds.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import io
import json
import lzma
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lab.assets import kernel_layout, newer_makedumpfile
from lab.initramfs import GuestFile, build
from lab.kernels import needs_newer_makedumpfile
from lab.model import Kernel, Loader, Scenario, Stage, render
from lab.paths import REPO_ROOT, CacheLayout
from lab.runner import RunOptions, run
from lab.scenarios import CRASH_CMDLINE, CRASH_STAGE, CRASH_WORDS, SCENARIOS

TABLE = REPO_ROOT / "lab" / "calibration" / "matrix.json"
COMMAND = "python3 -m lab calibrate-crashkernel"
LOCK = "/tmp/pykexec-qemu.lock"  # the one QEMU machine-wide (the helpers' brief)
STEP_MIB = 8
YIELD_SECONDS = 3.0
PAYLOADS = {"full": "reference-kdump", "lean": "reference-kdump-lean"}
KEEP = {"full": ("load", "fill", "crash", "vmcore"), "lean": ("load", "fill", "crash", "dump")}
# The dump checks read all of a 2 GiB guest's /proc/vmcore: under TCG with 4 CPUs on a
# busy host that took over 70 s (a timeout, not a lack of memory), so allow more; and
# pykexec -p with the full payload's gzip initrd took over 15 s to load under TCG.
DUMP_TIMEOUT = {"vmcore": 240.0, "dump": 240.0, "load": 120.0}
UNPACK_FAILED = "Initramfs unpacking failed"  # init/initramfs.c populate_rootfs
_NEWC = (b"070701", b"070702")
_S_IFMT, _S_IFREG = 0o170000, 0o100000


@dataclass(frozen=True)
class Case:
    """One configuration of the matrix."""

    kernel: Kernel
    payload: str  # "full" or "lean"
    codec: str  # "gzip", "zstd", "xz" (lab.initramfs.CODECS)
    cpus: int  # the guest's CPUs (-smp N: N possible)
    word: str  # the crash kernel's CPU word: nr_cpus=1, maxcpus=1, nr_cpus=4

    @property
    def id(self) -> str:
        return f"{self.kernel}:{self.payload}:{self.codec}:{self.cpus}:{self.word}"

    @staticmethod
    def parse(text: str) -> Case:
        """``KERNEL:PAYLOAD:CODEC:CPUS:WORD``, e.g. ``debian-6.1:full:gzip:1:nr_cpus=1``."""
        kernel, payload, codec, cpus, word = text.split(":")
        return Case(Kernel(kernel), payload, codec, int(cpus), word)

    @property
    def crash_line(self) -> str:
        """The crash kernel's command line as the payload's load step gives it."""
        return f"{CRASH_CMDLINE.replace('nr_cpus=1', self.word)} {CRASH_STAGE}"


@contextmanager
def _qemu_lock() -> Iterator[None]:
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def scenario(case: Case, mib: int, loader: Loader = Loader.KEXEC) -> Scenario:
    """The payload's scenario cut to load, fill, crash and dump, at ``mib``."""
    base = SCENARIOS[PAYLOADS[case.payload]]
    keep = KEEP[case.payload]
    words = CRASH_WORDS.replace("nr_cpus=1", case.word)
    stages = tuple(
        (stage, tuple(dataclasses.replace(st, script=st.script.replace(CRASH_WORDS, words),
                                          timeout=max(st.timeout, DUMP_TIMEOUT.get(st.name, 0)))
                      for st in steps if st.name in keep))
        for stage, steps in base.stages
    )  # fmt: skip
    return dataclasses.replace(
        base, name=f"calibrate-{case.payload}", loader=loader, cpus=case.cpus,
        kernel=case.kernel, crashkernel=f"{mib}M", stages=stages,
    )  # fmt: skip


def probe(
    layout: CacheLayout, case: Case, mib: int, loader: Loader = Loader.KEXEC
) -> dict[str, Any]:
    """One run at ``mib``: booted (the crash kernel reached its userspace), dumped."""
    options = RunOptions(scenario(case, mib, loader), timeout=600.0, payload_codec=case.codec)
    with _qemu_lock():
        started = time.monotonic()
        report = run(layout, options)
        seconds = round(time.monotonic() - started, 1)
    time.sleep(YIELD_SECONDS)  # let whoever waits for the lock have it first
    try:
        unpack_failed = UNPACK_FAILED in report.log.read_text(errors="replace")
    except OSError:
        unpack_failed = False
    result = {"crashkernel_mib": mib, "loader": str(loader),
              "booted": report.stage == Stage.CRASH, "dumped": report.passed,
              "reason": report.reason.splitlines()[0][:200] if report.reason else "",
              "unpack_failed": unpack_failed, "seconds": seconds,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    for key in ("meminfo", "load_out", "load_err"):
        if key in report.results:
            result[key] = report.results[key][:300]
    print(f"calibrate: {case.id} {loader} crashkernel={mib}M booted={result['booted']} "
          f"dumped={result['dumped']} {seconds} s {result['reason']}", flush=True)  # fmt: skip
    return result


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


def kernel_facts(vmlinux: Path) -> dict[str, int]:
    """By pyelftools: the image's memsz, its per-CPU section's size and its page size
    (``empty_zero_page`` is one page: arch/powerpc/mm/mem.c)."""
    from elftools.elf.elffile import ELFFile

    with vmlinux.open("rb") as f:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        start = min(s["p_paddr"] for s in loads)
        end = max(s["p_paddr"] + s["p_memsz"] for s in loads)
        percpu = elf.get_section_by_name(".data..percpu")
        symtab = elf.get_section_by_name(".symtab")
        zero = symtab.get_symbol_by_name("empty_zero_page") if symtab else None
        return {"file_bytes": vmlinux.stat().st_size, "memsz": end - start,
                "percpu_bytes": percpu["sh_size"] if percpu else 0,
                "page_size": zero[0]["st_size"] if zero else 0}  # fmt: skip


def _decompressed(path: Path, codec: str) -> IO[bytes]:
    if codec == "gzip":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    if codec == "xz":
        return lzma.open(path, "rb")
    # zstd(1) decodes the frames, then calls the zeros that align a next archive an
    # "unknown header" (exit 1); the kernel skips them (init/initramfs.c).
    done = subprocess.run(["zstd", "-dc", str(path)], check=False, capture_output=True)
    if done.returncode and b"unknown header" not in done.stderr:
        raise ValueError(f"zstd -dc {path}: {done.stderr.decode(errors='replace').strip()}")
    out = done.stdout
    return io.BytesIO(out)


def payload_facts(layout: CacheLayout, case: Case) -> dict[str, Any]:
    """The initrd the crash kernel gets in ``case``, built as the runner builds it."""
    s = scenario(case, 512)
    lean = case.payload == "lean"
    newer = newer_makedumpfile(layout) if lean and needs_newer_makedumpfile(s) else None
    with tempfile.TemporaryDirectory(prefix="pykexec-calibrate-") as tmp:
        files = [GuestFile("lab/scenario.sh", render(s).encode())]
        images = build(layout, Path(tmp), files, compress=case.codec if not lean else False,
                       kdump=lean, kdump_newer=newer,
                       kdump_compress=case.codec if lean else "")  # fmt: skip
        path = images.kdump_initrd if lean and images.kdump_initrd else images.next_initrd
        with _decompressed(path, case.codec) as f:
            unpacked = _walk_newc(f)
        return {"format": case.codec, "file_bytes": path.stat().st_size, **unpacked,
                "pykexec_parts": pykexec_parts(path.read_bytes())}  # fmt: skip


def pykexec_parts(initrd: bytes) -> list[dict[str, Any]]:
    """What pykexec reads from the initrd (the product's reader: its verdicts are computed
    from this), each part's files summed per page size when it could read them."""
    from pykexec.core.formats.initramfs import summarize

    out = []
    for p in summarize(initrd, "initrd").parts:
        part: dict[str, Any] = {"format": p.format, "size": p.size, "stream": p.stream,
                                "stream_min": p.stream_min, "exact": p.exact,
                                "entries": p.entries, "files": p.files is not None}  # fmt: skip
        if p.files is not None:
            for page, key in ((4096, "pages_4k_bytes"), (65536, "pages_64k_bytes")):
                part[key] = sum(-(-n // page) * page for n in p.files)
        out.append(part)
    return out


def refresh_facts(layout: CacheLayout, table: Path = TABLE, only: tuple[str, ...] = ()) -> None:
    """Measure the kernel and initrd facts of every case (or those in ``only``) again, no
    QEMU; each row is read, changed and saved at once (a calibration may run beside)."""
    for case_id in only or tuple(r["id"] for r in load_table(table)["cases"]):
        case = Case.parse(case_id)
        booted = kernel_layout(layout, case.kernel)
        kernel, initrd = kernel_facts(booted.vmlinux), payload_facts(booted, case)
        doc = load_table(table)
        for row in doc["cases"]:
            if row["id"] == case_id:
                row.update(kernel_image=kernel, initrd=initrd)
        save_table(doc, table)
        print(f"calibrate: facts of {case.id} measured again", flush=True)


def thresholds(probes: list[dict[str, Any]], key: str) -> dict[str, int | None]:
    """The smallest probed size with ``key`` true and the largest without, kexec-tools'."""
    ours = [p for p in probes if p.get("loader", "kexec") == "kexec"]
    yes = [p["crashkernel_mib"] for p in ours if p[key]]
    no = [p["crashkernel_mib"] for p in ours if not p[key]]
    return {"min": min(yes) if yes else None, "max_not": max(no) if no else None}


@dataclass
class _Run:
    """One case being measured: each probe is saved in the table as soon as it ends."""

    layout: CacheLayout
    case: Case
    row: dict[str, Any]
    budget: list[float]
    table: Path

    @property
    def probes(self) -> list[dict[str, Any]]:
        probes: list[dict[str, Any]] = self.row["probes"]
        return probes

    def at(self, mib: int, loader: Loader = Loader.KEXEC) -> None:
        self.probes.append(probe(self.layout, self.case, mib, loader))
        self.budget[0] -= self.probes[-1]["seconds"]
        boot, dump = thresholds(self.probes, "booted"), thresholds(self.probes, "dumped")
        self.row.update(boot=boot, dump=dump, status="measured")
        doc = load_table(self.table)  # as it is now: other rows may have changed meanwhile
        doc["cases"] = [r for r in doc["cases"] if r["id"] != self.case.id] + [self.row]
        save_table(doc, self.table)

    def edge(self, key: str) -> None:
        """Bisect ``key`` (booted or dumped) to one step between probes already made."""
        while self.budget[0] > 0:
            t = thresholds(self.probes, key)
            lo, hi = t["max_not"], t["min"]
            if lo is None or hi is None or hi - lo <= STEP_MIB:
                return
            self.at((lo + hi) // 2 // STEP_MIB * STEP_MIB)

    def measure(self, lo: int, hi: int) -> None:
        """Find the dump and the boot edges between ``lo`` (assumed not to boot) and
        ``hi`` (assumed to dump), widening when wrong."""
        seen = {p["crashkernel_mib"] for p in self.probes if p["loader"] == "kexec"}
        for mib in (hi, lo):
            if mib not in seen and self.budget[0] > 0:
                self.at(mib)
        while self.budget[0] > 0 and thresholds(self.probes, "dumped")["min"] is None:
            hi += 64
            self.at(hi)
        while (self.budget[0] > 0 and thresholds(self.probes, "booted")["max_not"] is None
               and lo > 48):  # fmt: skip
            lo = max(48, lo - 32)
            self.at(lo)
        self.edge("dumped")
        self.edge("booted")


def load_table(table: Path = TABLE) -> dict[str, Any]:
    if table.is_file():
        doc: dict[str, Any] = json.loads(table.read_text())
        return doc
    return {"command": COMMAND, "step_mib": STEP_MIB,
            "machine_mem_mib": SCENARIOS["reference-kdump"].mem_mib, "cases": []}  # fmt: skip


def save_table(doc: dict[str, Any], table: Path = TABLE) -> None:
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(json.dumps(doc, indent=1) + "\n")


def case_row(layout: CacheLayout, doc: dict[str, Any], case: Case) -> dict[str, Any]:
    """The table's row for ``case``, made with its facts when new."""
    for row in doc["cases"]:
        if row["id"] == case.id:
            return dict(row)
    booted = kernel_layout(layout, case.kernel)
    return {"id": case.id, "kernel": str(case.kernel), "kernel_version": booted.kernel_version(),
            "payload": case.payload, "codec": case.codec, "cpus": case.cpus,
            "crash_word": case.word, "command_line": case.crash_line,
            "kernel_image": kernel_facts(booted.vmlinux),
            "initrd": payload_facts(booted, case), "status": "not run", "probes": []}  # fmt: skip


def calibrate(layout: CacheLayout, cases: list[tuple[Case, int, int]], minutes: float,
              pykexec_at: tuple[int, ...] = (), table: Path = TABLE) -> int:  # fmt: skip
    """Measure each (case, lo, hi) within ``minutes`` of QEMU time in all, and probe
    pykexec's own load at ``pykexec_at`` sizes for the first case; 0 when every case
    found both edges."""
    budget = [minutes * 60.0]
    ok = True
    for case, lo, hi in cases:
        if budget[0] <= 0:
            break
        run_ = _Run(layout, case, case_row(layout, load_table(table), case), budget, table)
        run_.measure(lo, hi)
        if case == cases[0][0]:
            for mib in pykexec_at:
                run_.at(mib, Loader.PYKEXEC)
        boot, dump = thresholds(run_.probes, "booted"), thresholds(run_.probes, "dumped")
        ok = ok and boot["min"] is not None and dump["min"] is not None
        print(f"calibrate: {case.id}: boots at {boot['min']}M, dumps at {dump['min']}M; "
              f"{budget[0] / 60:.1f} min of QEMU budget left", flush=True)  # fmt: skip
    return 0 if ok else 1


def add_unrun(layout: CacheLayout, cases: list[Case], why: str, table: Path = TABLE) -> None:
    """Put ``cases`` in the table with their facts and no probe, saying why; each row is
    made first, then the table read, changed and saved at once (a calibration may run)."""
    for case in cases:
        row = case_row(layout, load_table(table), case)
        doc = load_table(table)
        if any(r["id"] == case.id and r["probes"] for r in doc["cases"]):
            continue
        row["status"] = f"not run: {why}"
        doc["cases"] = [r for r in doc["cases"] if r["id"] != case.id] + [row]
        save_table(doc, table)


def load_facts(case: dict[str, Any]) -> Any:
    """pykexec's LoadFacts for a table row: the facts the lab measured, the initrd as
    pykexec's reader saw it (files summed per page size of the case's kernel)."""
    from pykexec.core.formats.initramfs import Initramfs, Part
    from pykexec.core.planner import LoadFacts
    from pykexec.core.policy import KexecSupport

    k, initrd = case["kernel_image"], case["initrd"]
    key = "pages_64k_bytes" if k["page_size"] == 65536 else "pages_4k_bytes"
    parts = tuple(
        Part(p["format"], 0, p["size"], p["stream"], p["exact"],
             (p[key],) if p["files"] else None, p["entries"], p["stream_min"])
        for p in initrd["pykexec_parts"]
    )  # fmt: skip
    major, minor = case["kernel_version"].split(".")[:2]
    return LoadFacts(cmdline="", support=KexecSupport(), kernel_memsz=k["memsz"],
                     initrd_size=initrd["file_bytes"],
                     initramfs=Initramfs(initrd["file_bytes"], parts), cpu_count=case["cpus"],
                     crash_page_size=k["page_size"], kernel_percpu=k["percpu_bytes"],
                     kernel_release=(int(major), int(minor)))  # fmt: skip


def verdict(case: dict[str, Any], mib: int) -> str:
    """What pykexec does at crashkernel=``mib``M (pykexec.core.planner.crash_headroom's rule):
    ``refuse``, ``warn`` or ``load`` (silently)."""
    from pykexec.core.crash.headroom import MIB, estimate
    from pykexec.core.planner import headroom_input

    h = estimate(headroom_input(load_facts(case), mib * MIB, case["command_line"]))
    if not h.fits:
        return "refuse"
    return "warn" if h.region < h.boot_needed or h.tight else "load"


def recommended(case: dict[str, Any]) -> int:
    """--recommend-crashkernel's size in MiB (pykexec.commands.status.recommend's settling)."""
    from pykexec.core.crash.headroom import MIB, estimate
    from pykexec.core.planner import headroom_input

    facts, region = load_facts(case), 0
    for _ in range(3):
        region = estimate(headroom_input(facts, region, case["command_line"])).recommended
    return int(region // MIB)


def report(table: Path = TABLE) -> str:
    """The matrix as text, pykexec's verdicts stored beside each case's probes."""
    doc = load_table(table)
    lines = [f"{'case':44} {'boot':>5} {'dump':>5} {'rec':>5}  pykexec: refuse<R warn<W load"]
    for case in doc["cases"]:
        if case["status"] != "measured":
            lines.append(f"{case['id']:44} {case['status']}")
            continue
        top = max(p["crashkernel_mib"] for p in case["probes"])
        steps = range(48, 2 * (case["dump"]["min"] or top) + STEP_MIB, STEP_MIB)
        case["verdicts"] = {str(m): verdict(case, m) for m in steps}
        case["recommended_mib"] = recommended(case)
        accepted = next((int(m) for m, v in case["verdicts"].items() if v != "refuse"), None)
        silent = next((int(m) for m, v in case["verdicts"].items() if v == "load"), None)
        lines.append(f"{case['id']:44} {case['boot']['min'] or '-':>5} "
                     f"{case['dump']['min'] or '-':>5} "
                     f"{case['recommended_mib']:>5}  R<{accepted} W<{silent}")  # fmt: skip
    save_table(doc, table)
    return "\n".join(lines)
