#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Step: fill LAB_fill MiB with the nonce (fill.sh) and check that its pages lie in the
# hot-added memory.
sh /lab/steps/fill.sh || exit 1
python3 /lab/hotplug.py placement "$(cat /tmp/fill.pid)"
