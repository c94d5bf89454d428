"""Run every benchmark and print one table: ``python -m benchmarks``."""

from __future__ import annotations

from benchmarks import consoles, reports, routing, webhooks


def main() -> None:
    """Run the benchmarks and print their figures."""
    rows = routing.run() + webhooks.run() + consoles.run() + reports.run()
    width = max(len(name) for name, _ in rows)
    print(f"{'figure':<{width}}  value")
    print(f"{'-' * width}  -----")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
