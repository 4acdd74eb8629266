#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: linters and unit tests, then the lab scenarios on the emulated POWER machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The whole run: the lab scenarios are asked for (plain pytest deselects them), and a
# missing oracle or lab asset fails instead of skipping (tests/oracles.py, tests/conftest.py).
export PYKEXEC_LAB=${PYKEXEC_LAB:-1}
export CI=${CI:-true}
# The unit tests under Python 3.9 too (the oldest supported); PYKEXEC_PY39=0 skips it.
if [ "${PYKEXEC_PY39:-1}" = 1 ]; then bash tools/test-py39.sh; fi
$PY -m pytest -q -ra --durations=40 "$@"
