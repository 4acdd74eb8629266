#!/bin/sh
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
lab_result() { echo "LAB-RESULT $1=$2"; }
lab_pass() { echo "LAB-PASS"; lab_finish; }
lab_fail() { echo "LAB-FAIL $*"; lab_finish; }

# lab_try KEY CMD...: run CMD; echo its stderr to the console and record it,
# one line, as LAB-RESULT KEY_err=, and its exit code as KEY_rc=; return that code.
lab_try() {
    key=$1
    shift
    "$@" 2>"/tmp/lab-$key.err"
    rc=$?
    cat "/tmp/lab-$key.err" >&2
    lab_result "${key}_rc" "$rc"
    lab_result "${key}_err" "$(tr '\n' '|' < "/tmp/lab-$key.err" | cut -c1-400)"
    return $rc
}

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
