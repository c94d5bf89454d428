"""The dashboard's charts as data the page embeds (``static/dashboard.js`` draws them):
labels in words, values from zero, each bar's share and the link to its requests (no
Flask: the page passes in how to build a link)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from advice_line.reports.labels import hour_label, label
from advice_line.reports.queries import DAYS, Dashboard, share

#: Builds the link to the requests behind a figure from what it counted.
Link = Callable[..., str]


def _bars(
    title: str, labels: list[str], values: list[int], links: list[str], whole: int
) -> dict[str, Any]:
    return {
        "type": "bar",
        "title": title,
        "labels": labels,
        "values": values,
        "percents": [share(n, whole) for n in values],
        "links": links,
        "min": 0,
    }


def week_span(week: str, start: date, end: date) -> dict[str, str]:
    """The days of a week (its Monday given) that fall in the period, as link dates."""
    monday = date.fromisoformat(week)
    return {
        "start": max(monday, start).isoformat(),
        "end": min(monday + timedelta(days=6), end).isoformat(),
    }


def charts(
    board: Dashboard, link: Link, *, start: date, end: date, target_seconds: int
) -> dict[str, Any]:
    """Every chart of the dashboard (outcomes largest first)."""
    outcomes = sorted(board.outcomes.items(), key=lambda item: -item[1])
    weeks = list(board.by_week)
    return {
        "hour": _bars(
            "Requests by hour of day (London)",
            [hour_label(h) for h in range(24)],
            board.by_hour,
            [link(hour=h) for h in range(24)],
            board.volume,
        ),
        "day": _bars(
            "Requests by day of week",
            list(DAYS),
            board.by_weekday,
            [link(weekday=d) for d in range(7)],
            board.volume,
        ),
        "outcome": _bars(
            "Outcomes of completed advice, largest first",
            [label(o) for o, _ in outcomes],
            [n for _, n in outcomes],
            [link(outcome=o) for o, _ in outcomes],
            sum(board.outcomes.values()),
        ),
        "week": {
            "type": "line",
            "title": "Requests by week, and the share answered within the target",
            "labels": weeks,
            "values": [board.by_week[w]["volume"] for w in weeks],
            "within": [board.by_week[w]["answered_within_30_percent"] for w in weeks],
            "within_label": f"Answered within 30 s (%); the answer target is {target_seconds} s",
            "links": [link(**week_span(w, start, end)) for w in weeks],
            "min": 0,
        },
    }
