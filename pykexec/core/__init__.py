# SPDX-License-Identifier: GPL-2.0-or-later
"""The pure planning core: values in, values out, no I/O.  It imports nothing of the
system or the commands (tests/test_lint.py enforces both).
"""
