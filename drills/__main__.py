"""Run a drill and print its table: ``python -m drills kill9|redis|postgres|attack``."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from drills import attack, kill9, postgres_down, redis_down
from drills.harness import Findings, postgres_schema


def _kill9(folder: Path) -> Findings:
    findings = kill9.run(f"sqlite:///{folder}/kill9.sqlite3", "SQLite", folder)
    with postgres_schema() as url:
        on_postgres = kill9.run(url, "PostgreSQL", folder)
    findings.rows += on_postgres.rows
    findings.failures += on_postgres.failures
    return findings


def _redis(folder: Path) -> Findings:
    with postgres_schema() as url:
        return redis_down.run(url, folder)


def _postgres(folder: Path) -> Findings:
    with postgres_down.private_cluster() as cluster:
        return postgres_down.run(cluster, folder)


def _attack(folder: Path) -> Findings:
    return attack.run(f"sqlite:///{folder}/attack.sqlite3", folder)


DRILLS = {"kill9": _kill9, "redis": _redis, "postgres": _postgres, "attack": _attack}


def main() -> int:
    """Run the drills named on the command line (all of them without a name)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake Twilio's request log
    names = sys.argv[1:] or list(DRILLS)
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        print(f"unknown drill {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
        return 2
    failed = False
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"drill-{name}-") as folder:
            findings = DRILLS[name](Path(folder))
        width = max(len(row) for row, _ in findings.rows)
        print(f"\n== drill {name}\n{'check or figure':<{width}}  result")
        for row, value in findings.rows:
            print(f"{row:<{width}}  {value}")
        failed = failed or bool(findings.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
