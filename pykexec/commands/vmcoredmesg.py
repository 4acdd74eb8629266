# SPDX-License-Identifier: GPL-2.0-or-later
"""``vmcore-dmesg FILE`` / ``pykexec vmcore-dmesg FILE``: the crashed kernel's log.

Reads /proc/vmcore (in a crash kernel) or a saved ELF dump and writes the dead
kernel's log to stdout, byte for byte as kexec-tools' vmcore-dmesg does, so that
kdump-tools and kdumpctl can save it without kexec-tools.  Run under the name
``vmcore-dmesg`` it keeps that program's command line and exit statuses: a
usage line and 1 unless there is exactly one argument, 2 when the file cannot
be opened, kexec-tools' status for each fault it reports in a dump (1 for the
faults it would not notice), 53 past 2 GiB of output, 54 when stdout fails.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from pykexec.core.formats.prb import dump_lockless
from pykexec.core.formats.printk import dump_plain, dump_records
from pykexec.core.formats.vmcore import Core, open_core
from pykexec.errors import VmcoreError

NAME = "vmcore-dmesg"
OUTPUT_MAX = 1 << 31  # kexec-tools refuses to write more (its LOG_BUF_LEN_MAX)


class FileSource:
    """An open file read with pread; ``size`` is a regular file's, else its end's offset."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            self._size = info.st_size
        else:  # a block device's end; a FIFO or socket has none (ESPIPE): nothing to read
            try:
                self._size = os.lseek(fd, 0, os.SEEK_END)
            except OSError:
                self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        chunks = []
        while length > 0:
            try:
                chunk = os.pread(self.fd, min(length, 1 << 24), offset)
            except OSError:  # as a C pread's -1: the caller reports a short read
                break
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(chunks)


def dmesg_lines(core: Core) -> Iterator[bytes]:
    """The log in the format the dump's VMCOREINFO names (kexec-tools' order of tests)."""
    if core.info.get("prb"):
        return dump_lockless(core)
    if core.info.get("log_first_idx"):
        return dump_records(core)
    return dump_plain(core)


def write_all(lines: Iterator[bytes], out: BinaryIO) -> int:
    """Write the lines as they come; the bytes written."""
    written = 0
    try:
        for line in lines:
            written += len(line)
            if written > OUTPUT_MAX:
                raise VmcoreError("log-too-large", what="output", exit_code=53)
            out.write(line)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise VmcoreError("write-failed", what="output", reason=reason, exit_code=54) from None
    return written


def read_dmesg(path: str, out: BinaryIO) -> int:
    """Write the log of the dump at ``path`` to ``out``: exit status 0."""
    try:
        # non-blocking: a FIFO named here opens at once (and reads as empty), never waits
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise VmcoreError(
            "cannot-open", what="open", path=path, reason=err.strerror, exit_code=2
        ) from None
    try:
        write_all(dmesg_lines(open_core(FileSource(fd))), out)
    finally:
        os.close(fd)
    return 0


def main(argv: Sequence[str], prog: str = NAME, as_kexec_tools: bool = True) -> int:
    """The command: one argument, the dump; anything else prints the usage and exits 1.
    Only as ``pykexec vmcore-dmesg`` (not ``as_kexec_tools``) is ``-h`` help, not a file."""
    words = list(argv)
    if not as_kexec_tools and words[:1] in (["-h"], ["--help"]):
        print(f"usage: {prog} <kernel core file>\n\nWrite the crashed kernel's log.")
        return 0
    if len(words) != 1:
        print(f"usage: {prog} <kernel core file>", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return read_dmesg(words[0], sys.stdout.buffer)
