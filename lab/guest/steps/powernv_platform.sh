#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: what says powernv: /ibm,opal's compatible, /proc/cpuinfo's platform and
# /sys/firmware/opal, recorded under KEY_*.  Usage: powernv_platform.sh KEY
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
key=$1
lab_result "${key}_opal_compatible" \
    "$(tr '\0' ' ' < /proc/device-tree/ibm,opal/compatible 2>/dev/null)"
lab_result "${key}_cpuinfo_platform" "$(awk -F': ' '/^platform/ {print $2}' /proc/cpuinfo)"
if [ -d /sys/firmware/opal ]; then opal=yes; else opal=no; fi
lab_result "${key}_sys_firmware_opal" "$opal"
[ $opal = yes ] && grep -q '^platform.*PowerNV' /proc/cpuinfo
