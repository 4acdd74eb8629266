#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step (crash kernel): makedumpfile -d 31 of /proc/vmcore, the dump's size and the
# crash kernel's memory figures.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
makedumpfile -d 31 /proc/vmcore /tmp/dump
rc=$?
lab_result dump_bytes "$(wc -c < /tmp/dump 2>/dev/null)"
lab_result meminfo "$(grep -E '^(MemTotal|MemFree|Shmem|CmaTotal|CmaFree):' /proc/meminfo |
    tr -s ' ' | tr '\n' ,)"
exit $rc
