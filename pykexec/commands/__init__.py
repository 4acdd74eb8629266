# SPDX-License-Identifier: GPL-2.0-or-later
"""The commands: parse, call the system and core layers, print, exit."""
