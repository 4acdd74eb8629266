# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory discovery from device trees: memory nodes, dynamic memory v1/v2, firmware."""

import pytest

from pykexec.core.machine import LmbFlags, Platform, describe
from pykexec.core.memory import MemoryMap, Range
from pykexec.errors import SystemInfoError
from tests.machines import GiB, MiB, pseries, u64
from tests.typed import raises


@pytest.mark.parametrize("drmem", [1, 2])
def test_pseries_memory(drmem: int) -> None:
    m = describe(pseries(drmem=drmem, lmbs=4))
    assert m.platform == Platform.PSERIES
    assert m.ram == MemoryMap([Range(0, 2 * GiB)])
    assert m.rma == Range(0, GiB)
    assert m.crash == Range(512 * MiB, 768 * MiB)
    assert m.kernel_end == 0x2A00000
    assert m.drmem_version == drmem and m.lmb_size == 256 * MiB
    assert len(m.lmbs) == 5 and m.hvterm_console
    names = {r.name for r in m.reserved}
    assert {"rtas", "running kernel"} <= names


def test_lmb_flags_honoured() -> None:
    tree = pseries(lmbs=3)
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    from tests.machines import drmem_v1

    dr.props["ibm,dynamic-memory"] = drmem_v1(
        [(GiB, 0x8), (GiB + 256 * MiB, 0x0), (GiB + 512 * MiB, 0x8 | 0x80)]
    )
    m = describe(tree)
    assert m.ram == MemoryMap([Range(0, GiB + 256 * MiB)])
    assert [lmb.usable for lmb in m.lmbs] == [True, False, False]
    assert LmbFlags.RESERVED in m.lmbs[2].flags


def test_thousands_of_lmbs_v1_and_v2() -> None:
    v1 = describe(pseries(lmbs=8000, drmem=1))
    v2 = describe(pseries(lmbs=8000, drmem=2))
    assert v1.ram == v2.ram == MemoryMap([Range(0, GiB + 8000 * 256 * MiB)])
    assert len(v1.lmbs) == len(v2.lmbs) == 8001


def test_multiple_reg_tuples_and_powernv() -> None:
    tree = pseries(lmbs=0, crash=None)
    mem = tree.child("memory@0")
    assert mem is not None
    mem.props["reg"] = u64(0) + u64(GiB) + u64(4 * GiB) + u64(GiB)
    from pykexec.core.devicetree.tree import Node

    tree.children.append(
        Node(
            "ibm,opal",
            {
                "opal-base-address": u64(0x30000000),
                "opal-runtime-size": u64(0x1000000),
                "opal-entry-address": u64(0x30000100),
            },
        )
    )
    tree.props["reserved-ranges"] = u64(0x31000000) + u64(0x100000)
    tree.children.append(
        Node(
            "reserved-memory",
            {"#address-cells": b"\0\0\0\2", "#size-cells": b"\0\0\0\2"},
            [Node("ibm,hbrt-code-image@3ff00000", {"reg": u64(0x3FF00000) + u64(0x100000)})],
        )
    )
    m = describe(tree)
    assert m.platform == Platform.POWERNV
    assert Range(4 * GiB, 5 * GiB) in m.ram.ranges
    assert m.opal_base == 0x30000000 and m.opal_entry == 0x30000100
    assert {r.name for r in m.firmware} >= {"opal", "reserved-ranges"}
    assert Range(0x3FF00000, 0x40000000) in [r.range for r in m.firmware]
    assert m.crash is None


def test_truncated_dynamic_memory() -> None:
    tree = pseries()
    dr = tree.child("ibm,dynamic-reconfiguration-memory")
    assert dr is not None
    dr.props["ibm,dynamic-memory"] = dr.props["ibm,dynamic-memory"][:-5]
    with raises(SystemInfoError, "short-drmem", count=5, held=4):
        describe(tree)
