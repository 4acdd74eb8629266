# SPDX-License-Identifier: GPL-2.0-or-later
"""Deterministic cost of a call: how many Python and C function calls it makes.

Unit tests do not assert wall-clock times (they vary with the machine and its
load; the bench measures time). To keep "this stays fast on big machines" as a
test, they compare call counts at two input sizes: the same code on the same
input makes the same calls, and a count that grows faster than the input shows
a quadratic step.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


def count_calls(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()``'s result and the number of function calls (Python and C) it made."""
    count = 0

    def tally(_frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    previous = sys.getprofile()
    sys.setprofile(tally)
    try:
        result = fn()
    finally:
        sys.setprofile(previous)
    return result, count
