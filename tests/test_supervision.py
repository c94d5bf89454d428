"""A senior on a live call: listens unheard, coaches the clinician, joins, stops; the
clinician is told."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.models import CallLeg, LegRole, OutboxItem, OutboxPurpose, Supervision
from advice_line.telephony.gateway import TwilioGateway
from advice_line.telephony.protocol import GatewayError, ParticipantChange
from tests.fake_twilio import FakeTwilio
from tests.test_conference import AMIRA_PHONE, connected, gateway, held_back, page
from tests.test_conference import actions as conference_actions
from tests.test_console import connect, csrf, received, sign_in
from tests.test_simulator import OFFICER, act, call_to, demo

__all__ = ["demo", "gateway"]
SAM_PHONE = "+447700900106"
LISTENING = "A senior clinician, Sam Adeyemi (senior nurse, shift lead), is listening to this call."


def floor(client: FlaskClient) -> str:
    return page(client, "/console/floor")


def supervise(client: FlaskClient, step: str, request_id: int = 1) -> Any:
    token = csrf(client, "/console/floor")
    return client.post(f"/console/floor/calls/{request_id}/{step}", data={"csrf_token": token})


def actions(session: Session) -> list[str]:
    return conference_actions(session, "request.supervisor%")


def test_a_senior_listens_coaches_joins_and_stops_and_the_clinician_is_told(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    sids = connected(app, session, demo)
    amira, sam = sign_in(app, "amira"), sign_in(app, "sam")
    amira_socket = connect(app, amira)
    assert amira_socket.emit("watch_request", {"request_id": 1}, callback=True)["ok"] is True
    assert "AL-1: Amira Okafor (mental-health nurse) with the officer" in floor(sam)

    assert supervise(sam, "listen").status_code == 302
    assert "Your phone will ring" in floor(sam)
    sam_call = call_to(act(demo, action="refresh", sid=sids["officer"]), SAM_PHONE)
    amira_socket.get_received()
    state = act(demo, action="answer", sid=sam_call["sid"])
    assert "muted: no one can hear you" in " ".join(call_to(state, SAM_PHONE)["transcript"])
    assert call_to(state, SAM_PHONE)["muted"] is True
    assert LISTENING in page(amira)
    assert received(amira_socket, "call")[-1] == {"request_id": 1, "supervision": LISTENING}

    supervise(sam, "coach")
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, SAM_PHONE)["coaching"] == AMIRA_PHONE
    assert call_to(state, SAM_PHONE)["muted"] is False
    assert "is coaching you: only you can hear them" in page(amira)
    assert "is coaching you" in received(amira_socket, "call")[-1]["supervision"]

    supervise(sam, "join")
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, SAM_PHONE)["coaching"] is None
    assert "has joined this call" in page(amira)

    supervise(sam, "stop")
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, SAM_PHONE)["status"] == "completed"
    assert call_to(state, OFFICER)["talking"] is True, "the call goes on without the senior"
    assert "A senior clinician" not in page(amira)
    assert received(amira_socket, "call")[-1]["supervision"] == ""
    assert actions(session) == [
        "request.supervisor_called",
        "request.supervisor_listening",
        "request.supervisor_coach",
        "request.supervisor_join",
        "request.supervisor_stopped",
        "request.supervisor_left",
    ]
    assert "Listen" in floor(sam), "and may listen again"


def test_supervising_is_refused_with_reasons_and_changes_nothing(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    sids = connected(app, session, demo)
    sam = sign_in(app, "sam")
    for step, reason in (
        ("coach", "You are not listening to AL-1."),
        ("stop", "You are not listening to AL-1."),
    ):
        supervise(sam, step)
        assert reason in floor(sam)
    supervise(sam, "listen", request_id=999)
    assert "There is no advice request 999." in floor(sam)
    assert supervise(sign_in(app, "amira"), "listen").status_code == 403
    assert sam.post("/console/floor/calls/1/listen").status_code == 400
    assert actions(session) == []

    supervise(sam, "listen")
    supervise(sam, "listen")
    assert "A senior is already listening to AL-1." in floor(sam)
    supervise(sam, "coach")
    assert "Your phone has not answered yet." in floor(sam)
    assert actions(session) == ["request.supervisor_called"]
    rung = select(OutboxItem).where(OutboxItem.purpose == OutboxPurpose.SUPERVISOR)
    assert len(session.scalars(rung).all()) == 1

    act(demo, action="hangup", sid=sids["officer"])
    supervise(sam, "join")
    assert "AL-1 is not on a phone call." in floor(sam)


def test_the_gateway_lets_a_senior_coach_in_twilio(
    gateway: TwilioGateway, fake_twilio: FakeTwilio
) -> None:
    officer, clinician, senior = ("CA" + str(n) * 32 for n in (1, 2, 3))
    room = fake_twilio.open_conference("AL-7", officer, clinician, senior, Muted="true")
    coach = ParticipantChange(muted=False, coaching=True, call_sid_to_coach=clinician)
    gateway.update_participant("AL-7", senior, coach)
    assert room.participants[senior]["Coaching"] == "true"
    assert room.participants[senior]["CallSidToCoach"] == clinician
    assert room.participants[senior]["Muted"] == "false"
    with pytest.raises(GatewayError) as refused:
        gateway.update_participant("AL-7", senior, ParticipantChange(coaching=True))
    assert refused.value.status == 400


@pytest.mark.parametrize("answered_first", [True, False], ids=["answer-first", "record-first"])
def test_a_senior_who_answers_before_the_outbox_records_the_call_listens_and_coaches(
    app: Flask,
    session: Session,
    demo: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    answered_first: bool,
) -> None:
    sids = connected(app, session, demo)
    amira, sam = sign_in(app, "amira"), sign_in(app, "sam")
    late = held_back(monkeypatch) if answered_first else []
    assert supervise(sam, "listen").status_code == 302
    sam_call = call_to(act(demo, action="refresh", sid=sids["officer"]), SAM_PHONE)
    state = act(demo, action="answer", sid=sam_call["sid"])
    assert "muted: no one can hear you" in " ".join(call_to(state, SAM_PHONE)["transcript"])
    assert call_to(state, SAM_PHONE)["status"] == "in-progress", "not told the call has ended"
    assert [record() for record in late] == ([True] if answered_first else [])
    assert LISTENING in page(amira)
    session.rollback()
    (leg,) = session.scalars(select(CallLeg).where(CallLeg.role == LegRole.SUPERVISOR)).all()
    assert (leg.call_sid, leg.supervision) == (sam_call["sid"], Supervision.LISTEN)

    assert supervise(sam, "coach").status_code == 302
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, SAM_PHONE)["coaching"] == AMIRA_PHONE
    assert actions(session) == [
        "request.supervisor_called",
        "request.supervisor_listening",
        "request.supervisor_coach",
    ]
