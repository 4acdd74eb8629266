# SPDX-License-Identifier: GPL-2.0-or-later
"""Test helpers for the PowerPC assembler and the purgatory: binutils and qemu-user drivers."""
