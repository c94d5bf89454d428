"""Reports a manager can move through (issue 14, points 5 and 9): every figure leads to
exactly the requests it counts, codes read as words, charts start at zero and sort by
size, timelines tell a story with names and durations, exports read as analysts expect."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.models import (
    AdviceRequest,
    AgeBand,
    AuditEvent,
    Channel,
    Clinician,
    CommunityRoute,
    Ethnicity,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    RcrpPhase,
    Sex,
)
from advice_line.reports import drill
from advice_line.reports.exports import EXPORT_COLUMNS, S136_RETURN_COLUMNS
from advice_line.reports.labels import CODES, hour_label, label
from tests.builders import add_clinician
from tests.test_console import sign_in
from tests.test_reports import (
    EARLIER_QUERY,
    QUERY,
    at,
    detentions,
    make,
    manager,
    staff,
    week,
)

__all__ = ["detentions", "manager", "staff", "week"]  # fixtures of the reports tests

DICTIONARY = Path(__file__).resolve().parent.parent / "docs" / "DATA-DICTIONARY.md"
LINK = re.compile(r'<a href="(/reports/requests\?[^"]+)">([0-9.]+%?)</a>')


def _text(page: str) -> str:
    """A page's words as a reader sees them (tags and scripts dropped)."""
    body = page.split("<main", 1)[-1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _total(client: FlaskClient, url: str) -> int:
    page = client.get(url)
    assert page.status_code == 200, page.text
    found = re.search(r'<p id="total">(\d+) request', page.text)
    assert found, page.text
    return int(found.group(1))


def _listed(client: FlaskClient, url: str) -> list[str]:
    """Every request listed behind ``url``, following its pages."""
    references: list[str] = []
    while url:
        page = client.get(url).text
        references += re.findall(r'<a href="/reports/requests/\d+">(AL-\d+)</a>', page)
        following = re.search(r'<a class="nhsuk-pagination__link" href="([^"]+)">Next', page)
        url = html.unescape(following.group(1)) if following else ""
    return references


def _drill_links(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(href), text) for href, text in LINK.findall(page)]


# --- every figure leads to the requests it counts --------------------------------------


@pytest.mark.parametrize("query", [QUERY, EARLIER_QUERY])
def test_every_number_on_the_dashboard_lists_exactly_the_requests_it_counts(
    app: Flask, session: Session, week: dict[str, object], detentions: None, query: str
) -> None:
    client = sign_in(app, "morgan")
    page = client.get(f"/reports/{query}").text
    links = _drill_links(page)
    counts = [(href, text) for href, text in links if not text.endswith("%")]
    assert len(counts) > 30  # summary, hours, days, weeks, outcomes, decisions, equality…
    for href, text in counts:
        assert _total(client, href) == int(text), href


def test_a_percentage_lists_the_requests_on_top_of_the_share(
    manager: FlaskClient, week: dict[str, object]
) -> None:
    page = manager.get(f"/reports/{QUERY}").text
    [href] = [h for h, text in _drill_links(page) if text == "16.7%" and "within_30" in h][:1]
    assert _total(manager, href) == 1  # one of the six queued was answered within 30 s


def test_the_outcome_and_force_figures_list_their_requests(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    base = f"/reports/requests{QUERY}"
    s136 = _listed(manager, f"{base}&outcome=s136_advised")
    expected = session.scalars(
        select(AdviceRequest.id).where(AdviceRequest.claimed_force == "British Transport Police")
    ).all()
    assert len(s136) == 2
    assert _listed(manager, f"{base}&force=British+Transport+Police") == [
        f"AL-{i}" for i in expected
    ]
    page = manager.get(f"{base}&outcome=s136_advised").text
    assert "Section 136 advised" in _text(page)


def test_the_request_list_is_paginated_and_each_row_opens_its_timeline(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    for minute in range(drill.PAGE_SIZE + 5):
        make(session, at(20, 9, minute % 60, minute // 60), claimed_force="Kent Police")
    session.commit()
    url = f"/reports/requests{QUERY}&force=Kent+Police"
    first = manager.get(url).text
    assert f"{drill.PAGE_SIZE + 5} requests; page 1 of 2" in _text(first)
    listed = _listed(manager, url)
    assert len(listed) == len(set(listed)) == drill.PAGE_SIZE + 5
    timeline = re.search(r'<a href="(/reports/requests/\d+)">AL-', first)
    assert timeline
    assert manager.get(timeline.group(1)).status_code == 200


def test_the_clinician_filter_lists_clinicians_by_name(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    first = session.get_one(Clinician, week["first"])
    page = manager.get(f"/reports/{QUERY}").text
    assert f'<option value="{first.id}">{first.user.display_name}</option>' in page
    assert '<option value="British Transport Police">British Transport Police</option>' in page
    chosen = manager.get(f"/reports/requests{QUERY}&clinician={first.id}").text
    assert f"Clinician {first.user.display_name}" in _text(chosen)
    assert _total(manager, f"/reports/requests{QUERY}&clinician={first.id}") == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("&force=Nowhere+Constabulary", "Force: Choose the force from the list."),
        ("&clinician=999999", "Clinician: Choose the clinician from the list."),
        ("&page=-1", "Page: Number must be between 1 and 1000000."),
        ("&page=two", "Page: Not a valid integer value."),
        ("&hour=24", "Hour: Choose the hour from the list."),
        ("&measure=everything", "Figure: Choose the figure from the list."),
    ],
)
def test_bad_drill_down_input_is_answered_with_a_clear_error(
    manager: FlaskClient, query: str, message: str
) -> None:
    response = manager.get(f"/reports/requests{QUERY}{query}")
    assert response.status_code == 400
    assert message in _text(response.text)


def test_bad_dates_in_the_drill_down_are_refused(manager: FlaskClient) -> None:
    response = manager.get("/reports/requests?start=2026-11-22&end=2026-11-16")
    assert response.status_code == 400
    assert "The end must not be before the start." in _text(response.text)
    assert manager.get("/reports/requests?start=soon&end=2026-11-16").status_code == 400


def test_the_drill_downs_error_summary_links_to_the_fields_on_the_dashboard(
    manager: FlaskClient,
) -> None:
    sent = "start-day=31&start-month=2&start-year=2026&end=2026-11-16&measure=everything"
    response = manager.get(f"/reports/requests?{sent}")
    assert response.status_code == 400
    main = response.text.split("<main", 1)[1]
    links = dict(re.findall(r'<a href="([^"]*)"\s*>\s*([^<]+?)\s*</a>', main))
    wrong_date = next(href for href, words in links.items() if "there is no 31/2/2026" in words)
    page, _, field = unescape(wrong_date).partition("#")
    assert page.startswith("/reports/?")
    assert "measure" not in page
    # The dashboard, opened from the link, shows the same error beside that very field.
    dashboard = manager.get(page)
    assert dashboard.status_code == 400
    assert f'id="{field}"' in dashboard.text
    assert "there is no 31/2/2026" in _text(dashboard.text)
    # A figure's own value has no field anywhere: it is named, not linked.
    assert "Figure: Choose the figure from the list." in _text(response.text)
    assert not any("Figure:" in words for words in links.values())


def test_an_unknown_force_on_the_dashboard_is_refused_beside_the_field(
    manager: FlaskClient,
) -> None:
    response = manager.get(f"/reports/{QUERY}&force=Nowhere")
    assert response.status_code == 400
    assert 'id="force-error"' in response.text
    assert "There is a problem" in response.text


# --- words, not codes ------------------------------------------------------------------

RAW_CODES = sorted(
    {str(member.value) for codes in CODES.values() for member in codes if "_" in str(member.value)}
)


def test_the_dashboard_shows_no_raw_code(app: Flask, detentions: None) -> None:
    client = sign_in(app, "morgan")
    for query in (EARLIER_QUERY, "?start=2026-11-16&end=2026-11-22"):
        text = _text(client.get(f"/reports/{query}").text)
        assert [code for code in RAW_CODES if code in text] == []
    text = _text(client.get(f"/reports/{EARLIER_QUERY}").text)
    assert "Section 136 advised" in text
    assert "Community route: Crisis team" in text
    assert f"{hour_label(18)} 0" in text


def test_the_tables_give_each_count_its_share(
    manager: FlaskClient, week: dict[str, object]
) -> None:
    text = _text(manager.get(f"/reports/{QUERY}").text)
    assert f"{hour_label(2)} 2 (28.6%)" in text  # two of the week's seven
    assert "Mon 2 (28.6%)" in text
    assert "Section 136 advised 2 (66.7%)" in text  # of the three given advice


def test_codes_have_labels() -> None:
    assert label(OutcomeCode.S135_AMHP_ROUTE) == "Section 135 (AMHP route)"
    assert label(CommunityRoute.GP) == "GP"
    assert label(AgeBand.AGE_18_24) == "18\u201324"
    assert hour_label(18) == "18:00\u201319:00"
    assert label(RcrpPhase.WALK_OUT_AWOL) == "Walked out or absent without leave (AWOL)"
    assert label(None) == ""


def test_the_exports_show_no_raw_code(app: Flask, detentions: None) -> None:
    client = sign_in(app, "morgan")
    for path in ("/reports/requests.csv", "/reports/s136-return.csv"):
        rows = list(csv.reader(io.StringIO(client.get(f"{path}{EARLIER_QUERY}").text)))[1:]
        cells = {cell for row in rows for cell in row}
        assert cells & set(RAW_CODES) == set()
        assert "Section 136 advised" in cells or "Health-based place of safety" in cells


# --- charts ----------------------------------------------------------------------------


def _charts(page: str) -> dict[str, dict[str, object]]:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page)
    assert found
    charts: dict[str, dict[str, object]] = json.loads(html.unescape(found.group(1)))
    return charts


def test_charts_start_at_zero_sort_outcomes_by_size_and_give_shares_and_links(
    app: Flask, detentions: None
) -> None:
    client = sign_in(app, "morgan")
    charts = _charts(client.get(f"/reports/{EARLIER_QUERY}").text)
    assert {c["min"] for c in charts.values()} == {0}
    outcome = charts["outcome"]
    values = outcome["values"]
    assert isinstance(values, list)
    assert values == sorted(values, reverse=True) == [9, 2, 1]
    assert outcome["labels"] == ["Section 136 advised", "Community route", "Medical emergency"]
    assert outcome["percents"] == [75.0, 16.7, 8.3]
    links = outcome["links"]
    assert isinstance(links, list)
    assert [_total(client, str(link)) for link in links] == values
    hour = charts["hour"]
    assert hour["labels"][0] == "00:00\u201301:00"  # type: ignore[index]
    assert "the answer target is 30 s" in str(charts["week"]["within_label"])


# --- timelines -------------------------------------------------------------------------


def test_the_timeline_tells_the_story_with_names_and_durations(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    clinician = add_clinician(session)
    clinician.user.display_name = "Amira Khan"
    received = at(21, 2, 14, 5)
    request = make(session, received, answered_after=50, clinician_id=clinician.id)
    request.waiting_since = received
    steps: list[tuple[int, Actor, str, dict[str, object]]] = [
        (0, Actor("twilio", source="CA" + "0" * 32), "request.created", {"channel": "voice"}),
        (
            38,
            Actor("scheduler", source="host:1"),
            "request.offered",
            {"clinician_id": clinician.id},
        ),
        (
            50,
            Actor("user", clinician.user_id, "console"),
            "request.accepted",
            {"clinician_id": clinician.id, "from": "offered", "to": "accepted"},
        ),
    ]
    for seconds, actor, action, detail in steps:
        record_event(
            session,
            actor,
            action,
            now=received + timedelta(seconds=seconds),
            request_id=request.id,
            detail=detail,
        )
    session.commit()
    text = _text(manager.get(f"/reports/requests/{request.id}").text)
    assert "Waited 50 s to be answered." in text
    assert (
        "21 Nov 2026 02:14:05 GMT : Request arrived by the phone system . Channel: Phone call"
        in text
    )
    assert "— 38 s later — 21 Nov 2026 02:14:43 GMT : Offered to Amira Khan (clinician)" in text
    assert "— 12 s later — 21 Nov 2026 02:14:55 GMT : Taken by Amira Khan (clinician)" in text
    assert "by Amira Khan (clinician)" in text
    for raw in ("user ", "CA000", "clinician_id", "request.offered"):
        assert raw not in text


# --- exports as analysts read them -----------------------------------------------------


def _rows(client: FlaskClient, path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(client.get(path).text)))


def test_export_times_carry_their_offset_across_the_clocks_going_back(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    before = make(session, datetime(2026, 10, 24, 23, 30, 5, tzinfo=UTC), officer_verified=True)
    after = make(session, datetime(2026, 10, 25, 12, 0, 0, tzinfo=UTC))
    session.commit()
    rows = _rows(manager, "/reports/requests.csv?start=2026-10-24&end=2026-10-25")
    by_reference = {r["reference"]: r for r in rows}
    assert by_reference[before.reference]["received_london"] == "2026-10-25T00:30:05+01:00"
    assert by_reference[after.reference]["received_london"] == "2026-10-25T12:00:00+00:00"
    assert by_reference[before.reference]["officer_verified"] == "yes"
    assert by_reference[after.reference]["officer_verified"] == "no"


def test_export_durations_are_whole_seconds(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    request = make(
        session,
        at(21, 9),
        answered_after=20,
        clinician_id=int(str(week["first"])),
        outcome=OutcomeCode.S136_ADVISED,
    )
    assert request.accepted_at is not None
    request.accepted_at += timedelta(milliseconds=600)
    session.commit()
    rows = {r["reference"]: r for r in _rows(manager, f"/reports/requests.csv{QUERY}")}
    assert rows[request.reference]["seconds_to_answer"] == "21"
    assert rows[request.reference]["priority"] == "Routine"


def _dictionary_columns() -> dict[str, str]:
    """Each column the data dictionary describes, with the row that describes it."""
    rows = {}
    for line in DICTIONARY.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\|\s*`([a-z0-9_]+)`\s*\|", line)
        if found:
            rows[found.group(1)] = line
    return rows


def test_the_data_dictionary_describes_every_column_of_every_export(
    manager: FlaskClient,
) -> None:
    described = _dictionary_columns()
    for path in ("/reports/requests.csv", "/reports/s136-return.csv"):
        header = next(csv.reader(io.StringIO(manager.get(f"{path}{QUERY}").text)))
        assert [c for c in header if c not in described] == [], path
    assert set(EXPORT_COLUMNS) | set(S136_RETURN_COLUMNS) <= set(described)
    text = DICTIONARY.read_text(encoding="utf-8")
    for codes in (OutcomeCode, CommunityRoute, PlaceOfSafety, PlaceOfSafetyUsed, Sex, Ethnicity):
        for member in codes:
            assert f"`{member.value}` | {label(member)}" in text, member


def test_the_export_command_writes_the_csv_and_audits_it(
    app: Flask, session: Session, week: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "requests.csv"
    result = app.test_cli_runner().invoke(
        args=[
            "export",
            "requests",
            "--from",
            "2026-11-16",
            "--to",
            "2026-11-22",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 7
    assert rows[0]["received_london"] == "2026-11-16T10:00:00+00:00"
    session.expire_all()
    [event] = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "report.requests_exported")
    ).all()
    assert (event.actor_kind, event.source) == ("system", "flask export")
    assert event.detail == {"filters": {"start": "2026-11-16", "end": "2026-11-22"}, "rows": 7}
    to_stdout = app.test_cli_runner().invoke(
        args=["export", "s136-return", "--from", "2026-11-16", "--to", "2026-11-22"]
    )
    assert to_stdout.exit_code == 0
    lines = to_stdout.stdout.splitlines()
    assert lines[0] == ",".join(S136_RETURN_COLUMNS)
    assert len(lines) == 2, "the CSV alone on standard output: progress goes to standard error"
    assert "Exported 1 rows." in to_stdout.stderr
    refused = app.test_cli_runner().invoke(
        args=["export", "requests", "--from", "2026-11-22", "--to", "2026-11-16"]
    )
    assert refused.exit_code == 2
    assert "--to must not be before --from" in refused.output


# --- the live board --------------------------------------------------------------------


def test_the_live_board_shows_tiles_against_the_targets(
    manager: FlaskClient, session: Session, week: dict[str, object]
) -> None:
    page = manager.get("/reports/live").text
    for tile in ("waiting", "longest", "breaches", "within", "available"):
        assert f'id="tile-{tile}"' in page
        assert f'id="tile-{tile}-status"' in page
    board = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', page)
    assert board
    data = json.loads(html.unescape(board.group(1)))
    assert data["answer_target_seconds"] == 30
    assert 'id="sparkline"' in page


def test_the_board_gives_the_share_answered_within_the_target(
    session: Session, staff: None
) -> None:
    from advice_line.lifecycle.policy import RoutingPolicy
    from advice_line.routing import views

    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    clinician = add_clinician(session).id
    make(session, now - timedelta(hours=2), answered_after=10, clinician_id=clinician)
    make(session, now - timedelta(hours=3), answered_after=40, clinician_id=clinician)
    make(session, now - timedelta(hours=30), answered_after=10, clinician_id=clinician)
    session.commit()
    board = views.board(session, now, RoutingPolicy())
    assert board["answered_within_target_percent"] == 50.0


def test_the_board_opens_with_the_queue_over_the_last_hour(
    app: Flask, manager: FlaskClient, session: Session, staff: None
) -> None:
    from advice_line import lifecycle
    from advice_line.lifecycle.policy import RoutingPolicy
    from advice_line.reports.queue_history import queue_over_the_hour

    now = datetime.now(UTC)
    minutes = {"before": 70, "first": 50, "second": 30, "answered": 20}
    actor, policy = Actor("test"), RoutingPolicy()

    def ago(name: str) -> datetime:
        return now - timedelta(minutes=minutes[name])

    def queued(at: datetime) -> int:
        made = lifecycle.create_request(
            session, lifecycle.NewRequest(channel=Channel.SMS), now=at, actor=actor
        )
        lifecycle.queue_request(session, made.id, now=at, actor=actor, policy=policy)
        return made.id

    already = queued(ago("before"))  # waiting since before the hour began
    first = queued(ago("first"))
    queued(ago("second"))
    clinician = add_clinician(session).id
    lifecycle.accept(session, first, clinician, now=ago("answered"), actor=actor, policy=policy)
    session.commit()
    # It waits still: the hour opens with it in the queue.
    assert session.get_one(AdviceRequest, already).status == "queued"

    def ms(at: datetime) -> int:
        return int(at.timestamp() * 1000)

    expected = [
        [ms(now - timedelta(hours=1)), 1],
        [ms(ago("first")), 2],
        [ms(ago("second")), 3],
        [ms(ago("answered")), 2],
    ]
    assert queue_over_the_hour(session, now, 2) == expected
    page = manager.get("/reports/live").text
    shown = re.search(r'<script type="application/json" id="queue-hour-data">(.*?)</script>', page)
    assert shown
    counts = [count for _, count in json.loads(html.unescape(shown.group(1)))]
    waiting = session.scalars(
        select(func.count(AdviceRequest.id)).where(AdviceRequest.status == "queued")
    ).one()
    # The week's other requests have waited since before the hour: they lift every point.
    assert counts == [count + waiting - 2 for _, count in expected]


# --- long commands show their progress --------------------------------------------------


def test_seed_history_and_retention_report_their_progress(
    session: Session, staff: None, tmp_path: Path
) -> None:
    from advice_line.history import BATCH, seed_history
    from advice_line.recording_store import FolderStore
    from advice_line.retention import RetentionRules, pseudonymise

    seen: list[int] = []
    end = at(29, 12)
    seed_history(session, BATCH + 10, end=end, forces=["Kent Police"], progress=seen.append)
    assert seen == [BATCH, 10]
    ids = list(session.scalars(select(AdviceRequest.id).order_by(AdviceRequest.id)))[:510]
    done: list[int] = []
    rules = RetentionRules(adult_years=20, child_years=25, death_years=8)
    pseudonymise(
        session,
        ids,
        now=end,
        actor=Actor("test"),
        rules=rules,
        recordings=FolderStore(str(tmp_path)),
        progress=done.append,
    )
    assert done == [500, 10]
