# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by run.sh for lab.scenario=package-life: the project's .deb and kexec-tools
# installed, reinstalled, upgraded and removed in turn; after every step exactly one
# kexec answers on both paths (/sbin and /usr/sbin) and no diversion is left that its
# owner does not explain.  The packages come on the lab disk (next to this script):
# pykexec.deb, kexec-tools-bookworm.deb, kexec-tools-trixie.deb.
# Trixie's kexec-tools wants libc6 >= 2.38 (bookworm has 2.36): dpkg installs it with
# --force-depends, and its binary cannot run here; while pykexec is installed that does
# not matter (kexec is pykexec), and once pykexec is gone the check asks dpkg who owns
# /usr/sbin/kexec instead of running it.

STEP_FAILED=""

# The state after a step: WANT is pykexec, kexec-tools or kexec-tools-trixie.
check_kexec() {
    step=$1 want=$2
    for p in /sbin/kexec /usr/sbin/kexec; do
        say "$step: $p -> $(readlink -f "$p") : $($p --version 2>&1 | head -n 1)"
    done
    diversions=$(dpkg-divert --list '*kexec*')
    echo "$diversions" | while read -r line; do say "$step: divert: ${line:-none}"; done
    # dpkg knows bookworm's kexec-tools' file by its /sbin path (merged /usr: the same file)
    target=$(readlink -f /usr/sbin/kexec)
    owner=$(dpkg -S "$target" 2>/dev/null | head -n 1 | cut -d: -f1)
    [ -n "$owner" ] || owner=$(dpkg -S "/sbin/${target##*/}" 2>/dev/null | head -n 1 | cut -d: -f1)
    say "$step: owner of /usr/sbin/kexec's target: $owner"
    case $want in
    pykexec)
        /sbin/kexec --version 2>&1 | grep -q pykexec || STEP_FAILED="$STEP_FAILED $step:/sbin"
        /usr/sbin/kexec --version 2>&1 | grep -q pykexec || STEP_FAILED="$STEP_FAILED $step:/usr/sbin"
        # every diversion is pykexec's, and each moved file exists (kexec-tools' kexec)
        echo "$diversions" | grep -v ' by pykexec$' | grep -q . && STEP_FAILED="$STEP_FAILED $step:foreign"
        ;;
    kexec-tools*)
        [ -z "$diversions" ] || STEP_FAILED="$STEP_FAILED $step:stale-diversion"
        [ "$owner" = kexec-tools ] || STEP_FAILED="$STEP_FAILED $step:owner"
        [ "$(readlink -f /sbin/kexec)" = "$(readlink -f /usr/sbin/kexec)" ] \
            || STEP_FAILED="$STEP_FAILED $step:two-kexecs"
        if [ "$want" = kexec-tools ]; then
            # kexec-tools' own line: pykexec's names kexec-tools too ("... compatible")
            /sbin/kexec --version 2>&1 | grep -v pykexec | grep -q kexec-tools \
                || STEP_FAILED="$STEP_FAILED $step:run"
        fi
        ;;
    esac
    say "$step: done (failures so far:${STEP_FAILED:- none})"
}

pkg() {
    say "dpkg $*"
    DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold "$@" 2>&1 \
        | tail -n 5 | while read -r line; do say "  $line"; done
}

whose_kexec
check_kexec 1-kexec-tools kexec-tools
pkg -i "$HERE/pykexec.deb"
check_kexec 2-pykexec-installed pykexec
pkg -i "$HERE/kexec-tools-bookworm.deb"
check_kexec 3-kexec-tools-reinstalled pykexec
pkg -i --force-depends "$HERE/kexec-tools-trixie.deb"
check_kexec 4-kexec-tools-trixie pykexec
pkg -r pykexec
check_kexec 5-pykexec-removed kexec-tools-trixie
pkg -i "$HERE/pykexec.deb"
check_kexec 6-pykexec-over-trixie pykexec
pkg -P pykexec
check_kexec 7-pykexec-purged kexec-tools-trixie
if [ -z "$STEP_FAILED" ]; then done_ pass "7 steps"; else fail "steps:$STEP_FAILED"; fi
