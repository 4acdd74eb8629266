#!/usr/bin/env bash
# The test command: linters and unit tests, then the lab scenarios on the emulated POWER machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYKEXEC_LAB=${PYKEXEC_LAB:-1}
$PY -m pytest -q -ra "$@"
