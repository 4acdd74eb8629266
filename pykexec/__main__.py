# SPDX-License-Identifier: GPL-2.0-or-later
"""``python3 -m pykexec``, and the zipapp's #! line: the command line.

In a syntax every python3 reads, so that one older than the package's 3.9 (SLES 15's and
RHEL 8's 3.6 at /usr/bin/python3) says so in one line instead of a traceback."""

import sys

if sys.version_info < (3, 9):  # noqa: UP036 (the point: an older python3 runs this)
    this = ".".join(str(n) for n in sys.version_info[:2])
    sys.stderr.write(
        "pykexec: needs Python 3.9 or later, this is "
        + this
        + ": run "
        + sys.argv[0]
        + " with a newer python3\n"
    )
    sys.exit(1)

from pykexec.commands.cli import main

sys.exit(main())
