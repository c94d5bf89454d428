"""What every console page is pushed: offers with the context to judge them, and a
request's thread, live, only to those who may open the request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.models import ClinicianStatus
from advice_line.telephony.messages import receive_message
from tests.test_console import (
    ACTOR,
    POLICY,
    clinician_id,
    connect,
    message_request,
    received,
    sign_in,
)

OFFICER = "+447700900203"  # PC Kate Morris, British Transport Police, in the demo directory


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def officer_texts(session: Session, body: str, sender: str = OFFICER) -> None:
    receive_message(
        session,
        message_sid="SM" + uuid.uuid4().hex,
        sender=sender,
        body=body,
        now=utcnow(),
        actor=ACTOR,
        policy=POLICY,
    )
    session.commit()


def test_an_offer_carries_its_channel_force_waiting_time_and_first_words(
    app: Flask, demo: Session
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    officer_texts(demo, "Young person on the railway footbridge, very distressed, " * 3)
    me = clinician_id(demo, "amira")
    lifecycle.set_clinician_status(
        demo, me, ClinicianStatus.AVAILABLE, now=utcnow(), actor=ACTOR, policy=POLICY
    )
    lifecycle.offer_request(demo, 1, me, now=utcnow(), actor=ACTOR, policy=POLICY)
    demo.commit()
    offer = received(socket, "mine")[-1]["offer"]
    assert offer["channel_label"] == "SMS"
    assert offer["force"] == "British Transport Police"
    assert offer["first_words"] == (
        "Young person on the railway footbridge, very distressed, Young person on the…"
    )
    assert offer["waited_seconds"] >= 0
    socket.disconnect()


@pytest.mark.parametrize(
    ("payload", "phrase"),
    [
        ({"request_id": "1"}, "positive whole number"),
        ({}, "positive whole number"),
        ("1", "positive whole number"),
        ({"request_id": 999_999}, "may not open"),
    ],
)
def test_watching_a_thread_refuses_bad_input(
    app: Flask, demo: Session, payload: Any, phrase: str
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    assert phrase in socket.emit("watch_request", payload, callback=True)["error"]
    socket.disconnect()


def test_the_thread_is_pushed_live_only_to_those_who_may_open_the_request(
    app: Flask, demo: Session
) -> None:
    request = message_request(demo, accepted_by="amira")  # from +447700900201
    amira = connect(app, sign_in(app, "amira"))
    chloe = connect(app, sign_in(app, "chloe"))
    sam = connect(app, sign_in(app, "sam"))  # a senior may open any request
    answer = amira.emit("watch_request", {"request_id": request.id}, callback=True)
    assert answer["ok"] is True
    refused = chloe.emit("watch_request", {"request_id": request.id}, callback=True)
    assert refused == {"error": "You may not open that request.", "status": 403}
    assert sam.emit("watch_request", {"request_id": request.id}, callback=True)["ok"] is True
    for socket in (amira, chloe, sam):
        socket.get_received()

    officer_texts(demo, "He has climbed back over the railing", sender="+447700900201")
    (pushed,) = received(amira, "thread")
    assert pushed["request_id"] == request.id
    assert [m["body"] for m in pushed["messages"]] == ["He has climbed back over the railing"]
    assert pushed["messages"][0]["direction"] == "inbound"
    assert received(sam, "thread") == [pushed]
    assert received(chloe, "thread") == [], "not hers to open: not hers to read"
    for socket in (amira, chloe, sam):
        socket.disconnect()
