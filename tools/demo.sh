#!/usr/bin/env bash
# The main job: set up the host, boot the emulated POWER machine, load a kernel with
# pykexec and kexec into it (lab scenario "kexec"). Extra arguments go to `lab run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-host.sh
exec ${PYTHON:-python3} -m lab run kexec "$@"
