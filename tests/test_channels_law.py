"""The law and the follow-through on every channel: SMS, WhatsApp, voice, call-back, console.

The domain rules themselves are tested in test_law.py; here each channel must set the
facts they turn on, and carry the officer's decision and the detention, end to end
through the signed webhooks, the fake Twilio and the console's forms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.clock import LONDON
from advice_line.lifecycle.tasks import CHILD_SAFEGUARDING
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    Detention,
    Message,
    MessageDirection,
    OfficerDecision,
    Priority,
    ReportedVia,
    RequestStatus,
    Role,
    Skill,
    Task,
)
from advice_line.routing.scheduler import Scheduler
from advice_line.telephony.messages import KEY_QUESTIONS
from advice_line.telephony.twiml import RISK_ADVICE
from tests.builders import ACTOR, POLICY, add_clinician
from tests.fake_twilio import FakeTwilio
from tests.test_console import clinician_id, csrf, demo, sign_in
from tests.test_telephony_messages import OFFICER, requests, text
from tests.test_telephony_voice import (
    OFFICER_NUMBER,
    _connected_call,
    accepted_at_a_console,
    answer,
    call_sid,
    incoming,
    known_officer_call,
    officer,
    only_request,
)
from tests.twilio_support import Twilio, attribute, gather_action, spoken, twilio_env

WHATSAPP = f"whatsapp:{OFFICER}"
__all__ = ["demo", "officer"]  # fixtures of the console and voice tests, used here too


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


# --- the key questions by text ---------------------------------------------------------


@pytest.mark.parametrize("sender", [OFFICER, WHATSAPP], ids=["sms", "whatsapp"])
def test_a_texted_request_asks_the_key_questions_and_ranks_unanswered_risk_first(
    twilio: Twilio, session: Session, sender: str
) -> None:
    reply = text(twilio, "Woman on the bridge, distressed", sender=sender)
    assert KEY_QUESTIONS in reply
    assert RISK_ADVICE in reply
    (request,) = requests(session)
    assert (request.risk_to_life, request.subject_under_18, request.in_dwelling) == (
        None,
        None,
        None,
    )
    assert request.priority == Priority.RISK_TO_LIFE, "unanswered risk counts as risk"


@pytest.mark.parametrize(
    ("sender", "answers"),
    [(OFFICER, "2 1 1"), (WHATSAPP, "no, yes, yes"), (OFFICER, "AL-1 211")],
    ids=["sms-digits", "whatsapp-words", "sms-with-reference"],
)
def test_the_officer_answers_by_reply_and_the_request_follows(
    twilio: Twilio, session: Session, sender: str, answers: str
) -> None:
    text(twilio, "Boy in his bedroom at his parents' house", sender=sender)
    reply = text(twilio, answers, sender=sender)
    assert "life at risk no, under 18 yes, in a dwelling yes" in reply
    (request,) = requests(session)
    assert (request.risk_to_life, request.subject_under_18, request.in_dwelling) == (
        False,
        True,
        True,
    )
    assert request.priority == Priority.UNDER_18
    assert Skill.CAMHS in request.skills_needed
    tasks = session.scalars(select(Task.description).where(Task.request_id == request.id))
    assert list(tasks) == [CHILD_SAFEGUARDING]
    inbound = session.scalars(
        select(Message.body).where(Message.direction == MessageDirection.INBOUND)
    ).all()
    assert len(inbound) == 2, "the answers are kept in the thread too"


def test_words_that_are_not_three_answers_join_the_thread(twilio: Twilio, session: Session) -> None:
    text(twilio, "Man on bridge")
    reply = text(twilio, "1 2")
    assert "Added to" in reply
    (request,) = requests(session)
    assert request.risk_to_life is None


# --- the law on the console, for a texted request ---------------------------------------


def _texted_and_wrapped_up(
    twilio: Twilio, demo: Session, answers: str
) -> tuple[AdviceRequest, int]:
    """A texted request with these answers, taken by amira and ended, ready to record."""
    text(twilio, "Man in his flat, threatening to jump")
    text(twilio, answers)
    (request,) = requests(demo)
    amira = clinician_id(demo, "amira")
    now = datetime.now(UTC)
    lifecycle.accept(demo, request.id, amira, now=now, actor=ACTOR, policy=POLICY)
    lifecycle.connect(demo, request.id, now=now, actor=ACTOR)
    lifecycle.end_call(demo, request.id, now=now, actor=ACTOR)
    demo.commit()
    return request, amira


RECORD = {
    "outcome": "s136_advised",
    "place_of_safety": "health_based",
    "rationale": "Acutely unwell, at risk; needs assessment.",
    **dict.fromkeys(
        (
            "under_18_in_crisis",
            "children_in_household",
            "person_is_carer",
            "domestic_abuse",
            "vulnerable_adult",
            "looked_after_child",
        ),
        "no",
    ),
}


def _complete(app: Flask, request: AdviceRequest, **changes: str) -> str:
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    response = client.post(
        f"{path}/record",
        data={**RECORD, **changes, "intent": "complete", "csrf_token": csrf(client, path)},
    )
    return str(response.status_code) + response.get_data(as_text=True)


def test_s136_for_a_texted_request_in_a_dwelling_is_refused_on_the_console(
    twilio: Twilio, app: Flask, demo: Session
) -> None:
    request, _ = _texted_and_wrapped_up(twilio, demo, "1 2 1")
    page = _complete(app, request)
    assert page.startswith("400")
    assert "s136(1A)" in page
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.WRAP_UP
    corrected = _complete(app, request, in_dwelling="no")
    assert corrected.startswith("302"), "the clinician's correction is the merged fact"


def test_a_police_station_for_a_texted_child_is_refused_on_the_console(
    twilio: Twilio, app: Flask, demo: Session
) -> None:
    request, _ = _texted_and_wrapped_up(twilio, demo, "1 1 2")
    page = _complete(
        app,
        request,
        place_of_safety="police_station",
        police_station_imminent_risk="yes",
        police_station_no_other_place="yes",
        police_station_health_professional="yes",
        police_station_inspector_authorised="yes",
    )
    assert page.startswith("400")
    assert "s136A" in page


# --- the officer's decision and the detention by text ----------------------------------


def test_a_decision_texted_while_the_clinician_writes_is_kept(
    twilio: Twilio, app: Flask, demo: Session
) -> None:
    request, _ = _texted_and_wrapped_up(twilio, demo, "1 2 2")
    reply = text(twilio, f"{request.reference} NOT DETAINED")
    assert f"Recorded for {request.reference}: not detained" in reply
    demo.rollback()
    detention = demo.scalars(select(Detention)).one()
    assert (detention.decision, detention.decision_reported_via) == (
        OfficerDecision.NOT_DETAINED,
        ReportedVia.SMS,
    )


def test_arrival_and_handover_by_text_start_and_follow_the_clock(
    twilio: Twilio, session: Session
) -> None:
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    assert "detained" in text(twilio, f"{request.reference} DETAINED")
    local = datetime.now(LONDON) - timedelta(minutes=30)
    arrived = f"{request.reference} ARRIVED {local:%H:%M}"
    assert f"arrived at the place of safety at {local:%H:%M}" in text(twilio, arrived)
    assert "handed over to health staff" in text(twilio, f"{request.reference} handed over")
    session.rollback()
    detention = session.scalars(select(Detention)).one()
    assert detention.arrived_at is not None
    assert detention.arrived_at.astimezone(LONDON).strftime("%H:%M") == f"{local:%H:%M}"
    assert detention.handed_over_at is not None
    assert detention.handed_over_at > detention.arrived_at
    assert text(twilio, f"{request.reference} ARRIVED 25:99").startswith("Advice Line: ")


def test_a_report_on_a_detention_the_officer_said_did_not_happen_is_refused(
    twilio: Twilio, session: Session
) -> None:
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    text(twilio, f"{request.reference} NOT DETAINED")
    reply = text(twilio, f"{request.reference} ARRIVED")
    assert "report DETAINED first" in reply
    session.rollback()
    assert session.scalars(select(Detention.arrived_at)).one() is None


# --- by keypad at the end of a call -------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "decision"),
    [("1", OfficerDecision.DETAINED), ("2", OfficerDecision.NOT_DETAINED)],
)
def test_the_officer_reports_the_decision_by_keypad_when_the_call_ends(
    twilio: Twilio,
    session: Session,
    officer: object,
    fake_twilio: FakeTwilio,
    digits: str,
    decision: OfficerDecision,
) -> None:
    officer_sid, _ = _connected_call(twilio, session, fake_twilio)
    request = only_request(session)
    ended = twilio.twiml(f"/twilio/voice/left/{request.id}", {"CallSid": officer_sid})
    assert "press 1 if you detained" in spoken(ended)
    done = answer(twilio, ended, officer_sid, digits=digits)
    assert "Recorded" in spoken(done)
    session.rollback()
    detention = session.scalars(select(Detention)).one()
    assert (detention.decision, detention.decision_reported_via) == (decision, ReportedVia.KEYPAD)


def test_silence_at_the_end_of_a_call_explains_how_to_text_the_decision(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio
) -> None:
    officer_sid, _ = _connected_call(twilio, session, fake_twilio)
    request = only_request(session)
    ended = twilio.twiml(f"/twilio/voice/left/{request.id}", {"CallSid": officer_sid})
    done = twilio.twiml(gather_action(ended), {"CallSid": officer_sid, "Digits": ""})
    assert f"text {request.reference} DETAINED" in spoken(done)
    session.rollback()
    assert session.scalars(select(Detention)).all() == []


# --- on the console, on the officer's word -------------------------------------------------


def test_the_clinician_records_the_detention_on_the_officer_s_word(
    twilio: Twilio, app: Flask, demo: Session
) -> None:
    request, _ = _texted_and_wrapped_up(twilio, demo, "1 2 2")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    arrival = (datetime.now(LONDON) - timedelta(hours=1)).strftime("%d/%m/%Y %H:%M")
    response = client.post(
        f"{path}/detention",
        data={
            "decision": "detained",
            "arrived_at": arrival,
            "place_of_safety_used": "health_based",
            "conveyance": "police_vehicle",
            "police_vehicle_reason": "ambulance_delayed",
            "csrf_token": csrf(client, path),
        },
    )
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert 'id="detention-deadline"' in page
    demo.rollback()
    detention = demo.scalars(select(Detention)).one()
    assert detention.decision_reported_via == ReportedVia.CLINICIAN
    assert detention.arrived_at is not None
    assert detention.arrived_at.astimezone(LONDON).strftime("%d/%m/%Y %H:%M") == arrival
    bad = client.post(
        f"{path}/detention",
        data={"arrived_at": "yesterday-ish", "csrf_token": csrf(client, path)},
    )
    assert bad.status_code == 302
    assert "Give a time like 22:00" in client.get(path).get_data(as_text=True)
    demo.rollback()
    assert demo.scalars(select(Detention.arrived_at)).one() == detention.arrived_at


# --- nobody waits unheard ------------------------------------------------------------------


def test_a_texting_officer_waiting_past_the_target_is_told_the_wait(
    twilio: Twilio, app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    scheduler = Scheduler(lambda: Session(session.get_bind()), POLICY, name="test")
    scheduler.clock = lambda: datetime.now(UTC) + timedelta(seconds=31)
    with app.app_context():
        scheduler.fire_due_timers()
    (sent,) = [m for m in fake_twilio.messages() if m.form["To"] == OFFICER]
    assert f"{request.reference} is still waiting" in sent.form["Body"]
    assert "You are next. A clinician will answer as soon as one is free." in sent.form["Body"]
    assert RISK_ADVICE in sent.form["Body"]


def test_the_on_call_senior_is_rung_when_no_senior_is_at_a_console(
    twilio: Twilio, app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    senior = add_clinician(
        session, role=Role.SENIOR_CLINICIAN, on_console=False, shift_around=datetime.now(UTC)
    )
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    scheduler = Scheduler(lambda: Session(session.get_bind()), POLICY, name="test")
    scheduler.clock = lambda: datetime.now(UTC) + timedelta(seconds=61)
    with app.app_context():
        scheduler.fire_due_timers()
    (rung,) = [c for c in fake_twilio.calls() if c.form["To"] == senior.phone]
    assert rung.form["Url"].endswith(f"/twilio/voice/senior-alert/{request.id}")
    alert = twilio.twiml(rung.form["Url"], {"CallSid": rung.sid})
    assert request.reference in spoken(alert)
    session.rollback()
    audited = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "request.seniors_alerted")
    ).one()
    assert audited == {"seniors": {str(senior.id): "rung"}}


def test_no_call_when_a_senior_is_at_a_console(
    twilio: Twilio, app: Flask, session: Session, fake_twilio: FakeTwilio
) -> None:
    add_clinician(
        session, role=Role.SENIOR_CLINICIAN, on_console=True, shift_around=datetime.now(UTC)
    )
    text(twilio, "Man on bridge")
    scheduler = Scheduler(lambda: Session(session.get_bind()), POLICY, name="test")
    scheduler.clock = lambda: datetime.now(UTC) + timedelta(seconds=61)
    with app.app_context():
        scheduler.fire_due_timers()
    assert fake_twilio.calls() == []


# --- by phone: the menu's answers, and the decision on a call-back ------------------------


def test_the_phone_menu_s_answers_set_the_facts_the_console_holds_to(
    twilio: Twilio, app: Flask, demo: Session
) -> None:
    """The demo's PC Jo Smith calls from a registered number and answers by keypad."""
    sid = call_sid()
    document = incoming(twilio, OFFICER_NUMBER, sid)
    for digits in ("2", "1", "1"):  # no risk to life; under 18; in a private dwelling
        document = answer(twilio, document, sid, digits=digits)
    request = only_request(demo)
    assert (request.risk_to_life, request.subject_under_18, request.in_dwelling) == (
        False,
        True,
        True,
    )
    assert demo.scalars(select(Task.description).where(Task.request_id == request.id)).all() == [
        CHILD_SAFEGUARDING
    ]
    amira = clinician_id(demo, "amira")
    now = datetime.now(UTC)
    lifecycle.accept(demo, request.id, amira, now=now, actor=ACTOR, policy=POLICY)
    lifecycle.connect(demo, request.id, now=now, actor=ACTOR)
    lifecycle.end_call(demo, request.id, now=now, actor=ACTOR)
    demo.commit()
    page = _complete(app, request, in_dwelling="no", place_of_safety="police_station")
    assert page.startswith("400")
    assert "s136A" in page, "the child the officer named by keypad may not go to a cell"


def test_a_called_back_officer_reports_the_decision_when_the_call_ends(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio
) -> None:
    sid = call_sid()
    document = known_officer_call(twilio, sid)
    choice = twilio.twiml(attribute(document, "Dial", "action"), {"CallSid": sid})
    twilio.twiml(gather_action(choice), {"CallSid": sid, "Digits": "1"})
    twilio.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})
    accepted_at_a_console(session)
    officer_leg = next(c for c in fake_twilio.calls() if c.form["To"] == OFFICER_NUMBER)
    rejoined = twilio.twiml(officer_leg.form["Url"], {"CallSid": officer_leg.sid})
    ended = twilio.twiml(attribute(rejoined, "Dial", "action"), {"CallSid": officer_leg.sid})
    assert "press 1 if you detained" in spoken(ended)
    answer(twilio, ended, officer_leg.sid, digits="2")
    session.rollback()
    detention = session.scalars(select(Detention)).one()
    assert (detention.decision, detention.decision_reported_via) == (
        OfficerDecision.NOT_DETAINED,
        ReportedVia.KEYPAD,
    )
