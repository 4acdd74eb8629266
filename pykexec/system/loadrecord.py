# SPDX-License-Identifier: GPL-2.0-or-later
"""What the record of a successful load holds, built from its plan (:mod:`pykexec.system.record`
stores it; :mod:`pykexec.core.recordschema` declares it), and the options read back from it.

The options as JSON values, the files' identities, the syscall, entry, flags and
segments with, for a crash image, a CRC-32 of each small segment and the
purgatory's running SHA-256 at each segment it hashes, where the purgatory keeps its regions
and digest, the segments the kernel rewrites itself (--hotplug), the plan's digest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pykexec.core.options import LoadOptions
from pykexec.core.planner import LoadFacts, LoadPlan
from pykexec.errors import KexecError
from pykexec.errors import VerifyError as VerifyError  # re-exported: its old home

if TYPE_CHECKING:
    from pykexec.core.arch.ppc64 import Plan
    from pykexec.core.purgatory.asm import Program


def options_dict(opts: LoadOptions) -> dict[str, Any]:
    """The load options as JSON values (paths and choices as strings)."""
    from dataclasses import fields

    out: dict[str, Any] = {}
    for f in fields(opts):
        value = getattr(opts, f.name)
        out[f.name] = value if value is None or isinstance(value, (bool, int)) else str(value)
    return out


def options_from_record(rec: dict[str, Any]) -> LoadOptions:
    """The load options a record was made with (to load the same again)."""
    from pykexec.core.options import SyscallChoice

    o = dict(rec.get("options") or {})
    try:
        for name in ("kernel", "initrd", "dtb"):
            o[name] = Path(o[name]) if o.get(name) is not None else None
        o["syscall"] = SyscallChoice(o.get("syscall", "auto"))
        return LoadOptions(**o)
    except (TypeError, ValueError) as err:
        raise KexecError("record-options-unusable", cause=err) from None


def _purgatory_program(buf: bytes, plan: Plan, facts: LoadFacts) -> Program | None:
    """The purgatory program ``buf`` was rendered from: the plan's own (generate's cache
    holds it), checked by its code up to the first data slot."""
    from pykexec.core.purgatory.ppc64 import console_for, generate

    assert facts.kernel is not None
    m = plan.machine
    program = generate(
        facts.running_endian,
        kernel_big_endian=facts.kernel.endian == "big",
        console=console_for(
            hvterm=m.hvterm_console, opal_terminal=m.opal_console, opal_entry=m.opal_entry
        ),
        sha256_vector=facts.vector_crypto,
    )
    data = min(slot.offset for slot in program.slots.values() if slot.offset > 0x100)
    if len(program.code) == len(buf) and program.code[0x100:data] == buf[0x100:data]:
        return program
    return None


def _purgatory_record(plan: Plan, facts: LoadFacts) -> dict[str, Any] | None:
    """Where the loaded purgatory keeps its regions and digest, and their values."""
    from pykexec.abi import SHA256_DIGEST_SIZE as DIGEST_SIZE
    from pykexec.core.crash.verify import slot_regions
    from pykexec.core.layout import SegmentKind

    purg = next((s for s in plan.image.segments if s.kind is SegmentKind.PURGATORY), None)
    program = None if purg is None else _purgatory_program(bytes(purg.buf), plan, facts)
    if purg is None or program is None:
        return None
    regions, digest = program.slot("sha256_regions"), program.slot("sha256_digest")
    buf = bytes(purg.buf)
    return {
        "mem_start": purg.mem.start,
        "endian": facts.running_endian,
        "regions_offset": regions.offset,
        "regions_size": regions.size,
        "digest_offset": digest.offset,
        "regions": slot_regions(
            buf[regions.offset : regions.offset + regions.size], facts.running_endian
        ),
        "digest": buf[digest.offset : digest.offset + DIGEST_SIZE].hex(),
    }


def _segment_fields(
    plan: Plan, purgatory: dict[str, Any] | None, crash: bool
) -> list[dict[str, Any]]:
    """Each segment's place and sizes and, for a crash image (``--verify`` checks crash
    images only, so a -l load pays no pass over its buffers), what lets ``--verify`` and
    ``-S -d`` name a segment that changed: a CRC-32 of each small one (``-S -d`` reads
    those back) and, for each one the purgatory hashes, the SHA-256 of its regions up
    to and including it, from the purgatory's own digest pass: no segment is read
    again for the record."""
    import zlib

    from pykexec.core.crash.loaded import SMALL_SEGMENT

    through: dict[tuple[int, int], str] = {}
    if purgatory is not None and len(plan.running_digests) == len(purgatory["regions"]):
        for (start, size), digest in zip(purgatory["regions"], plan.running_digests):
            through[(start, size)] = digest.hex()
    out = []
    for s in plan.image.segments:
        entry: dict[str, Any] = {"kind": str(s.kind), "mem_start": s.mem.start,
                                 "mem_size": s.mem.size, "bufsz": s.bufsz}  # fmt: skip
        running = through.get((s.mem.start, s.bufsz))
        if crash and (s.bufsz <= SMALL_SEGMENT or running is None):
            entry["crc32"] = zlib.crc32(s.buf)
        if crash and running is not None:
            entry["sha256_through"] = running
        out.append(entry)
    return out


def _kernel_rewrites(opts: LoadOptions) -> list[str]:
    """The segments the kernel rewrites in this image after the load (--hotplug)."""
    from pykexec.core.arch.ppc64 import HOTPLUG_REWRITTEN

    return sorted(str(kind) for kind in HOTPLUG_REWRITTEN) if opts.hotplug else []


def record_fields(result: LoadPlan, facts: LoadFacts | None) -> dict[str, Any]:
    """What :mod:`pykexec.system.record` keeps of a successful load."""
    import hashlib

    from pykexec.system import record

    opts = result.options
    fields: dict[str, Any] = {
        "options": options_dict(opts),
        "files": {
            name: record.file_identity(getattr(opts, name))
            for name in ("kernel", "initrd", "dtb")
            if getattr(opts, name) is not None
        },
        "hotplug": opts.hotplug,
        "notes": list(result.notes),
    }
    if result.headroom is not None:
        h = result.headroom
        fields["headroom"] = {"region": h.region, "needed": h.needed, "summary": h.summary()}
    if facts is None or result.segments is None:
        fc = result.file_call
        assert fc is not None
        fields.update(syscall="kexec_file_load", command_line=fc.command_line)
        digest_input: Any = [fc.describe(), fields["files"]]
    else:
        image = result.segments.image
        purgatory = _purgatory_record(result.segments, facts)
        segments = _segment_fields(result.segments, purgatory, opts.crash)
        fields.update(
            syscall="kexec_load",
            entry=image.entry,
            flags=int(image.flags),
            command_line=result.segments.bootargs,
            segments=segments,
            purgatory=purgatory,
            kernel_rewrites=_kernel_rewrites(opts),
        )
        digest_input = [image.entry, int(image.flags), segments]
    blob = json.dumps(digest_input, sort_keys=True).encode()
    fields["plan_digest"] = hashlib.sha256(blob).hexdigest()
    return fields
