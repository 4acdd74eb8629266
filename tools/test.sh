#!/usr/bin/env bash
# The test command: linters and unit tests, then the lab scenarios on the emulated POWER machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The whole run: the lab scenarios are asked for (plain pytest deselects them), and a
# missing oracle or lab asset fails instead of skipping (tests/oracles.py, tests/conftest.py).
export PYKEXEC_LAB=${PYKEXEC_LAB:-1}
export CI=${CI:-true}
$PY -m pytest -q -ra "$@"
