# SPDX-License-Identifier: GPL-2.0-or-later
"""Typed errors of the lab; only ``lab.__main__`` turns them into exit codes."""


class LabError(Exception):
    """A lab step failed; the message says which step, with what, and what to do."""


class AssetError(LabError):
    """The asset cache is missing or inconsistent (run ``python3 -m lab setup``)."""


class GuestTimeout(LabError):
    """The guest did not print an expected marker in time."""


class GuestFailure(LabError):
    """The guest reported LAB-FAIL, or QEMU exited before the scenario finished."""
