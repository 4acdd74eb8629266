# SPDX-License-Identifier: GPL-2.0-or-later
"""Structure-aware fuzzing of pykexec's inputs and outputs.

Ten families of generated inputs, each case from a generator seeded by its label
(``FAMILY-SEED-INDEX``: any case can be made again, ``--replay``):

* ``elf``: ppc64 ELF64 kernels in both byte orders with mutated headers and
  program headers, truncated or with flipped bytes (:mod:`tests.fuzz.families`);
* ``compressed``: the same wrapped in gzip or xz, truncated, corrupt, or bombs;
* ``fdt``: flattened device trees with mutated headers, structure block, strings
  and cell counts, deep and wide trees;
* ``snapshot``: directories laid out like ``tests/fixtures/snapshots/*`` with
  mutated files, FIFOs, devices, deep trees, huge and garbage values, planned
  with :func:`pykexec.system.loader.plan_load`;
* ``cli``: argument lists to :func:`pykexec.commands.cli.main` built from the option
  table plus garbage;
* ``initramfs``: initrds of every format the kernel unpacks, with hostile cpio
  headers, bombs, truncations, huge headers and concatenations, read by
  :func:`pykexec.core.formats.initramfs.summarize` and held to what was packed
  (:mod:`tests.fuzz.archives`);
* ``record`` and ``kcore``: the loader's own records under ``run/pykexec``
  mutated, and a fake ``/proc/kcore`` with hostile program headers, fed to
  ``-S -d``, ``--json`` and ``--verify`` (:mod:`tests.fuzz.records`);
* ``save`` and ``json``: ``--save DIR`` into hostile directories (nothing may
  change outside DIR, nothing may block) and every action with ``--json`` (stdout
  is empty or one JSON document) (:mod:`tests.fuzz.outputs`).

The CLI runs with the kexec system calls, ``sync`` and ``exec`` replaced by
recorders (:mod:`tests.fuzz.runner`).  The rule for every input: the API raises
only :class:`~pykexec.errors.KexecError`; the CLI ends in exit 0, 1 or 2 with at
most one line on stderr and no traceback; the family's own checks hold; within
2 s and within the worker's 256 MB address space.  ``python3 -m tests.fuzz``
runs them (see ``--help``); ``tests/test_fuzz.py`` runs a bounded part in CI.
"""
