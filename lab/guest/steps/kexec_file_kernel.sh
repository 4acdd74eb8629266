#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: the running kernel has CONFIG_KEXEC_FILE=y (/proc/config.gz); record its
# release and the option's line.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
lab_result kernel "$(uname -r)"
zcat /proc/config.gz > /tmp/config
lab_result kexec_file "$(grep "^CONFIG_KEXEC_FILE=" /tmp/config)"
grep -q '^CONFIG_KEXEC_FILE=y' /tmp/config
