# SPDX-License-Identifier: GPL-2.0-or-later
"""vmcore-dmesg: the crashed kernel's log, byte for byte as kexec-tools prints it.

Expected output comes from the synthetic dumps' own records (tests/vmcores.py) and
from kexec-tools' vmcore-dmesg (Debian 12's ppc64el build from the lab cache, run
under qemu-ppc64le); exit statuses of malformed dumps are compared with it too.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pykexec.commands import cli
from pykexec.commands.vmcoredmesg import read_dmesg
from pykexec.core.formats.vmcore import c_strtoull
from pykexec.errors import VmcoreError
from tests import oracles
from tests.typed import raises
from tests.vmcores import Msg, log_core, plain_core, prb_core, vmcore_input


def _msgs(n: int = 20) -> list[Msg]:
    msgs = [Msg(b"hello %d \x01\x7f\x80\xff\ttab\x1b[0m" % i, ts=i * 1234567891) for i in range(n)]
    msgs[n - 5].state = 1  # committed, not finalized: printed
    msgs[n - 4].state = 0  # reserved: skipped
    msgs[n - 3].dataless = True
    msgs[n - 2].extra_len = 20  # text_len beyond the block: cut at the block's end
    msgs[n - 8].subsystem, msgs[n - 8].device = b"pci", b"+pci:0000:00:01.0"
    msgs[n - 7].text = b"continued"  # a LOG_CONT piece is its own record and line
    msgs[n - 6].state = 3  # reusable: skipped
    return msgs


def _records(n: int) -> list[Msg]:
    return [
        Msg(b"rec %d \x02\xe9" % i, ts=i * 10**9 + 5000, dict=b"SUBSYSTEM=pci\0DEVICE=+pci:1")
        for i in range(n)
    ]


CASES = {
    "prb-le": lambda: prb_core(_msgs(), "little", lpos0=400),
    "prb-be-head-reserved": lambda: prb_core(_msgs(), "big", head_reserved=True),
    "prb-le-id-wraps": lambda: prb_core(_msgs(), "little", first_id=(1 << 62) - 3),
    "prb-be-not-full": lambda: prb_core(_msgs(5)[:3], "big", count_bits=4),
    "prb-be-no-final-newline": lambda: prb_core(_msgs(), "big", tail="CRASHTIME=17"),
    "prb-elf32-be": lambda: prb_core(_msgs(), "big", ptr=4, lpos0=100),
    "prb-elf32-le": lambda: prb_core(_msgs(), "little", ptr=4, first_id=(1 << 30) - 2),
    "prb-be-times-past-2-63": lambda: prb_core(
        [Msg(b"t", ts=t) for t in (1 << 63, (1 << 64) - 1, (1 << 63) - 1, 999, 10**9)], "big"
    ),
    "prb-le-empty": lambda: prb_core([Msg(b"x", state=3)], "little"),
    "log-be-wrapped": lambda: log_core(_records(22), "big"),
    "log-be-full": lambda: log_core(_records(20), "big"),
    "log-le-wrapped": lambda: log_core(_records(37), "little", buf_len=512),
    "log-le-unwrapped": lambda: log_core(_records(3), "little"),
    "plain-be-wrapped": lambda: plain_core(b"".join(b"<6>line %d\x01\n" % i for i in range(20))),
    "plain-le-short": lambda: plain_core(b"<6>early\n", "little"),
}


def _ours(path: Path) -> tuple[int, bytes]:
    out = io.BytesIO()
    try:
        return read_dmesg(str(path), out), out.getvalue()
    except VmcoreError as err:
        return err.exit_code, out.getvalue()


def _kexec_tools(path: Path) -> subprocess.CompletedProcess[bytes]:
    """kexec-tools' vmcore-dmesg (the lab cache's ppc64el build) on ``path``."""
    root = Path(os.environ.get("PYKEXEC_LAB_CACHE", Path.home() / ".cache/pykexec-lab")) / "root"
    program, loader = root / "sbin/vmcore-dmesg", root / "lib/powerpc64le-linux-gnu/ld64.so.2"
    if not program.exists():
        oracles.missing("kexec-tools' vmcore-dmesg in the lab cache", "python3 -m lab setup")
    qemu = oracles.require_tool("qemu-ppc64le")
    argv = [qemu, "-L", str(root), str(loader), str(program), str(path)]
    return subprocess.run(argv, capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_matches_the_records(name: str, tmp_path: Path) -> None:
    core, expected = CASES[name]()
    (tmp_path / "vmcore").write_bytes(core)
    assert _ours(tmp_path / "vmcore") == (0, expected)


def test_the_cases_cover_what_kexec_tools_prints() -> None:
    """The expected outputs hold escapes, continuation pieces, a wrap marker, empty lines."""
    prb = CASES["prb-le"]()[1]
    assert b"\\x01\\x7f\\x80\\xff\ttab\\x1b[0m\n" in prb and b"] continued\n" in prb
    assert b"] \n" in prb and b"hello 16" not in prb and b"+pci" not in prb
    assert prb.count(b"\n") == 20 - 20 + 8 - 2  # 8 live slots, reserved and reusable skipped
    assert b"[    0.000000] \n" in CASES["log-be-wrapped"]()[1]
    assert b"SUBSYSTEM" not in CASES["log-be-wrapped"]()[1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_kexec_tools_prints_the_same(name: str, tmp_path: Path) -> None:
    core, expected = CASES[name]()
    path = tmp_path / "vmcore"
    path.write_bytes(core)
    theirs = _kexec_tools(path)
    assert (theirs.returncode, theirs.stdout) == (0, expected)
    assert _ours(path) == (0, theirs.stdout)


def _header_damage(core: bytes) -> dict[str, bytes]:
    ph = struct.unpack_from("<Q", core, 32)[0]
    note_off = struct.unpack_from("<Q", core, ph + 8)[0]
    return {
        "empty": b"",
        "not-elf": b"\x00" * 64 + core[64:],
        "ident-version": core[:6] + b"\x02" + core[7:],
        "class": core[:4] + b"\x03" + core[5:],
        "data": core[:5] + b"\x00" + core[6:],
        "short-header": core[:40],
        "e-version": core[:20] + b"\x02" + core[21:],
        "phentsize": core[:54] + b"\x20" + core[55:],
        "phdrs-cut": core[: ph + 30],
        "notes-cut": core[: note_off + 10],
        "no-vmcoreinfo": core[:note_off] + core[note_off:].replace(b"VMCOREINFO", b"VMCOREINFX"),
        "prb-unmapped": core.replace(b"SYMBOL(prb)=c", b"SYMBOL(prb)=d"),
        "rings-cut": core[: len(core) - 600],
    }


DAMAGED = sorted(_header_damage(prb_core(_msgs(), "little")[0]))


@pytest.mark.parametrize("name", DAMAGED)
def test_malformed_dumps_exit_as_kexec_tools_does(name: str, tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(_header_damage(prb_core(_msgs(), "little")[0])[name])
    theirs = _kexec_tools(path)
    assert 3 <= theirs.returncode <= 65
    code, out = _ours(path)
    assert (code, out) == (theirs.returncode, theirs.stdout)


@pytest.mark.parametrize("records", [5, 300])
def test_a_failed_read_loses_what_kexec_tools_loses(records: int, tmp_path: Path) -> None:
    """A record whose text runs off the dump: exit 65, and only the lines kexec-tools
    had written out before (its buffer is sent in 4 KiB pieces) are on stdout."""
    msgs = _records(records + 1)
    msgs[-1].extra_len = 0xFFFF
    path = tmp_path / "vmcore"
    path.write_bytes(log_core(msgs, "little", buf_len=1 << 15)[0])
    theirs = _kexec_tools(path)
    assert theirs.returncode == 65 and (theirs.stdout == b"") == (records == 5)
    assert _ours(path) == (65, theirs.stdout)


def _as_vmcore_dmesg(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["/usr/sbin/vmcore-dmesg", *argv])
    out, err = io.TextIOWrapper(io.BytesIO()), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    out.flush()
    return code, out.buffer.getvalue().decode(), err.getvalue()


def test_usage_and_open_failures_as_vmcore_dmesg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = "usage: /usr/sbin/vmcore-dmesg <kernel core file>\n"
    assert _as_vmcore_dmesg([], monkeypatch) == (1, "", usage)
    assert _as_vmcore_dmesg(["a", "b"], monkeypatch) == (1, "", usage)
    code, out, err = _as_vmcore_dmesg([str(tmp_path / "none")], monkeypatch)
    assert (code, out, err.count("\n")) == (2, "", 1)
    with raises(VmcoreError, "cannot-open", path=str(tmp_path / "none"), exit_code=2):
        read_dmesg(str(tmp_path / "none"), io.BytesIO())
    (tmp_path / "junk").write_bytes(b"junk" * 10)
    code, out, err = _as_vmcore_dmesg([str(tmp_path / "junk")], monkeypatch)
    assert (code, out, err.count("\n")) == (4, "", 1) and err.startswith("vmcore-dmesg: ")


def test_pykexec_subcommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    core, expected = CASES["log-be-wrapped"]()
    (tmp_path / "vmcore").write_bytes(core)
    monkeypatch.setattr(sys, "argv", ["pykexec"])
    proc = subprocess.run(
        [sys.executable, "-m", "pykexec", "vmcore-dmesg", str(tmp_path / "vmcore")],
        capture_output=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, expected, b"")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["vmcore-dmesg", "--help"]) == 0
    assert out.getvalue().startswith("usage: pykexec vmcore-dmesg <kernel core file>")


@pytest.mark.parametrize(
    ("text", "base", "want"),
    [
        (b"c000000002a1b2c8", 16, (0xC000000002A1B2C8, 16)),
        (b"0x1f", 16, (0x1F, 4)),
        (b"0x", 16, (0, 1)),
        (b"  42abc", 10, (42, 4)),
        (b"-1", 10, ((1 << 64) - 1, 2)),
        (b"99999999999999999999999", 10, ((1 << 64) - 1, 23)),
        (b"zz", 16, (0, 0)),
    ],
)
def test_strtoull_as_c(text: bytes, base: int, want: tuple[int, int]) -> None:
    assert c_strtoull(text, base) == want


class CountingSource:
    """Bytes with a count of reads, for the fuzz family's bound on work."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, 0

    @property
    def size(self) -> int:
        return len(self.data)

    def pread(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return self.data[offset : offset + length]


FUZZ_COUNT = 300


def test_fuzz_malformed_dumps_end_in_one_typed_error() -> None:
    """Mutated dumps of every format: a log or a VmcoreError, with reads bounded by size."""
    from pykexec.commands.vmcoredmesg import dmesg_lines
    from pykexec.core.formats.vmcore import open_core

    rng = random.Random(19)
    ends: dict[str, int] = {}
    for _ in range(FUZZ_COUNT):
        data, _what = vmcore_input(rng)
        source = CountingSource(data)
        try:
            written = sum(len(line) for line in dmesg_lines(open_core(source)))
            end = "log"
            assert written <= 1 << 31
        except VmcoreError as err:
            end = f"exit {err.exit_code}"
            assert len(str(err).splitlines()) == 1
        assert source.reads <= 2 * (len(data) // 16) + 64
        ends[end] = ends.get(end, 0) + 1
    assert ends.get("log", 0) > FUZZ_COUNT // 10 and len(ends) > 8, ends


def _walk(states: list[int], tail: int, head: int, bits: int) -> list[int]:
    """kexec-tools' walk, literally: ids from tail to head, then head, each id's slot
    printed when its state word holds that id, committed or finalized."""
    mask = (1 << (bits - 2)) - 1
    printed, rid = [], tail
    while True:
        slot = rid % len(states)
        state = states[slot]
        if state & mask == rid and state >> (bits - 2) in (1, 2):
            printed.append(slot)
        if rid == head:
            return printed
        rid = (rid + 1) & mask


def test_print_order_is_kexec_tools_walk_without_its_cost() -> None:
    """With 8-bit state words (ids mod 64) the literal walk is cheap: any tail and head,
    wraps of the id space, heads far from tails, tails with state bits set."""
    from pykexec.core.formats.prb import print_order

    rng = random.Random(5)
    for _ in range(3000):
        count = 1 << rng.randint(0, 4)
        states = [rng.getrandbits(8) for _ in range(count)]
        for slot in range(count):  # most slots hold an id of their own slot
            if rng.random() < 0.7:
                rid = rng.randrange(64 // count) * count + slot
                states[slot] = rng.choice((1, 2, 2, 0, 3)) << 6 | rid
        tail = rng.getrandbits(8) if rng.random() < 0.1 else rng.getrandbits(6)
        head = rng.choice((tail, (tail + rng.randint(0, count)) & 63, rng.getrandbits(6)))
        assert print_order(states, tail, head, 8) == _walk(states, tail, head, 8)
    with pytest.raises(VmcoreError):  # a head with state bits: the walk never ends
        print_order([0], 1, 1 << 7, 8)
