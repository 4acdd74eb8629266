#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: record each CPU's SMT siblings; CPU 1 must be CPU 0's sibling thread.
# Usage: thread_siblings.sh CPUS
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
c=0
while [ "$c" -lt "$1" ]; do
    lab_result "thread_siblings_$c" \
        "$(cat "/sys/devices/system/cpu/cpu$c/topology/thread_siblings_list")"
    c=$((c + 1))
done
[ "$(cat /sys/devices/system/cpu/cpu1/topology/thread_siblings_list)" = 0-1 ]
