"""Call-back tasks done from where they are shown: on the request itself, once, closed by
the record (docs/DOMAIN.md#tasks); refusals as pages that say why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from advice_line import lifecycle
from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.lifecycle.tasks import safeguard_child
from advice_line.models import (
    AdviceRequest,
    Channel,
    OutboxItem,
    OutboxPurpose,
    RequestFact,
    RequestStatus,
    Task,
    TaskKind,
)
from tests.test_console import (
    ACTOR,
    POLICY,
    clinician_id,
    csrf,
    message_request,
    post_task,
    record_form,
    sign_in,
    task_panels,
    user_id,
)

OFFICER_NUMBER = "+447700900333"


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def abandoned_call(session: Session, *, number: str | None = OFFICER_NUMBER) -> AdviceRequest:
    """An unverified officer gave collar number and force, then hung up while waiting."""
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(channel=Channel.VOICE, caller_number=number, risk_to_life=True),
        now=utcnow(),
        actor=ACTOR,
    )
    request.claimed_collar_number = "PC 4821"
    request.claimed_force = "Avon and Somerset Constabulary"
    lifecycle.queue_request(session, request.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    lifecycle.abandon(session, request.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    session.commit()
    return request


def call_back_task(session: Session, request: AdviceRequest) -> Task:
    return session.scalars(
        select(Task).where(Task.request_id == request.id, Task.kind == TaskKind.CALL_BACK)
    ).one()


def officer_calls(session: Session, request: AdviceRequest) -> int:
    return (
        session.scalar(
            select(func.count(OutboxItem.id)).where(
                OutboxItem.request_id == request.id,
                OutboxItem.purpose == OutboxPurpose.OFFICER_BACK,
            )
        )
        or 0
    )


def press_call_back(client: FlaskClient, request: AdviceRequest) -> TestResponse:
    path = f"/console/requests/{request.id}"
    return client.post(f"{path}/call_back", data={"csrf_token": csrf(client, path)})


def test_the_task_names_its_request_and_calls_the_officer_back_on_it_once(
    app: Flask, demo: Session
) -> None:
    request = abandoned_call(demo)
    task = call_back_task(demo, request)
    amira = sign_in(app, "amira")
    page = amira.get("/console/tasks").get_data(as_text=True)
    assert f'href="/console/requests/{request.id}">{request.reference}</a>' in page
    assert "Call the officer back" in page
    assert "Due" in page
    assert 'value="call_back"' in page
    # Anyone on the team may open the request of an open task, and call back from there too.
    opened = amira.get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert 'id="call-back"' in opened

    response = post_task(amira, task, "call_back")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/console/requests/{request.id}")
    demo.expire_all()
    called = demo.get_one(AdviceRequest, request.id)
    assert called.status == RequestStatus.ACCEPTED, "the same request, taken again"
    assert (called.claimed_collar_number, called.claimed_force) == (
        "PC 4821",
        "Avon and Somerset Constabulary",
    )
    assert demo.scalar(select(func.count(AdviceRequest.id))) == 1, "no new request"
    assert call_back_task(demo, request).owner_user_id == user_id(demo, "amira")
    assert officer_calls(demo, request) == 1
    shown = amira.get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert "PC 4821" in shown
    assert "Calling the officer back on" in shown

    # A double click, from the task or the request page: still one call, and a reason.
    post_task(amira, task, "call_back")
    press_call_back(amira, request)
    demo.expire_all()
    assert officer_calls(demo, request) == 1
    assert "already being called" in amira.get(f"/console/requests/{request.id}").get_data(
        as_text=True
    )


def test_finishing_the_call_back_closes_its_task(app: Flask, demo: Session) -> None:
    request = abandoned_call(demo)
    amira = sign_in(app, "amira")
    assert press_call_back(amira, request).status_code == 302
    lifecycle.connect(demo, request.id, now=utcnow(), actor=ACTOR)
    lifecycle.end_call(demo, request.id, now=utcnow(), actor=ACTOR)
    demo.commit()
    assert call_back_task(demo, request).done_at is None, "open until the advice is recorded"
    path = f"/console/requests/{request.id}"
    form = record_form(intent="complete", csrf_token=csrf(amira, path))
    assert amira.post(f"{path}/record", data=form).status_code == 302
    demo.expire_all()
    task = call_back_task(demo, request)
    assert task.done_at is not None
    assert task.done_by_user_id == user_id(demo, "amira")
    assert str(task.id) not in task_panels(amira.get("/console/tasks").get_data(as_text=True))


def test_an_unanswered_call_back_keeps_one_task_open(app: Flask, demo: Session) -> None:
    request = abandoned_call(demo)
    lifecycle.call_back(
        demo, request.id, clinician_id(demo, "amira"), now=utcnow(), actor=ACTOR, policy=POLICY
    )
    lifecycle.abandon(demo, request.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    demo.commit()
    task = call_back_task(demo, request)
    assert task.done_at is None
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.ABANDONED


def test_bad_call_backs_are_refused_with_the_reason_and_change_nothing(
    app: Flask, demo: Session
) -> None:
    withheld = abandoned_call(demo, number=None)
    safeguarding = lifecycle.create_request(
        demo,
        lifecycle.NewRequest(channel=Channel.SMS, caller_number="+447700900444"),
        now=utcnow(),
        actor=ACTOR,
    )
    safeguarding_task = safeguard_child(
        demo, safeguarding, now=utcnow(), actor=ACTOR, policy=POLICY
    )
    colleagues = abandoned_call(demo, number="+447700900555")
    lifecycle.take_task(
        demo, call_back_task(demo, colleagues).id, user_id(demo, "ben"), now=utcnow(), actor=ACTOR
    )
    demo.commit()
    amira = sign_in(app, "amira")
    tasks = amira.get("/console/tasks").get_data(as_text=True)
    assert "no number to call back" in tasks.lower()

    cases = [
        (call_back_task(demo, withheld), "no officer number"),
        (safeguarding_task, "not a call-back"),
        (call_back_task(demo, colleagues), "colleague has taken"),
    ]
    for task, reason in cases:
        assert task is not None
        assert post_task(amira, task, "call_back").status_code == 302
        assert reason in amira.get("/console/tasks").get_data(as_text=True), reason
    unknown = amira.post(
        "/console/tasks",
        data={"task_id": "999999", "intent": "call_back", "csrf_token": csrf(amira)},
    )
    assert unknown.status_code == 302
    assert "There is no task 999999" in amira.get("/console/tasks").get_data(as_text=True)
    bad = amira.post(
        "/console/tasks", data={"task_id": "x", "intent": "call_back", "csrf_token": csrf(amira)}
    )
    assert bad.status_code == 400
    assert "Choose a task" in bad.get_data(as_text=True)
    demo.expire_all()
    assert demo.scalar(select(func.count(OutboxItem.id))) == 0
    assert {r.status for r in demo.scalars(select(AdviceRequest))} <= {
        RequestStatus.ABANDONED,
        RequestStatus.RECEIVED,
    }
    assert call_back_task(demo, withheld).owner_user_id is None


def test_a_refusal_is_a_page_that_says_why(app: Flask, demo: Session) -> None:
    held = message_request(demo, accepted_by="amira")
    chloe = sign_in(app, "chloe")
    response = chloe.get(f"/console/requests/{held.id}")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Forbidden" not in page
    assert f"{held.reference} is not yours to open" in page
    assert 'href="/console/tasks"' in page
    missing = chloe.get("/console/requests/999999")
    assert missing.status_code == 404
    assert "There is no request AL-999999" in missing.get_data(as_text=True)
    morgan = sign_in(app, "morgan")  # a manager
    assert "does not give you access" in morgan.get("/console/tasks").get_data(as_text=True)


def test_tasks_are_listed_by_urgency_with_their_kind(app: Flask, demo: Session) -> None:
    later = abandoned_call(demo, number="+447700900601")
    overdue = abandoned_call(demo, number="+447700900602")
    call_back_task(demo, overdue).due_at = utcnow() - timedelta(minutes=20)
    call_back_task(demo, later).due_at = utcnow() + timedelta(hours=2)
    demo.commit()
    page = sign_in(app, "amira").get("/console/tasks").get_data(as_text=True)
    order = task_panels(page)
    assert order.index(str(call_back_task(demo, overdue).id)) < order.index(
        str(call_back_task(demo, later).id)
    )
    assert "overdue" in page
    assert f'id="task-{call_back_task(demo, later).id}-heading">Call the officer back:' in page


def test_a_request_that_is_over_is_not_called_back(app: Flask, demo: Session) -> None:
    request = message_request(demo)
    lifecycle.cancel(demo, request.id, now=utcnow(), actor=ACTOR, reason="A duplicate")
    demo.commit()
    sam = sign_in(app, "sam")  # a senior clinician may open any request
    assert press_call_back(sam, request).status_code == 302
    page = sam.get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert f"{request.reference} is cancelled: it is over, and is not called back." in page
    demo.expire_all()
    assert demo.scalar(select(func.count(OutboxItem.id))) == 0


def test_a_called_back_request_still_counts_as_abandoned_not_answered(
    app: Flask, demo: Session
) -> None:
    request = abandoned_call(demo)
    lifecycle.call_back(
        demo, request.id, clinician_id(demo, "amira"), now=utcnow(), actor=ACTOR, policy=POLICY
    )
    demo.commit()
    fact = demo.get_one(RequestFact, request.id)
    assert (fact.abandoned, fact.answer_tenths, fact.call_backs_open) == (1, None, 1)
