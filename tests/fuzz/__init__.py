# SPDX-License-Identifier: GPL-2.0-or-later
"""Structure-aware fuzzing of pykexec's inputs.

Five families of generated inputs (:mod:`tests.fuzz.families`):

* ``elf``: ppc64 ELF64 kernels in both byte orders with mutated headers and
  program headers, truncated or with flipped bytes;
* ``compressed``: the same wrapped in gzip or xz, truncated, corrupt, or bombs;
* ``fdt``: flattened device trees with mutated headers, structure block, strings
  and cell counts, deep and wide trees;
* ``snapshot``: directories laid out like ``tests/fixtures/snapshots/*`` with
  mutated files, FIFOs, devices, deep trees, huge and garbage values, planned
  with :func:`pykexec.loader.plan_load`;
* ``cli``: argument lists to :func:`pykexec.cli.main` built from the option
  table plus garbage, with the kexec system calls, ``sync`` and ``exec``
  replaced by recorders (:mod:`tests.fuzz.runner`).

The rule for every input: the API raises only
:class:`~pykexec.errors.KexecError`; the CLI ends in exit 0, 1 or 2 with at
most one line on stderr; either within 2 s.  ``python3 -m tests.fuzz`` runs
them (see ``--help``); ``tests/test_fuzz.py`` runs a bounded part in CI.
"""
