# SPDX-License-Identifier: GPL-2.0-or-later
"""The lockless printk ring buffer of Linux 5.10 and later, read from a core dump. Pure.

Layout facts are kernel/printk/printk_ringbuffer.h's, reached through the
VMCOREINFO offsets the dead kernel exported (``kernel/printk/printk.c``,
log_buf_vmcoreinfo_setup): ``prb`` points to a ``struct printk_ringbuffer`` whose
``desc_ring`` (count_bits, descs, infos, head_id, tail_id) and ``text_data_ring``
(size_bits, data) locate the three arrays.  A descriptor's state word holds its id
in the low bits and its state in the top two; kexec-tools prints the records
from tail_id to head_id whose descriptor holds that id and is committed or
finalized, each from its text block (which starts with the id, one ``unsigned
long``; a block whose begin is past its next wrapped to the ring's start).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pykexec.core.formats.printk import DESC_COMMITTED, DESC_FINALIZED, escape, stamp
from pykexec.core.formats.vmcore import U64, Core
from pykexec.errors import VmcoreError

#: A ring of 2**31 entries or more is beyond what kexec-tools can allocate.
MAX_RING_BITS = 30


@dataclass(frozen=True)
class Rings:
    """The three arrays of a printk_ringbuffer, read whole, and its head and tail ids."""

    descs: bytes
    infos: bytes
    text: bytes
    count: int
    tail: int
    head: int


def _bits(core: Core, prb: bytes, offset: int, what: str) -> int:
    bits = core.unsigned(prb, offset, 4, what)
    if bits > MAX_RING_BITS:
        raise VmcoreError("bad-ring-bits", what="prb", name=what, value=bits, exit_code=64)
    return bits


def _array(core: Core, pointer: int, length: int, what: str) -> bytes:
    return core.read(core.file_offset(pointer, what), length, what, 65)


def read_rings(core: Core) -> Rings:
    """The ring buffer ``SYMBOL(prb)`` points to, each part bounded by the dump's size."""
    info = core.info
    pointer = core.read_pointer(core.file_offset(info.get("prb"), "prb"), "prb")
    prb = _array(core, pointer, info.get("printk_ringbuffer"), "the printk_ringbuffer")
    ring = info.get("printk_ringbuffer.desc_ring")
    count = 1 << _bits(core, prb, ring + info.get("prb_desc_ring.count_bits"), "count_bits")
    descs_at = core.ulong(prb, ring + info.get("prb_desc_ring.descs"), "prb_desc_ring.descs")
    descs = _array(core, descs_at, info.get("prb_desc") * count, "the descriptor ring")
    infos_at = core.ulong(prb, ring + info.get("prb_desc_ring.infos"), "prb_desc_ring.infos")
    infos = _array(core, infos_at, info.get("printk_info") * count, "the info ring")
    data = info.get("printk_ringbuffer.text_data_ring")
    size = 1 << _bits(core, prb, data + info.get("prb_data_ring.size_bits"), "size_bits")
    text_at = core.ulong(prb, data + info.get("prb_data_ring.data"), "prb_data_ring.data")
    text = _array(core, text_at, size, "the text data ring")
    counter = info.get("atomic_long_t.counter")
    tail = core.ulong(prb, ring + info.get("prb_desc_ring.tail_id") + counter, "tail_id")
    head = core.ulong(prb, ring + info.get("prb_desc_ring.head_id") + counter, "head_id")
    return Rings(descs, infos, text, count, tail, head)


def print_order(states: list[int], tail: int, head: int, bits: int) -> list[int]:
    """The slots kexec-tools prints, in its order: ids tail..head (the id space wraps)
    whose slot's state word holds that id, committed or finalized.  Computed per slot,
    so a corrupt head far from the tail costs no more than a sound one."""
    mask = (1 << (bits - 2)) - 1
    if head == tail:
        span = 0
    elif head > mask:
        raise VmcoreError("head-state-bits", what="prb", value=head)
    else:
        span = ((head - tail - 1) & mask) + 1
    found = []
    for slot, state in enumerate(states):
        desc_id = state & mask
        if (state >> (bits - 2)) not in (DESC_COMMITTED, DESC_FINALIZED):
            continue
        if desc_id % len(states) != slot:
            continue
        step = 0 if desc_id == tail else ((desc_id - tail) & mask or mask + 1)
        if step <= span:
            found.append((step, slot))
    return [slot for _, slot in sorted(found)]


def dump_lockless(core: Core) -> Iterator[bytes]:
    """The lines of the lockless ring buffer (reads everything before the first line)."""
    rings = read_rings(core)
    info = core.info
    desc_size, info_size = info.get("prb_desc"), info.get("printk_info")
    state_at = info.get("prb_desc.state_var") + info.get("atomic_long_t.counter")
    states = [
        core.ulong(rings.descs, slot * desc_size + state_at, "prb_desc.state_var")
        for slot in range(rings.count)
    ]
    order = print_order(states, rings.tail, rings.head, core.pointer_bits)
    return (_line(core, rings, slot * desc_size, slot * info_size) for slot in order)


def _line(core: Core, rings: Rings, desc: int, info_at: int) -> bytes:
    info = core.info
    lpos = desc + info.get("prb_desc.text_blk_lpos")
    size = len(rings.text)
    begin = core.ulong(rings.descs, lpos + info.get("prb_data_blk_lpos.begin"), "begin") % size
    end = core.ulong(rings.descs, lpos + info.get("prb_data_blk_lpos.next"), "next") % size
    ts = core.unsigned(rings.infos, info_at + info.get("printk_info.ts_nsec"), 8, "ts_nsec")
    if begin == end:  # a record without text
        return stamp(ts) + b"\n"
    length = core.unsigned(rings.infos, info_at + info.get("printk_info.text_len"), 2, "text_len")
    if begin > end:  # the block wrapped: its data is at the ring's start
        begin = 0
    begin += core.pointer_bits // 8  # past the block's descriptor id
    length = min(length, (end - begin) & U64)
    if begin + length > size:
        raise VmcoreError("text-past-ring", what="prb", size=length, offset=begin, limit=size)
    return stamp(ts) + escape(rings.text[begin : begin + length]) + b"\n"
