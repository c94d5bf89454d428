"""The landing page (no personal data)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle import WAITING
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, RequestStatus
from advice_line.routing.engine import count_available

bp = Blueprint("public", __name__, template_folder="templates")


@bp.get("/")
def index() -> str:
    """Show queue length, longest wait and clinicians available, in London time."""
    now = utcnow()
    waiting, oldest = db.session.execute(
        select(func.count(AdviceRequest.id), func.min(AdviceRequest.waiting_since)).where(
            AdviceRequest.status.in_(WAITING)
        )
    ).one()
    available = count_available(
        db.session(), now=now, policy=RoutingPolicy.from_config(current_app.config)
    )
    in_progress = db.session.scalar(
        select(func.count(AdviceRequest.id)).where(
            AdviceRequest.status.in_(
                [RequestStatus.ACCEPTED, RequestStatus.CONNECTED, RequestStatus.WRAP_UP]
            )
        )
    )
    longest_wait = int((now - oldest).total_seconds()) if oldest else None
    return render_template(
        "public/index.html",
        now=now,
        waiting=waiting,
        longest_wait=longest_wait,
        available=available,
        in_progress=in_progress,
    )
