"""Test helpers for the PowerPC assembler and the purgatory: binutils and qemu-user drivers."""
