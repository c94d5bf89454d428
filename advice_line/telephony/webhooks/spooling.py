"""Webhooks that must not be lost: kept in the local spool while the database is down.

A *spoolable* webhook (an officer's message, an incoming call, a call's or a message's
status, a finished recording) is checked first (signature, then its parameters: bad input
is refused with its error and never kept). Its domain step then runs as usual; if the
database cannot be reached, the checked parameters (and the URL variables it names, such
as a recording's request id) are written to the spool (``advice_line.spool``) with the
time they came, and Twilio gets what it expects (the officer a message saying it is
received, a status callback 204). While anything of the same call (CallSid) or the same
officer's thread (sender) waits in the spool, a new one queues behind it, so a call's
status never overtakes its intake and one officer's messages keep their order; everyone
else is served live as soon as the database answers. ``replay`` applies the entries, oldest first,
through the same step with the time they were received; an entry is deleted only after
its transaction commits, and applying one twice (a crash between commit and delete)
changes nothing: each step is idempotent by Twilio's CallSid, MessageSid or RecordingSid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from advice_line.clock import utcnow
from advice_line.extensions import socketio
from advice_line.spool import Entry, Spool, spool_of
from advice_line.telephony.webhooks import _actor, log
from advice_line.transaction import Work, run

P = TypeVar("P")
R = TypeVar("R")
#: A process starts a background replay at most this often from its webhooks.
KICK_INTERVAL_SECONDS = 1.0
#: One replay stops after this long; the next tick or webhook carries on.
REPLAY_BUDGET_SECONDS = 2.0
_last_kick = 0.0


def database_down(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached (not a refusal or a bug)."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


@dataclass(frozen=True)
class Spoolable(Generic[P, R]):
    """A webhook kept in the spool when its step cannot reach the database."""

    endpoint: str
    fields: tuple[str, ...]
    parse: Callable[[Mapping[str, str]], P]
    apply: Callable[[Work, P], R]
    answer: Callable[[P, R], Response]
    kept: Callable[[], Response]
    #: What its order matters within: a call (CallSid), an officer's thread (sender).
    conversation: Callable[[P], str]
    #: The step on replay, if it differs (a message's reply then goes out as a message).
    replayed: Callable[[Work, P], object] | None = field(default=None)
    #: URL variables kept with the form (a recording's request id), as strings by name.
    path_args: tuple[str, ...] = field(default=())


SPOOLABLE: dict[str, Spoolable[Any, Any]] = {}


def spoolable(webhook: Spoolable[P, R]) -> Spoolable[P, R]:
    """Register a webhook the spool can replay, by its endpoint."""
    SPOOLABLE[webhook.endpoint] = webhook
    return webhook


def receive(webhook: Spoolable[P, R]) -> Response:
    """Check the request, then apply it now or keep it in the spool; answer Twilio."""
    carried = {name: str((request.view_args or {})[name]) for name in webhook.path_args}
    params = webhook.parse({**request.form.to_dict(), **carried})
    form = {name: request.form[name] for name in webhook.fields if name in request.form}
    form |= carried
    spool, conversation = spool_of(current_app), webhook.conversation(params)
    conversation_waits, anything_waits = spool.queue_of(conversation)
    if conversation_waits:
        _keep(spool, webhook, form, conversation, "earlier ones of its call or thread wait")
        _kick()
        return webhook.kept()
    try:
        result = run(lambda work: webhook.apply(work, params), _actor(form))
    except Exception as error:
        if not database_down(error):
            raise
        why = f"the database is unreachable ({type(error).__name__})"
        _keep(spool, webhook, form, conversation, why)
        return webhook.kept()
    if anything_waits:
        _kick()  # the database answers: apply what waits
    return webhook.answer(params, result)


def _keep(
    spool: Spool, webhook: Spoolable[Any, Any], form: dict[str, str], conversation: str, why: str
) -> None:
    entry = spool.keep(webhook.endpoint, request.path, form, utcnow(), conversation)
    log.warning("kept %s in the spool as entry %s: %s", request.path, entry, why)


def _kick() -> None:
    """Start a replay now (in the background), at most once a second per process."""
    global _last_kick
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("JOBS_INLINE"):
        replay(app)
        return
    if time.monotonic() - _last_kick < KICK_INTERVAL_SECONDS:
        return
    _last_kick = time.monotonic()
    socketio.start_background_task(replay, app)


def replay(app: Flask, budget_seconds: float = REPLAY_BUDGET_SECONDS) -> int:
    """Apply what waits in the spool, oldest first, while the database answers.

    Only one process on the host replays at a time; the others return at once. It stops
    after ``budget_seconds`` so the scheduler's timers and routing are not held up (the
    next tick goes on). Returns how many entries were applied.
    """
    spool = spool_of(app)
    if not spool.waiting():
        return 0
    with spool.replaying() as ours:
        return _drain(app, spool, budget_seconds) if ours else 0


def _drain(app: Flask, spool: Spool, budget_seconds: float) -> int:
    applied, started = 0, time.monotonic()
    while time.monotonic() - started < budget_seconds and (entry := spool.oldest()) is not None:
        try:
            with app.app_context():
                _apply(entry)
        except Exception as error:
            if database_down(error):
                log.info("the database is still unreachable; the spool waits")
                break
            held = spool.failed(entry.id, error)
            log.exception(
                "spooled %s (entry %s) failed%s",
                entry.path,
                entry.id,
                ": held aside, see the spool" if held else "; it will be tried again",
            )
            if not held:
                break
            continue
        spool.remove(entry.id)
        applied += 1
    if applied:
        log.info(
            "applied %s webhooks from the spool in %.2f s; %s wait",
            applied,
            time.monotonic() - started,
            spool.depth().waiting,
        )
    return applied


def _apply(entry: Entry) -> None:
    webhook = SPOOLABLE[entry.endpoint]
    params = webhook.parse(entry.form)
    step = webhook.replayed or webhook.apply
    run(lambda work: step(work, params), _actor(entry.form), now=entry.received_at)
