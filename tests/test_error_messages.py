# SPDX-License-Identifier: GPL-2.0-or-later
"""The message contract of the typed errors (pykexec/errors.py, their templates in
pykexec/errortext.py), and the raise sites.

The one file of tests/ that looks at message text: every template of every error class
formats, from fields of the declared types, to one line; the messages that must name a
fix do. Everywhere else tests assert on the type and the fields (tests/typed.py); the
lint test (tests/test_lint.py) keeps it so.

The raise sites are checked statically: each ``raise Cls("problem", field=...)`` in
pykexec/ names a problem its class has a template for and passes every field the
template uses, and only fields the class declares.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from typing import Any

import pytest

import pykexec.errors as errors
from pykexec.errors import KexecError

PACKAGE = Path(errors.__file__).parent
PROBLEM = re.compile(r"[a-z0-9]+([-_][a-z0-9]+)*")

#: The raises left that are not typed errors, all internal: a container protocol's
#: KeyError (layout.Image.segment) and IndexError (machine.LmbRuns), Range's invariant
#: (ValueError), an unreachable AssertionError (isa) and an OSError record.write turns
#: into its RecordError. The count may only go down.
UNTYPED_LEFT = 5


def _classes() -> list[type[KexecError]]:
    found: list[type[KexecError]] = []
    todo = [KexecError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(
        {c for c in found if c.__module__.startswith("pykexec")}, key=lambda c: c.__name__
    )


CLASSES = _classes()


def templates(cls: type[KexecError]) -> dict[str, str]:
    """Every problem ``cls`` has a message for, its own and its bases'."""
    merged: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        merged.update(base.__dict__.get("messages", {}))
    return merged


def declared(cls: type[KexecError]) -> dict[str, str]:
    """The fields ``cls`` declares (its annotations and its bases'), name -> type text."""
    fields: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        for name, kind in base.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 (3.9)
            if not str(kind).startswith("ClassVar"):
                fields[name] = str(kind)
    return fields


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def sample(kind: str) -> Any:
    return {"int": 0x1234, "str": "sample"}.get(kind, KexecError("an inner error"))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_message_is_one_line_from_declared_fields(cls: type[KexecError]) -> None:
    fields = declared(cls)
    for problem, template in templates(cls).items():
        used = placeholders(template)
        assert used <= set(fields), (problem, used - set(fields))
        err = cls.__new__(cls)
        Exception.__init__(err, problem)
        err.__dict__.update({"problem": problem, cls.key: problem})
        err.__dict__.update({name: sample(fields[name]) for name in used})
        text = str(err)
        assert text and "\n" not in text and "{" not in text, (problem, text)
        assert text == text.strip() and not text.endswith("."), (problem, text)
        assert problem == problem.lower() and " " not in problem, problem


# -- the raise sites ---------------------------------------------------------------------


BY_NAME = {cls.__name__: cls for cls in CLASSES}


def raise_sites() -> list[tuple[str, int, str, ast.Call]]:
    """(file, line, name, call) of every ``raise Name(...)`` in the package and every
    other construction of an error class (``return UsageError(...)``)."""
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        raised = {id(n.exc) for n in ast.walk(tree) if isinstance(n, ast.Raise)}
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
                continue
            if id(call) in raised or (call.func.id in BY_NAME and path.name != "errors.py"):
                where = str(path.relative_to(PACKAGE.parent))
                sites.append((where, call.lineno, call.func.id, call))
    return sites


def problems(node: ast.expr | None) -> list[str] | None:
    """The problem names a raise site's first argument can be (a literal, or a
    conditional choice between literals); None if it is not that (an untyped site)."""
    if isinstance(node, ast.IfExp):
        body, orelse = problems(node.body), problems(node.orelse)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if PROBLEM.fullmatch(node.value) else None
    return None


def _typed(cls: type[KexecError], call: ast.Call, problem: str) -> str | None:
    """What is wrong with a typed raise site (None: nothing)."""
    given = {kw.arg for kw in call.keywords if kw.arg is not None} | cls.derived
    template = templates(cls).get(problem)
    if template is None:
        return f"{cls.__name__} has no message for {problem!r}"
    if len(call.args) != 1 or any(kw.arg is None for kw in call.keywords):
        return "pass the fields by name"
    missing, unknown = placeholders(template) - given, given - set(declared(cls))
    if missing or unknown:
        return f"{problem}: fields missing {sorted(missing)}, undeclared {sorted(unknown)}"
    return None


def test_raise_sites_name_a_problem_and_its_fields() -> None:
    faults, untyped = [], []
    for path, line, name, call in raise_sites():
        cls = BY_NAME.get(name)
        if name == "error":  # fileio.read_regular's: a class given by its caller
            cls = errors.ImageError  # one of those holding FILE_MESSAGES
        if name in ("_fail", "_not_regular"):  # helpers returning typed errors (syscalls'
            continue  # SyscallError from errno; fileio's "not-regular", checked inside)
        if cls is None:  # ValueError, OSError...: not a KexecError
            untyped.append(f"{path}:{line}: {name}")
            continue
        names = problems(call.args[0] if call.args else None)
        if names is None:
            untyped.append(f"{path}:{line}: {name}")
        for problem in names or ():
            fault = _typed(cls, call, problem)
            if fault:
                faults.append(f"{path}:{line}: {fault}")
    assert not faults, "\n".join(faults)
    assert len(untyped) <= UNTYPED_LEFT, "\n".join(untyped)


# -- the messages that must name the fix -------------------------------------------------

FIXES = [
    (errors.NoCrashRegion, "no-crash-region", {}, "crashkernel="),
    (errors.NoCrashRegion, "no-crash-region-recommend", {}, "--recommend-crashkernel"),
    (errors.OptionError, "sysroot-needs-dry-run", {"option": "--sysroot"}, "--dry-run"),
    (errors.OptionError, "save-needs-dry-run", {"option": "--save"}, "--dry-run"),
    (errors.OptionError, "json-needs-dry-run", {"option": "--json"}, "--dry-run"),
    (errors.UsageError, "locked-down-load", {"lockdown": "integrity"}, "use -s"),
    (errors.UsageError, "crash-endian", {"endian": "big", "dump_endian": "little"},
     "load a little-endian crash kernel"),
    (errors.UsageError, "not-relocatable", {"value": 0}, "CONFIG_RELOCATABLE"),
    (errors.ImageError, "no-zstd", {}, "zstd -d"),
    (errors.SaveError, "not-empty", {"directory": "d", "count": 1, "name": "x"}, "--overwrite"),
    (errors.RecordError, "busy", {"path": "p", "pid": "1"}, "try again"),
    (errors.NothingLoaded, "nothing-loaded", {}, "pykexec -l KERNEL"),
    (errors.CrashRegionTooSmall, "cannot-boot", {"summary": "... crashkernel=512M ..."},
     "crashkernel=512M"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "problem", "fields", "fix"), FIXES, ids=[f[1] for f in FIXES])
def test_the_message_names_the_fix(
    cls: type[KexecError], problem: str, fields: dict[str, Any], fix: str
) -> None:
    text = str(cls(problem, **fields))
    assert fix in text and len(text.splitlines()) == 1, text


def test_a_lower_error_completes_the_message() -> None:
    inner = errors.DeviceTreeError("bad-u32", size=8)
    outer = errors.DeviceTreeError("bad-property", node="chosen", prop="x", cause=inner)
    assert str(outer) == "property 'x' of node 'chosen': expected a 4-byte <u32>, got 8 bytes"


def test_an_error_pickles_with_its_fields() -> None:
    import pickle

    err = errors.OptionError("not-physical", option="--mem-min", value=1 << 64)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), vars(again), str(again)) == (type(err), vars(err), str(err))


def test_the_words_the_lab_greps_for_are_in_the_messages() -> None:
    """lab/scenarios.py reads these words in the guest's output of a real pykexec."""
    from lab import scenarios

    assert scenarios.RELOADED_NOTE in errors.SyscallError.messages["crash-reloaded"]
    assert scenarios.HEADROOM_REFUSAL in errors.CrashRegionTooSmall.messages["cannot-boot"]


def test_a_missing_field_still_gives_one_line() -> None:
    """The raise-site check rules it out; were it to happen, no traceback either."""
    text = str(errors.ImageError("missing", what="kernel"))  # no path
    assert text == "problem=missing; what=kernel"
