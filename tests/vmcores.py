# SPDX-License-Identifier: GPL-2.0-or-later
"""Synthetic kernel core dumps for the vmcore-dmesg tests, written from the layouts alone.

An ELF core (either class and byte order) with a VMCOREINFO note and PT_LOADs
holding a dead kernel's log in one of three formats, built the way the kernel
writes them (kernel/printk/printk_ringbuffer.c data_alloc/desc ids, printk.c
log_store for struct printk_log, the plain log_buf of old kernels), and the
lines kexec-tools' vmcore-dmesg prints for it, computed here independently of
pykexec.  Layout facts: kernel/printk/printk_ringbuffer.h, include/linux/printk.h.
"""

from __future__ import annotations

import functools
import io
import random
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 0x1000
LINEAR = 0xC000000000000000  # ppc64's linear map
LINEAR32 = 0xC0000000  # ppc32's
KEPT = set(range(0x20, 0x7F)) | set(b"\t\n\v\f\r")


@dataclass
class Msg:
    """One record: its text, time, and how it sits in the ring."""

    text: bytes
    ts: int = 0
    state: int = 2  # 0 reserved, 1 committed, 2 finalized, 3 reusable
    dataless: bool = False
    extra_len: int = 0  # text_len beyond the stored text (a truncated record)
    subsystem: bytes = b""
    device: bytes = b""
    dict: bytes = b""  # printk_log's dictionary (pre-5.10)


def expected_line(msg: Msg) -> bytes:
    """The line kexec-tools prints for a record (its text, escaped, after the time)."""
    if msg.ts < 1 << 63:
        sec, nsec = divmod(msg.ts, 1_000_000_000)
        usec = nsec // 1000
    else:  # imaxdiv of the negative int64, quotients printed as u64
        neg = (1 << 64) - msg.ts
        sec, usec = (1 << 64) - neg // 1_000_000_000, (1 << 64) - neg % 1_000_000_000 // 1000
        sec, usec = sec % (1 << 64), usec % (1 << 64)
    text = b"" if msg.dataless else msg.text
    body = b"".join(bytes([c]) if c in KEPT else b"\\x%02x" % c for c in text)
    return b"[%5d.%06d] " % (sec, usec) + body + b"\n"


@dataclass
class Memory:
    """The dead kernel's memory: variables low, buffers high, as separate PT_LOADs."""

    ptr: int
    endian: str
    regions: list[tuple[int, bytearray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        base = LINEAR if self.ptr == 8 else LINEAR32
        self.regions = [(base + 0x10000, bytearray()), (base + 0x800000, bytearray())]

    def alloc(self, data: bytes, high: bool = False, align: int = 8) -> int:
        start, buf = self.regions[1 if high else 0]
        buf.extend(b"\0" * (-len(buf) % align))
        at = start + len(buf)
        buf.extend(data)
        return at

    def pack(self, fmt: str, *values: int) -> bytes:
        return struct.pack(("<" if self.endian == "little" else ">") + fmt, *values)

    def word(self, value: int) -> bytes:
        return self.pack("Q" if self.ptr == 8 else "I", value)


def elf_core(mem: Memory, vmcoreinfo: bytes, machine: int | None = None) -> bytes:
    """An ET_CORE with a CORE note and the VMCOREINFO note, then the memory's PT_LOADs."""
    e = "<" if mem.endian == "little" else ">"
    is64 = mem.ptr == 8
    machine = (21 if is64 else 20) if machine is None else machine

    def note(name: bytes, ntype: int, desc: bytes) -> bytes:
        pad = (-len(name) % 4, -len(desc) % 4)
        head = struct.pack(e + "III", len(name), len(desc), ntype)
        return head + name + b"\0" * pad[0] + desc + b"\0" * pad[1]

    notes = note(b"CORE\0", 1, bytes(336)) + note(b"VMCOREINFO\0", 0, vmcoreinfo)
    ehsize, phsize = (64, 56) if is64 else (52, 32)
    nph = 1 + len(mem.regions)
    notes_at = ehsize + nph * phsize
    offsets, at = [], notes_at + len(notes)
    for _, data in reversed(mem.regions):  # in the file in the other order
        at += -at % PAGE
        offsets.append(at)
        at += len(data)
    offsets.reverse()
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if mem.endian == "little" else 2, 1])
    ident += bytes(9)
    if is64:
        ehdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 4, machine, 1, 0, ehsize, 0, 0,
                                   ehsize, phsize, nph, 0, 0, 0)  # fmt: skip
        ph = [struct.pack(e + "IIQQQQQQ", 4, 0, notes_at, 0, 0, len(notes), len(notes), 0)]
        for (vaddr, data), off in zip(mem.regions, offsets):
            paddr = vaddr - LINEAR
            ph.append(struct.pack(e + "IIQQQQQQ", 1, 7, off, vaddr, paddr, len(data),
                                  len(data), 0))  # fmt: skip
    else:
        ehdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 4, machine, 1, 0, ehsize, 0, 0,
                                   ehsize, phsize, nph, 0, 0, 0)  # fmt: skip
        ph = [struct.pack(e + "IIIIIIII", 4, notes_at, 0, 0, len(notes), len(notes), 0, 0)]
        for (vaddr, data), off in zip(mem.regions, offsets):
            paddr = vaddr - LINEAR32
            ph.append(struct.pack(e + "IIIIIIII", 1, off, vaddr, paddr, len(data),
                                  len(data), 7, 0))  # fmt: skip
    out = bytearray(ehdr + b"".join(ph) + notes)
    for off, data in sorted((off, data) for (_, data), off in zip(mem.regions, offsets)):
        out.extend(b"\0" * (off - len(out)))
        out.extend(data)
    return bytes(out)


def info_text(lines: list[str], tail: str = "CRASHTIME=1765000000\n") -> bytes:
    head = ["OSRELEASE=6.1.0-test", "BUILD-ID=00", "PAGESIZE=65536"]
    return ("\n".join(head + lines) + "\n" + tail).encode()


def prb_core(
    msgs: list[Msg], endian: str = "little", ptr: int = 8, count_bits: int = 3,
    size_bits: int = 9, first_id: int = 0, lpos0: int = 0, head_reserved: bool = False,
    tail: str = "CRASHTIME=1765000000\n",
) -> tuple[bytes, bytes]:  # fmt: skip
    """A core with a lockless ring buffer holding ``msgs`` (older ones overwritten) and the
    output kexec-tools prints for it."""
    mem = Memory(ptr, endian)
    count, size, mask = 1 << count_bits, 1 << size_bits, (1 << (8 * ptr - 2)) - 1
    desc_sz, info_sz = 3 * ptr, 88
    descs, infos, text = bytearray(desc_sz * count), bytearray(info_sz * count), bytearray(size)
    lpos, ids, shown, starts = lpos0, [], [], []
    for n, msg in enumerate(msgs):
        rid = (first_id + n) & mask
        ids.append(rid)
        slot = rid % count
        starts.append(lpos)
        shown.append(msg)
        if msg.dataless:
            begin = nxt = 1  # FAILED_LPOS
        else:
            blk = ptr + len(msg.text) + (-(ptr + len(msg.text)) % ptr)
            begin, nxt = lpos, lpos + blk
            if begin // size != nxt // size:  # wraps: the data goes to the ring's start
                nxt = (nxt // size) * size + blk
                at = 0
            else:
                at = begin % size
            text[at : at + ptr] = mem.word(rid)
            text[at + ptr : at + ptr + len(msg.text)] = msg.text
            lpos = nxt
            # kexec-tools prints text_len bytes, at most to the block's end (its padding)
            stored = (msg.text + bytes(blk))[: min(len(msg.text) + msg.extra_len, blk - ptr)]
            shown[-1] = Msg(stored, msg.ts, msg.state)
        state = 0 if (head_reserved and n == len(msgs) - 1) else msg.state
        d = slot * desc_sz
        descs[d : d + desc_sz] = (
            mem.word((state << (8 * ptr - 2)) | rid) + mem.word(begin) + mem.word(nxt)
        )
        i = slot * info_sz
        dev = msg.subsystem.ljust(16, b"\0") + msg.device.ljust(48, b"\0")
        infos[i : i + info_sz] = mem.pack("QQHBBI", n, msg.ts, len(msg.text) + msg.extra_len,
                                          0, 6 << 5, 1 + n) + dev  # fmt: skip
    live = list(range(max(0, len(msgs) - count), len(msgs)))
    assert lpos - starts[live[0]] <= size, "the text ring is too small for the live records"
    expected = b"".join(
        expected_line(shown[n])
        for n in live
        if msgs[n].state in (1, 2) and not (head_reserved and n == len(msgs) - 1)
    )
    descs_at = mem.alloc(bytes(descs), high=True)
    infos_at = mem.alloc(bytes(infos), high=True)
    text_at = mem.alloc(bytes(text), high=True)
    p = ptr
    ring = mem.pack("I", count_bits) + bytes(p - 4) + mem.word(descs_at) + mem.word(infos_at)
    ring += mem.word(ids[-1]) + mem.word(ids[live[0]]) + mem.word(ids[-1])
    data_ring = mem.pack("I", size_bits) + bytes(p - 4) + mem.word(text_at) + bytes(2 * p)
    prb_at = mem.alloc(ring + data_ring + bytes(p))
    prb_var = mem.alloc(mem.word(prb_at))
    lines = [
        f"SYMBOL(prb)={prb_var:x}",
        f"SIZE(printk_ringbuffer)={11 * p}",
        "OFFSET(printk_ringbuffer.desc_ring)=0",
        f"OFFSET(printk_ringbuffer.text_data_ring)={6 * p}",
        f"OFFSET(printk_ringbuffer.fail)={10 * p}",
        f"SIZE(prb_desc_ring)={6 * p}",
        "OFFSET(prb_desc_ring.count_bits)=0",
        f"OFFSET(prb_desc_ring.descs)={p}",
        f"OFFSET(prb_desc_ring.infos)={2 * p}",
        f"OFFSET(prb_desc_ring.head_id)={3 * p}",
        f"OFFSET(prb_desc_ring.tail_id)={4 * p}",
        f"SIZE(prb_desc)={desc_sz}",
        "OFFSET(prb_desc.state_var)=0",
        f"OFFSET(prb_desc.text_blk_lpos)={p}",
        f"SIZE(prb_data_blk_lpos)={2 * p}",
        "OFFSET(prb_data_blk_lpos.begin)=0",
        f"OFFSET(prb_data_blk_lpos.next)={p}",
        f"SIZE(printk_info)={info_sz}",
        "OFFSET(printk_info.seq)=0",
        "OFFSET(printk_info.ts_nsec)=8",
        "OFFSET(printk_info.text_len)=16",
        "OFFSET(printk_info.caller_id)=20",
        "OFFSET(printk_info.dev_info)=24",
        "SIZE(dev_printk_info)=64",
        "OFFSET(dev_printk_info.subsystem)=0",
        "OFFSET(dev_printk_info.device)=16",
        f"SIZE(prb_data_ring)={4 * p}",
        "OFFSET(prb_data_ring.size_bits)=0",
        f"OFFSET(prb_data_ring.data)={p}",
        f"OFFSET(prb_data_ring.head_lpos)={2 * p}",
        f"OFFSET(prb_data_ring.tail_lpos)={3 * p}",
        f"SIZE(atomic_long_t)={p}",
        "OFFSET(atomic_long_t.counter)=0",
    ]
    return elf_core(mem, info_text(lines, tail)), expected


HDR = 16  # struct printk_log: u64 ts_nsec, u16 len, text_len, dict_len, u8 facility, flags


def log_core(msgs: list[Msg], endian: str = "big", buf_len: int = 256) -> tuple[bytes, bytes]:
    """A core with the struct printk_log records of Linux 3.5-5.9 (printk.c log_store)."""
    mem = Memory(8, endian)
    buf = bytearray(buf_len)
    first = nxt = 0
    live: list[tuple[int, int, int]] = []  # (idx, size, message number)
    for n, msg in enumerate(msgs):
        size = HDR + len(msg.text) + len(msg.dict)
        size += -size % 8
        while live and not _has_space(first, nxt, buf_len, size):
            live.pop(0)
            first = live[0][0] if live else nxt
        if not live:
            first = nxt
        if nxt + size + HDR > buf_len:
            buf[nxt : nxt + HDR] = bytes(HDR)
            nxt = 0
            if not live:
                first = 0
        text_len = min(len(msg.text) + msg.extra_len, 0xFFFF)  # extra_len: a corrupt record
        rec = mem.pack("QHHHBB", msg.ts, size, text_len, len(msg.dict), 0, 6 << 5)
        buf[nxt : nxt + size] = (rec + msg.text + msg.dict).ljust(size, b"\0")
        live.append((nxt, size, n))
        nxt += size
    expected = b""
    for k, (idx, _size, n) in enumerate(live):
        if k and idx < live[k - 1][0]:  # kexec-tools prints the zero header marking the wrap
            expected += expected_line(Msg(b""))
        expected += expected_line(msgs[n])
    buf_at = mem.alloc(bytes(buf), high=True)
    var = mem.alloc(mem.word(buf_at) + mem.pack("III", buf_len, first, nxt))
    lines = [
        f"SYMBOL(log_buf)={var:x}",
        f"SYMBOL(log_buf_len)={var + 8:x}",
        f"SYMBOL(log_first_idx)={var + 12:x}",
        f"SYMBOL(log_next_idx)={var + 16:x}",
        f"SIZE(printk_log)={HDR}",
        "OFFSET(printk_log.ts_nsec)=0",
        "OFFSET(printk_log.len)=8",
        "OFFSET(printk_log.text_len)=10",
    ]
    return elf_core(mem, info_text(lines)), expected


def _has_space(first: int, nxt: int, buf_len: int, size: int) -> bool:
    free = max(buf_len - nxt, first) if nxt > first else first - nxt
    return free >= size + HDR


def plain_core(text: bytes, endian: str = "big", buf_len: int = 64) -> tuple[bytes, bytes]:
    """A core with an old kernel's character log_buf holding the last bytes of ``text``."""
    mem = Memory(8, endian)
    buf = bytearray(buf_len)
    for i, c in enumerate(text):
        buf[i % buf_len] = c
    buf_at = mem.alloc(bytes(buf), high=True)
    end = len(text)
    var = mem.alloc(mem.word(buf_at) + mem.pack("IiI", end, buf_len, min(end, buf_len)))
    lines = [
        f"SYMBOL(log_buf)={var:x}",
        f"SYMBOL(log_end)={var + 8:x}",
        f"SYMBOL(log_buf_len)={var + 12:x}",
        f"SYMBOL(logged_chars)={var + 16:x}",
    ]
    return elf_core(mem, info_text(lines)), text[-buf_len:]


# -- the fuzz family ---------------------------------------------------------------------

INFO_NUMBER = re.compile(rb"^((?:SYMBOL|SIZE|OFFSET|NUMBER)\([^)]*\)=)([0-9a-f]+)$", re.M)


def sound_core(rng: random.Random) -> bytes:
    """A valid dump of a random format, byte order and size."""
    n = rng.randint(1, 24)
    msgs = [Msg(rng.randbytes(rng.randint(0, 40)), ts=rng.getrandbits(40)) for _ in range(n)]
    for msg in msgs:
        msg.state = rng.choice((0, 1, 2, 2, 2, 3))
        msg.dataless = rng.random() < 0.1
    endian = rng.choice(("little", "big"))
    kind = rng.randrange(4)
    if kind < 2:
        ptr = 8 if kind == 0 else 4
        size_bits = max(8, (sum(len(m.text) + 16 for m in msgs) * 2).bit_length())
        first_id, lpos0 = rng.getrandbits(8 * ptr - 2), rng.getrandbits(12)
        return prb_core(msgs, endian, ptr, rng.randint(2, 5), size_bits, first_id, lpos0)[0]
    if kind == 2:
        return log_core(msgs, endian, rng.choice((256, 512, 1024)))[0]
    return plain_core(b"".join(m.text for m in msgs), endian, rng.choice((16, 64)))[0]


def damage_info(rng: random.Random, data: bytearray) -> str:
    """One VMCOREINFO value replaced by another number of the same width."""
    found = list(INFO_NUMBER.finditer(bytes(data)))
    if not found:
        return "no VMCOREINFO number"
    hit = rng.choice(found)
    width = len(hit.group(2))
    value = rng.choice((0, 1, rng.getrandbits(4 * width), 10**width - 1))
    text = (b"%x" if hit.group(1).startswith(b"SYMBOL") else b"%d") % value
    data[hit.start(2) : hit.end(2)] = text[:width].rjust(width, b"0")
    return f"{hit.group(1).decode()} -> {text[:width].decode()}"


def vmcore_input(rng: random.Random) -> tuple[bytes, list[str]]:
    """A malformed dump: a sound one with 1-3 byte-level or VMCOREINFO mutations."""
    from tests.fuzz.mutate import damage

    data = bytearray(sound_core(rng))
    what = []
    for _ in range(rng.randint(1, 3)):
        what.append(damage_info(rng, data) if rng.random() < 0.4 else damage(rng, data))
    return bytes(data), what


def vmcore_case(rng: random.Random, directory: Path):  # type: ignore[no-untyped-def]
    """A case for tests.fuzz's harness: the family ``vmcore`` (read_dmesg on a bad dump)."""
    from tests.fuzz.families import Case

    data, what = vmcore_input(rng)
    path = directory / "vmcore"
    path.write_bytes(data)
    return Case("vmcore", what, directory, call=functools.partial(_use_vmcore, path))


def _use_vmcore(path: Path) -> None:
    from pykexec.commands.vmcoredmesg import read_dmesg

    read_dmesg(str(path), io.BytesIO())
