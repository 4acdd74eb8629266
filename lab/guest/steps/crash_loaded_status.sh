#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: with a crash kernel loaded, `-p -S` exits 1 for $KEXEC and for kexec-tools
# (kexec/kexec.c do_status), and /sys/kernel/kexec_crash_loaded says 1.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
: "${KEXEC:?set by /lab/scenario.sh}"
$KEXEC -p -S
s=$?
kexec -p -S
ks=$?
lab_result status_p_loaded "$s"
lab_result status_p_loaded_kexec_tools "$ks"
[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] && [ $s = 1 ] && [ $ks = 1 ]
