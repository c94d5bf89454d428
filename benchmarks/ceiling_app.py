"""The ceiling for a webhook: check Twilio's signature, insert three rows, commit once.

Served by gunicorn beside the app (``benchmarks.ceiling_app:create_app()``) on the app's
own database (``DATABASE_URL``, with the app's engine options and SQLite settings), in its
own three tables: the least an incoming call must do (the request, its call, the audit
event), with nothing else of the app on the way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime

from flask import Flask, Response, abort, request
from sqlalchemy import JSON, DateTime, ForeignKey, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from twilio.request_validator import RequestValidator

from advice_line.database import configure_sqlite, engine_options

TWIML = "<Response><Say>Hello</Say></Response>"


class Base(DeclarativeBase):
    """The ceiling's own tables, beside the app's in the same database."""


class CeilingRequest(Base):
    """A request opened by a call."""

    __tablename__ = "ceiling_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CeilingCall(Base):
    """The officer's call, unique by its CallSid."""

    __tablename__ = "ceiling_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("ceiling_request.id"), index=True)
    request: Mapped[CeilingRequest] = relationship()


class CeilingEvent(Base):
    """The audit event of the opening."""

    __tablename__ = "ceiling_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    request_id: Mapped[int] = mapped_column(ForeignKey("ceiling_request.id"), index=True)
    request: Mapped[CeilingRequest] = relationship()
    details: Mapped[dict[str, str]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def create_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The ceiling endpoint on ``DATABASE_URL``, signed with ``TWILIO_AUTH_TOKEN``."""
    url = env["DATABASE_URL"]
    engine = create_engine(url, **engine_options(url))
    configure_sqlite(engine)
    Base.metadata.create_all(engine)
    validator = RequestValidator(env["TWILIO_AUTH_TOKEN"])
    public = env["PUBLIC_BASE_URL"]
    app = Flask(__name__)
    app.extensions["ceiling_engine"] = engine

    @app.post("/twilio/voice")
    def incoming_call() -> Response:
        """Refuse a bad signature (403); else store the call in one commit and greet."""
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(public + request.path, request.form, signature):
            abort(403)
        now = datetime.now(UTC)
        call_sid = request.form.get("CallSid", "")
        opened = CeilingRequest(caller=request.form.get("From", ""), received_at=now)
        with Session(engine) as session:
            session.add_all(
                [
                    opened,
                    CeilingCall(call_sid=call_sid, request=opened),
                    CeilingEvent(
                        kind="request.opened", request=opened, details={"call": call_sid}, at=now
                    ),
                ]
            )
            session.commit()
        return Response(TWIML, mimetype="text/xml")

    return app
