"""pykexec: a kexec and kdump loader for 64-bit PowerPC, written in Python.

The pure core (memory, layout, formats, devicetree, crash, purgatory, arch)
computes values and performs no I/O; ``sysinfo`` reads the running system (or a
captured snapshot of it), ``syscalls`` talks to the kernel, ``loader`` ties them
together and ``cli`` turns kexec-tools' command line into calls.
"""

__version__ = "0.1.0"
