#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: `-S` (crash kernel) and `-l -S` exit codes of $KEXEC and of kexec-tools,
# recorded as status_$1 and status_$1_kexec_tools.  kexec-tools exits 1 when the
# kernel of that kind is loaded, 0 when not (kexec/kexec.c do_status); -l -S must
# agree with /sys/kernel/kexec_loaded.  Usage: status_codes.sh WHEN
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
: "${KEXEC:?set by /lab/scenario.sh}"
$KEXEC -S
s=$?
$KEXEC -l -S
l=$?
kexec -S
ks=$?
kexec -l -S
kl=$?
lab_result "status_$1" "S:$s,lS:$l"
lab_result "status_$1_kexec_tools" "S:$ks,lS:$kl"
[ $s = $ks ] && [ $l = $kl ] && [ $l = "$(cat /sys/kernel/kexec_loaded)" ]
