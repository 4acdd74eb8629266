# SPDX-License-Identifier: GPL-2.0-or-later
# mftb: print the timebase register (decimal, newline) and exit 0.  ppc64le, ELFv2,
# no libc: the lab builds it with GNU as/ld for the bench (bench/tools.py).
# The timebase keeps counting across kexec (the kernel never writes it on
# pseries), so readings in two kernels subtract.  Under QEMU -icount shift=0 it
# advances tb-frequency / 1e9 ticks per guest instruction.
# Syscall numbers: arch/powerpc/kernel/syscalls/syscall.tbl (exit 1, write 4);
# mftb = mfspr rD,268 (Power ISA 3.0B, Book II 5.2, TBR 268 = TB).
        .abiversion 2
        .text
        .globl  _start
_start:
        mfspr   3, 268          # r3 = TB
        addi    11, 1, -16      # r11 = end of the digits (the red zone below r1)
        mr      10, 11          # r10 = first digit, moving down
        li      7, 10           # r7 = radix, and '\n'
        stbu    7, -1(10)       # *--r10 = '\n'
1:      divdu   8, 3, 7         # r8 = r3 / 10
        mulld   9, 8, 7
        subf    9, 9, 3         # r9 = r3 % 10
        addi    9, 9, 48        # + '0'
        stbu    9, -1(10)       # *--r10 = digit
        mr.     3, 8
        bne     1b
        li      0, 4            # write(1, r10, r11 - r10)
        li      3, 1
        mr      4, 10
        subf    5, 10, 11
        sc
        li      0, 1            # exit(0)
        li      3, 0
        sc
