#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step (crash kernel, lean kdump payload): dump off the machine, as kdump's network
# targets do: makedumpfile -E -F (an ELF vmcore in the flattened format) into the
# virtio serial port named lab.dump (lab/vm.py DUMP_PORT), which QEMU writes into
# a host file; the host un-flattens and checks it (lab/dumpcheck.py).  Nothing of
# the dump stays in the crash kernel's memory.  Dump level $1 (default 23: drop
# zero, cache and free pages, keep user pages, where the nonce is).
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
level=${1:-23}
# The kernel's modules for the port, when it builds them as modules (lab/kmods.py).
modules=/usr/lib/modules/lab
while read -r ko; do
    insmod "$modules/$ko" || lab_result insmod_failed "$ko"
done < "$modules/order"
port=
n=0
while [ -z "$port" ] && [ $n -lt 50 ]; do
    for d in /sys/class/virtio-ports/*; do
        [ "$(cat "$d/name" 2>/dev/null)" = lab.dump ] && [ -c "/dev/${d##*/}" ] && port=/dev/${d##*/}
    done
    [ -n "$port" ] || sleep 0.1
    n=$((n + 1))
done
lab_result dump_port "${port:-missing}"
lab_result meminfo "$(grep -E '^(MemTotal|MemFree|MemAvailable):' /proc/meminfo | tr -s ' ' | tr '\n' ,)"
[ -n "$port" ] || exit 1
[ -e /proc/vmcore ] || { lab_result vmcore missing; exit 1; }
lab_result vmcore_bytes "$(stat -c %s /proc/vmcore)"  # wc -c would read it all
start=$(cut -d' ' -f1 /proc/uptime)
makedumpfile -E -F -d "$level" /proc/vmcore > "$port" 2> /tmp/dump.err
rc=$?
lab_result dump_rc $rc
lab_result dump_seconds "$start-$(cut -d' ' -f1 /proc/uptime)"
lab_result dump_err "$(tail -n 3 /tmp/dump.err | tr '\n' '|' | cut -c1-300)"
lab_result meminfo_after "$(grep -E '^(MemFree|MemAvailable):' /proc/meminfo | tr -s ' ' | tr '\n' ,)"
exit $rc
