# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m pykexec``: the command line."""

import sys

from pykexec.commands.cli import main

sys.exit(main())
