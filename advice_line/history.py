"""Realistic request history for reports and benchmarks: ``flask seed-history``.

Volumes follow the hour of day and day of week (evenings and weekend nights busiest);
most requests are answered within seconds, a few are abandoned (with a call-back task)
or cancelled; outcomes, officers' decisions and the people's details follow plausible
shares. A detention follows most decisions to detain: arrival at the place of safety 20 to
90 minutes on, handover a log-normal one to six hours after arrival, and a few that run
past 24 hours (some extended by a doctor, a few with no end reported). Rows are written in
batches with Core inserts, so a million take minutes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from advice_line.clock import LONDON
from advice_line.lifecycle.records import given_by
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    Channel,
    Clinician,
    CommunityRoute,
    Conveyance,
    Detention,
    EscalationLevel,
    Ethnicity,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
    Priority,
    RcrpPhase,
    RecordStatus,
    ReportedVia,
    RequestStatus,
    Sex,
    Task,
    TaskKind,
)
from advice_line.reports import facts

BATCH = 5_000
PER_DAY = 300
HOUR_WEIGHTS = [3, 2, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 6, 7, 8, 8, 8, 8, 7, 6, 4]
DAY_WEIGHTS = [6, 6, 6, 7, 9, 10, 8]  # Monday first
OUTCOMES = {
    OutcomeCode.S136_ADVISED: 20,
    OutcomeCode.COMMUNITY_ROUTE: 45,
    OutcomeCode.S135_AMHP_ROUTE: 5,
    OutcomeCode.MEDICAL_EMERGENCY: 8,
    OutcomeCode.NO_MENTAL_HEALTH_ROLE: 10,
    OutcomeCode.CLINICIAN_TO_ATTEND: 4,
    OutcomeCode.CALL_INCOMPLETE: 8,
}
DESTINATIONS = {
    OutcomeCode.S135_AMHP_ROUTE: "Stays at home; AMHP assessment arranged",
    OutcomeCode.MEDICAL_EMERGENCY: "Emergency department by ambulance",
    OutcomeCode.NO_MENTAL_HEALTH_ROLE: "Police continue; no mental-health need",
    OutcomeCode.CLINICIAN_TO_ATTEND: "Waiting at scene for the crisis clinician",
    OutcomeCode.CALL_INCOMPLETE: "Not known: the call ended",
}
PLACES_USED = {
    PlaceOfSafetyUsed.HEALTH_BASED: 68,
    PlaceOfSafetyUsed.EMERGENCY_DEPARTMENT: 25,
    PlaceOfSafetyUsed.POLICE_STATION: 2,
    PlaceOfSafetyUsed.OTHER: 5,
}
CONVEYANCES = {Conveyance.AMBULANCE: 50, Conveyance.POLICE_VEHICLE: 45, Conveyance.OTHER: 5}
REPORTED_VIA = {
    ReportedVia.SMS: 40,
    ReportedVia.KEYPAD: 20,
    ReportedVia.WHATSAPP: 10,
    ReportedVia.CLINICIAN: 30,
}
AREAS = ["Lambeth", "Southwark", "Camden", "Westminster", "Hackney", "Croydon", "City"]


Part = dict[str, Any] | None


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _moments(rng: random.Random, count: int, end: datetime) -> list[datetime]:
    """``count`` arrival times over enough days before ``end``, busiest when it is busy."""
    days = max(28, count // PER_DAY)
    first_day = (end.astimezone(LONDON) - timedelta(days=days)).date()
    day_weights = [DAY_WEIGHTS[(first_day + timedelta(d)).weekday()] for d in range(days)]
    chosen_days = rng.choices(range(days), weights=day_weights, k=count)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    moments = []
    for day, hour in zip(chosen_days, hours, strict=True):
        local = datetime.combine(first_day + timedelta(days=day), datetime.min.time(), LONDON)
        moments.append(local + timedelta(hours=hour, seconds=rng.randrange(3600)))
    return sorted(moments)


def _request_rows(
    rng: random.Random,
    first_id: int,
    moments: Sequence[datetime],
    end: datetime,
    forces: Sequence[str],
    clinicians: Sequence[tuple[int, dict[str, str | None]]],
) -> Iterator[tuple[dict[str, Any], Part, Part, Part]]:
    """Each request with its record, call-back task and detention (None where none)."""
    for number, received in enumerate(moments):
        request_id = first_id + number
        queued = received + timedelta(seconds=rng.randint(20, 90))
        fate = rng.random()
        risk = rng.random() < 0.15
        under_18 = rng.random() < 0.08
        row: dict[str, Any] = {
            "id": request_id,
            "channel": _pick(rng, {Channel.VOICE: 80, Channel.SMS: 15, Channel.WHATSAPP: 5}),
            "officer_verified": rng.random() < 0.85,
            "claimed_force": rng.choice(forces),
            "risk_to_life": risk,
            "subject_under_18": under_18,
            "in_dwelling": rng.random() < 0.2,
            "priority": Priority.RISK_TO_LIFE
            if risk
            else Priority.UNDER_18
            if under_18
            else Priority.ROUTINE,
            "skills_needed": ["camhs"] if under_18 else [],
            "escalation_level": EscalationLevel.SKILLS_REQUIRED,
            "subject_age_band": AgeBand.UNDER_18
            if under_18
            else _pick(
                rng,
                {
                    AgeBand.AGE_18_24: 22,
                    AgeBand.AGE_25_34: 28,
                    AgeBand.AGE_35_44: 20,
                    AgeBand.AGE_45_54: 14,
                    AgeBand.AGE_55_64: 9,
                    AgeBand.AGE_65_PLUS: 7,
                },
            ),
            "subject_sex": _pick(rng, {Sex.MALE: 58, Sex.FEMALE: 41, Sex.OTHER: 1}),
            "subject_ethnicity": _pick(
                rng,
                {
                    Ethnicity.WHITE: 60,
                    Ethnicity.BLACK: 15,
                    Ethnicity.ASIAN: 13,
                    Ethnicity.MIXED: 7,
                    Ethnicity.OTHER: 5,
                },
            ),
            "rcrp_phase": _pick(
                rng,
                {
                    RcrpPhase.CONCERN_FOR_WELFARE: 55,
                    RcrpPhase.WALK_OUT_AWOL: 15,
                    RcrpPhase.S136_HANDOVER: 20,
                    RcrpPhase.CONVEYANCE: 10,
                },
            ),
            "area": rng.choice(AREAS),
            "received_at": received,
            "queued_at": queued,
            "waiting_since": queued,
        }
        record: Part = None
        task: Part = None
        detention: Part = None
        if fate < 0.04:
            abandoned = queued + timedelta(seconds=rng.randint(5, 120))
            row |= {"status": RequestStatus.ABANDONED, "abandoned_at": abandoned}
            done = rng.random() < 0.9
            task = {
                "kind": TaskKind.CALL_BACK,
                "request_id": request_id,
                "description": f"Call back the officer on AL-{request_id}",
                "created_at": abandoned,
                "due_at": abandoned + timedelta(minutes=5),
                "done_at": abandoned + timedelta(minutes=rng.randint(2, 40)) if done else None,
            }
        elif fate < 0.05:
            row |= {
                "status": RequestStatus.CANCELLED,
                "cancelled_at": queued + timedelta(seconds=30),
            }
        else:
            accepted = queued + timedelta(seconds=min(600, rng.lognormvariate(2.9, 0.8)))
            closed = accepted + timedelta(minutes=rng.randint(6, 40))
            row |= {
                "status": RequestStatus.CLOSED,
                "accepted_at": accepted,
                "connected_at": accepted + timedelta(seconds=3),
                "wrap_up_at": closed - timedelta(minutes=3),
                "closed_at": closed,
            }
            outcome = (
                OutcomeCode.COMMUNITY_ROUTE
                if row["in_dwelling"] and rng.random() < 0.5
                else _pick(rng, OUTCOMES)
            )
            if row["in_dwelling"] and outcome == OutcomeCode.S136_ADVISED:
                outcome = OutcomeCode.S135_AMHP_ROUTE
            reported = rng.random() < 0.7
            detained = rng.random() < (0.9 if outcome == OutcomeCode.S136_ADVISED else 0.08)
            route = (
                rng.choice(list(CommunityRoute)) if outcome == OutcomeCode.COMMUNITY_ROUTE else None
            )
            clinician_id, given = rng.choice(clinicians)
            record = {
                "request_id": request_id,
                "clinician_id": clinician_id,
                "status": RecordStatus.COMPLETE,
                "outcome": outcome,
                "community_route": route,
                "place_of_safety": PlaceOfSafety.HEALTH_BASED
                if outcome == OutcomeCode.S136_ADVISED
                else None,
                "destination": None
                if outcome == OutcomeCode.S136_ADVISED
                else (
                    f"Community: {route.value.replace('_', ' ')}"
                    if route
                    else DESTINATIONS[outcome]
                ),
                "rationale": "Generated history.",
                "safeguarding": {},
                **given,
                "created_at": accepted,
                "completed_at": closed,
            }
            if reported:
                detention = _detention_row(rng, request_id, closed, end, detained=detained)
        yield row, record, task, detention


def _detention_row(
    rng: random.Random, request_id: int, closed: datetime, end: datetime, *, detained: bool
) -> dict[str, Any]:
    """The officer's reported decision and, when detained, the detention's times.

    Times after ``end`` are left unreported (the detention is still running then).
    """
    reported = closed + timedelta(minutes=rng.randint(5, 90))
    row: dict[str, Any] = dict.fromkeys(Detention.__table__.c.keys()) | {
        "request_id": request_id,
        "decision": OfficerDecision.DETAINED if detained else OfficerDecision.NOT_DETAINED,
        "decision_reported_at": reported,
        "decision_reported_via": _pick(rng, REPORTED_VIA),
        "updated_at": reported,
    }
    del row["id"]
    if not detained:
        return row
    conveyance = _pick(rng, CONVEYANCES)
    detained_at = closed + timedelta(minutes=rng.randint(0, 15))
    arrived = detained_at + timedelta(minutes=rng.randint(20, 90))
    # Handover: median 2.5 h, nine in ten within about 7 h, a rare one past a day.
    handed_over = arrived + timedelta(minutes=rng.lognormvariate(math.log(150), 0.8))
    ended = handed_over + timedelta(minutes=rng.lognormvariate(math.log(300), 0.9))
    extended = None
    if ended - arrived > timedelta(hours=24) and rng.random() < 0.6:
        extended = arrived + timedelta(hours=22, minutes=rng.randint(0, 90))
        if rng.random() < 0.9:
            ended = max(
                handed_over, min(ended, arrived + timedelta(minutes=36 * 60 - rng.randint(5, 180)))
            )
    times = {
        "detained_at": detained_at,
        "arrived_at": arrived if rng.random() < 0.9 else None,
        "handed_over_at": handed_over if rng.random() < 0.9 else None,
        "extended_at": extended,
        "ended_at": ended if rng.random() < 0.95 else None,
    }
    if times["arrived_at"] is None:
        times = dict.fromkeys(times) | {"detained_at": detained_at}
    for name, moment in times.items():
        row[name] = moment if moment is not None and moment <= end else None
    if row["arrived_at"] is None:
        row["handed_over_at"] = row["extended_at"] = row["ended_at"] = None
    police = conveyance == Conveyance.POLICE_VEHICLE
    return row | {
        "place_of_safety_used": _pick(rng, PLACES_USED) if row["arrived_at"] else None,
        "conveyance": conveyance,
        "police_vehicle_reason": rng.choice(list(PoliceVehicleReason)) if police else None,
        "updated_at": max(m for m in (reported, *(row[name] for name in times)) if m),
    }


def seed_history(
    session: Session,
    count: int,
    *,
    end: datetime,
    forces: Sequence[str],
    seed: int = 136,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add ``count`` finished requests ending before ``end``; return how many were added.

    ``progress`` hears how many requests each written batch held."""
    clinicians = [
        (clinician.id, given_by(clinician))
        for clinician in session.scalars(
            select(Clinician).where(Clinician.registration_number.is_not(None))
        )
    ]
    if not clinicians:
        raise ValueError("There are no registered clinicians: run `flask seed-demo` first.")
    rng = random.Random(seed)
    first_id = (session.scalar(select(func.max(AdviceRequest.id))) or 0) + 1
    moments = _moments(rng, count, end)
    requests: list[dict[str, Any]] = []
    parts: tuple[list[dict[str, Any]], ...] = ([], [], [])
    defaults = dict.fromkeys(AdviceRequest.__table__.c.keys())
    for row, *rows in _request_rows(rng, first_id, moments, end, forces, clinicians):
        requests.append(defaults | row)
        for batch, part in zip(parts, rows, strict=True):
            if part:
                batch.append(part)
        if len(requests) >= BATCH:
            _flush(session, requests, *parts, progress=progress)
    _flush(session, requests, *parts, progress=progress)
    facts.refresh(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('advice_request', 'id'), "
                "(SELECT max(id) FROM advice_request))"
            )
        )
    return count


def _flush(
    session: Session,
    *batches: list[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
) -> None:
    written = len(batches[0])
    for table, rows in zip((AdviceRequest, AdviceRecord, Task, Detention), batches, strict=True):
        if rows:
            session.execute(insert(table), rows)
            rows.clear()
    if progress and written:
        progress(written)
