#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: record every CPU's SMT siblings (one result KEY, the lists in CPU order) and the
# cores the device tree describes (KEY_cores: its cpus/*@* nodes, one per core on
# POWER); each CPU c must be a thread of the core [c/T*T, c/T*T+T-1].
# Usage: thread_siblings.sh KEY CPUS THREADS
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
key=$1 cpus=$2 threads=$3
lists='' bad=''
c=0
while [ "$c" -lt "$cpus" ]; do
    got=$(cat "/sys/devices/system/cpu/cpu$c/topology/thread_siblings_list" 2>/dev/null)
    first=$((c / threads * threads))
    want="$first-$((first + threads - 1))"
    [ "$threads" = 1 ] && want=$c
    [ "$got" = "$want" ] || bad="$bad $c:$got"
    lists="$lists${lists:+ }$got"
    c=$((c + 1))
done
lab_result "$key" "$lists"
lab_result "${key}_cores" "$(find /proc/device-tree/cpus -maxdepth 1 -name '*@*' | wc -l)"
[ -z "$bad" ] || { echo "thread siblings not as cores of $threads:$bad" >&2; exit 1; }
