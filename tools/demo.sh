#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job: set up the host, boot the emulated POWER machine, kexec into a new kernel
# with pykexec (lab scenario "kexec"), then crash into a kdump kernel loaded by pykexec
# (scenario "kdump"). Extra arguments go to `python3 -m lab run` (e.g. --cpus 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-host.sh
${PYTHON:-python3} -m lab run kexec "$@"
exec ${PYTHON:-python3} -m lab run kdump "$@"
