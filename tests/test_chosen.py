# SPDX-License-Identifier: GPL-2.0-or-later
"""The next kernel's /chosen and command line (pykexec.core.devicetree.chosen, nexttree),
read back with dtc and libfdt, the command line's bytes against the OS's own encoding
of an argument (os.fsencode)."""

from __future__ import annotations

import os
import subprocess

import pytest

from pykexec.core.devicetree.chosen import encode_bootargs, root_word, tree_bootargs
from pykexec.core.devicetree.fdt import build_fdt, parse_fdt
from pykexec.core.devicetree.nexttree import finish, given_tree, next_tree
from pykexec.core.memory import Range
from pykexec.errors import UsageError
from tests import oracles

GIVEN_DTS = """\
/dts-v1/;
/memreserve/ 0x10000000 0x4000;
/ {
    model = "given";
    chosen {
        bootargs = "console=hvc0 root=/dev/vda";
        linux,initrd-start = <0x0 0x2000000>;
        linux,initrd-end = <0x0 0x2100000>;
        stdout-path = "/vdevice/vty@30000000";
    };
};
"""


def _dtb(dts: str) -> bytes:
    out = subprocess.run([oracles.dtc(), "-q", "-O", "dtb", "-o", "-", "-"],
                         input=dts.encode(), capture_output=True, check=True)  # fmt: skip
    return out.stdout


def test_command_line_bytes_are_the_arguments_bytes() -> None:
    """An argument that is not UTF-8 reaches the kernel as the bytes the OS passed."""
    raw = b"console=hvc0 label=\xff\xfe caf\xc3\xa9"
    arg = os.fsdecode(raw)  # how sys.argv holds it
    assert encode_bootargs(arg) == raw + b"\0"
    assert encode_bootargs("") == b"\0"


def test_given_tree_keeps_its_own_and_sets_chosen() -> None:
    libfdt = oracles.libfdt()
    given = parse_fdt(_dtb(GIVEN_DTS))
    assert tree_bootargs(given.root) == "console=hvc0 root=/dev/vda"
    initrd = Range(0x3000000, 0x3080000)
    tree = given_tree(given, bootargs="quiet", initrd=initrd, reserved=[Range(0x8000, 0x9000)])
    fdt = libfdt.Fdt(finish(tree, 0x4000000))
    chosen = fdt.path_offset("/chosen")
    assert bytes(fdt.getprop(chosen, "bootargs")) == b"quiet\0"
    assert fdt.getprop(chosen, "linux,initrd-start").as_uint64() == 0x3000000
    assert fdt.getprop(chosen, "linux,initrd-end").as_uint64() == 0x3080000
    assert fdt.getprop(chosen, "stdout-path").as_str() == "/vdevice/vty@30000000"
    assert fdt.getprop(0, "model").as_str() == "given"
    reserved = [fdt.get_mem_rsv(i)[-2:] for i in range(fdt.num_mem_rsv())]
    assert [0x8000, 0x1000] in reserved and [0x10000000, 0x4000] in reserved
    assert [0x3000000, 0x80000] in reserved and reserved[-1][0] == 0x4000000
    assert tree_bootargs(given.root) == "console=hvc0 root=/dev/vda"  # the input untouched


def test_given_tree_without_initrd_drops_the_old_one() -> None:
    libfdt = oracles.libfdt()
    tree = given_tree(parse_fdt(_dtb(GIVEN_DTS)), bootargs="", initrd=None, reserved=[])
    fdt = libfdt.Fdt(build_fdt(tree))
    chosen = fdt.path_offset("/chosen")
    assert bytes(fdt.getprop(chosen, "bootargs")) == b"\0"
    for name in ("linux,initrd-start", "linux,initrd-end"):
        assert fdt.getprop(chosen, name, quiet=(libfdt.NOTFOUND,)) == -libfdt.NOTFOUND


def test_running_tree_gets_a_fresh_chosen() -> None:
    libfdt = oracles.libfdt()
    running = parse_fdt(_dtb(GIVEN_DTS)).root
    assert root_word(running.child("chosen").get("bootargs")) == "root=/dev/vda"  # type: ignore[union-attr]
    tree = next_tree(running, bootargs="a b", initrd=None, reserved=[])
    fdt = libfdt.Fdt(build_fdt(tree))
    chosen = fdt.path_offset("/chosen")
    assert bytes(fdt.getprop(chosen, "bootargs")) == b"a b\0"
    assert bytes(fdt.getprop(chosen, "linux,booted-from-kexec")) == b""
    assert fdt.getprop(chosen, "linux,initrd-start", quiet=(libfdt.NOTFOUND,)) == -libfdt.NOTFOUND


def test_no_tree_at_all_is_refused() -> None:
    with pytest.raises(UsageError):
        next_tree(None, bootargs="", initrd=None, reserved=[])
