"""One read side: every place that shows the queue shows the same requests in the same order."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import Session

from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.models import AdviceRequest
from advice_line.routing import views
from advice_line.routing.engine import queue_order
from tests.builders import add_request
from tests.test_console import connect, received, sign_in
from tests.test_metrics import scrape


def mixed_queue(session: Session) -> list[AdviceRequest]:
    """Queue six requests of mixed priority with tied waits; return them in serving order."""
    now = utcnow()
    routine_oldest = add_request(session, now=now - timedelta(minutes=5))
    risk_later = add_request(session, now=now - timedelta(minutes=1), risk_to_life=True)
    routine_first_made = add_request(session, now=now - timedelta(minutes=3))
    child = add_request(session, now=now - timedelta(minutes=3), under_18=True)
    routine_then_made = add_request(session, now=now - timedelta(minutes=3))
    risk_earlier = add_request(session, now=now - timedelta(minutes=2), risk_to_life=True)
    session.commit()
    # Priority first (risk to life, under 18, routine), then the longest wait, then the id.
    return [
        risk_earlier,
        risk_later,
        child,
        routine_oldest,
        routine_first_made,
        routine_then_made,
    ]


def test_consoles_floor_board_metrics_and_dispatch_agree_on_the_queue(
    app: Flask, session: Session
) -> None:
    seed_demo(session, now=utcnow())
    session.commit()
    served = mixed_queue(session)
    references = [r.reference for r in served]

    amira = connect(app, sign_in(app, "amira"))
    assert [r["reference"] for r in received(amira, "queue")[-1]] == references
    amira.disconnect()
    state = sign_in(app, "amira").get("/console/api/state").get_json()
    assert [r["reference"] for r in state["queue"]] == references

    floor = sign_in(app, "sam").get("/console/floor").get_data(as_text=True)
    assert re.findall(r'class="app-panel" id="floor-([^"]+)"', floor) == references

    manager = connect(app, sign_in(app, "morgan"))
    board = received(manager, "board")[-1]
    manager.disconnect()
    assert board["waiting"] == len(served)
    assert 300 <= board["longest_wait_seconds"] < 360  # the routine request of 5 minutes ago

    seen = scrape(app)
    assert seen["advice_line_queue_length"] == len(served)
    assert 300 <= seen["advice_line_longest_wait_seconds"] < 360

    assert list(session.scalars(queue_order())) == [r.id for r in served]
    assert [views.queue_position(session, r) for r in served] == [1, 2, 3, 4, 5, 6]
