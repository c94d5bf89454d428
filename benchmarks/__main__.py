"""Run the benchmarks and print one table: ``python -m benchmarks [name ...]``.

Without names every benchmark runs. ``BENCH_QUICK=1`` shortens them all (and seeds
10,000 requests for the reports unless ``BENCH_REQUESTS`` says otherwise).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time

from benchmarks import QUICK

BENCHMARKS = ("routing", "webhooks", "dialling", "consoles", "reports", "retention", "soak")


def main() -> int:
    """Run the named benchmarks (all without a name) and print their figures."""
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake Twilio's request log
    if QUICK:
        os.environ.setdefault("BENCH_REQUESTS", "10000")
    started = time.monotonic()
    rows = [("mode", "quick (BENCH_QUICK=1)" if QUICK else "full")]
    for name in names:
        rows += importlib.import_module(f"benchmarks.{name}").run()
    rows.append(("benchmark run time (s)", f"{time.monotonic() - started:.0f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'figure':<{width}}  value")
    print(f"{'-' * width}  -----")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
