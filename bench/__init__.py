"""Benchmarks: pykexec against kexec-tools in the lab guest, reported as ratios."""
