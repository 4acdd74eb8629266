# SPDX-License-Identifier: GPL-2.0-or-later
"""The dead kernel's log, read from a core dump the way kexec-tools' vmcore-dmesg does. Pure.

Three formats, chosen by what VMCOREINFO names (``util_lib/elf_info.c``, dump_dmesg):

* ``SYMBOL(prb)``: the lockless ring buffer of Linux 5.10 and later
  (``kernel/printk/printk_ringbuffer.h``): a descriptor ring (``prb_desc``: a state
  word, id and state in one ``unsigned long``; the text block's logical positions)
  beside an info ring (``printk_info``: seq, ts_nsec, text_len, level, caller_id,
  dev_info) and a text data ring whose blocks start with their descriptor id;
* ``SYMBOL(log_first_idx)``: the record log_buf of Linux 3.5 to 5.9 (``struct
  printk_log`` headers each followed by its text; a zero ``len`` marks the wrap);
* otherwise the plain character log_buf of older kernels (log_end, logged_chars).

Each record becomes one line ``[%5lu.%06lu] text`` (seconds and microseconds of
ts_nsec); text bytes that are neither printable nor white space in the C locale
become ``\\xNN``.  Like kexec-tools, records are not merged (a continuation is
its own line) and neither the dictionary nor dev_info is printed.  The generators
yield output as it is made, so a fault part-way leaves the lines before it.
"""

from __future__ import annotations

from collections.abc import Iterator

from pykexec.core.formats.vmcore import U64, Core
from pykexec.errors import VmcoreError

#: Bytes kept as they are: C-locale isprint() or isspace().
KEPT = bytes(range(0x20, 0x7F)) + b"\t\n\v\f\r"
ESCAPED = [bytes([c]) if c in KEPT else b"\\x%02x" % c for c in range(256)]
NSEC_PER_SEC = 1_000_000_000
NSEC_PER_USEC = 1_000

# kernel/printk/printk_ringbuffer.h: the top two bits of a state word are the state.
DESC_COMMITTED, DESC_FINALIZED = 1, 2


def escape(text: bytes) -> bytes:
    """``text`` with each byte neither printable nor space written as ``\\xNN``."""
    if not text.translate(None, KEPT):
        return text
    return b"".join(ESCAPED[c] for c in text)


def _c_div(a: int, b: int) -> tuple[int, int]:
    """C's signed division (imaxdiv): the quotient truncated toward zero, and the rest."""
    quot = abs(a) // b * (-1 if a < 0 else 1)
    return quot, a - quot * b


def stamp(ts_nsec: int) -> bytes:
    """The ``[%5lu.%06lu] `` prefix of a record logged ``ts_nsec`` after boot.  As in
    kexec-tools, the u64 is divided as a signed number (imaxdiv), printed unsigned."""
    signed = ts_nsec - (1 << 64) if ts_nsec >> 63 else ts_nsec
    sec, rem = _c_div(signed, NSEC_PER_SEC)
    usec = _c_div(rem, NSEC_PER_USEC)[0]
    return b"[%5d.%06d] " % (sec & U64, usec & U64)


def require_symbols(core: Core, names: tuple[str, ...], first_code: int) -> None:
    """Each of ``names`` has a SYMBOL line, else exit ``first_code`` + its index."""
    for code, name in enumerate(names, first_code):
        if not core.info.get(name):
            raise VmcoreError("no-symbol", what=name, exit_code=code)


def _symbol(core: Core, name: str) -> int:
    return core.file_offset(core.info.get(name), name)


def dump_plain(core: Core) -> Iterator[bytes]:
    """The character log_buf of kernels before 3.5: the last bytes written, in order."""
    require_symbols(core, ("log_buf", "log_end", "log_buf_len", "logged_chars"), 50)
    log_buf = core.read_pointer(_symbol(core, "log_buf"), "log_buf")
    log_end = core.read_u32(_symbol(core, "log_end"), "log_end")
    buf_len = core.read_u32(_symbol(core, "log_buf_len"), "log_buf_len")
    core.read_u32(_symbol(core, "logged_chars"), "logged_chars")
    start = core.file_offset(log_buf, "the log buffer")
    if buf_len == 0 or buf_len >= 1 << 31:
        raise VmcoreError("bad-log-buf-len", what="log_buf", size=buf_len, exit_code=51)
    wrapped = log_end % buf_len
    first = core.read(start + wrapped, buf_len - wrapped, "the log buffer", 52)
    second = core.read(start, wrapped, "the log buffer", 53)
    chars = min(log_end, buf_len)
    return iter([(first + second)[buf_len - chars :]])


class _Layout:
    """struct printk_log as VMCOREINFO describes it (exit 64-67 when it does not)."""

    def __init__(self, core: Core) -> None:
        info = core.info
        self.size = info.get("printk_log")
        self.ts = info.get("printk_log.ts_nsec", U64)
        self.len = info.get("printk_log.len", 0xFFFF)
        self.text_len = info.get("printk_log.text_len", 0xFFFF)
        for missing, what, code in (
            (not self.size, "SIZE(printk_log)", 64),
            (self.ts == U64, "OFFSET(printk_log.ts_nsec)", 65),
            (self.len == 0xFFFF, "OFFSET(printk_log.len)", 66),
            (self.text_len == 0xFFFF, "OFFSET(printk_log.text_len)", 67),
        ):
            if missing:
                raise VmcoreError("no-entry", what="printk_log", name=what, exit_code=code)


def dump_records(core: Core) -> Iterator[bytes]:
    """The struct printk_log records of Linux 3.5 to 5.9, first to next, one line each."""
    require_symbols(core, ("log_buf", "log_buf_len", "log_first_idx", "log_next_idx"), 60)
    layout = _Layout(core)
    log_buf = core.read_pointer(_symbol(core, "log_buf"), "log_buf")
    buf_len = core.read_u32(_symbol(core, "log_buf_len"), "log_buf_len")
    idx = core.read_u32(_symbol(core, "log_first_idx"), "log_first_idx")
    next_idx = core.read_u32(_symbol(core, "log_next_idx"), "log_next_idx")
    start = core.file_offset(log_buf, "the log buffer")
    return _records(core, layout, start, buf_len, idx, next_idx)


class _Batches:
    """Lines grouped as kexec-tools writes the record format out: in a buffer sent when
    a record's text fills it to FLUSH_AT, at a corrupt index and at the end; what is
    left in it when a read fails is never written, here as there."""

    FLUSH_AT = 4096 - 64

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def _put(self, piece: bytes) -> None:
        self.parts.append(piece)
        self.size += len(piece)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out

    def add(self, head: bytes, text: bytes) -> Iterator[bytes]:
        """Buffer one line; yield what goes out meanwhile."""
        self._put(head)
        body = escape(text)
        if self.size + len(body) < self.FLUSH_AT:
            self._put(body)
        else:  # the buffer fills inside this text: find where, byte by byte
            for c in text:
                self._put(ESCAPED[c])
                if self.size >= self.FLUSH_AT:
                    yield self.take()
        self._put(b"\n")


def _records(
    core: Core, layout: _Layout, start: int, buf_len: int, idx: int, next_idx: int
) -> Iterator[bytes]:
    batches = _Batches()
    try:
        yield from _walk(core, layout, start, buf_len, idx, next_idx, batches)
    except VmcoreError as err:
        if err.exit_code in (68, 69):  # kexec-tools writes out its buffer first
            yield batches.take()
        raise
    yield batches.take()


def _walk(
    core: Core,
    layout: _Layout,
    start: int,
    buf_len: int,
    idx: int,
    next_idx: int,
    batches: _Batches,
) -> Iterator[bytes]:
    limit = buf_len - layout.size  # kexec-tools compares in 64 bits: negative never trips
    wrapped = False
    # Each record is read from the file at a higher index than the last, but for one
    # wrap: a walk longer than twice the file is a loop (kexec-tools would not end).
    steps = 2 * core.source.size + 2
    while idx != next_idx:
        steps -= 1
        head = core.read(start + idx, layout.size, "a log record", 65)
        ts = core.unsigned(head, layout.ts, 8, "printk_log.ts_nsec")
        text_len = core.unsigned(head, layout.text_len, 2, "printk_log.text_len")
        text = core.read(start + idx + layout.size, text_len, "a log record's text", 65)
        yield from batches.add(stamp(ts), text)
        rec_len = core.unsigned(head, layout.len, 2, "printk_log.len")
        if rec_len == 0:
            if wrapped:
                raise VmcoreError("log-loops", what="log_buf", index=idx, exit_code=68)
            idx, wrapped = 0, True
            continue
        idx = (idx + rec_len) & 0xFFFFFFFF
        if (limit >= 0 and idx > limit) or steps <= 0:
            raise VmcoreError("record-outside", what="log_buf", index=idx, size=buf_len,
                              exit_code=69)  # fmt: skip
