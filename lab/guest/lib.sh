# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
# Functions of the lab's console protocol for every step (sourced by /init, which
# lab/guest/init.sh becomes, and by each lab/guest/steps/*.sh).

lab_result() { echo "LAB-RESULT $1=$2"; }

# lab_try KEY CMD...: run CMD; echo its stderr to the console and record it,
# one line, as LAB-RESULT KEY_err=, and its exit code as KEY_rc=; return that code.
lab_try() {
    key=$1
    shift
    "$@" 2>"/tmp/lab-$key.err"
    rc=$?
    cat "/tmp/lab-$key.err" >&2
    lab_result "${key}_rc" "$rc"
    # up to 2000 bytes: a refusal with its figures (the crash sizing's floor and estimate) runs to 800
    lab_result "${key}_err" "$(tr '\n' '|' < "/tmp/lab-$key.err" | cut -c1-2000)"
    return $rc
}
