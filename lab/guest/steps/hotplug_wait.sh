#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: wait (bounded) for what the host hot-added over QMP to come online.
# Usage: hotplug_wait.sh CPUS MIB SECONDS (lab/hotplug_scenarios.py).
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
python3 /lab/hotplug.py wait "$1" "$2" "$3" || exit 1
loaded=$(cat /sys/kernel/kexec_crash_loaded)
lab_result after_hotplug_crash_loaded "$loaded"
[ "$loaded" = 1 ]
