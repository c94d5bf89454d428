"""Importing shifts from a rostering system's CSV export (docs/ROTA-IMPORT.md).

All or nothing: every row is checked (staff, date, times, length, overlaps within the file
and with shifts already on the rota) before any shift is stored.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.imports import ImportRejected, Row, parse_rows, read_csv
from advice_line.lifecycle.rota import PlannedShift, check_period, describe, london_period
from advice_line.models import Clinician, Shift, User

REQUIRED = ("staff_id", "date", "start", "end")
OPTIONAL = ("name", "duty")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def parse_date(text: str) -> date:
    """Read ``2026-12-01`` or ``01/12/2026``; ``InvalidInput`` otherwise."""
    iso, uk = _ISO_DATE.fullmatch(text), _UK_DATE.fullmatch(text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if uk:
            return date(int(uk[3]), int(uk[2]), int(uk[1]))
    except ValueError:
        pass
    raise InvalidInput({"date": f"{text!r} is not a date like 2026-12-01 or 01/12/2026."})


def parse_time(text: str, field: str) -> time:
    """Read ``HH:MM`` (24-hour clock); ``InvalidInput`` otherwise."""
    found = _TIME.fullmatch(text)
    if found and int(found[1]) < 24 and int(found[2]) < 60:
        return time(int(found[1]), int(found[2]))
    raise InvalidInput({field: f"{text!r} is not a time like 08:00 (24-hour clock)."})


def _staff(session: Session) -> dict[str, tuple[int, bool]]:
    """Each clinician by username and by registration number: (clinician id, active)."""
    rows = session.execute(
        select(Clinician.id, User.username, Clinician.registration_number, User.active).join(
            User, User.id == Clinician.user_id
        )
    ).all()
    known: dict[str, tuple[int, bool]] = {}
    for clinician_id, username, registration, active in rows:
        known[username.lower()] = (clinician_id, bool(active))
        if registration:
            known[registration.upper()] = (clinician_id, bool(active))
    return known


def import_shifts(session: Session, data: bytes | str, *, now: datetime, actor: Actor) -> int:
    """Store every shift in the file, or none (``ImportRejected`` lists problems by line)."""
    rows = read_csv(data, required=REQUIRED, optional=OPTIONAL)
    staff = _staff(session)

    def parse(row: Row) -> tuple[int, PlannedShift]:
        errors: dict[str, str] = {}
        found = staff.get(row.get("staff_id").lower()) or staff.get(row.get("staff_id").upper())
        if found is None:
            errors["staff_id"] = (
                f"no clinician has the username or registration {row.get('staff_id')!r}"
            )
        elif not found[1]:
            errors["staff_id"] = f"{row.get('staff_id')}'s account is deactivated"
        try:
            day = parse_date(row.get("date"))
            start, end = parse_time(row.get("start"), "start"), parse_time(row.get("end"), "end")
            starts_at, ends_at = london_period(day, start, end)
            check_period(starts_at, ends_at, now)
        except InvalidInput as error:
            errors.update(error.errors)
        if errors or found is None:
            raise InvalidInput(errors)
        return row.line, PlannedShift(found[0], starts_at, ends_at)

    planned = parse_rows(rows, parse)
    problems = _overlaps(session, planned)
    if problems:
        raise ImportRejected(problems)
    session.add_all(
        Shift(clinician_id=p.clinician_id, starts_at=p.starts_at, ends_at=p.ends_at)
        for _, p in planned
    )
    session.flush()
    record_event(session, actor, "rota.imported", now=now, detail={"shifts": len(planned)})
    return len(planned)


def _overlaps(session: Session, planned: list[tuple[int, PlannedShift]]) -> list[tuple[int, str]]:
    """Rows that overlap another row of the file or a shift on the rota, by line."""
    problems: list[tuple[int, str]] = []
    ordered = sorted(planned, key=lambda lp: (lp[1].clinician_id, lp[1].starts_at))
    latest: tuple[int, PlannedShift] | None = None  # the clinician's latest-ending row so far
    for line, shift in ordered:
        if latest is not None and latest[1].clinician_id == shift.clinician_id:
            if shift.starts_at < latest[1].ends_at:
                problems.append((max(line, latest[0]), f"overlaps line {min(line, latest[0])}"))
            if shift.ends_at <= latest[1].ends_at:
                continue
        latest = (line, shift)
    first = min(p.starts_at for _, p in planned)
    last = max(p.ends_at for _, p in planned)
    existing = session.execute(
        select(Shift.clinician_id, Shift.starts_at, Shift.ends_at).where(
            Shift.clinician_id.in_({p.clinician_id for _, p in planned}),
            Shift.starts_at < last,
            Shift.ends_at > first,
        )
    ).all()
    for line, p in planned:
        for clinician_id, starts_at, ends_at in existing:
            if clinician_id == p.clinician_id and starts_at < p.ends_at and ends_at > p.starts_at:
                problems.append(
                    (line, f"overlaps their shift {describe(starts_at, ends_at)} on the rota")
                )
                break
    return sorted(problems)
