"""Bringing someone into the officer's call: privately, together, dropped, handed over."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.config import ConfigurationError, settings_from_env
from advice_line.models import (
    AuditEvent,
    CallLeg,
    Clinician,
    ClinicianStatus,
    LegRole,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxPurpose,
    OutboxState,
    RequestFact,
    RequestStatus,
    User,
)
from advice_line.reports import story
from advice_line.simulator.switchboard import switchboard
from advice_line.telephony import legs, outbox
from advice_line.telephony.gateway import TwilioGateway
from advice_line.telephony.protocol import GatewayError, ParticipantChange
from advice_line.telephony.urls import webhook_url
from advice_line.telephony.webhooks import clinician
from tests.fake_twilio import FakeTwilio
from tests.test_console import csrf, sign_in
from tests.test_simulator import OFFICER, act, call_to, demo, route, the_request
from tests.twilio_support import twilio_env

__all__ = ["demo"]
AMHP_LINE = "+441632960101"
AMIRA_PHONE = "+447700900101"
BEN_PHONE = "+447700900102"


def connected(app: Flask, session: Session, client: FlaskClient) -> dict[str, str]:
    """An officer's call answered by Amira on her phone: the two call SIDs."""
    state = act(client, action="dial", number=OFFICER)
    officer = call_to(state, OFFICER)["sid"]
    for digits in ("1", "2", "2"):
        act(client, action="press", sid=officer, digits=digits)
    route(app)
    amira = call_to(act(client, action="refresh", sid=officer), AMIRA_PHONE)["sid"]
    act(client, action="answer", sid=amira)
    act(client, action="press", sid=amira, digits="1")
    assert the_request(session).status == RequestStatus.CONNECTED
    return {"officer": officer, "amira": amira}


def post(client: FlaskClient, path: str, **form: str) -> Any:
    token = csrf(client, "/console/requests/1")
    return client.post(path, data={"csrf_token": token, **form})


def page(client: FlaskClient, path: str = "/console/requests/1") -> str:
    """A page's text as a reader sees it (the request's by default): no tags, single spaces."""
    html = client.get(path).get_data(as_text=True)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()).replace(" :", ":")


def actions(session: Session, like: str = "request.%third_party%") -> list[str]:
    """The audited actions on the call, in order (the third party's by default)."""
    session.rollback()
    return list(
        session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like(like)).order_by(AuditEvent.id)
        )
    )


def status_of(session: Session, username: str) -> ClinicianStatus:
    session.rollback()
    return session.scalars(
        select(Clinician.status).join(User).where(User.username == username)
    ).one()


def set_available(session: Session, username: str) -> None:
    clinician = session.scalars(select(Clinician).join(User).where(User.username == username)).one()
    clinician.status = ClinicianStatus.AVAILABLE
    session.commit()


def test_an_amhp_is_brought_in_privately_then_together_then_dropped(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    sids = connected(app, session, demo)
    amira = sign_in(app, "amira")
    assert "AMHP duty line" in page(amira)

    answer = post(amira, "/console/requests/1/third-party", who="directory:0", mode="private")
    assert answer.status_code == 302
    state = act(demo, action="refresh", sid=sids["officer"])
    amhp = call_to(state, AMHP_LINE)
    assert amhp["status"] == "ringing"
    assert "AMHP duty line: being rung" in page(amira)

    state = act(demo, action="answer", sid=amhp["sid"])
    assert "the officer is on hold" in " ".join(call_to(state, AMHP_LINE)["transcript"])
    assert call_to(state, OFFICER)["held"] is True
    assert call_to(state, AMHP_LINE)["talking"] is True
    assert "speaking with you only; the officer is on hold" in page(amira)

    assert post(amira, "/console/requests/1/third-party/together").status_code == 302
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, OFFICER)["held"] is False
    assert call_to(state, OFFICER)["talking"] is True
    assert "speaking with you and the officer" in page(amira)

    assert post(amira, "/console/requests/1/third-party/drop").status_code == 302
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, AMHP_LINE)["status"] == "completed"
    assert call_to(state, OFFICER)["status"] == "in-progress", "the officer's call goes on"
    assert call_to(state, OFFICER)["talking"] is True
    assert the_request(session).status == RequestStatus.CONNECTED
    assert actions(session) == [
        "request.third_party_called",
        "request.third_party_together",
        "request.third_party_dropped",
        "request.third_party_left",
    ]
    assert "Bring them in" in page(amira), "someone else can be brought in now"
    told = [entry.what for entry in story.timeline(session, the_request(session))]
    assert "Phone call to or from AMHP duty line" in told
    assert "The third party dropped from the call" in told


def test_the_call_is_handed_over_to_a_clinician_brought_in(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    sids = connected(app, session, demo)
    set_available(session, "ben")
    amira = sign_in(app, "amira")
    ben_id = session.scalars(select(Clinician.id).join(User).where(User.username == "ben")).one()
    post(amira, "/console/requests/1/third-party", who=f"clinician:{ben_id}", mode="together")
    assert status_of(session, "ben") == ClinicianStatus.ON_CALL, "offered nothing else meanwhile"
    ben_call = call_to(act(demo, action="refresh", sid=sids["officer"]), BEN_PHONE)
    state = act(demo, action="answer", sid=ben_call["sid"])
    assert call_to(state, OFFICER)["held"] is False

    answer = post(amira, "/console/requests/1/third-party/hand_over")
    assert answer.headers["Location"].endswith("/console")
    state = act(demo, action="refresh", sid=sids["officer"])
    assert call_to(state, AMIRA_PHONE)["status"] == "completed"
    assert call_to(state, OFFICER)["status"] == "in-progress", "the officer's call goes on"
    assert call_to(state, BEN_PHONE)["talking"] is True
    session.rollback()
    offers = {o.clinician_id: o.outcome for o in session.scalars(select(Offer))}
    assert offers[ben_id] == OfferOutcome.ACCEPTED
    assert OfferOutcome.HANDED_OVER in offers.values()
    assert status_of(session, "amira") == ClinicianStatus.AVAILABLE
    assert the_request(session).status == RequestStatus.CONNECTED
    handed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.handed_over")
    ).one()
    assert handed.detail is not None
    assert handed.detail["clinician_id"] == ben_id
    told = [entry.what for entry in story.timeline(session, the_request(session))]
    assert "Call handed over to Dr Ben Hughes (psychiatrist) (clinician)" in told
    fact = session.scalars(select(RequestFact)).one()
    assert fact.clinician_id == ben_id, "the managers' figures count the call as Ben's"

    ben = sign_in(app, "ben")
    assert "Bring them in" in page(ben), "the new holder runs the call"
    act(demo, action="hangup", sid=ben_call["sid"])
    assert the_request(session).status == RequestStatus.WRAP_UP
    assert status_of(session, "ben") == ClinicianStatus.WRAP_UP, "the record is Ben's"


def test_refusals_change_nothing(app: Flask, session: Session, demo: FlaskClient) -> None:
    connected(app, session, demo)
    amira, sam = sign_in(app, "amira"), sign_in(app, "sam")
    bring_in = "/console/requests/1/third-party"
    refusals = [
        (sam, bring_in, {"who": "directory:0", "mode": "private"}, "Only the clinician who holds"),
        (amira, bring_in, {"who": "directory:9", "mode": "private"}, "not in the line's directory"),
        (amira, bring_in, {"who": "directory:x", "mode": "private"}, "Choose a clinician"),
        (amira, bring_in, {"who": "directory:0", "mode": "loud"}, "privately first or together"),
        (amira, bring_in, {"who": "clinician:999999", "mode": "private"}, "no clinician 999999"),
        (amira, f"{bring_in}/together", {}, "No one else is on the call"),
        (amira, f"{bring_in}/drop", {}, "No one else is on the call"),
        (amira, f"{bring_in}/hand_over", {}, "No one else is on the call"),
    ]
    for client, path, form, reason in refusals:
        answer = post(client, path, **form)
        assert answer.status_code == 302, path
        assert reason in page(client), (path, form)
    ben_id = session.scalars(select(Clinician.id).join(User).where(User.username == "ben")).one()
    post(amira, bring_in, who=f"clinician:{ben_id}", mode="private")
    assert "is away, not available" in page(amira)
    assert actions(session) == []
    rung = select(OutboxItem).where(OutboxItem.purpose == OutboxPurpose.THIRD_PARTY)
    assert session.scalars(rung).all() == []

    assert amira.post(bring_in, data={"who": "directory:0", "mode": "private"}).status_code == 400
    assert post(amira, "/console/requests/999/third-party", who="directory:0").status_code == 404
    assert post(sign_in(app, "ben"), bring_in, who="directory:0").status_code == 403
    assert actions(session) == []

    post(amira, bring_in, who="directory:0", mode="private")
    post(amira, bring_in, who="directory:1", mode="private")
    assert "already on the call" in page(amira)
    assert post(amira, f"{bring_in}/together").status_code == 302
    assert "has not answered yet" in page(amira)
    post(amira, f"{bring_in}/hand_over")
    assert actions(session) == ["request.third_party_called"]


def test_the_third_partys_status_callbacks_apply_once_in_any_order(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    sids = connected(app, session, demo)
    amira = sign_in(app, "amira")
    post(amira, "/console/requests/1/third-party", who="directory:0", mode="private")
    board = switchboard(app)
    amhp = call_to(act(demo, action="refresh", sid=sids["officer"]), AMHP_LINE)
    act(demo, action="answer", sid=amhp["sid"])
    assert board.calls[sids["officer"]].held is True

    def callback(status: str, sequence: int) -> None:
        params = board._call_params(board.calls[amhp["sid"]], SequenceNumber=str(sequence))
        board.post(webhook_url("twilio.call_status"), params | {"CallStatus": status})

    callback("completed", 9)
    callback("completed", 9)
    callback("ringing", 2)
    callback("in-progress", 3)
    session.rollback()
    leg = session.scalars(select(CallLeg).where(CallLeg.role == LegRole.THIRD_PARTY)).one()
    assert leg.status == "completed"
    assert leg.private is False
    assert board.calls[sids["officer"]].held is False, "the officer is taken off hold"
    assert actions(session) == ["request.third_party_called", "request.third_party_left"]
    assert "Bring them in" in page(amira)


@pytest.fixture
def gateway(app: Flask, fake_twilio: FakeTwilio) -> TwilioGateway:
    return TwilioGateway(app.config | twilio_env(fake_twilio.base_url))


def test_the_gateway_holds_and_releases_a_participant_in_twilio(
    gateway: TwilioGateway, fake_twilio: FakeTwilio
) -> None:
    officer, clinician = "CA" + "1" * 32, "CA" + "2" * 32
    room = fake_twilio.open_conference("AL-7", officer, clinician, EndConferenceOnExit="true")
    gateway.update_participant("AL-7", officer, ParticipantChange(hold=True))
    assert room.participants[officer]["Hold"] == "true"
    gateway.update_participant("AL-7", officer, ParticipantChange(hold=False))
    gateway.update_participant("AL-7", clinician, ParticipantChange(end_conference_on_exit=False))
    assert room.participants[officer]["Hold"] == "false"
    assert room.participants[clinician]["EndConferenceOnExit"] == "false"
    assert fake_twilio.refused == []

    with pytest.raises(GatewayError) as no_room:
        gateway.update_participant("AL-8", officer, ParticipantChange(hold=True))
    assert no_room.value.status == 404
    with pytest.raises(GatewayError) as not_in_it:
        gateway.update_participant("AL-7", "CA" + "3" * 32, ParticipantChange(hold=True))
    assert not_in_it.value.code == 20404


def test_the_directory_is_read_from_the_setting_and_refused_if_wrong(tmp_path: Any) -> None:
    env = {"ADVICE_LINE_MODE": "demo", "CONSULT_DIRECTORY": "Interpreter=020 7946 0000; "}
    settings = settings_from_env(env, str(tmp_path))
    assert settings["CONSULT_DIRECTORY"] == (("Interpreter", "+442079460000"),)
    for bad in ("=+442079460000", "Interpreter=not a number", "Interpreter"):
        with pytest.raises(ConfigurationError, match="CONSULT_DIRECTORY"):
            settings_from_env(env | {"CONSULT_DIRECTORY": bad}, str(tmp_path))


def held_back(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], bool]]:
    """The outbox's records of the calls it places from now on, held until the test runs them."""
    late: list[Callable[[], bool]] = []
    record = outbox._placed

    def hold_back(*placed: Any) -> bool:
        late.append(functools.partial(record, *placed))
        return True

    monkeypatch.setattr(outbox, "_placed", hold_back)
    return late


@pytest.mark.parametrize("answered_first", [True, False], ids=["answer-first", "record-first"])
def test_a_third_party_who_answers_before_the_outbox_records_the_call_can_be_handed_it(
    app: Flask,
    session: Session,
    demo: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    answered_first: bool,
) -> None:
    sids = connected(app, session, demo)
    set_available(session, "ben")
    amira = sign_in(app, "amira")
    ben_id = session.scalars(select(Clinician.id).join(User).where(User.username == "ben")).one()
    late = held_back(monkeypatch) if answered_first else []
    post(amira, "/console/requests/1/third-party", who=f"clinician:{ben_id}", mode="private")
    ben_call = call_to(act(demo, action="refresh", sid=sids["officer"]), BEN_PHONE)
    state = act(demo, action="answer", sid=ben_call["sid"])
    assert "the officer is on hold" in " ".join(call_to(state, BEN_PHONE)["transcript"])
    assert [record() for record in late] == ([True] if answered_first else [])
    session.rollback()
    (leg,) = session.scalars(select(CallLeg).where(CallLeg.role == LegRole.THIRD_PARTY)).all()
    assert (leg.call_sid, leg.clinician_id, leg.private) == (ben_call["sid"], ben_id, True)
    assert leg.joined_at is not None
    item = session.scalars(
        select(OutboxItem).where(OutboxItem.purpose == OutboxPurpose.THIRD_PARTY)
    ).one()
    assert (item.state, item.twilio_sid) == (OutboxState.SENT, ben_call["sid"])
    assert "speaking with you only; the officer is on hold" in page(amira)

    assert post(amira, "/console/requests/1/third-party/together").status_code == 302
    assert call_to(act(demo, action="refresh", sid=sids["officer"]), OFFICER)["held"] is False
    answer = post(amira, "/console/requests/1/third-party/hand_over")
    assert answer.headers["Location"].endswith("/console")
    session.rollback()
    offers = {o.clinician_id: o.outcome for o in session.scalars(select(Offer))}
    assert offers[ben_id] == OfferOutcome.ACCEPTED
    assert actions(session)[:2] == ["request.third_party_called", "request.third_party_together"]
    assert actions(session, "request.handed_over") == ["request.handed_over"]


def test_an_answer_naming_another_requests_or_an_unknown_outbox_row_records_no_leg(
    app: Flask, session: Session, demo: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sids = connected(app, session, demo)
    late = held_back(monkeypatch)
    post(sign_in(app, "amira"), "/console/requests/1/third-party", who="directory:0")
    amhp = call_to(act(demo, action="refresh", sid=sids["officer"]), AMHP_LINE)["sid"]
    item = session.scalars(
        select(OutboxItem.id).where(OutboxItem.purpose == OutboxPurpose.THIRD_PARTY)
    ).one()
    for item_id, request_id, purpose in [
        (item, 2, OutboxPurpose.THIRD_PARTY),
        (item, 1, OutboxPurpose.SUPERVISOR),
        (item + 1, 1, OutboxPurpose.THIRD_PARTY),
        (None, 1, OutboxPurpose.THIRD_PARTY),
    ]:
        assert (
            legs.answered_leg(
                session, amhp, item_id=item_id, request_id=request_id, purpose=purpose
            )
            is None
        )
    session.rollback()  # the row's lock, which the outbox's record waits for
    assert [record() for record in late] == [True]
    session.rollback()
    (leg,) = session.scalars(select(CallLeg).where(CallLeg.role == LegRole.THIRD_PARTY)).all()
    assert leg.call_sid == amhp
    assert (
        legs.answered_leg(
            session, "CA" + "f" * 32, item_id=item, request_id=1, purpose=OutboxPurpose.THIRD_PARTY
        )
        is None
    ), "once the row has its SID, no other call is taken for it"
    session.rollback()
    for hostile in ("x", str(2**40), "-1", "0", ""):
        with app.test_request_context(f"/twilio/voice/third-party/1/0?item={hostile}"):
            assert clinician._item() is None, hostile
