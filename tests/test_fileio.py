# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec.system.fileio, the one way pykexec opens and reads a file, against the OS.

What each file is comes from the OS (os.stat, os.pread, pathlib): a FIFO, a device, a
directory or a symlink (where none is followed) is refused without being opened; a
regular file reads as the OS reads it, bounded; an offset past the end reads nothing.
"""

from __future__ import annotations

import io
import os
import posix
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykexec.errors import KexecError
from pykexec.errortext import FILE_MESSAGES
from pykexec.system import fileio


class Refused(KexecError):
    """A caller's error class: fileio raises it with a problem and fields."""

    what: str
    filetype: str
    reason: str
    size: int
    limit: int
    offset: int
    messages = FILE_MESSAGES


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths opened, through posix.open (fileio) or os.open (vmcore-dmesg), and a
    guard: a blocking open fails the test."""
    calls: list[str] = []
    real = posix.open

    def counting(path: str, flags: int, *args: int, **kwargs: int) -> int:
        calls.append(os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(posix, "open", counting)
    monkeypatch.setattr(os, "open", counting)
    signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(60)  # a hang guard only: every case here returns at once
    try:
        yield calls
    finally:
        signal.alarm(0)


def _refused(path: Path | str, **kwargs: bool) -> Refused:
    with pytest.raises(Refused) as err:
        fileio.read_regular(os.fspath(path), "test file", Refused, **kwargs)
    return err.value


def test_regular_file_reads_as_the_os_reads_it(tmp_path: Path, opens: list[str]) -> None:
    data = bytes(range(256)) * 4099  # more than one read's worth of odd size
    (tmp_path / "f").write_bytes(data)
    assert (
        fileio.read_regular(str(tmp_path / "f"), "test file", Refused)
        == (tmp_path / "f").read_bytes()
    )
    assert opens == [str(tmp_path / "f")]


def test_missing_file_is_none_and_never_opened(tmp_path: Path, opens: list[str]) -> None:
    assert not (tmp_path / "absent").exists()
    assert fileio.read_regular(str(tmp_path / "absent"), "test file", Refused) is None
    assert fileio.read_regular(str(tmp_path / "absent" / "x"), "test file", Refused) is None
    assert opens == []


def test_fifo_is_refused_without_being_opened(tmp_path: Path, opens: list[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    refused = _refused(fifo)
    assert (refused.problem, refused.filetype, refused.path) == ("not-regular", "a FIFO", str(fifo))
    assert opens == []
    # no reader ever held it: a non-blocking writer finds none (the OS's ENXIO)
    with pytest.raises(OSError) as err:
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    assert err.value.errno == 6  # ENXIO


def test_device_is_refused_without_being_opened(opens: list[str]) -> None:
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _refused("/dev/null").problem == "not-regular"
    assert opens == []


def test_directory_is_refused_without_being_opened(tmp_path: Path, opens: list[str]) -> None:
    assert stat.S_ISDIR(os.stat(tmp_path).st_mode)
    assert _refused(tmp_path).problem == "not-regular"
    assert opens == []


def test_symlink_followed_or_refused(tmp_path: Path, opens: list[str]) -> None:
    (tmp_path / "target").write_bytes(b"through the link")
    (tmp_path / "link").symlink_to("target")
    assert stat.S_ISLNK(os.lstat(tmp_path / "link").st_mode)
    link = str(tmp_path / "link")
    assert fileio.read_regular(link, "test file", Refused) == (tmp_path / "target").read_bytes()
    refused = _refused(link, follow=False)
    assert (refused.problem, refused.filetype) == ("not-regular", "a symlink")
    assert opens == [link]  # the refused one never reached open
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-fifo").symlink_to("fifo")
    assert _refused(tmp_path / "to-fifo").problem == "not-regular"


def test_swapped_name_is_caught_on_the_descriptor(
    tmp_path: Path, opens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO put in place after the stat: the open does not block (O_NONBLOCK; a reader
    of a FIFO with no writer returns at once) and the descriptor's fstat refuses it."""
    (tmp_path / "regular").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo")
    regular = os.stat(tmp_path / "regular")
    monkeypatch.setattr(posix, "stat", lambda path, follow_symlinks=True: regular)
    assert _refused(tmp_path / "fifo").problem == "not-regular"
    assert opens == [str(tmp_path / "fifo")]


def test_oversize_refused_before_reading(
    tmp_path: Path, opens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big").write_bytes(bytes(4097))
    (tmp_path / "fits").write_bytes(bytes(4096))
    assert os.stat(tmp_path / "big").st_size == 4097
    reads: list[int] = []
    real_read = posix.read
    monkeypatch.setattr(posix, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(Refused) as err:
        fileio.read_regular(str(tmp_path / "big"), "test file", Refused, 4096)
    assert (err.value.problem, err.value.size, err.value.limit, reads) == (
        "too-large",
        4097,
        4096,
        [],
    )
    assert fileio.read_regular(str(tmp_path / "fits"), "test file", Refused, 4096) == bytes(4096)


@pytest.mark.parametrize("name", ["/proc/version", "/proc/sys/kernel/osrelease"])
def test_proc_file_saying_size_zero_is_bounded_by_the_read(name: str) -> None:
    """/proc files report st_size 0 (the OS says so below): the read itself is bounded.
    (A /proc/sys file's handler allocates the count read() asks for: a 16 MiB read
    fails there with ENOMEM, so the reads are asked for in smaller pieces.)"""
    path = Path(name)
    if not path.is_file():
        pytest.skip(f"no {name}")
    assert os.stat(path).st_size == 0
    text = path.read_bytes()
    assert fileio.read_regular(name, "test file", Refused) == text
    with pytest.raises(Refused) as err:
        fileio.read_regular(name, "test file", Refused, len(text) - 1)
    assert err.value.problem == "too-large"


def test_read_at_reads_what_pread_reads(tmp_path: Path) -> None:
    data = os.urandom(10000)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        expected = os.pread(fd, 300, 9000)
        beyond = os.pread(fd, 1, 10000)
    finally:
        os.close(fd)
    assert fileio.read_at(str(tmp_path / "f"), "test file", Refused, 9000, 300) == expected
    assert beyond == b""  # the OS: nothing at the end of the file
    for offset, size in ((10000, 1), (9999, 2), (1 << 40, 1)):
        with pytest.raises(Refused) as err:
            fileio.read_at(str(tmp_path / "f"), "test file", Refused, offset, size)
        # where the file ran out: its end (the OS's size), or the offset past it
        assert (err.value.problem, err.value.offset) == ("no-data", max(offset, len(data)))


def test_read_at_refuses_impossible_offsets_before_opening(
    tmp_path: Path, opens: list[str]
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    for offset, size in ((1 << 63, 1), (-1, 1), (0, 1 << 63), ((1 << 63) - 1, 2)):
        with pytest.raises(Refused) as err:
            fileio.read_at(str(tmp_path / "f"), "test file", Refused, offset, size)
        assert (err.value.problem, err.value.offset, err.value.size) == ("no-data", offset, size)
    assert opens == []
    with pytest.raises(Refused) as err:
        fileio.read_at(str(tmp_path / "absent"), "test file", Refused, 0, 1)
    assert err.value.problem == "missing"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(Refused) as err:
        fileio.read_at(str(tmp_path / "fifo"), "test file", Refused, 0, 1)
    assert (err.value.problem, opens) == ("not-regular", [])


def test_nul_in_path_is_refused(opens: list[str]) -> None:
    assert _refused("a\0b").problem == "nul-in-path"
    assert opens == []


def test_vmcore_dmesg_on_a_fifo_does_not_wait(tmp_path: Path, opens: list[str]) -> None:
    """vmcore-dmesg reads a dump file or a block device, not only regular files: it opens
    non-blocking, so a FIFO (no writer: a blocking open would wait forever) opens at once,
    has no end to seek to, and is refused as holding no ELF header."""
    from pykexec.commands.vmcoredmesg import read_dmesg
    from pykexec.errors import VmcoreError

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(VmcoreError) as err:
        read_dmesg(str(tmp_path / "fifo"), io.BytesIO())
    assert (err.value.what, err.value.exit_code) == ("elf", 3)
    assert opens == [str(tmp_path / "fifo")]
