"""Finding requests: the search page, the officer's and the person's earlier requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    Channel,
    Offer,
    OfferOutcome,
    Officer,
    RequestStatus,
    SamePersonLink,
    Task,
    TaskKind,
)
from advice_line.recording_store import FolderStore
from advice_line.retention import RetentionRules, pseudonymise
from tests.test_console import clinician_id, csrf, demo, sign_in, user_id

__all__ = ["demo"]
ACTOR = Actor("test")
#: 14:00 London time on 10 March 2026 (GMT), and on 10 July 2026 (BST: 15:00 London).
MARCH = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
JULY = datetime(2026, 7, 10, 14, 0, tzinfo=UTC)


def officer_id(session: Session, collar: str) -> int:
    return session.scalars(select(Officer.id).where(Officer.collar_number == collar)).one()


def past_request(
    session: Session,
    *,
    at: datetime,
    collar: str | None = None,
    number: str | None = None,
    taken_by: str | None = None,
    claimed_collar: str | None = None,
) -> AdviceRequest:
    """A request from the past: by a directory officer, or an unknown number."""
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(
            channel=Channel.SMS,
            officer_id=officer_id(session, collar) if collar else None,
            officer_verified=collar is not None,
            caller_number=number,
        ),
        now=at,
        actor=ACTOR,
    )
    request.claimed_collar_number = claimed_collar
    request.status = RequestStatus.WRAP_UP  # its record still to write
    request.wrap_up_at = at + timedelta(minutes=20)
    if taken_by:
        session.add(
            Offer(
                request_id=request.id,
                clinician_id=clinician_id(session, taken_by),
                offered_at=at,
                expires_at=at + timedelta(seconds=30),
                outcome=OfferOutcome.ACCEPTED,
                responded_at=at,
            )
        )
    session.commit()
    return request


def found(page: str) -> list[str]:
    """The references a results page lists, in order."""
    table = page.split('id="found"', 1)[1].split("</table>", 1)[0] if 'id="found"' in page else ""
    return re.findall(r">(AL-\d+)</a>", table)


def search(client: FlaskClient, **query: str) -> tuple[int, str]:
    response = client.get("/search", query_string=query)
    return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def history(demo: Session) -> dict[str, AdviceRequest]:
    """Jo Smith (MP1234) twice, Ravi Shah once, an unknown number twice; sam took all but
    one of Jo's, which amira took."""
    return {
        "jo_march": past_request(demo, at=MARCH, collar="MP1234", taken_by="amira"),
        "ravi_march": past_request(demo, at=MARCH + timedelta(hours=1), collar="MP5678"),
        "unknown_march": past_request(
            demo, at=MARCH + timedelta(hours=2), number="+447700900999", claimed_collar="XY99"
        ),
        "jo_july": past_request(demo, at=JULY, collar="MP1234", taken_by="sam"),
        "unknown_july": past_request(demo, at=JULY + timedelta(hours=1), number="+447700900999"),
    }


def searches(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "request.searched")))


def refs(*requests: AdviceRequest) -> list[str]:
    return [r.reference for r in requests]


# --- the search page ------------------------------------------------------------------


@pytest.mark.parametrize(("who", "code"), [("sam", 200), ("amira", 200), ("morgan", 200)])
def test_clinicians_seniors_and_managers_may_search(
    app: Flask, demo: Session, who: str, code: int
) -> None:
    status, page = search(sign_in(app, who))
    assert status == code
    assert "Find requests" in page
    assert 'href="/search"' in page  # the header's link


def test_an_admin_is_refused_and_an_anonymous_visitor_sent_to_sign_in(
    app: Flask, demo: Session
) -> None:
    assert sign_in(app, "alex").get("/search?reference=AL-1").status_code == 403
    response = sign_in(app, "anonymous").get("/search?reference=AL-1")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert 'href="/search"' not in sign_in(app, "alex").get("/admin/").get_data(as_text=True)
    assert (
        demo.scalars(select(AuditEvent).where(AuditEvent.action == "request.searched")).all() == []
    )


def test_each_field_finds_its_requests_newest_first(
    app: Flask, history: dict[str, AdviceRequest]
) -> None:
    sam = sign_in(app, "sam")
    h = history
    assert found(search(sam, reference=h["ravi_march"].reference)[1]) == refs(h["ravi_march"])
    assert found(search(sam, reference=f" al {h['ravi_march'].id} ")[1]) == refs(h["ravi_march"])
    assert found(search(sam, collar_number="mp1234")[1]) == refs(h["jo_july"], h["jo_march"])
    assert found(search(sam, collar_number="XY99")[1]) == refs(h["unknown_march"])
    assert found(search(sam, officer="ravi")[1]) == refs(h["ravi_march"])
    # Any UK format: the number the officer called from, or one in the directory.
    assert found(search(sam, phone="07700 900999")[1]) == refs(
        h["unknown_july"], h["unknown_march"]
    )
    assert found(search(sam, phone="+44 7700 900201")[1]) == refs(h["jo_july"], h["jo_march"])
    july = {"start-day": "10", "start-month": "7", "start-year": "2026"}
    assert found(search(sam, **july)[1]) == refs(h["unknown_july"], h["jo_july"])
    march = {"end-day": "10", "end-month": "3", "end-year": "2026"}
    assert found(search(sam, **march)[1]) == refs(
        h["unknown_march"], h["ravi_march"], h["jo_march"]
    )


def test_fields_combine_and_dates_are_london_days(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    late = past_request(demo, at=datetime(2026, 7, 10, 23, 30, tzinfo=UTC), collar="MP1234")
    sam = sign_in(app, "sam")
    july_11 = {"start": "2026-07-11", "end": "2026-07-11"}  # 00:30 on the 11th in London
    assert found(search(sam, **july_11)[1]) == refs(late)
    both = {"collar_number": "MP1234", "start": "2026-07-01", "end": "2026-07-10"}
    assert found(search(sam, **both)[1]) == refs(history["jo_july"])
    assert found(search(sam, officer="Jo", phone="07700900202")[1]) == []
    assert found(search(sam, officer="%_")[1]) == [], "wildcards are taken literally"
    status, page = search(sam, collar_number="MP0000")
    assert status == 200
    assert "0 requests found" in page


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({}, None),
        ({"reference": "", "officer": ""}, "Enter at least one thing to search for."),
        ({"reference": "AB-12"}, "Enter a reference like AL-1234."),
        ({"reference": "AL-99999999999"}, "Enter a reference like AL-1234."),
        ({"phone": "12"}, "Enter a UK phone number, like 07700 900123."),
        ({"phone": "not a number"}, "Enter a UK phone number, like 07700 900123."),
        ({"collar_number": "<script>"}, "Use only letters, numbers, spaces and hyphens."),
        ({"officer": "x" * 121}, "Officer's name"),
        ({"officer": "J"}, "Officer's name"),
        ({"start-day": "31", "start-month": "2", "start-year": "2026"}, "there is no 31/2/2026"),
        ({"start": "2026-07-02", "end": "2026-07-01"}, "must not be before received from"),
        ({"reference": "AL-1", "page": "0"}, "Page"),
    ],
)
def test_bad_input_is_answered_with_the_error_summary_and_not_searched(
    app: Flask, demo: Session, query: dict[str, str], said: str | None
) -> None:
    status, page = search(sign_in(app, "sam"), **query)
    if said is None:  # the empty form: nothing searched, nothing said
        assert status == 200
        assert "There is a problem" not in page
    else:
        assert status == 400
        assert "There is a problem" in page
        assert said in page
    assert 'id="found"' not in page
    assert (
        demo.scalars(select(AuditEvent).where(AuditEvent.action == "request.searched")).all() == []
    )


def test_every_search_is_audited_with_what_was_searched_and_shown(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    sam = sign_in(app, "sam")
    search(sam, phone="07700 900999", start="2026-01-01")
    event = demo.scalars(select(AuditEvent).where(AuditEvent.action == "request.searched")).one()
    assert event.actor_user_id == user_id(demo, "sam")
    assert event.detail == {
        "searched": {"phone": "ending 999", "start": "2026-01-01"},
        "rows": 2,
        "shown": refs(history["unknown_july"], history["unknown_march"]),
    }
    assert "900999" not in str(event.detail)


def test_a_clinician_finds_only_what_they_may_open_a_manager_everything(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    h = history
    amira = sign_in(app, "amira")
    assert found(search(amira, collar_number="MP1234")[1]) == refs(h["jo_march"])
    assert found(search(amira, reference=h["jo_july"].reference)[1]) == []
    # An open team task lets any clinician open (so find) its request.
    demo.add(
        Task(
            request_id=h["ravi_march"].id,
            kind=TaskKind.FOLLOW_UP,
            description="Ring the ward",
            created_at=MARCH,
            due_at=MARCH + timedelta(days=1),
        )
    )
    demo.commit()
    assert found(search(amira, officer="Ravi")[1]) == refs(h["ravi_march"])
    morgan_page = search(sign_in(app, "morgan"), collar_number="MP1234")[1]
    assert found(morgan_page) == refs(h["jo_july"], h["jo_march"])
    assert f'href="/reports/requests/{h["jo_july"].id}"' in morgan_page


def test_results_come_a_page_at_a_time(app: Flask, demo: Session) -> None:
    made = [
        past_request(demo, at=MARCH + timedelta(minutes=i), number="+447700900777")
        for i in range(52)
    ]
    sam = sign_in(app, "sam")
    first = search(sam, phone="07700900777")[1]
    assert len(found(first)) == 50
    assert found(first)[0] == made[-1].reference
    assert "page 1 of 2" in first
    second = search(sam, phone="07700900777", page="2")[1]
    assert found(second) == refs(made[1], made[0])
    assert "Previous page" in second


# --- the request page: the officer's earlier requests ----------------------------------


def request_page(client: FlaskClient, request: AdviceRequest) -> str:
    response = client.get(f"/console/requests/{request.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def listed(page: str, id: str) -> list[str]:
    """The references in the list ``id`` of a request page."""
    match = re.search(
        rf'<ul class="nhsuk-list nhsuk-list--border" id="{id}">(.*?)</ul>', page, re.S
    )
    return re.findall(r">(AL-\d+)</a>", match.group(1)) if match else []


def test_the_request_page_lists_the_officer_s_earlier_requests_and_audits_it(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    h = history
    now = datetime.now(UTC)
    jo_now = past_request(demo, at=now, collar="MP1234", taken_by="sam")
    unknown_now = past_request(demo, at=now, number="+447700900999", taken_by="sam")
    sam = sign_in(app, "sam")
    assert listed(request_page(sam, jo_now), "officer-requests") == refs(
        h["jo_july"], h["jo_march"]
    )
    assert listed(request_page(sam, unknown_now), "officer-requests") == refs(
        h["unknown_july"], h["unknown_march"]
    )
    # More than the page lists: a search for the officer, or for the number.
    more = re.search(r'href="([^"]+)" id="officer-search"', request_page(sam, unknown_now))
    assert more is not None
    assert found(sam.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)) == refs(
        unknown_now, h["unknown_july"], h["unknown_march"]
    )
    # The first from an officer has none before it.
    assert listed(request_page(sam, h["jo_march"]), "officer-requests") == []
    viewed = demo.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "request.viewed", AuditEvent.request_id == jo_now.id
        )
    ).one()
    assert viewed.detail == {
        "officer_requests": refs(h["jo_july"], h["jo_march"]),
        "person_requests": [],
    }


def test_a_clinician_sees_only_the_earlier_requests_they_may_open(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    jo_now = past_request(demo, at=datetime.now(UTC), collar="MP1234", taken_by="amira")
    page = request_page(sign_in(app, "amira"), jo_now)
    assert listed(page, "officer-requests") == refs(history["jo_march"])


# --- linking the same person -----------------------------------------------------------


def link(client: FlaskClient, request: AdviceRequest, earlier: str) -> str:
    path = f"/console/requests/{request.id}"
    response = client.post(
        f"{path}/same-person",
        data={"earlier": earlier, "csrf_token": csrf(client, path)},
        follow_redirects=True,
    )
    return response.get_data(as_text=True)


def links(session: Session) -> list[tuple[int, int]]:
    session.expire_all()
    rows = session.execute(
        select(SamePersonLink.earlier_request_id, SamePersonLink.later_request_id)
    ).all()
    return sorted((a, b) for a, b in rows)


def test_the_clinician_links_the_same_person_and_sees_the_chain(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    h = history
    now_request = past_request(demo, at=datetime.now(UTC), number="+447700900555", taken_by="sam")
    sam = sign_in(app, "sam")
    page = link(sam, h["jo_july"], h["ravi_march"].reference)
    assert "Linked to" in page
    page = link(sam, now_request, h["jo_july"].reference)
    assert f"Linked to {h['jo_july'].reference} as the same person." in page
    # The chain is followed: the person's requests include the one linked through jo_july.
    assert listed(page, "person-requests") == refs(h["jo_july"], h["ravi_march"])
    assert links(demo) == sorted(
        [(h["ravi_march"].id, h["jo_july"].id), (h["jo_july"].id, now_request.id)]
    )
    event = demo.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "request.same_person_linked",
            AuditEvent.request_id == now_request.id,
        )
    ).one()
    assert (event.subject_id, event.detail) == (
        h["jo_july"].id,
        {"earlier": h["jo_july"].reference},
    )
    viewed = demo.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "request.viewed", AuditEvent.request_id == now_request.id)
        .order_by(AuditEvent.id.desc())
    ).first()
    assert viewed is not None
    assert viewed.detail["person_requests"] == refs(h["jo_july"], h["ravi_march"])


@pytest.mark.parametrize(
    ("earlier", "said"),
    [
        ("self", "A request cannot be linked to itself."),
        ("AL-999999", "There is no request AL-999999."),
        ("later", "Give an earlier request"),
        ("not openable", "You may not open"),
        ("twice", "is already linked as the same person."),
        ("", "Enter the earlier request's reference, like AL-1234."),
        ("nonsense", "Enter a reference like AL-1234."),
    ],
)
def test_linking_refuses_itself_a_later_one_one_not_openable_and_twice(
    app: Flask, demo: Session, history: dict[str, AdviceRequest], earlier: str, said: str
) -> None:
    h = history
    amira = sign_in(app, "amira")
    mine = past_request(demo, at=datetime.now(UTC), collar="MP1234", taken_by="amira")
    later = past_request(demo, at=datetime.now(UTC), collar="MP1234")
    if earlier == "twice":
        link(amira, mine, h["jo_march"].reference)
    before = links(demo)
    given = {
        "self": mine.reference,
        "later": later.reference,
        "not openable": h["jo_july"].reference,
        "twice": h["jo_march"].reference,
    }.get(earlier, earlier)
    page = link(amira, mine, given)
    assert "There is a problem" in page
    assert said in page
    assert links(demo) == before


def test_only_the_clinician_who_took_the_request_links_it(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    h = history
    sam = sign_in(app, "sam")  # a senior may open jo_march, which amira took
    page = link(sam, h["jo_march"], h["ravi_march"].reference)
    assert "Only the clinician who took" in page
    assert f'action="/console/requests/{h["jo_march"].id}/same-person"' not in page
    assert links(demo) == []
    # Another clinician may not even open it.
    path = f"/console/requests/{h['jo_july'].id}/same-person"
    ben = sign_in(app, "ben")
    response = ben.post(path, data={"earlier": "AL-1", "csrf_token": csrf(ben, "/console")})
    assert response.status_code == 403
    missing = ben.post(
        "/console/requests/999999/same-person", data={"csrf_token": csrf(ben, "/console")}
    )
    assert missing.status_code == 404
    assert links(demo) == []


@pytest.mark.parametrize("who", ["anonymous", "morgan", "alex"])
def test_other_roles_and_a_bad_csrf_token_change_nothing(
    app: Flask, demo: Session, history: dict[str, AdviceRequest], who: str
) -> None:
    h = history
    client = sign_in(app, who)
    path = f"/console/requests/{h['jo_july'].id}/same-person"
    token = csrf(client)
    response = client.post(path, data={"earlier": h["jo_march"].reference, "csrf_token": token})
    assert response.status_code == (302 if who == "anonymous" else 403)
    sam = sign_in(app, "sam")
    assert sam.post(path, data={"earlier": h["jo_march"].reference}).status_code == 400
    remove = f"{path}/{h['jo_march'].id}/remove"
    assert sam.post(remove, data={"csrf_token": "forged"}).status_code == 400
    assert links(demo) == []


def unlink(client: FlaskClient, request: AdviceRequest, other: AdviceRequest) -> str:
    path = f"/console/requests/{request.id}"
    response = client.post(
        f"{path}/same-person/{other.id}/remove",
        data={"csrf_token": csrf(client, path)},
        follow_redirects=True,
    )
    return response.get_data(as_text=True)


def test_the_clinician_removes_a_link_made_in_error(
    app: Flask, demo: Session, history: dict[str, AdviceRequest]
) -> None:
    h = history
    sam = sign_in(app, "sam")
    link(sam, h["jo_july"], h["ravi_march"].reference)
    assert "Remove the link" in request_page(sam, h["jo_july"])
    page = unlink(sam, h["jo_july"], h["ravi_march"])
    assert f"The link to {h['ravi_march'].reference} is removed." in page
    assert listed(page, "person-requests") == []
    assert links(demo) == []
    assert demo.scalars(
        select(AuditEvent.subject_id).where(AuditEvent.action == "request.same_person_unlinked")
    ).all() == [h["ravi_march"].id]
    assert "is not linked to" in unlink(sam, h["jo_july"], h["ravi_march"])


def test_retention_deletes_the_links_of_a_pseudonymised_request(
    app: Flask, demo: Session, history: dict[str, AdviceRequest], tmp_path: Path
) -> None:
    h = history
    sam = sign_in(app, "sam")
    link(sam, h["jo_july"], h["jo_march"].reference)
    unknown_now = past_request(demo, at=datetime.now(UTC), number="+447700900999", taken_by="sam")
    link(sam, unknown_now, h["unknown_march"].reference)
    pseudonymise(
        demo,
        [h["jo_march"].id],
        now=datetime.now(UTC),
        actor=ACTOR,
        rules=RetentionRules(),
        recordings=FolderStore(str(tmp_path)),
    )
    demo.commit()
    assert links(demo) == [(h["unknown_march"].id, unknown_now.id)]
