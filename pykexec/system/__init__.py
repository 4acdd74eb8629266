# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading the machine and acting on it: the only layer that touches /proc, /sys,
/run and the kernel.  It imports the core, never the commands.
"""
