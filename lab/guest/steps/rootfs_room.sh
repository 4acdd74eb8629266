#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step (crash kernel): give the tmpfs rootfs 90 % of RAM (mm/shmem.c gives half by
# default) so makedumpfile's output fits; record MemTotal and Shmem.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
mount -o remount,size=90% / || exit 1
lab_result rootfs_size "$(grep -E '^(MemTotal|Shmem):' /proc/meminfo | tr -s ' ' | tr '\n' ,)"
