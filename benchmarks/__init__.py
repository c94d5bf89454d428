"""Benchmarks (not tests): ``make bench`` runs them all and prints one table.

``BENCH_QUICK=1`` makes every benchmark short (smaller sizes, shorter runs) for a check
that they still work; the figures worth quoting come from a full run.
"""

import os

QUICK = os.environ.get("BENCH_QUICK") == "1"
