# SPDX-License-Identifier: GPL-2.0-or-later
"""Typed errors of the lab; only ``lab.__main__`` turns them into exit codes."""


class LabError(Exception):
    """A lab step failed; the message says which step, with what, and what to do.

    ``problem`` names the failure in a word or two for code and tests to tell failures
    apart without reading the message ("" where nothing needs to).
    """

    def __init__(self, message: str, *, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem


class AssetError(LabError):
    """The asset cache is missing or inconsistent (run ``python3 -m lab setup``)."""


class GuestTimeout(LabError):
    """The guest did not print an expected marker in time."""


class GuestFailure(LabError):
    """The guest reported LAB-FAIL, or QEMU exited before the scenario finished."""


class ScenarioError(LabError, ValueError):
    """A scenario or machine declared impossibly (a bad step name, a DIMM size QEMU's
    pseries cannot plug); a ValueError too, as such mistakes were before."""
