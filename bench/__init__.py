# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmarks: pykexec against kexec-tools in the lab guest, reported as ratios."""
