"""The CSV exports' rows, as analysts read them (no Flask).

Every cell follows the same rules (docs/DATA-DICTIONARY.md lists every column): times in
ISO 8601 with London's offset (``2026-11-30T02:14:05+00:00``, ``+01:00`` in summer);
durations in whole seconds; yes/no for booleans; codes as their labels
(``reports/labels.py``); a text cell a spreadsheet would read as a formula starts with '.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy.orm import Session

from advice_line.clock import LONDON
from advice_line.models import AdviceRecord, AdviceRequest, Detention, OfficerDecision, Priority
from advice_line.models.request import REFERENCE_PREFIX
from advice_line.reports.labels import label, yes_no
from advice_line.reports.queries import TAKER, Filters, force_of_request, requests_query

#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000


def iso(moment: datetime | None) -> str:
    """A stored UTC time as London time in ISO 8601 with its offset, to the second."""
    return moment.astimezone(LONDON).isoformat(timespec="seconds") if moment else ""


def cell(value: object) -> object:
    """One value as the export writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, enum.Enum):
        return label(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as text, never run
    return value


def csv_line(values: Any) -> str:
    """One CSV line of these cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cell(v) for v in values)
    return buffer.getvalue()


def _request_columns() -> dict[str, Any]:
    """Each requests-export column and the SQL it is read from (some finished in Python)."""
    r, c = AdviceRequest, AdviceRecord
    return {
        "reference": r.id,
        "received_london": r.received_at,
        "channel": r.channel,
        "force": force_of_request,
        "area": r.area,
        "rcrp_phase": r.rcrp_phase,
        "age_band": r.subject_age_band,
        "sex": r.subject_sex,
        "ethnicity": r.subject_ethnicity,
        "officer_verified": r.officer_verified,
        "risk_to_life": r.risk_to_life,
        "under_18": r.subject_under_18,
        "in_dwelling": r.in_dwelling,
        "priority": r.priority,
        "status": r.status,
        "seconds_to_answer": r.accepted_at,
        "abandoned": r.abandoned_at,
        "outcome": c.outcome,
        "community_route": c.community_route,
        "place_of_safety": c.place_of_safety,
        "destination": c.destination,
        "officer_decision": Detention.decision,
        "place_of_safety_used": Detention.place_of_safety_used,
        "conveyance": Detention.conveyance,
        "arrived_at_london": Detention.arrived_at,
        "handed_over_at_london": Detention.handed_over_at,
        "clinician_id": TAKER.clinician_id,
        "given_by_profession": c.given_by_profession,
        "given_by_registration_body": c.given_by_registration_body,
        "given_by_registration_number": c.given_by_registration_number,
    }


#: The requests export's columns, in order (docs/DATA-DICTIONARY.md).
EXPORT_COLUMNS = tuple(_request_columns())
#: The s136 return's columns, in order (docs/DATA-DICTIONARY.md).
S136_RETURN_COLUMNS = (
    "force",
    "month",
    "age_band",
    "sex",
    "ethnicity",
    "place_of_safety_advised",
    "place_of_safety_used",
    "conveyance",
    "police_vehicle_reason",
    "detained_at_london",
    "arrived_at_london",
    "handed_over_at_london",
    "advice_line_reference",
)


def count(session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` gives (its joins kept, its columns and order dropped)."""
    counting = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    return session.scalar(counting) or 0


def requests_lines(
    session: Session, filters: Filters, done: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The requests export's lines, read in batches of 1,000; ``done`` hears of each row."""
    columns = _request_columns()
    query = (
        requests_query(filters)
        .with_only_columns(
            *columns.values(), AdviceRequest.waiting_since, maintain_column_froms=True
        )
        .execution_options(yield_per=BATCH)
    )
    yield csv_line(EXPORT_COLUMNS)
    for *values, waiting in session.execute(query):
        row = dict(zip(EXPORT_COLUMNS, values, strict=True))
        accepted = row["seconds_to_answer"]
        row["reference"] = f"{REFERENCE_PREFIX}{row['reference']}"
        row["seconds_to_answer"] = (
            round((accepted - waiting).total_seconds()) if accepted and waiting else None
        )
        row["abandoned"] = row["abandoned"] is not None
        row["given_by_profession"] = label(row["given_by_profession"])
        row["priority"] = label(Priority(row["priority"]))
        if done:
            done(1)
        yield csv_line(row.values())


def s136_query(filters: Filters) -> Any:
    """The detentions the officers reported, of the requests the filters cover."""
    return (
        requests_query(filters)
        .add_columns(Detention)
        .where(Detention.decision == OfficerDecision.DETAINED)
    )


def s136_lines(
    session: Session, filters: Filters, done: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The Home Office s136 return's lines (one per reported detention)."""
    yield csv_line(S136_RETURN_COLUMNS)
    for advice, record, force, _clinician, detention in session.execute(
        s136_query(filters).execution_options(yield_per=BATCH)
    ):
        if done:
            done(1)
        yield csv_line(
            (
                force or "Not known",
                advice.received_at.astimezone(LONDON).strftime("%Y-%m"),
                advice.subject_age_band or "Not recorded",
                advice.subject_sex or "Not recorded",
                advice.subject_ethnicity or "Not recorded",
                record.place_of_safety if record and record.place_of_safety else "None advised",
                detention.place_of_safety_used or "Not recorded",
                detention.conveyance or "Not recorded",
                detention.police_vehicle_reason,
                detention.detained_at,
                detention.arrived_at,
                detention.handed_over_at,
                advice.reference,
            )
        )


#: Each export by its name: its query (to count) and its lines.
EXPORTS: dict[str, tuple[Callable[[Filters], Any], Callable[..., Iterator[str]]]] = {
    "requests": (requests_query, requests_lines),
    "s136-return": (s136_query, s136_lines),
}
