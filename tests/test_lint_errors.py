# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests assert on error types and fields, not on messages (issue 20): the lint and its checker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The one file that looks at error messages: the message contract of errors.py.
MESSAGE_CONTRACT = "tests/test_error_messages.py"
#: Files still asserting on a message, with how many such assertions and why (the
#: count may only go down).
MESSAGE_ASSERTIONS_LEFT = {
    # pytest's Skipped/Failed carry only their text: the text is the contract there (the
    # command a developer runs to install the missing oracle; CI=true under CI).
    "tests/test_lint.py": (4, "the oracle gates' skip/fail texts name the package to install"),
}
_EXCEPTION_NAMES = frozenset({"e", "err", "error", "exc", "excinfo", "again", "problem"})


def _is_exception(node: ast.expr) -> bool:
    """``err``, ``err.value`` (an ExceptionInfo's), ``err.value.cause``..."""
    while isinstance(node, ast.Attribute):
        if node.attr in ("value", "cause"):
            return True
        node = node.value
    return isinstance(node, ast.Name) and node.id in _EXCEPTION_NAMES


def _str_of_exception(node: ast.expr) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    return node.func.id == "str" and len(node.args) == 1 and _is_exception(node.args[0])


def _raises_with_match(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    return node.func.attr == "raises" and any(k.arg == "match" for k in node.keywords)


def message_assertions(tree: ast.AST) -> list[int]:
    """The lines asserting on an error's message: ``pytest.raises(..., match=...)`` and
    ``... in str(err)`` / ``... not in str(err.value)`` (err an exception's name)."""
    lines = []
    for node in ast.walk(tree):
        if _raises_with_match(node):
            lines.append(node.lineno)
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.In, ast.NotIn)) and _str_of_exception(right)
            for op, right in zip(node.ops, node.comparators)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_tests_assert_on_error_fields_not_messages() -> None:
    found: dict[str, list[int]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel == MESSAGE_CONTRACT or rel.startswith("tests/e2e/"):
            continue  # e2e: a real binary's output, read as a user would
        lines = message_assertions(ast.parse(path.read_text(), rel))
        if lines:
            found[rel] = lines
    excess = {f"{rel}:{lines}" for rel, lines in found.items()
              if len(lines) > MESSAGE_ASSERTIONS_LEFT.get(rel, (0, ""))[0]}  # fmt: skip
    assert not excess, (
        f"assert on the error's type and fields (tests/typed.py), not its message: {excess}"
    )


@pytest.mark.parametrize(
    ("snippet", "count"),
    [("with pytest.raises(E, match='x'):\n    f()", 1),
     ("assert 'x' in str(err.value)", 1),
     ("assert 'x' not in str(err)", 1),
     ("check(err.value.cause, E, 'p')\nassert 'x' in str(info['reason'])", 0),
     ("with raises(E, 'problem', path='p'):\n    f()", 0)],
)  # fmt: skip
def test_message_assertion_checker(snippet: str, count: int) -> None:
    assert len(message_assertions(ast.parse(snippet))) == count
