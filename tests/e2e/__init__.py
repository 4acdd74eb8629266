# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end tests: the lab's own unit tests and the QEMU scenarios (marked ``lab``)."""
