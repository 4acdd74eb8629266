#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step (crash kernel): the dead kernel's log as kexec-tools' vmcore-dmesg writes it and
# as pykexec's does (the subcommand, and the zipapp run under the name vmcore-dmesg),
# from /proc/vmcore ($1 = proc) or from a saved ELF dump ($1 = saved: makedumpfile -E
# -d 31); the outputs must be byte-identical (cmp).  Records sizes, lines, exit codes.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
ln -sf /usr/sbin/pykexec /tmp/vmcore-dmesg
status=0
compare() {  # compare KEY FILE
    /sbin/vmcore-dmesg "$2" > "/tmp/$1.kt" 2> "/tmp/$1.kt.err"
    lab_result "${1}_kexec_tools_rc" $?
    pykexec vmcore-dmesg "$2" > "/tmp/$1.py" 2> "/tmp/$1.py.err"
    lab_result "${1}_pykexec_rc" $?
    /tmp/vmcore-dmesg "$2" > "/tmp/$1.argv0" 2> "/tmp/$1.argv0.err"
    lab_result "${1}_argv0_rc" $?
    lab_result "${1}_bytes" "$(wc -c < "/tmp/$1.kt")/$(wc -c < "/tmp/$1.py")/$(wc -c < "/tmp/$1.argv0")"
    lab_result "${1}_lines" "$(wc -l < "/tmp/$1.kt")"
    lab_result "${1}_stderr" "$(cat "/tmp/$1.kt.err" "/tmp/$1.py.err" "/tmp/$1.argv0.err" | tr '\n' '|' | cut -c1-300)"
    if cmp "/tmp/$1.kt" "/tmp/$1.py" && cmp "/tmp/$1.kt" "/tmp/$1.argv0" &&
        [ -s "/tmp/$1.kt" ] && [ ! -s "/tmp/$1.py.err" ]; then
        lab_result "${1}_cmp" same
    else
        lab_result "${1}_cmp" differ
        status=1
    fi
    lab_result "${1}_last" "$(tail -n 1 "/tmp/$1.py" | cut -c1-120)"
}
if [ "$1" = proc ]; then
    compare vmcore_dmesg /proc/vmcore
    exit $status
fi
# The ELF dump (128 MB of the 6.1 guest at -d 31) outgrows the root tmpfs (half
# the crash kernel's memory): a tmpfs of its own, after the makedumpfile step's dump goes.
rm -f /tmp/dump
mkdir -p /tmp/saved && mount -t tmpfs -o size=320m saved /tmp/saved
makedumpfile -E -d 31 /proc/vmcore /tmp/saved/dump.elf > /tmp/dump.elf.out 2>&1
rc=$?
lab_result saved_dump_rc $rc
lab_result saved_dump_bytes "$(wc -c < /tmp/saved/dump.elf 2>/dev/null)"
lab_result saved_dump_err "$(grep -v '%' /tmp/dump.elf.out | tail -n 3 | tr '\n' '|' | cut -c1-200)"
if [ $rc = 0 ]; then compare saved_dmesg /tmp/saved/dump.elf; else status=1; fi
rm -f /tmp/saved/dump.elf
umount /tmp/saved
exit $status
