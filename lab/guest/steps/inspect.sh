#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: pykexec inspect IMAGE on the console and as one result; the image must be
# described as big-endian.
# shellcheck source=lab/guest/lib.sh
. /lab/lib.sh
pykexec inspect "$1" > /tmp/inspect.out 2>&1
rc=$?
cat /tmp/inspect.out
lab_result inspect "$(tr '\n' '|' < /tmp/inspect.out | cut -c1-400)"
[ $rc = 0 ] && grep -qi big /tmp/inspect.out
