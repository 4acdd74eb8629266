#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The unit tests (not the lab) under the oldest Python pykexec supports, 3.9, in a venv
# kept in the lab cache. Which 3.9: $PYTHON39, else pyenv's 3.9 (part of the Debian 12
# machine image CI runs on), else a python3.9 on PATH; none found is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
PY39=${PYTHON39:-}
if [ -z "$PY39" ]; then
    for c in /root/.pyenv/versions/3.9*/bin/python3 "$(command -v python3.9 || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then PY39=$c; break; fi
    done
fi
if [ -z "$PY39" ]; then
    echo "test-py39: no Python 3.9 found; set PYTHON39=/path/to/python3.9" >&2
    exit 1
fi
"$PY39" -c 'import sys; assert sys.version_info[:2] == (3, 9), sys.version'
VENV=${PYKEXEC_VENV39:-${XDG_CACHE_HOME:-$HOME/.cache}/pykexec-lab/venv39}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY39" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>/dev/null || true
fi
# The test extras (pytest, hypothesis, pyelftools, pylibfdt); mypy is not run under 3.9
# (mypy<2 checks the code for 3.9 from the main interpreter, see pyproject.toml).
"$VENV/bin/python" -m pip install -q -e '.[test]'
# tomllib (3.11+) is the oracle of that one packaging test: it runs under the main Python.
exec "$VENV/bin/python" -m pytest -q -ra -m 'not lab' -p no:cacheprovider \
    --deselect tests/test_packaging.py::test_backend_reads_the_project_table_as_tomllib_does "$@"
