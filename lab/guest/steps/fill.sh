#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: fill LAB_fill MiB with the nonce record (lab/guest/fill.py stays alive in
# the background, holding the memory until the crash, its pid in /tmp/fill.pid);
# wait for it, bounded.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
: "${LAB_nonce:?from the kernel command line}" "${LAB_fill:?from the kernel command line}"
python3 /lab/fill.py "$LAB_nonce" "$LAB_fill" /tmp/filled &
echo $! > /tmp/fill.pid
n=0
while [ ! -s /tmp/filled ] && [ $n -lt 40 ]; do
    sleep 0.2
    n=$((n + 1))
done
lab_result filled "$(cat /tmp/filled 2>/dev/null)"
[ -s /tmp/filled ]
