# SPDX-License-Identifier: GPL-2.0-or-later
"""Asserting on errors by type and fields, never by message text (the lint test forbids
``pytest.raises(..., match=...)`` and ``... in str(err)`` outside
tests/test_error_messages.py, which checks the messages themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pykexec.errors import KexecError


def check(err: BaseException, cls: type[KexecError], problem: str, **fields: Any) -> None:
    """``err`` is a ``cls`` with this ``problem`` and these field values."""
    assert isinstance(err, cls), f"{type(err).__name__} ({err}), expected {cls.__name__}"
    got = {name: getattr(err, name, "<missing>") for name in fields}
    assert (err.problem, got) == (problem, fields), str(err)


@contextmanager
def raises(
    cls: type[KexecError], problem: str, **fields: Any
) -> Iterator[pytest.ExceptionInfo[KexecError]]:
    """``pytest.raises(cls)`` that also checks the problem and the given fields."""
    with pytest.raises(cls) as info:
        yield info
    check(info.value, cls, problem, **fields)


def cli_error(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The error document a ``--json`` command printed (its kind, problem and fields),
    after checking stderr holds one line and no traceback."""
    import json

    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    error: dict[str, Any] = json.loads(out)["error"]
    return error
