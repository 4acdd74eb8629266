#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2154  # LAB_stage, LAB_scenario, ...: set by eval below
# /init of the pykexec lab guest (busybox sh).
# Mounts the pseudo file systems, reads the lab.* words of the kernel command
# line into LAB_* variables, runs the rendered scenario's function for this
# stage (lab.stage=1, 2, crash, ...) and powers the machine off.  Everything the
# host decides on is a marker line: LAB-USERSPACE, LAB-BEGIN, LAB-END,
# LAB-RESULT, LAB-PASS, LAB-FAIL.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin HOME=/root TERM=dumb PYTHONDONTWRITEBYTECODE=1

for word in $(cat /proc/cmdline); do
    case "$word" in
        lab.*=*)
            key=${word%%=*}
            key=${key#lab.}
            eval "LAB_${key}=\${word#*=}"
            export "LAB_${key}"  # for the step files too
            ;;
    esac
done

lab_finish() {
    sync
    poweroff -f
    sleep 5
    echo "LAB-FAIL poweroff returned"
    exit 1
}
lab_pass() { echo "LAB-PASS"; lab_finish; }
lab_fail() { echo "LAB-FAIL $*"; lab_finish; }
# lab_result, lab_try (also for the step files under /lab/steps/)
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh

# lab_run NAME: run the scenario's step function lab_step_NAME between markers.
lab_run() {
    echo "LAB-BEGIN $1"
    "lab_step_$1"
    rc=$?
    echo "LAB-END $1 rc=$rc"
    return $rc
}

echo "LAB-USERSPACE stage=${LAB_stage} uptime=$(cut -d' ' -f1 /proc/uptime)"
. /lab/scenario.sh
if type "lab_stage_${LAB_stage}" >/dev/null 2>&1; then
    "lab_stage_${LAB_stage}"
    lab_fail "stage ${LAB_stage} returned without a verdict"
fi
lab_fail "scenario ${LAB_scenario} has no stage ${LAB_stage}"
