"""The clinician console: sign-in, roles on every page and event, live state, forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD, seed_demo
from advice_line.extensions import socketio
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AuditEvent,
    Channel,
    Clinician,
    ClinicianStatus,
    Message,
    Offer,
    OfferOutcome,
    RecordStatus,
    RequestStatus,
    Skill,
    Task,
    TaskKind,
    User,
)
from tests.conftest import forget_request_globals

POLICY = RoutingPolicy()
ACTOR = Actor("test")
ROLES = ["anonymous", "amira", "sam", "morgan", "alex"]  # clinician, senior, manager, admin


@pytest.fixture
def demo(session: Session) -> Session:
    return busy_floor(session)


def busy_floor(session: Session) -> Session:
    """The demo's people, every qualifying clinician available (a busy night's floor)."""
    seed_demo(session, now=utcnow())
    session.execute(
        update(Clinician)
        .where(Clinician.status == ClinicianStatus.AWAY)
        .values(status=ClinicianStatus.AVAILABLE)
    )
    session.commit()
    return session


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    assert match is not None, page[:500]
    return match.group(1)


def sign_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    if username != "anonymous":
        token = csrf(client)
        response = client.post(
            "/login",
            data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    return client


def clinician_id(session: Session, username: str) -> int:
    return session.scalars(select(Clinician.id).join(User).where(User.username == username)).one()


def message_request(
    session: Session, *, accepted_by: str | None = None, skills: Iterable[Skill] = ()
) -> AdviceRequest:
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(
            channel=Channel.SMS, caller_number="+447700900201", skills_needed=frozenset(skills)
        ),
        now=utcnow(),
        actor=ACTOR,
    )
    lifecycle.queue_request(session, request.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    if accepted_by:
        me = clinician_id(session, accepted_by)
        lifecycle.accept(session, request.id, me, now=utcnow(), actor=ACTOR, policy=POLICY)
        lifecycle.connect(session, request.id, now=utcnow(), actor=ACTOR)
    session.commit()
    return request


def officer_answers(session: Session, request: AdviceRequest, **answers: bool) -> None:
    """The officer answers some of the key questions (by text, say)."""
    lifecycle.answer_key_questions(
        session,
        request.id,
        lifecycle.KeyAnswers(**answers),
        now=utcnow(),
        actor=ACTOR,
        policy=POLICY,
    )
    session.commit()


# --- sign-in --------------------------------------------------------------------------


def assert_sign_ins_refused(client: FlaskClient, attempts: Iterable[tuple[str, str]]) -> None:
    """Check each (username, password) is refused with the same words and no session."""
    for username, password in attempts:
        response = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf(client)},
        )
        assert response.status_code == 400
        assert "Username or password is not right." in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302


def test_sign_in_refuses_wrong_passwords_and_unknown_users_alike(app: Flask, demo: Session) -> None:
    assert_sign_ins_refused(app.test_client(), (("amira", "wrong"), ("nobody", DEMO_PASSWORD)))


def test_sign_in_needs_the_csrf_token(app: Flask, demo: Session) -> None:
    response = app.test_client().post(
        "/login", data={"username": "amira", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 400


def test_sessions_expire_and_passwords_are_hashed_with_scrypt(app: Flask, demo: Session) -> None:
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    client = sign_in(app, "amira")
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.expires is not None
    hashed = demo.scalars(select(User.password_hash).where(User.username == "amira")).one()
    assert hashed.startswith("scrypt:")
    client.post("/logout", data={"csrf_token": csrf(client, "/console")})
    assert client.get("/console").status_code == 302


# --- roles on every page, API and event ------------------------------------------------

PAGES = {
    "/console": {"anonymous": 302, "amira": 200, "sam": 200, "morgan": 403, "alex": 403},
    "/console/api/state": {"anonymous": 401, "amira": 200, "sam": 200, "morgan": 403, "alex": 403},
    "/console/tasks": {"anonymous": 302, "amira": 200, "sam": 200, "morgan": 403, "alex": 403},
    "/console/floor": {"anonymous": 302, "amira": 403, "sam": 200, "morgan": 403, "alex": 403},
    "/reports/live": {"anonymous": 302, "amira": 403, "sam": 403, "morgan": 200, "alex": 403},
    "/console/requests/{id}": {
        "anonymous": 302,
        "amira": 403,
        "sam": 200,
        "morgan": 403,
        "alex": 403,
    },
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_checks_the_role(app: Flask, demo: Session, role: str, page: str) -> None:
    request = message_request(demo, accepted_by="ben")
    client = sign_in(app, role)
    assert client.get(page.format(id=request.id)).status_code == PAGES[page][role]


POSTS = [
    "/console/tasks",
    "/console/floor",
    "/console/requests/{id}/record",
    "/console/requests/{id}/message",
    "/console/requests/{id}/end",
    "/console/requests/{id}/detention",
    "/console/requests/{id}/detention/extend",
]


@pytest.mark.parametrize("role", ["anonymous", "morgan", "alex"])
@pytest.mark.parametrize("path", POSTS)
def test_every_form_refuses_other_roles(app: Flask, demo: Session, role: str, path: str) -> None:
    request = message_request(demo, accepted_by="ben")
    client = sign_in(app, role)
    response = client.post(path.format(id=request.id), data={"csrf_token": csrf(client)})
    assert response.status_code == (302 if role == "anonymous" else 403)
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.CONNECTED


class FreshSocket(SocketIOTestClient):  # type: ignore[misc]
    """A console's socket whose every event starts with an empty ``flask.g``."""

    def emit(self, event: str, *args: Any, **kwargs: Any) -> Any:
        forget_request_globals()
        return super().emit(event, *args, **kwargs)


def connect(app: Flask, client: FlaskClient) -> FreshSocket:
    forget_request_globals()
    return FreshSocket(app, socketio, flask_test_client=client)


@pytest.mark.parametrize(
    ("role", "events"),
    [
        ("anonymous", None),
        ("amira", {"queue", "mine"}),
        ("sam", {"queue", "mine", "floor"}),
        ("morgan", {"board"}),
        ("alex", None),
    ],
)
def test_only_clinicians_and_managers_can_connect_and_each_gets_their_view(
    app: Flask, demo: Session, role: str, events: set[str] | None
) -> None:
    socket = connect(app, sign_in(app, role))
    assert socket.is_connected() is (events is not None)
    if events is not None:
        assert {e["name"] for e in socket.get_received()} == events
        socket.disconnect()


def test_a_manager_connected_to_the_board_cannot_act_as_a_clinician(
    app: Flask, demo: Session
) -> None:
    socket = connect(app, sign_in(app, "morgan"))
    for event in ("heartbeat", "set_status", "accept", "decline"):
        answer = socket.emit(
            event, {"status": "available", "request_id": 1, "offer_id": 1}, callback=True
        )
        assert answer["status"] == 403
    socket.disconnect()


def test_the_live_board_is_pushed_to_managers_with_alerts(app: Flask, demo: Session) -> None:
    board = connect(app, sign_in(app, "morgan"))
    board.get_received()
    first = message_request(demo)
    message_request(demo)
    lifecycle.mark_answer_target_breached(demo, first.id, now=utcnow(), actor=ACTOR)
    demo.commit()
    got = board.get_received()
    latest = [e["args"][0] for e in got if e["name"] == "board"][-1]
    assert (latest["waiting"], latest["breaches_now"]) == (2, 1)
    assert latest["available"] == 6  # the demo's qualifying clinicians, all on shift
    alerts = [e["args"][0] for e in got if e["name"] == "alert"]
    assert alerts == [{"kind": "past the answer target", "reference": first.reference}]
    board.disconnect()


@pytest.mark.parametrize("event", ["heartbeat", "set_status", "accept", "decline"])
def test_events_from_a_deactivated_account_are_refused(
    app: Flask, demo: Session, event: str
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    demo.scalars(select(User).where(User.username == "amira")).one().active = False
    demo.commit()
    answer = socket.emit(
        event, {"status": "available", "request_id": 1, "offer_id": 1}, callback=True
    )
    assert answer == {"error": "Your session has ended: sign in again.", "status": 401}
    assert not socket.is_connected(), "and the socket is ended"


# --- live console ---------------------------------------------------------------------


def received(socket: SocketIOTestClient, name: str) -> list[Any]:
    return [e["args"][0] for e in socket.get_received() if e["name"] == name]


def test_every_console_sees_a_new_request_and_its_own_offer(app: Flask, demo: Session) -> None:
    amira, sam = connect(app, sign_in(app, "amira")), connect(app, sign_in(app, "sam"))
    amira.get_received(), sam.get_received()
    request = message_request(demo)
    events = {name: socket.get_received() for name, socket in (("amira", amira), ("sam", sam))}
    for got in events.values():
        latest = [e["args"][0] for e in got if e["name"] == "queue"][-1]
        assert [r["reference"] for r in latest] == [request.reference]
        assert latest[0]["channel"] == "sms"
        assert latest[0]["unverified"] is True
    assert any(e["name"] == "floor" for e in events["sam"]), "seniors see the floor"
    assert not any(e["name"] == "floor" for e in events["amira"])
    me = clinician_id(demo, "amira")
    lifecycle.set_clinician_status(
        demo, me, ClinicianStatus.AVAILABLE, now=utcnow(), actor=ACTOR, policy=POLICY
    )
    demo.commit()
    lifecycle.offer_request(demo, request.id, me, now=utcnow(), actor=ACTOR, policy=POLICY)
    demo.commit()
    mine = received(amira, "mine")[-1]
    assert mine["offer"]["reference"] == request.reference
    assert 0 < mine["offer"]["seconds_left"] <= 20
    assert all(m["offer"] is None for m in received(sam, "mine")), "nobody else sees the offer"
    amira.disconnect(), sam.disconnect()


def test_accepting_an_sms_request_opens_its_thread(app: Flask, demo: Session) -> None:
    request = message_request(demo)
    socket = connect(app, sign_in(app, "amira"))
    assert socket.emit("set_status", {"status": "available"}, callback=True) == {"ok": True}
    assert socket.emit("accept", {"request_id": request.id}, callback=True) == {"ok": True}
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.CONNECTED
    mine = received(socket, "mine")[-1]
    assert [r["reference"] for r in mine["in_hand"]] == [request.reference]
    again = connect(app, sign_in(app, "chloe"))
    answer = again.emit("accept", {"request_id": request.id}, callback=True)
    assert answer == {"error": f"Request {request.reference} has already been taken."}
    socket.disconnect(), again.disconnect()


@pytest.mark.parametrize(
    ("event", "payload", "phrase"),
    [
        ("set_status", {"status": "on_call"}, "available, away or offline"),
        ("set_status", "available", "available, away or offline"),
        ("set_status", {"status": []}, "available, away or offline"),
        ("accept", {"request_id": "1"}, "positive whole number"),
        ("accept", {"request_id": True}, "positive whole number"),
        ("decline", {}, "positive whole number"),
        ("accept", {"request_id": 999}, "no advice request"),
    ],
)
def test_bad_events_get_a_clear_error_and_change_nothing(
    app: Flask, demo: Session, event: str, payload: Any, phrase: str
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    answer = socket.emit(event, payload, callback=True)
    assert phrase in answer["error"]
    demo.rollback()
    assert demo.get_one(Clinician, clinician_id(demo, "amira")).status == ClinicianStatus.AVAILABLE
    socket.disconnect()


def test_a_non_qualifying_clinician_cannot_make_themselves_available(
    app: Flask, demo: Session
) -> None:
    socket = connect(app, sign_in(app, "terry"))
    answer = socket.emit("set_status", {"status": "available"}, callback=True)
    assert "may not give the s136 consultation" in answer["error"]
    socket.disconnect()


def test_a_console_that_goes_quiet_goes_offline_and_its_offer_passes_on(
    app: Flask, demo: Session
) -> None:
    request = message_request(demo)
    socket = connect(app, sign_in(app, "amira"))
    me = clinician_id(demo, "amira")
    offer = lifecycle.offer_request(demo, request.id, me, now=utcnow(), actor=ACTOR, policy=POLICY)
    demo.commit()
    socket.disconnect()
    later = utcnow() + POLICY.presence_grace + timedelta(seconds=1)
    lost = lifecycle.sweep_lost_consoles(demo, now=later, actor=ACTOR, policy=POLICY)
    demo.commit()
    assert me in lost
    assert demo.get_one(Clinician, me).status == ClinicianStatus.OFFLINE
    assert demo.get_one(Offer, offer.id).outcome == OfferOutcome.RESCINDED
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.QUEUED


def test_reconnecting_restores_the_view_from_the_database(app: Flask, demo: Session) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    connect(app, client).disconnect()
    again = connect(app, client)
    mine = received(again, "mine")[-1]
    assert [r["reference"] for r in mine["in_hand"]] == [request.reference]
    over_http = client.get("/console/api/state").get_json()["mine"]
    assert {k: v for k, v in over_http.items() if k != "now"} == {
        k: v for k, v in mine.items() if k != "now"
    }, "the socket and the API show the same view (bar the clock reading)"
    again.disconnect()


def test_the_cards_name_the_key_questions_nobody_has_answered(app: Flask, demo: Session) -> None:
    request = message_request(demo)  # a text: the officer has answered nothing yet
    client = sign_in(app, "amira")
    socket = connect(app, client)
    (card,) = received(socket, "queue")[-1]
    assert card["unanswered"] == ["risk_to_life", "under_18", "in_dwelling"]
    assert (card["risk_to_life"], card["under_18"], card["in_dwelling"]) == (None, None, None)
    officer_answers(demo, request, risk_to_life=False)
    (card,) = received(socket, "queue")[-1]
    assert (card["unanswered"], card["risk_to_life"]) == (["under_18", "in_dwelling"], False)

    assert socket.emit("accept", {"request_id": request.id}, callback=True) == {"ok": True}
    (held,) = received(socket, "mine")[-1]["in_hand"]
    assert held["unanswered"] == ["under_18", "in_dwelling"]
    assert post_record(client, request, intent="draft", in_dwelling="no").status_code == 302
    socket.disconnect()
    again = connect(app, client)
    (held,) = received(again, "mine")[-1]["in_hand"]
    assert (held["unanswered"], held["in_dwelling"]) == (["under_18"], False), (
        "the card merges the clinician's answers on the record, as the request page does"
    )
    again.disconnect()


# --- the record form ------------------------------------------------------------------


def record_form(**changes: str) -> dict[str, str]:
    values = {
        "outcome": "community_route",
        "community_route": "crisis_team",
        "place_of_safety": "",
        "destination": "Home with the crisis team visiting tonight",
        "rationale": "Calm, engaged, has support at home.",
        "under_18_in_crisis": "no",
        "children_in_household": "no",
        "person_is_carer": "no",
        "domestic_abuse": "no",
        "vulnerable_adult": "no",
        "looked_after_child": "not_known",
    }
    values.update(changes)
    return values


def test_a_draft_is_saved_and_shown_again(app: Flask, demo: Session) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    response = client.post(
        f"{path}/record",
        data={
            **record_form(rationale="Still talking"),
            "intent": "draft",
            "csrf_token": csrf(client, path),
        },
    )
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "Still talking" in page
    demo.rollback()
    record = demo.scalars(select(AdviceRecord)).one()
    assert record.status == RecordStatus.DRAFT
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.CONNECTED
    viewed = demo.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "request.viewed")
    )
    assert viewed == 2


def post_record(
    client: FlaskClient, request: AdviceRequest, intent: str = "complete", **changes: str
) -> Any:
    """Submit the record form of a request."""
    path = f"/console/requests/{request.id}"
    return client.post(
        f"{path}/record",
        data={**record_form(**changes), "intent": intent, "csrf_token": csrf(client, path)},
    )


def _wrapped_up(app: Flask, demo: Session, **options: Any) -> tuple[FlaskClient, AdviceRequest]:
    request = message_request(demo, accepted_by="amira")
    for name, value in options.items():
        setattr(request, name, value)
    lifecycle.end_call(demo, request.id, now=utcnow(), actor=ACTOR)
    demo.commit()
    return sign_in(app, "amira"), request


def test_the_form_shows_the_dwelling_rule_beside_the_field_and_saves_nothing(
    app: Flask, demo: Session
) -> None:
    client, request = _wrapped_up(app, demo, in_dwelling=True)
    response = post_record(client, request, outcome="s136_advised", place_of_safety="health_based")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'id="outcome-error".*private dwelling', page)
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.WRAP_UP
    assert demo.scalar(select(func.count(AdviceRecord.id))) == 0
    assert demo.scalar(select(func.count(Task.id))) == 0


def test_completing_the_record_closes_the_request_and_creates_tasks(
    app: Flask, demo: Session
) -> None:
    client, request = _wrapped_up(app, demo)
    response = post_record(
        client,
        request,
        domestic_abuse="yes",
        follow_up="Check the crisis team visited",
        follow_up_due="23:30",
    )
    assert response.status_code == 302
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.CLOSED
    kinds = sorted(t.kind for t in demo.scalars(select(Task)))
    assert kinds == [TaskKind.FOLLOW_UP, TaskKind.SAFEGUARDING]


def test_an_unknown_choice_is_refused_by_the_form(app: Flask, demo: Session) -> None:
    client, request = _wrapped_up(app, demo)
    response = post_record(client, request, outcome="shrug")
    assert response.status_code == 400
    assert 'id="outcome-error"' in response.get_data(as_text=True)
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.WRAP_UP


# --- tasks and the floor --------------------------------------------------------------


def user_id(session: Session, username: str) -> int:
    return session.scalars(select(User.id).where(User.username == username)).one()


def post_task(client: FlaskClient, task: Task, intent: str, **fields: str) -> Any:
    """Press a task's Take or Done button (with the referral fields, if any)."""
    return client.post(
        "/console/tasks",
        data={
            "task_id": str(task.id),
            "intent": intent,
            "csrf_token": csrf(client, "/console/tasks"),
            **fields,
        },
    )


def task_panels(page: str) -> list[str]:
    """The ids of the tasks a tasks page lists, in its order."""
    return re.findall(r'<section class="app-panel[^"]*" id="task-(\d+)"', page)


def test_tasks_belong_to_the_team_anyone_takes_or_finishes_one(app: Flask, demo: Session) -> None:
    first, second = message_request(demo), message_request(demo)
    for request in (first, second):
        lifecycle.abandon(demo, request.id, now=utcnow(), actor=ACTOR, policy=POLICY)
    later, sooner = (
        demo.scalars(select(Task).where(Task.request_id == r.id)).one() for r in (first, second)
    )
    later.due_at = utcnow() + timedelta(minutes=30)
    lifecycle.take_task(demo, later.id, user_id(demo, "ben"), now=utcnow(), actor=ACTOR)
    demo.commit()

    amira = sign_in(app, "amira")
    page = amira.get("/console/tasks").get_data(as_text=True)
    assert task_panels(page) == [str(sooner.id), str(later.id)], "every open task, soonest first"
    ben_name = demo.scalars(select(User.display_name).where(User.username == "ben")).one()
    assert f'id="task-{later.id}-taken-by">{ben_name}<' in page, "a colleague's too"
    assert f'id="task-{sooner.id}-taken-by">nobody yet<' in page
    assert f'<a href="/console/requests/{first.id}">{first.reference}</a>' in page
    assert amira.post("/console/tasks", data={"task_id": str(later.id)}).status_code == 400

    assert post_task(amira, later, "take").status_code == 302, "a shift change orphans nothing"
    assert post_task(amira, sooner, "done").status_code == 302
    demo.rollback()
    taken, done = demo.get_one(Task, later.id), demo.get_one(Task, sooner.id)
    assert (taken.owner_user_id, taken.done_at) == (user_id(demo, "amira"), None)
    handed = demo.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "task.taken").order_by(AuditEvent.id)
    ).all()
    assert handed == [{"from_user_id": None}, {"from_user_id": user_id(demo, "ben")}]
    assert done.done_at is not None
    assert done.done_by_user_id == user_id(demo, "amira")

    ben = sign_in(app, "ben")
    assert post_task(ben, taken, "done").status_code == 302, "anyone may finish a taken task"
    post_task(ben, done, "done")
    assert "already done" in ben.get("/console/tasks").get_data(as_text=True)
    demo.rollback()
    assert demo.get_one(Task, later.id).done_by_user_id == user_id(demo, "ben")


def child_request(demo: Session, *, accepted_by: str | None = None) -> tuple[AdviceRequest, Task]:
    """A request about a child, and the team's safeguarding task it gets."""
    request = message_request(demo, accepted_by=accepted_by)
    officer_answers(demo, request, subject_under_18=True)
    task = demo.scalars(select(Task).where(Task.request_id == request.id)).one()
    assert task.kind == TaskKind.SAFEGUARDING
    return request, task


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"agency": "Lambeth children's services", "outcome": "  "}, "Say what was done"),
        ({"agency": "Lambeth", "outcome": "x" * 501}, "longer than 500 characters"),
    ],
)
def test_a_safeguarding_task_is_done_only_with_what_was_done_shown_beside_the_field(
    app: Flask, demo: Session, fields: dict[str, str], error: str
) -> None:
    _, task = child_request(demo)
    client = sign_in(app, "amira")
    response = post_task(client, task, "done", **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(rf'id="outcome-{task.id}-error">.*{error}', page)
    assert f'id="agency-{task.id}" maxlength="120" name="agency" type="text" value="Lambeth' in page
    demo.rollback()
    assert demo.get_one(Task, task.id).done_at is None
    finished = select(func.count(AuditEvent.id)).where(AuditEvent.action == "task.done")
    assert demo.scalar(finished) == 0

    referral = {
        "agency": "Lambeth children's services",
        "reference": "MASH-4471",
        "outcome": "Referral made by phone; social worker to visit tomorrow.",
    }
    assert post_task(client, task, "done", **referral).status_code == 302
    demo.rollback()
    done = demo.get_one(Task, task.id)
    assert {name: getattr(done, f"referral_{name}") for name in referral} == referral


def test_any_clinician_opens_a_request_with_an_open_team_task_but_cannot_write_its_record(
    app: Flask, demo: Session
) -> None:
    plain = message_request(demo, accepted_by="amira")
    request, task = child_request(demo, accepted_by="ben")
    chloe = sign_in(app, "chloe")
    assert chloe.get(f"/console/requests/{plain.id}").status_code == 403, "no task: not hers"
    page = chloe.get(f"/console/requests/{request.id}")
    assert page.status_code == 200
    viewed = demo.scalars(
        select(AuditEvent.actor_user_id).where(
            AuditEvent.action == "request.viewed", AuditEvent.request_id == request.id
        )
    ).all()
    assert viewed == [user_id(demo, "chloe")], "the view is audited"
    response = post_record(chloe, request, intent="draft")
    assert response.status_code == 400
    assert "Only the clinician who took the request" in response.get_data(as_text=True)
    demo.rollback()
    assert demo.scalar(select(func.count(AdviceRecord.id))) == 0

    amira = sign_in(app, "amira")
    referral = {"outcome": "Children's services already involved; no new referral."}
    assert post_task(amira, task, "done", **referral).status_code == 302
    assert chloe.get(f"/console/requests/{request.id}").status_code == 403, "done: not hers"
    assert amira.get(f"/console/requests/{request.id}").status_code == 200, "she finished it"


def test_a_senior_takes_or_gives_away_a_waiting_request(app: Flask, demo: Session) -> None:
    first, second = message_request(demo), message_request(demo)
    client = sign_in(app, "sam")
    page = client.get("/console/floor").get_data(as_text=True)
    assert first.reference in page
    token = csrf(client, "/console/floor")
    client.post(
        "/console/floor", data={"request_id": str(first.id), "intent": "take", "csrf_token": token}
    )
    chloe = clinician_id(demo, "chloe")
    client.post(
        "/console/floor",
        data={
            "request_id": str(second.id),
            "intent": "reassign",
            "clinician_id": str(chloe),
            "csrf_token": token,
        },
    )
    demo.rollback()
    taken = demo.get_one(AdviceRequest, first.id)
    assert taken.status == RequestStatus.ACCEPTED
    assert taken.offers[-1].clinician_id == clinician_id(demo, "sam")
    given = demo.get_one(AdviceRequest, second.id)
    assert given.status == RequestStatus.OFFERED
    assert given.offers[-1].clinician_id == chloe
    assert datetime.now(UTC) > given.offers[-1].offered_at


def test_taking_from_the_queue_needs_the_skills_the_request_still_requires(
    app: Flask, demo: Session
) -> None:
    request = message_request(demo, skills=[Skill.CAMHS])
    chloe = connect(app, sign_in(app, "chloe"))
    answer = chloe.emit("accept", {"request_id": request.id}, callback=True)
    assert answer == {
        "error": f"Request {request.reference} still needs a clinician with these skills: camhs."
    }
    amira = connect(app, sign_in(app, "amira"))
    assert amira.emit("accept", {"request_id": request.id}, callback=True) == {"ok": True}
    demo.rollback()
    taken = demo.get_one(AdviceRequest, request.id)
    assert taken.status == RequestStatus.CONNECTED
    assert taken.offers[-1].clinician_id == clinician_id(demo, "amira")
    chloe.disconnect(), amira.disconnect()


def test_a_senior_takes_without_the_skills_only_by_saying_so_and_it_is_audited(
    app: Flask, demo: Session
) -> None:
    request = message_request(demo, skills=[Skill.PERINATAL])
    client = sign_in(app, "sam")
    assert 'name="override_skills"' in client.get("/console/floor").get_data(as_text=True)
    token = csrf(client, "/console/floor")
    form = {"request_id": str(request.id), "intent": "take", "csrf_token": token}
    refused = client.post("/console/floor", data=form, follow_redirects=True)
    assert "still needs a clinician with these skills: perinatal" in refused.get_data(as_text=True)
    demo.rollback()
    assert demo.get_one(AdviceRequest, request.id).status == RequestStatus.QUEUED
    assert client.post("/console/floor", data={**form, "override_skills": "yes"}).status_code == 302
    demo.rollback()
    taken = demo.get_one(AdviceRequest, request.id)
    sam = clinician_id(demo, "sam")
    assert (taken.status, taken.offers[-1].clinician_id) == (RequestStatus.ACCEPTED, sam)
    event = demo.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.skills_overridden")
    ).one()
    assert event.request_id == request.id
    assert event.actor_user_id == demo.get_one(Clinician, sam).user_id
    assert event.detail == {"override": True, "clinician_id": sam, "missing_skills": ["perinatal"]}


def test_the_record_carries_the_monitoring_details_to_the_request(
    app: Flask, demo: Session
) -> None:
    client, request = _wrapped_up(app, demo)
    path = f"/console/requests/{request.id}"
    response = client.post(
        f"{path}/record",
        data={
            **record_form(),
            "subject_age_band": "18_24",
            "subject_sex": "female",
            "subject_ethnicity": "asian",
            "rcrp_phase": "concern_for_welfare",
            "area": "Lambeth",
            "intent": "complete",
            "csrf_token": csrf(client, path),
        },
    )
    assert response.status_code == 302
    demo.rollback()
    stored = demo.get_one(AdviceRequest, request.id)
    assert (stored.subject_age_band, stored.subject_sex, stored.subject_ethnicity) == (
        "18_24",
        "female",
        "asian",
    )
    assert (stored.rcrp_phase, stored.area) == ("concern_for_welfare", "Lambeth")


@pytest.mark.parametrize("body", ["", "x" * 1601])
def test_an_empty_or_overlong_reply_is_refused_and_nothing_is_sent(
    app: Flask, demo: Session, body: str
) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    response = client.post(f"{path}/message", data={"body": body, "csrf_token": csrf(client, path)})
    assert response.status_code == 302
    assert "Not sent" in client.get(path).get_data(as_text=True)
    demo.rollback()
    assert demo.scalar(select(func.count(Message.id))) == 0
