#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The lab's scenario in the Debian system image (run by pykexec-lab.service, from the
# second disk).  Kernel command line words: lab.scenario=kdump|kexec-reboot|kexec-systemctl|
# package-life, lab.marker=M (this run's), lab.crash_cpu=N (the CPU kdump's panic is
# on, 0 when absent).  State across boots lives in
# /var/lib/pykexec-lab/M (on the image, so the host reads it with debugfs afterwards).
# Console lines for the host: "LAB-INFO ...", "LAB-STEP name", "LAB-DONE pass|fail why".
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
HERE=$(dirname "$0")
word() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
SCENARIO=$(word lab.scenario)
MARKER=$(word lab.marker)
STATE_DIR=/var/lib/pykexec-lab
STATE=$STATE_DIR/$MARKER
RESULT=$STATE_DIR/result
mkdir -p "$STATE_DIR"

say() { echo "LAB-INFO $*" > /dev/console; }
done_() {
    echo "$1 $2" > "$RESULT"
    echo "LAB-DONE $1 $2" > /dev/console
    sync
    systemctl --no-block poweroff
    exit 0
}
fail() { done_ fail "$*"; }

# Which kexec the system has: the link, the version line, the diversions.
whose_kexec() {
    say "kexec: $(readlink -f /sbin/kexec) $(/sbin/kexec --version 2>&1 | head -n 1)"
    dpkg-divert --list '*kexec*' | while read -r line; do say "divert: $line"; done
}

# pykexec's verdict on kdump-tools' own kernel, initramfs and command line (as
# kdump-config builds it) at this boot's reservation: the dry-run plan's headroom and
# the size it recommends.
sizing() {
    command -v pykexec > /dev/null || return 0
    append="$(sed -re 's/(^| )(crashkernel|hugepages|hugepagesz|abm)=[^ ]*//g' /proc/cmdline)"
    append="$append reset_devices systemd.unit=kdump-tools-dump.service maxcpus=1 irqpoll"
    append="$append noirqdistrib usbcore.nousb"
    set -- -p /var/lib/kdump/vmlinuz --initrd=/var/lib/kdump/initrd.img --append="$append"
    pykexec "$@" --dry-run -d 2>&1 | grep -i -E 'headroom|needed|region|refus|warn' \
        | while read -r line; do say "sizing: $line"; done
    say "sizing: recommend $(pykexec "$@" --recommend-crashkernel 2>&1 | head -n 1)"
}

kdump_first_boot() {
    whose_kexec
    sizing
    journalctl -b -u kdump-tools.service --no-pager -o cat | while read -r line; do
        say "kdump-tools: $line"
    done
    loaded=$(cat /sys/kernel/kexec_crash_loaded)
    say "crash loaded: $loaded, reserved: $(cat /sys/kernel/kexec_crash_size)"
    [ "$loaded" = 1 ] || fail "kdump-tools loaded no crash kernel at boot"
    echo crashed > "$STATE"
    sync
    echo "LAB-CRASH-MARKER $MARKER" > /dev/kmsg
    cpu=$(word lab.crash_cpu)
    say "crash from CPU ${cpu:=0}"
    echo "LAB-STEP crash" > /dev/console
    taskset -c "$cpu" sh -c 'echo c > /proc/sysrq-trigger'
    sleep 60
    fail "sysrq c did not crash the kernel"
}

kdump_back_up() {
    dmesg_file=$(grep -l "LAB-CRASH-MARKER $MARKER" /var/crash/*/dmesg.* 2>/dev/null | head -n 1)
    [ -n "$dmesg_file" ] || fail "no dmesg in /var/crash has this run's marker"
    dir=$(dirname "$dmesg_file")
    say "dump dir: $dir"
    for f in "$dir"/*; do say "  $(stat -c '%s %n' "$f")"; done
    echo "$dir" > "$STATE_DIR/dump-dir"
    done_ pass "back up after the dump, $(uptime -p)"
}

kexec_first_boot() {
    whose_kexec
    kver=$(uname -r)
    cat > /etc/default/kexec <<EOF
LOAD_KEXEC=true
KERNEL_IMAGE="/boot/vmlinux-$kver"
INITRD="/boot/initrd.img-$kver"
APPEND="$(cat /proc/cmdline) lab.kexeced=$MARKER"
USE_GRUB_CONFIG=false
EOF
    echo kexec > "$STATE"
    sync
    echo "LAB-STEP $SCENARIO" > /dev/console
    case $SCENARIO in
    kexec-reboot) systemctl reboot ;;  # kexec-load.service's stop loads (LOAD_KEXEC=true)
    kexec-systemctl)
        /etc/init.d/kexec-load start >/dev/null
        # shellcheck disable=SC1091  # Debian's own file, written just above
        . /etc/default/kexec
        # shellcheck disable=SC2153  # KERNEL_IMAGE, INITRD, APPEND: from /etc/default/kexec
        /sbin/kexec -l "$KERNEL_IMAGE" --initrd="$INITRD" --append="$APPEND" \
            || fail "kexec -l failed"
        systemctl kexec ;;
    esac
    exit 0
}

kexec_back_up() {
    [ "$(word lab.kexeced)" = "$MARKER" ] || fail "came back without the kexec'd command line"
    done_ pass "kexec'd kernel up: $(word lab.kexeced)"
}

state=$(cat "$STATE" 2>/dev/null || echo new)
say "scenario $SCENARIO marker $MARKER state $state kernel $(uname -r)"
case $SCENARIO:$state in
kdump:new) kdump_first_boot ;;
kdump:crashed) kdump_back_up ;;
kexec-*:new) kexec_first_boot ;;
kexec-*:kexec) kexec_back_up ;;
package-life:new)
    # shellcheck source=lab/guest/debsys/package_life.sh
    . "$HERE/package_life.sh" ;;
*) fail "nothing to do for $SCENARIO in state $state" ;;
esac
