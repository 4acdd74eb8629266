# SPDX-License-Identifier: GPL-2.0-or-later
"""What is loaded, since when, and is it still right: ``-S -d``, ``--verify``,
``--recommend-crashkernel``.

``-S`` alone stays in :mod:`pykexec.system.control` (one sysfs read); these reports read
the load record (:mod:`pykexec.system.record`), sysfs, the files on disk and, for
``--verify``, the loaded image itself through /proc/kcore.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from pykexec.core.options import LoadOptions
from pykexec.system import record
from pykexec.system.sysinfo import SystemView

if TYPE_CHECKING:
    from pykexec.core.crash.loaded import Identity, Kimage
    from pykexec.core.crash.verify import KcoreMap

MIB = 1 << 20
KCORE = "proc/kcore"


def _file_changes(rec: dict[str, Any]) -> list[str]:
    changes = []
    for name, then in (rec.get("files") or {}).items():
        now = record.file_identity(then.get("path"))
        keys = ("size", "mtime_ns", "inode", "device")
        if now is None or "error" in now:
            changes.append(f"{name} {then.get('path')} is gone ({(now or {}).get('error')})")
        elif any(now.get(k) != then.get(k) for k in keys):
            what = [k for k in keys if now.get(k) != then.get(k)]
            changes.append(f"{name} {then['path']} changed on disk since ({', '.join(what)})")
    return changes


def _machine_changes(rec: dict[str, Any], view: SystemView) -> list[str]:
    from pykexec.errors import KexecError

    try:
        now = record.machine_facts(view)
    except KexecError as err:  # -S keeps its exit code: say it, do not end here
        return [f"the machine's facts cannot be read now ({err})"]
    then = rec["machine"]
    changes = []
    if now["system_ram"] != then.get("system_ram"):
        changes.append(
            f"System RAM {then.get('system_ram', 0) / MIB:.0f} MiB then, "
            f"{now['system_ram'] / MIB:.0f} MiB now"
        )
    if now["memory_blocks"] != then.get("memory_blocks"):
        changes.append(
            f"memory blocks {then.get('memory_blocks')} then, {now['memory_blocks']} now"
        )
    if now["cpus_present"] != then.get("cpus_present"):
        changes.append(
            f"present CPUs {then.get('cpus_present') or '-'} then, {now['cpus_present'] or '-'} now"
        )
    return changes


def identity(view: SystemView, rec: dict[str, Any], crash: bool) -> Identity:
    """Whether ``rec`` describes the loaded image (:mod:`pykexec.core.crash.loaded`)."""
    from pykexec.core.crash import loaded
    from pykexec.errors import KexecError

    try:
        kmap = _kcore_map(view)
    except KexecError as err:
        return loaded.Identity(loaded.Verdict.UNKNOWN, f"/proc/kcore cannot be read ({err})")
    differ = None
    if crash:
        segments = loaded.small_segments(rec)
        try:
            contents = [
                view.read_at(KCORE, kmap.offset(s["mem_start"], s["bufsz"]), s["bufsz"])
                for s in segments
            ]
            differ = loaded.differing(segments, contents)
        except KexecError:
            differ = None
    return loaded.judge(rec, _kimage(view, kmap, crash), differ, crash)


def _kimage(view: SystemView, kmap: KcoreMap, crash: bool) -> Kimage | str:
    """The kernel's kimage of the loaded image, or why it cannot be read."""
    from pykexec.core.crash import loaded
    from pykexec.errors import KexecError

    name = loaded.IMAGE_SYMBOL[crash]
    try:
        address = loaded.symbol_address(view.read_bytes("proc/kallsyms") or b"", name)
        if address is None:
            return (
                f"/proc/kallsyms gives no address for {name} (a kernel without "
                "CONFIG_KALLSYMS_ALL, or kptr_restrict)"
            )
        raw = view.read_at(KCORE, kmap.virtual_offset(address, 8), 8)
        pointer = int.from_bytes(raw, kmap.endian)  # type: ignore[arg-type]
        if pointer == 0:
            return f"the kernel holds no image in {name} now (unloaded meanwhile)"
        at = kmap.virtual_offset(pointer, loaded.KIMAGE_READ)
        raw = view.read_at(KCORE, at, loaded.KIMAGE_READ)
    except KexecError as err:
        return f"the kernel's {name} cannot be read ({err})"
    return loaded.parse_kimage(raw, pointer, kmap.endian, crash)


def _kcore_map(view: SystemView) -> KcoreMap:
    from pykexec.core.crash.verify import kcore_header_size, kcore_map

    head = view.read_at(KCORE, 0, 4096)
    size = kcore_header_size(head)
    return kcore_map(head if size <= len(head) else view.read_at(KCORE, 0, size))


def report(view: SystemView, crash: bool) -> dict[str, Any]:
    """The status as data: loaded or not, the record (or why it is not trusted), whether
    it describes what is loaded, and what changed since."""
    loaded = view.kexec_crash_loaded() if crash else view.kexec_loaded()
    rec, problem = record.read_checked(view, crash)
    out: dict[str, Any] = {
        "kind": "crash" if crash else "exec",
        "loaded": loaded,
        "record": rec,
        "record_problem": None if problem is None else str(problem),
        "files_changed": [],
        "machine_changed": [],
    }
    if crash:
        out["crash_size"] = view.kexec_crash_size()
    if rec is not None:
        out["files_changed"] = _file_changes(rec)
        out["machine_changed"] = _machine_changes(rec, view)
        out["stale"] = bool(out["machine_changed"]) and not rec.get("hotplug")
        if loaded:
            found = identity(view, rec, crash)
            out["record_describes_loaded"] = {"verdict": found.verdict.name.lower(),
                                              "reason": found.reason}  # fmt: skip
    return out


def describe(view: SystemView, crash: bool, *, as_json: bool = False) -> str:
    """``-S -d`` (text) or ``-S --json``."""
    data = report(view, crash)
    if as_json:
        return json.dumps(data, indent=2)
    what = "crash kernel" if crash else "kernel for -e"
    rec = data["record"]
    lines = [f"{what}: {'loaded' if data['loaded'] else 'not loaded'}"]
    if crash and data.get("crash_size") is not None:
        lines[0] += f" (crash region {data['crash_size'] / MIB:.0f} MiB)"
    if data["record_problem"]:
        lines.append(f"record ignored: {data['record_problem']}")
    if rec is None:
        if data["loaded"]:
            lines.append("loaded by another program: no pykexec record in /run/pykexec")
        return "\n".join(lines)
    if not data["loaded"]:
        lines.append(
            f"the record of a load at {rec.get('loaded_at_utc')} remains: unloaded or "
            "replaced since"
        )
    else:
        found = data["record_describes_loaded"]
        lines.append(_identity_line(found["verdict"], found["reason"]))
    return "\n".join(lines + _record_lines(data, rec))


def _identity_line(verdict: str, reason: str) -> str:
    from pykexec.core.crash.loaded import Identity, Verdict

    return Identity(Verdict[verdict.upper()], reason).line()


def _record_lines(data: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    ago = time.time() - float(rec["loaded_at"])
    opts = rec["options"]
    lines = [
        f"loaded at {rec.get('loaded_at_utc')} ({ago:.0f} s ago) with {rec.get('syscall')}",
        f"kernel: {opts.get('kernel')}",
        f"initrd: {opts.get('initrd') or '-'}",
        f"command line: {rec.get('command_line', '')}",
        f"plan digest: {rec.get('plan_digest')}",
    ]
    if rec.get("headroom"):
        lines.append(f"headroom: {rec['headroom'].get('summary')}")
    lines += [f"changed: {c}" for c in data["files_changed"]] or ["files: unchanged on disk"]
    if data["machine_changed"]:
        how = (
            "the kernel updates the crash image itself (--hotplug)"
            if rec.get("hotplug")
            else "loaded without --hotplug: the crash kernel's memory map is stale, load it again"
        )
        lines += [f"machine changed: {c}" for c in data["machine_changed"]] + [how]
    else:
        lines.append("machine: unchanged since the load (RAM, memory blocks, CPUs)")
    return lines


def verify_loaded(view: SystemView, crash: bool) -> tuple[bool, list[str]]:
    """``--verify``: the loaded image in memory against its record and purgatory; first
    whether the record describes the loaded image at all."""
    from pykexec.core.crash.loaded import KIMAGE_PROOF
    from pykexec.core.crash.verify import VerifyError, verify

    what = "crash kernel" if crash else "kernel for -e"
    loaded = view.kexec_crash_loaded() if crash else view.kexec_loaded()
    if not loaded:
        raise VerifyError("nothing-loaded", what=what)
    rec, problem = record.read_checked(view, crash)
    if rec is None:
        if problem:
            raise VerifyError("record-ignored", cause=problem)
        raise VerifyError("no-record")
    found = identity(view, rec, crash)
    if found.proof == KIMAGE_PROOF:  # the kernel's own table: another image
        return False, [f"loaded {what}: {found.line()}", "nothing to verify it against"]
    kmap = _kcore_map(view)
    intact, lines = verify(rec, lambda phys, n: view.read_at(KCORE, kmap.offset(phys, n), n))
    return intact, [lines[0], found.line(), *lines[1:]]


def recommend(opts: LoadOptions, view: SystemView, *, detail: bool = False) -> str:
    """``--recommend-crashkernel``: a crashkernel= size the crash kernel boots and dumps in,
    judged on the command line of every syscall the load may make."""
    from pykexec.core.crash.headroom import estimate
    from pykexec.core.planner import headroom_input, judged_lines
    from pykexec.core.policy import decide_syscall
    from pykexec.system import loader

    facts = loader.gather(opts, view, segments=False)
    lines = [line for _, line in judged_lines(opts, facts, decide_syscall(opts, facts.support))]
    best = None
    for line in lines:  # the memory map term grows with the region: settle it
        region = 0
        for _ in range(3):
            region = estimate(headroom_input(facts, region, line)).recommended
        h = estimate(headroom_input(facts, region, line))
        best = h if best is None or h.recommended > best.recommended else best
    assert best is not None
    out = [f"crashkernel={best.recommended // MIB}M"]
    if detail:
        out += [f"{name}: {size / MIB:.1f} MiB" for name, size in best.terms]
        out += [f"needed: {best.needed / MIB:.1f} MiB", f"boots in at least "
                f"{best.floor / MIB:.1f} MiB", *best.notes, *facts.notes]  # fmt: skip
    return "\n".join(out)
