#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: crash the machine (sysrq-c) from CPU $1, or from the last online CPU
# when $1 is "last".
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
cpu=$1
[ "$cpu" = last ] && cpu=$(($(nproc) - 1))
lab_result crash_cpu "$cpu"
taskset -c "$cpu" sh -c 'echo c > /proc/sysrq-trigger'
