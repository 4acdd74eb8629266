# SPDX-License-Identifier: GPL-2.0-or-later
"""Every named scenario of the lab, in one registry (each says its kernel in a field)."""

from __future__ import annotations

from lab.endian_scenarios import ENDIAN_SCENARIOS
from lab.file_scenarios import FILE_SCENARIOS
from lab.hotplug_scenarios import HOTPLUG_SCENARIOS
from lab.model import Scenario
from lab.scenarios import SCENARIOS
from lab.smt_scenarios import SMT_SCENARIOS
from lab.vtpm import VTPM_SCENARIOS

ALL_SCENARIOS: dict[str, Scenario] = {
    **SCENARIOS,
    **FILE_SCENARIOS,
    **HOTPLUG_SCENARIOS,
    **ENDIAN_SCENARIOS,
    **SMT_SCENARIOS,
    **VTPM_SCENARIOS,
}
