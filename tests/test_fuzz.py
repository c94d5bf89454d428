"""Arbitrary input at every entry point: webhooks, forms and socket events never fail.

Each test keeps one app (and database) for all its examples, as a live line does: state
builds up, and the invariants are checked after every example. That is why Hypothesis's
function-scoped-fixture health check is off in the profile (tests/conftest.py).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AuditEvent,
    CallLeg,
    Channel,
    Clinician,
    Message,
)
from advice_line.telephony.intake import Step
from tests.builders import ACTOR, add_clinician
from tests.fake_twilio import FakeTwilio
from tests.test_console import FreshSocket, clinician_id, connect, csrf, message_request, sign_in
from tests.twilio_support import ACCOUNT, LINE_NUMBER, Twilio, twilio_env

POLICY = RoutingPolicy()
_sids = itertools.count(1)
NASTY = [
    "",
    " ",
    "'; DROP TABLE advice_request; --",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "\x00",
    "a\x00b",
    "\r\n\t\x1b[31m",
    "\u202e\u200b\ufeff",
    "٣٤",
    "\uff11\uff12",
    "9" * 40,
    "-1",
    "1e400",
    "NaN",
    "whatsapp:+447700900301",
    "+447700900301",
    "AL-1 DETAINED",
    "\U0001d56c\U0001d589 \U0001f693",
    "x" * 2000,
]
#: Any text a client could send (lone surrogates cannot be encoded, so no client can).
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(codec="utf-8"), max_size=40),
)


@pytest.fixture
def caught(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Log records at ERROR and above: an entry point that caught a crash logs one."""
    caplog.set_level(logging.ERROR)
    return caplog


def printable(text: str) -> str:
    """The text without control codes (bar tab and newline), which the line drops."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", text)


def crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The errors logged since the last call (then forgets them)."""
    found = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    caplog.clear()
    return found


def row_counts(session: Session) -> dict[str, int]:
    """How many rows every table holds (in a fresh snapshot)."""
    session.rollback()
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in db.metadata.sorted_tables
    }


def assert_nothing_half_done(session: Session) -> None:
    """Every request the line opened has what opening it stores beside it."""
    session.rollback()
    for advice in session.scalars(select(AdviceRequest)):
        if advice.channel == Channel.VOICE:
            legs = session.scalar(
                select(func.count(CallLeg.id)).where(CallLeg.request_id == advice.id)
            )
            assert legs, f"{advice.reference} has no call leg"
        opened = session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.request_id == advice.id, AuditEvent.action == "request.created"
            )
        )
        assert opened == 1, f"{advice.reference} was stored without its audit event"


# --- Twilio webhooks ------------------------------------------------------------------


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    # Examples repeat usernames (the empty one most) and all come from one address, which
    # the sign-in limits would hold up; tests/test_sign_in_limits.py tests the limits.
    return {
        **twilio_env(fake_twilio.base_url),
        "LOGIN_RATE_LIMIT": "off",
        "LOGIN_ADDRESS_RATE_LIMIT": "off",
    }


PARAMETER_NAMES = [
    "AccountSid",
    "CallSid",
    "CallStatus",
    "Body",
    "Digits",
    "From",
    "MessageSid",
    "MessageStatus",
    "SequenceNumber",
    "SpeechResult",
    "To",
]
PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(PARAMETER_NAMES), st.text(min_size=1, max_size=12)),
    TEXT,
    max_size=8,
).map(lambda params: {"AccountSid": ACCOUNT, "To": LINE_NUMBER, **params})
WEBHOOKS = [
    "/twilio/voice",
    "/twilio/voice/intake/{request}/{step}?attempt={attempt}",
    "/twilio/voice/hold/{request}",
    "/twilio/voice/left/{request}",
    "/twilio/voice/call-back/{request}",
    "/twilio/voice/rejoin/{request}",
    "/twilio/voice/officer/{request}",
    "/twilio/voice/clinician/{request}",
    "/twilio/voice/whisper/{offer}",
    "/twilio/voice/whisper/{offer}/answer",
    "/twilio/voice/third-party/{request}/1",
    "/twilio/voice/supervisor/{request}",
    "/twilio/voice/status",
    "/twilio/voice/fallback",
    "/twilio/sms",
    "/twilio/sms/status",
]


@pytest.fixture
def line(app: Flask, twilio: Twilio, session: Session) -> dict[str, int]:
    """A call waiting in the queue and an offer of it to an on-call clinician."""
    twilio.post("/twilio/voice", {"CallSid": "CA" + "1" * 32, "From": "+447700900301"})
    advice = session.scalars(select(AdviceRequest)).one()
    lifecycle.queue_request(session, advice.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    nurse = add_clinician(session, on_console=False, shift_around=utcnow())
    offer = lifecycle.offer_request(
        session, advice.id, nurse.id, now=utcnow(), actor=ACTOR, policy=POLICY
    )
    session.commit()
    return {"request": advice.id, "offer": offer.id}


@pytest.mark.parametrize("webhook", WEBHOOKS)
@given(
    params=PARAMS,
    step=st.one_of(st.sampled_from([s.value for s in Step]), st.from_regex(r"\A[a-z_]{0,12}\Z")),
    attempt=st.one_of(st.integers(-3, 10**30).map(str), st.sampled_from(["", "x", "٣"])),
    other_id=st.one_of(st.none(), st.integers(0, 10**25)),
)
def test_every_webhook_answers_arbitrary_signed_parameters(
    twilio: Twilio,
    session: Session,
    line: dict[str, int],
    caught: pytest.LogCaptureFixture,
    webhook: str,
    params: dict[str, str],
    step: str,
    attempt: str,
    other_id: int | None,
) -> None:
    ids = {name: value if other_id is None else other_id for name, value in line.items()}
    before = row_counts(session)
    response = twilio.post(webhook.format(**ids, step=step, attempt=attempt), params)
    assert response.status_code in {200, 204, 400, 404}, response.get_data(as_text=True)
    assert crashes(caught) == []
    if response.status_code == 200:
        assert response.mimetype == "text/xml"  # and valid TwiML: Twilio.post checks
    if response.status_code >= 400:
        assert row_counts(session) == before, "a refused webhook stored something"
    assert_nothing_half_done(session)


@given(
    body=TEXT, sender=st.one_of(st.sampled_from(["+447700900301", "whatsapp:+447700900302"]), TEXT)
)
def test_an_officers_message_is_stored_as_sent_or_not_at_all(
    twilio: Twilio, session: Session, caught: pytest.LogCaptureFixture, body: str, sender: str
) -> None:
    sid = f"SM{next(_sids):032x}"
    response = twilio.post("/twilio/sms", {"MessageSid": sid, "From": sender, "Body": body})
    assert response.status_code in {200, 400}
    assert crashes(caught) == []
    session.rollback()
    stored = session.scalars(select(Message).where(Message.message_sid == sid)).one_or_none()
    if stored is not None and stored.request_id is not None:
        assert stored.body == printable(body).strip()[:1600], "kept as sent, bar control codes"
    assert_nothing_half_done(session)


# --- forms ----------------------------------------------------------------------------


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def field_values(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """Any subset of the form's fields, each with any text."""
    return st.dictionaries(st.sampled_from(names), TEXT, max_size=len(names))


@given(username=TEXT, password=TEXT)
def test_sign_in_refuses_any_wrong_credentials_plainly(
    app: Flask, demo: Session, caught: pytest.LogCaptureFixture, username: str, password: str
) -> None:
    client = app.test_client()
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf(client)},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Username or password is not right." in page or 'class="nhsuk-error-message"' in page
    assert crashes(caught) == []
    assert client.get("/console").status_code == 302, "still signed out"


RECORD_FIELDS = [
    "outcome",
    "place_of_safety",
    "police_station_authorised",
    "community_route",
    "destination",
    "rationale",
    "follow_up",
    "under_18_in_crisis",
    "children_in_household",
    "person_is_carer",
    "domestic_abuse",
    "subject_age_band",
    "subject_sex",
    "subject_ethnicity",
    "rcrp_phase",
    "area",
    "intent",
]


@pytest.fixture
def amira(app: Flask, demo: Session) -> tuple[FlaskClient, str, AdviceRequest]:
    """Amira, signed in, with the CSRF token of her session and a request in hand."""
    advice = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    return client, csrf(client, "/console/tasks"), advice


@given(values=field_values(RECORD_FIELDS))
def test_the_record_form_saves_or_explains_whatever_is_sent(
    demo: Session,
    caught: pytest.LogCaptureFixture,
    amira: tuple[FlaskClient, str, AdviceRequest],
    values: dict[str, str],
) -> None:
    client, token, advice = amira
    before = row_counts(demo)
    response = client.post(
        f"/console/requests/{advice.id}/record", data={**values, "csrf_token": token}
    )
    assert response.status_code in {302, 400}
    assert crashes(caught) == []
    if response.status_code == 400:
        assert 'class="nhsuk-error-message"' in response.get_data(as_text=True)
        assert row_counts(demo) == before, "a refused record changed nothing"
    else:
        assert demo.scalars(select(AdviceRecord)).one().request_id == advice.id


@given(body=TEXT)
def test_a_reply_of_any_text_is_sent_or_refused_plainly(
    demo: Session,
    caught: pytest.LogCaptureFixture,
    amira: tuple[FlaskClient, str, AdviceRequest],
    body: str,
) -> None:
    client, token, advice = amira
    before = row_counts(demo)["message"]
    response = client.post(
        f"/console/requests/{advice.id}/message", data={"body": body, "csrf_token": token}
    )
    assert response.status_code == 302
    assert crashes(caught) == []
    sent = row_counts(demo)["message"] - before
    text = printable(body)
    assert sent == (1 if text.strip() and len(text) <= 1600 else 0)


@given(task_id=TEXT)
def test_marking_any_task_done_is_refused_plainly_unless_it_is_a_task(
    caught: pytest.LogCaptureFixture, amira: tuple[FlaskClient, str, AdviceRequest], task_id: str
) -> None:
    client, token, _ = amira
    response = client.post("/console/tasks", data={"task_id": task_id, "csrf_token": token})
    assert response.status_code in {302, 400}
    assert crashes(caught) == []


@pytest.fixture
def signed_in(app: Flask, demo: Session) -> dict[str, FlaskClient]:
    """The senior clinician and the manager, signed in once for all examples."""
    message_request(demo)
    return {name: sign_in(app, name) for name in ("sam", "morgan")}


@given(values=field_values(["request_id", "intent", "clinician_id"]))
def test_the_floor_form_takes_gives_or_refuses_plainly(
    caught: pytest.LogCaptureFixture, signed_in: dict[str, FlaskClient], values: dict[str, str]
) -> None:
    client = signed_in["sam"]
    response = client.post(
        "/console/floor", data={**values, "csrf_token": csrf(client, "/console/tasks")}
    )
    assert response.status_code in {302, 400}
    assert crashes(caught) == []


FILTERS = ["start", "end", "force", "area", "channel", "rcrp_phase", "age_band", "clinician"]
DATES = st.one_of(st.dates().map(str), TEXT)


@pytest.mark.parametrize("path", ["/reports/", "/reports/requests.csv", "/reports/s136-return.csv"])
@given(
    values=st.fixed_dictionaries({"start": DATES, "end": DATES}, optional={"force": TEXT}).flatmap(
        lambda fixed: field_values(FILTERS).map(lambda more: {**fixed, **more})
    )
)
def test_the_report_filters_show_figures_or_say_what_is_wrong(
    caught: pytest.LogCaptureFixture,
    signed_in: dict[str, FlaskClient],
    path: str,
    values: dict[str, str],
) -> None:
    response = signed_in["morgan"].get(path, query_string=values)
    assert response.status_code in {200, 400}
    response.get_data()  # a CSV streams: reading it runs the query
    assert crashes(caught) == []
    if response.status_code == 400 and path == "/reports/":
        assert 'class="nhsuk-error-message"' in response.get_data(as_text=True)


# --- socket events --------------------------------------------------------------------


def nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects of ``children``, keyed like the events' own fields or anyhow."""
    keys = st.sampled_from(["status", "request_id", "offer_id"]) | TEXT
    return st.lists(children, max_size=4) | st.dictionaries(keys, children)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    nested,
    max_leaves=8,
)


@pytest.fixture
def console(app: Flask, demo: Session) -> Iterator[FreshSocket]:
    """Amira's console, connected."""
    socket = connect(app, sign_in(app, "amira"))
    socket.get_received()
    yield socket
    socket.disconnect()


@pytest.mark.parametrize(
    "event", ["heartbeat", "set_status", "accept", "decline", "watch_request", "phone", "nonsense"]
)
@given(payload=JSON, extra=st.lists(JSON, max_size=2))
def test_any_socket_payload_gets_an_answer_and_stores_nothing_it_refuses(
    demo: Session,
    caught: pytest.LogCaptureFixture,
    console: FreshSocket,
    event: str,
    payload: Any,
    extra: list[Any],
) -> None:
    me = clinician_id(demo, "amira")
    status = demo.get_one(Clinician, me).status
    before = row_counts(demo)
    answer = console.emit(event, payload, *extra, callback=True)
    demo.rollback()
    if event == "nonsense":
        assert answer is None, "an unknown event is ignored"
    else:
        assert isinstance(answer, dict)
        assert set(answer) in ({"ok"}, {"ok", "messages"}, {"error"}, {"error", "status"})
    if answer is None or "error" in answer:
        assert row_counts(demo) == before
        assert demo.get_one(Clinician, me).status == status
    if not extra:
        assert crashes(caught) == [], "one payload, however odd, is no crash"
    caught.clear()
    assert console.is_connected()


SIMULATOR_FIELDS = ["number", "body", "whatsapp", "sid", "digits", "speech", "reference"]


@pytest.mark.parametrize("app_env", [{}])  # no Twilio credentials: the simulator is on
@given(
    action=st.one_of(
        st.sampled_from(["dial", "text", "reply", "call_back", "press", "hangup"]), TEXT
    ),
    values=st.dictionaries(st.sampled_from([*SIMULATOR_FIELDS, "clinician"]), JSON),
)
def test_the_simulator_does_what_it_is_asked_or_says_why_not(
    app: Flask, demo: Session, caught: pytest.LogCaptureFixture, action: str, values: Any
) -> None:
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/simulator/").text)
    assert token is not None
    response = client.post(
        "/simulator/act",
        json={**values, "action": action},
        headers={"X-CSRFToken": token.group(1)},
    )
    assert response.status_code in {200, 400, 404}
    assert response.is_json
    assert crashes(caught) == []
