# SPDX-License-Identifier: GPL-2.0-or-later
"""pykexec: a kexec and kdump loader for 64-bit PowerPC, written in Python.

The pure core (memory, layout, formats, devicetree, crash, purgatory, arch)
computes values and performs no I/O; ``sysinfo`` reads the running system (or a
captured snapshot of it), ``syscalls`` talks to the kernel, ``loader`` ties them
together and ``cli`` turns kexec-tools' command line into calls.
"""

__version__ = "0.2.0.dev0"
# The kexec-tools release whose command line pykexec follows (2.0.32, 2025-10-16, the newest;
# shared/reference/kexec-ppc64-facts.md): `kexec --version` names it.
KEXEC_TOOLS_COMPAT = "2.0.32"
