"""Every dashboard figure against numbers worked out by hand on a small week."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import SYSTEM
from advice_line.clock import LONDON, utcnow
from advice_line.demo import seed_demo
from advice_line.history import seed_history
from advice_line.lifecycle.records import given_by
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    AuditEvent,
    Channel,
    Clinician,
    CommunityRoute,
    Detention,
    Ethnicity,
    Offer,
    OfferOutcome,
    Officer,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    Priority,
    RecordStatus,
    ReportedVia,
    RequestFact,
    RequestStatus,
    Role,
    Sex,
    Task,
    TaskKind,
    User,
)
from advice_line.reports import facts
from advice_line.reports.exports import EXPORT_COLUMNS
from advice_line.reports.forms import default_period
from advice_line.reports.queries import Filters, dashboard, follow_up, median, nearest_rank
from tests.builders import add_clinician
from tests.conftest import static_url
from tests.test_console import sign_in

WEEK = Filters(start=date(2026, 11, 16), end=date(2026, 11, 22))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A November 2026 moment (London is on GMT, so UTC reads the same)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def make(
    session: Session,
    received: datetime,
    *,
    channel: Channel = Channel.VOICE,
    answered_after: int | None = None,
    abandoned_after: int | None = None,
    cancelled: bool = False,
    outcome: OutcomeCode | None = None,
    decision: OfficerDecision | None = None,
    clinician_id: int | None = None,
    detention: dict[str, object] | None = None,
    **subject: object,
) -> AdviceRequest:
    """A request as its history left it (``detention``: the detention's other fields)."""
    request = AdviceRequest(
        channel=channel,
        status=RequestStatus.QUEUED,
        priority=Priority.ROUTINE,
        skills_needed=[],
        received_at=received,
        queued_at=received,
        waiting_since=received,
        **subject,
    )
    session.add(request)
    session.flush()
    if answered_after is not None:
        request.accepted_at = received + timedelta(seconds=answered_after)
        request.status = RequestStatus.CLOSED
        assert clinician_id is not None
        session.add(
            Offer(
                request_id=request.id,
                clinician_id=clinician_id,
                offered_at=received,
                expires_at=received,
                outcome=OfferOutcome.ACCEPTED,
                responded_at=request.accepted_at,
            )
        )
        session.add(
            AdviceRecord(
                request_id=request.id,
                clinician_id=clinician_id,
                status=RecordStatus.COMPLETE,
                outcome=outcome,
                community_route=CommunityRoute.CRISIS_TEAM
                if outcome == OutcomeCode.COMMUNITY_ROUTE
                else None,
                place_of_safety=PlaceOfSafety.HEALTH_BASED
                if outcome == OutcomeCode.S136_ADVISED
                else None,
                destination="Home" if outcome == OutcomeCode.COMMUNITY_ROUTE else None,
                created_at=received,
                completed_at=received + timedelta(minutes=20),
                **given_by(session.get_one(Clinician, clinician_id)),
            )
        )
        if decision is not None:
            session.add(
                Detention(
                    request_id=request.id,
                    decision=decision,
                    decision_reported_at=received + timedelta(hours=1),
                    updated_at=received + timedelta(hours=1),
                    **(detention or {}),
                )
            )
    if abandoned_after is not None:
        request.status = RequestStatus.ABANDONED
        request.abandoned_at = received + timedelta(seconds=abandoned_after)
    if cancelled:
        request.status = RequestStatus.CANCELLED
    session.flush()
    return request


@pytest.fixture
def staff(session: Session) -> None:
    """The demo's staff accounts (and its clinicians, who have no requests here)."""
    seed_demo(session, now=utcnow())
    session.commit()


@pytest.fixture
def week(session: Session, staff: None) -> dict[str, object]:
    """Seven requests in the week of 16 November 2026, and one just after it."""
    first, second = add_clinician(session), add_clinician(session)
    met = Officer(force="Metropolitan Police Service", collar_number="MP1", created_at=at(1, 0))
    session.add(met)
    session.flush()
    r1 = make(
        session,
        at(16, 10, 0),
        answered_after=20,
        clinician_id=first.id,
        outcome=OutcomeCode.COMMUNITY_ROUTE,
        decision=OfficerDecision.NOT_DETAINED,
        subject_age_band=AgeBand.AGE_25_34,
        subject_sex=Sex.FEMALE,
        subject_ethnicity=Ethnicity.WHITE,
        officer_id=met.id,
    )
    make(
        session,
        at(16, 10, 30),
        answered_after=45,
        clinician_id=first.id,
        outcome=OutcomeCode.S136_ADVISED,
        decision=OfficerDecision.DETAINED,
        subject_age_band=AgeBand.AGE_18_24,
        subject_sex=Sex.MALE,
        subject_ethnicity=Ethnicity.BLACK,
        claimed_force="British Transport Police",
    )
    make(
        session,
        at(17, 23, 10),
        channel=Channel.SMS,
        answered_after=90,
        clinician_id=second.id,
        outcome=OutcomeCode.S136_ADVISED,
        subject_age_band=AgeBand.AGE_18_24,
        subject_sex=Sex.MALE,
        subject_ethnicity=Ethnicity.BLACK,
    )
    r4 = make(session, at(18, 2, 0), abandoned_after=15)
    r5 = make(session, at(18, 2, 30), abandoned_after=40)
    make(session, at(19, 12, 0), cancelled=True)
    make(session, at(22, 23, 30))
    make(session, at(23, 0, 10))  # Monday of the next week: outside
    for request, done in ((r4, True), (r5, False)):
        assert request.abandoned_at is not None
        session.add(
            Task(
                kind=TaskKind.CALL_BACK,
                request_id=request.id,
                description="Call back",
                created_at=request.abandoned_at,
                due_at=request.abandoned_at + timedelta(minutes=5),
                done_at=request.abandoned_at + timedelta(minutes=10) if done else None,
            )
        )
    session.commit()
    manager = session.scalars(select(User.id).where(User.role == Role.MANAGER)).first()
    return {"first": first.id, "r1": r1.id, "manager": manager}


def test_volume_answering_and_abandonment(session: Session, week: dict[str, object]) -> None:
    board = dashboard(session, WEEK)
    assert board.volume == 7
    assert board.queued == 6  # the cancelled request never counts against the line
    assert board.answered == 3
    assert board.answered_within == {30: 16.7, 60: 33.3}  # 1/6 and 2/6
    assert board.median_answer_seconds == 45
    assert board.p90_answer_seconds == 90
    assert board.abandoned == 2
    assert board.abandonment_rate == 33.3
    assert board.median_call_back_minutes == 10
    assert board.call_backs_outstanding == 1


def test_outcomes_and_the_officers_decisions(session: Session, week: dict[str, object]) -> None:
    board = dashboard(session, WEEK)
    assert board.outcomes == {"community_route": 1, "s136_advised": 2}
    assert board.community_routes == {"crisis_team": 1}
    assert board.advice_against_decision == {
        "not advised": {"not detained": 1},
        "s136 advised": {"detained": 1, "not reported": 1},
    }


def test_hour_weekday_and_week(session: Session, week: dict[str, object]) -> None:
    board = dashboard(session, WEEK)
    assert {h: n for h, n in enumerate(board.by_hour) if n} == {2: 2, 10: 2, 12: 1, 23: 2}
    assert board.by_weekday == [2, 1, 2, 1, 0, 0, 1]
    assert board.by_week == {"2026-11-16": {"volume": 7, "answered_within_30_percent": 16.7}}


def test_equality_monitoring(session: Session, week: dict[str, object]) -> None:
    equality = dashboard(session, WEEK).equality
    assert equality["age band"] == {
        "18_24": {
            "advised": 2,
            "s136_advised_percent": 100.0,
            "detained_percent_of_reported": 100.0,
        },
        "25_34": {"advised": 1, "s136_advised_percent": 0.0, "detained_percent_of_reported": 0.0},
    }
    assert equality["sex"]["male"]["advised"] == 2
    assert equality["ethnicity"]["white"] == {
        "advised": 1,
        "s136_advised_percent": 0.0,
        "detained_percent_of_reported": 0.0,
    }


@pytest.mark.parametrize(
    ("changes", "volume"),
    [
        ({"channel": Channel.SMS}, 1),
        ({"age_band": AgeBand.AGE_18_24}, 2),
        ({"force": "British Transport Police"}, 1),
        ({"force": "Metropolitan Police Service"}, 1),
        ({"end": date(2026, 11, 23)}, 8),
        ({"start": date(2026, 11, 18), "end": date(2026, 11, 18)}, 2),
    ],
)
def test_filters(
    session: Session, week: dict[str, object], changes: dict[str, object], volume: int
) -> None:
    filters = Filters(**{**WEEK.__dict__, **changes})
    assert dashboard(session, filters).volume == volume


def test_the_clinician_filter(session: Session, week: dict[str, object]) -> None:
    filters = Filters(start=WEEK.start, end=WEEK.end, clinician_id=int(str(week["first"])))
    board = dashboard(session, filters)
    assert (board.volume, board.answered, board.median_answer_seconds) == (2, 2, 32.5)


def _facts(session: Session) -> list[tuple[object, ...]]:
    return [tuple(row) for row in session.execute(select(RequestFact).order_by("request_id"))]


def test_the_dashboard_follows_later_changes(session: Session, week: dict[str, object]) -> None:
    r1 = int(str(week["r1"]))
    r5 = session.scalars(select(Task.id).where(Task.done_at.is_(None))).one()
    # The officer corrects their decision; the second call-back is made 30 minutes on.
    lifecycle.report_decision(
        session, r1, OfficerDecision.DETAINED, via=ReportedVia.SMS, now=at(24, 9), actor=SYSTEM
    )
    task = session.get(Task, r5)
    assert task is not None
    assert task.request_id is not None
    request = session.get(AdviceRequest, task.request_id)
    assert request is not None
    assert request.abandoned_at is not None
    lifecycle.complete_task(
        session,
        r5,
        int(str(week["manager"])),
        now=request.abandoned_at + timedelta(minutes=30),
        actor=SYSTEM,
    )
    board = dashboard(session, WEEK)
    assert board.advice_against_decision["not advised"] == {"detained": 1}
    assert (board.call_backs_outstanding, board.median_call_back_minutes) == (0, 20)
    kept = _facts(session)
    facts.refresh(session)  # worked out afresh from the requests: nothing changes
    assert _facts(session) == kept


# --- detentions followed through: the week of 2 November 2026 ---------------------------

EARLIER_WEEK = Filters(start=date(2026, 11, 2), end=date(2026, 11, 8))
NOW = at(9, 12)


def _went(
    arrived: datetime,
    handover: int | None = None,
    place: PlaceOfSafetyUsed | None = PlaceOfSafetyUsed.HEALTH_BASED,
    **times: object,
) -> dict[str, object]:
    """A detention: detained 30 minutes before arrival, handed over ``handover`` minutes on."""
    return {
        "detained_at": arrived - timedelta(minutes=30),
        "arrived_at": arrived,
        "handed_over_at": arrived + timedelta(minutes=handover) if handover else None,
        "place_of_safety_used": place,
        **times,
    }


S136, COMMUNITY = OutcomeCode.S136_ADVISED, OutcomeCode.COMMUNITY_ROUTE
DETAINED, NOT_DETAINED = OfficerDecision.DETAINED, OfficerDecision.NOT_DETAINED
ED = PlaceOfSafetyUsed.EMERGENCY_DEPARTMENT
#: (day received, advice, decision, detention and channel): worked out by hand below.
EARLIER_REQUESTS: list[tuple[int, OutcomeCode, OfficerDecision | None, dict[str, object]]] = [
    (2, S136, DETAINED, _went(at(2, 10), 45, ended_at=at(2, 20))),
    (2, S136, DETAINED, _went(at(2, 11), 60, ED, ended_at=at(3, 11))),  # ended at 24 h
    (3, S136, DETAINED, _went(at(3, 10), 90, ended_at=at(3, 18), channel=Channel.SMS)),
    (4, S136, DETAINED, _went(at(4, 10), 240, ended_at=at(5, 11))),  # ended at 25 h
    (5, COMMUNITY, DETAINED, _went(at(5, 10), 30, ED, extended_at=at(6, 8), ended_at=at(6, 16))),
    (8, S136, DETAINED, _went(at(8, 6), place=None)),  # running at 30 h
    (8, S136, DETAINED, {"detained_at": at(8, 9)}),  # no arrival yet
    (8, S136, DETAINED, _went(at(8, 13))),  # running at 23 h
    (8, S136, DETAINED, _went(at(8, 6), extended_at=at(9, 5))),  # extended, running at 30 h
    (6, COMMUNITY, NOT_DETAINED, {}),
    (6, OutcomeCode.MEDICAL_EMERGENCY, None, {}),
    (7, S136, NOT_DETAINED, {}),
]


@pytest.fixture
def detentions(session: Session, staff: None) -> None:
    """Nine reported detentions, two not detained and one not reported, by hand.

    Handover minutes 45, 60, 90, 240, 30 (median 60, p90 240); 3 of the 8 that arrived
    were handed over within an hour, 3 have no handover yet. Past the limit at ``NOW``:
    one ended at 25 h, one still running at 30 h. Not past: one ended at exactly 24 h, one
    extended and ended at 30 h, one extended and running at 30 h, one running at 23 h.
    """
    clinician = add_clinician(session).id
    for day, outcome, decision, given in EARLIER_REQUESTS:
        detention = dict(given)
        channel = detention.pop("channel", Channel.VOICE)
        assert isinstance(channel, Channel)
        make(
            session,
            at(day, 8),
            channel=channel,
            answered_after=10,
            clinician_id=clinician,
            outcome=outcome,
            decision=decision,
            detention=detention,
        )
    session.commit()


def test_detentions_followed_through(session: Session, detentions: None) -> None:
    board = dashboard(session, EARLIER_WEEK, now=NOW).detentions
    assert (board.reported, board.arrived, board.awaiting_handover) == (9, 8, 3)
    assert (board.median_handover_minutes, board.p90_handover_minutes) == (60, 240)
    assert (board.handed_over_within_hour, board.handed_over_within_hour_percent) == (3, 37.5)
    assert (board.past_limit_ended, board.past_limit_running) == (1, 1)


def test_where_people_went_by_advice(session: Session, detentions: None) -> None:
    assert dashboard(session, EARLIER_WEEK, now=NOW).detentions.where_people_went == {
        "community_route": {"community: crisis_team": 1, "detained: emergency_department": 1},
        "medical_emergency": {"not reported": 1},
        "s136_advised": {
            "detained: emergency_department": 1,
            "detained: health_based": 5,
            "detained: place not recorded": 2,
            "not detained": 1,
        },
    }


def test_the_detention_figures_keep_to_the_filters(session: Session, detentions: None) -> None:
    sms = Filters(**{**EARLIER_WEEK.__dict__, "channel": Channel.SMS})
    board = dashboard(session, sms, now=NOW).detentions
    assert (board.reported, board.median_handover_minutes, board.past_limit_running) == (1, 90, 0)
    assert board.where_people_went == {"s136_advised": {"detained: health_based": 1}}
    later = dashboard(session, EARLIER_WEEK, now=at(10, 12)).detentions  # two days on
    assert (board.past_limit_ended, later.past_limit_running) == (0, 3)


def test_no_detentions_no_rates(session: Session) -> None:
    board = dashboard(session, EARLIER_WEEK, now=NOW).detentions
    assert (board.reported, board.median_handover_minutes) == (0, None)
    assert (board.handed_over_within_hour_percent, board.where_people_went) == (None, {})


def test_hours_are_london_hours_in_summer(session: Session, staff: None) -> None:
    make(session, datetime(2026, 7, 1, 9, 30, tzinfo=UTC))
    session.commit()
    board = dashboard(session, Filters(start=date(2026, 7, 1), end=date(2026, 7, 1)))
    assert board.by_hour[10] == 1  # 09:30 UTC is 10:30 BST


def test_an_empty_period_has_no_rates(session: Session) -> None:
    board = dashboard(session, WEEK)
    assert (board.volume, board.answered_within, board.median_answer_seconds) == (
        0,
        {30: None, 60: None},
        None,
    )


def test_follow_up_lists(session: Session, week: dict[str, object]) -> None:
    now = at(18, 3, 0)
    lists = follow_up(session, now)
    assert [t.kind for t in lists.open_tasks] == [TaskKind.CALL_BACK]
    assert lists.overdue_tasks == lists.open_tasks  # due 02:30:40 + 5 min, before 03:00
    assert lists.safeguarding_tasks == []
    assert lists.without_destination == []


def test_percentiles() -> None:
    assert nearest_rank([5, 1, 3, 2, 4], 90) == 5
    assert nearest_rank([5, 1, 3, 2, 4], 50) == 3
    assert nearest_rank([], 90) is None
    assert median([1, 2, 3, 4]) == 2.5


# --- the pages ------------------------------------------------------------------------

QUERY = "?start=2026-11-16&end=2026-11-22"


@pytest.fixture
def manager(app: Flask, week: dict[str, object]) -> FlaskClient:
    return sign_in(app, "morgan")


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("amira", 403), ("sam", 403), ("alex", 403), ("morgan", 200)],
)
@pytest.mark.parametrize(
    "path",
    [
        f"/reports/{QUERY}",
        "/reports/follow-up",
        f"/reports/requests.csv{QUERY}",
        f"/reports/s136-return.csv{QUERY}",
        "/reports/requests/{r1}",
    ],
)
def test_only_managers_see_the_reports(
    app: Flask, week: dict[str, object], role: str, status: int, path: str
) -> None:
    client = sign_in(app, role)
    assert client.get(path.format(r1=week["r1"])).status_code == status


def test_the_dashboard_page_shows_the_figures(manager: FlaskClient) -> None:
    page = manager.get(f"/reports/{QUERY}").get_data(as_text=True)
    assert re.search(r'id="volume"><a href="[^"]+">7</a></dd>', page)
    assert re.search(r'id="within-30"><a href="[^"]+">16.7%</a> of queued', page)
    assert "Abandoned 2 (33.3%)" in _text(page)
    assert static_url(manager.application, "vendor/chart.js/chart.umd.min.js") in page


def test_the_dashboard_page_follows_detentions_through(app: Flask, detentions: None) -> None:
    page = sign_in(app, "morgan").get("/reports/?start=2026-11-02&end=2026-11-08").text
    text = _text(page)
    assert "Detentions the officers reported 9" in text
    assert "Arrival to handover, median / 90th percentile 60.0 min / 240.0 min" in text
    assert "3 of 8 (37.5%); 3 with no handover recorded yet" in text
    assert "Detained: Health-based place of safety 5" in text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?start=2026-11-22&end=2026-11-16", "end"),
        ("?start=yesterday&end=2026-11-16", "start"),
        ("?start=2020-01-01&end=2026-11-16", "end"),
        (f"{QUERY}&channel=pigeon", "channel"),
        (f"{QUERY}&clinician=-3", "clinician"),
    ],
)
def test_bad_filters_are_shown_beside_the_field(
    manager: FlaskClient, query: str, field: str
) -> None:
    response = manager.get(f"/reports/{query}")
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert manager.get(f"/reports/requests.csv{query}").status_code == 400


def test_the_requests_export_has_a_row_per_request(manager: FlaskClient) -> None:
    response = manager.get(f"/reports/requests.csv{QUERY}")
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 7
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    first = rows[0]
    assert (first["channel"], first["force"], first["outcome"], first["seconds_to_answer"]) == (
        "Phone call",
        "Metropolitan Police Service",
        "Community route",
        "20",
    )
    assert first["received_london"] == "2026-11-16T10:00:00+00:00"
    assert [r["abandoned"] for r in rows].count("yes") == 2
    assert [r["abandoned"] for r in rows].count("no") == 5


def test_the_export_never_hands_a_spreadsheet_a_formula(
    manager: FlaskClient, session: Session
) -> None:
    typed = '=HYPERLINK("http://x.example","click")'
    make(session, at(20, 9), area=typed, claimed_force="@SUM(1+1)")
    session.commit()
    rows = list(csv.DictReader(io.StringIO(manager.get(f"/reports/requests.csv{QUERY}").text)))
    row = next(r for r in rows if r["area"].endswith(typed))
    assert (row["area"], row["force"]) == ("'" + typed, "'@SUM(1+1)")


def _text(page: str) -> str:
    """A page's words as a reader sees them (tags dropped, spaces collapsed)."""
    body = page.split("<main", 1)[-1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _csv(client: FlaskClient, path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(client.get(path).get_data(as_text=True))))


def test_the_s136_return_lists_reported_detentions(manager: FlaskClient) -> None:
    rows = _csv(manager, f"/reports/s136-return.csv{QUERY}")
    assert rows == [
        {
            "force": "British Transport Police",
            "month": "2026-11",
            "age_band": "18\u201324",
            "sex": "Male",
            "ethnicity": "Black",
            "place_of_safety_advised": "Health-based place of safety",
            "place_of_safety_used": "Not recorded",
            "conveyance": "Not recorded",
            "police_vehicle_reason": "",
            "detained_at_london": "",
            "arrived_at_london": "",
            "handed_over_at_london": "",
            "advice_line_reference": rows[0]["advice_line_reference"],
        }
    ]


EARLIER_QUERY = "?start=2026-11-02&end=2026-11-08"


def test_the_s136_return_gives_the_times_in_london_time(app: Flask, detentions: None) -> None:
    rows = _csv(sign_in(app, "morgan"), f"/reports/s136-return.csv{EARLIER_QUERY}")
    assert len(rows) == 9
    first = rows[0]
    assert (first["place_of_safety_advised"], first["place_of_safety_used"]) == (
        "Health-based place of safety",
        "Health-based place of safety",
    )
    assert (first["detained_at_london"], first["arrived_at_london"]) == (
        "2026-11-02T09:30:00+00:00",
        "2026-11-02T10:00:00+00:00",
    )
    assert first["handed_over_at_london"] == "2026-11-02T10:45:00+00:00"
    assert [r["arrived_at_london"] for r in rows].count("") == 1  # detained, not yet arrived


def test_the_s136_return_gives_summer_times_as_bst(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    request = make(
        session,
        datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
        answered_after=10,
        clinician_id=int(str(week["first"])),
        outcome=OutcomeCode.S136_ADVISED,
        decision=OfficerDecision.DETAINED,
        detention=_went(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), 75),
    )
    session.commit()
    rows = _csv(manager, "/reports/s136-return.csv?start=2026-07-01&end=2026-07-01")
    assert [r["advice_line_reference"] for r in rows] == [request.reference]
    assert rows[0]["arrived_at_london"] == "2026-07-01T11:00:00+01:00"
    assert rows[0]["handed_over_at_london"] == "2026-07-01T12:15:00+01:00"


def test_the_requests_export_says_who_advised_and_how_the_detention_went(
    app: Flask, session: Session, detentions: None
) -> None:
    rows = _csv(sign_in(app, "morgan"), f"/reports/requests.csv{EARLIER_QUERY}")
    assert len(rows) == 12
    clinician = session.get_one(Clinician, int(rows[0]["clinician_id"]))
    assert {
        (
            r["given_by_profession"],
            r["given_by_registration_body"],
            r["given_by_registration_number"],
        )
        for r in rows
    } == {("Nurse", "NMC", clinician.registration_number)}
    first = rows[0]
    assert (first["place_of_safety_used"], first["conveyance"]) == (
        "Health-based place of safety",
        "",
    )
    assert (first["arrived_at_london"], first["handed_over_at_london"]) == (
        "2026-11-02T10:00:00+00:00",
        "2026-11-02T10:45:00+00:00",
    )
    not_detained = [r for r in rows if r["officer_decision"] == "Not detained"]
    assert [r["arrived_at_london"] for r in not_detained] == ["", ""]


def test_the_timeline_shows_everything_and_the_view_is_audited(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    page = manager.get(f"/reports/requests/{week['r1']}").get_data(as_text=True)
    assert "AL-" in page
    assert "Timeline viewed" in page
    assert "by Morgan Reid" in page
    views = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "request.viewed", AuditEvent.request_id == week["r1"]
        )
    ).all()
    assert len(views) == 1
    assert views[0].actor_kind == "user"


def test_the_timeline_says_who_advised_and_gives_the_detention_times(
    app: Flask, session: Session, detentions: None
) -> None:
    request_id = session.scalars(select(AdviceRequest.id).order_by(AdviceRequest.id)).first()
    clinician = session.scalars(select(Clinician)).all()[-1]
    page = sign_in(app, "morgan").get(f"/reports/requests/{request_id}").text
    assert (
        f"Advice given by a nurse, registered with the NMC as {clinician.registration_number}."
        in page
    )
    assert "The officer reported: detained." in page
    for label, moment in (
        ("Detained", "02 Nov 2026 09:30:00 GMT"),
        ("Arrived at the place of safety", "02 Nov 2026 10:00:00 GMT"),
        ("Handed over", "02 Nov 2026 10:45:00 GMT"),
        ("Extended", "not reported"),
        ("Ended", "02 Nov 2026 20:00:00 GMT"),
        ("Must end by", "03 Nov 2026 10:00:00 GMT"),
    ):
        assert (
            f'<dt class="nhsuk-summary-list__key">{label}</dt>'
            f'<dd class="nhsuk-summary-list__value">{moment}</dd>'
        ) in page


def test_the_follow_up_page_lists_open_call_backs(manager: FlaskClient) -> None:
    page = manager.get("/reports/follow-up").get_data(as_text=True)
    assert "All open tasks (1)" in page
    assert "Overdue tasks (1)" in page


# --- every view of personal data is audited ---------------------------------------------


def _report_events(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("report.%")).order_by(AuditEvent.id)
        )
    )


@pytest.mark.parametrize(
    ("path", "action", "detail"),
    [
        (
            f"/reports/{QUERY}&channel=voice",
            "report.dashboard_viewed",
            {
                "filters": {"start": "2026-11-16", "end": "2026-11-22", "channel": "voice"},
                "rows": 6,
            },
        ),
        (
            f"/reports/requests.csv{QUERY}",
            "report.requests_exported",
            {"filters": {"start": "2026-11-16", "end": "2026-11-22"}, "rows": 7},
        ),
        (
            f"/reports/s136-return.csv{QUERY}&force=British+Transport+Police",
            "report.s136_return_exported",
            {
                "filters": {
                    "start": "2026-11-16",
                    "end": "2026-11-22",
                    "force": "British Transport Police",
                },
                "rows": 1,
            },
        ),
        ("/reports/follow-up", "report.follow_up_viewed", {"rows": 1}),
    ],
)
def test_each_report_view_is_audited_once_with_its_filters_and_rows(
    manager: FlaskClient,
    session: Session,
    week: dict[str, object],
    path: str,
    action: str,
    detail: dict[str, object],
) -> None:
    response = manager.get(path)
    assert response.status_code == 200
    lines = response.get_data(as_text=True).count("\n")
    [event] = _report_events(session)
    assert (event.action, event.detail) == (action, detail)
    assert (event.actor_kind, event.actor_user_id, event.source) == (
        "user",
        week["manager"],
        "127.0.0.1",
    )
    assert event.request_id is None
    if path.split("?")[0].endswith(".csv"):
        assert lines == 1 + int(str(detail["rows"]))  # the header, then the rows counted


def test_the_dashboard_without_filters_audits_the_default_period(
    manager: FlaskClient, session: Session
) -> None:
    manager.get("/reports/")
    [event] = _report_events(session)
    today = utcnow().astimezone(LONDON).date()
    assert event.detail["filters"] == default_period(today)


def test_refused_and_invalid_report_requests_audit_nothing(
    app: Flask, manager: FlaskClient, session: Session
) -> None:
    assert manager.get("/reports/?start=2026-11-22&end=2026-11-16").status_code == 400
    assert manager.get("/reports/requests.csv?start=nonsense&end=2026-11-16").status_code == 400
    clinician = sign_in(app, "sam")
    for path in (f"/reports/{QUERY}", "/reports/follow-up", f"/reports/requests.csv{QUERY}"):
        assert clinician.get(path).status_code == 403
    assert _report_events(session) == []


# --- the generated history has detentions worth reading ---------------------------------


def test_the_generated_history_follows_detentions_through(session: Session, staff: None) -> None:
    end = at(29, 12)
    seed_history(session, 3000, end=end, forces=["Metropolitan Police Service"])
    session.commit()
    times = session.execute(
        select(
            Detention.detained_at,
            Detention.arrived_at,
            Detention.handed_over_at,
            Detention.ended_at,
        ).where(Detention.decision == OfficerDecision.DETAINED)
    ).all()
    for row in times:
        known = [moment for moment in row if moment is not None]
        assert known == sorted(known)
        assert all(moment <= end for moment in known)
    board = dashboard(session, Filters(start=date(2026, 1, 1), end=end.date()), now=end)
    d = board.detentions
    assert d.reported == len(times) > 200
    assert d.median_handover_minutes is not None
    assert 60 < d.median_handover_minutes < 360
    assert d.handed_over_within_hour_percent is not None
    assert 0 < d.handed_over_within_hour_percent < 50
    assert 0 < d.past_limit_ended + d.past_limit_running < d.arrived / 10
    went = d.where_people_went["s136_advised"]
    assert max(went, key=went.__getitem__) == "detained: health_based"
