"""Everything that happens because a row changed, wired in one place.

A domain step changes rows, writes its audit event and sends a signal, all inside the
caller's transaction (``advice_line.transaction.run``). What follows from it is wired
here, in the order it happens (docs/ARCHITECTURE.md draws the path):

1. Inside the transaction: calls and messages the line must place are written as outbox
   rows (``telephony.outbox``): phones rung by ``telephony.dialer`` (an offer's whisper,
   the taker into the conference, the officer called back, on-call seniors when a
   request escalates and none is at a console) and a texting officer waiting past the
   answer target told the expected wait (``telephony.messages``), and a third party
   the holder brings into the call or a senior who listens (``telephony.conference``).
   As it commits, the reports' facts of every request the transaction touched are
   rewritten once (``reports.facts``).
2. After the commit, never after a rollback (``jobs``): each outbox row written is
   nudged to go out at once (the scheduler's ``outbox.send_due`` retries and recovers
   what a nudge did not place); consoles, the senior's floor and the managers' board are
   pushed what changed (``console.live``; a request's thread to the pages open on it)
   and a withdrawn offer's ringing is stopped:
   both may be lost with the process, and neither matters then.
"""

from __future__ import annotations

from advice_line import jobs
from advice_line.console import live
from advice_line.lifecycle import signals
from advice_line.reports import facts
from advice_line.telephony import conference, dialer, outbox, replies


def wire() -> None:
    """Connect every consequence of a change (idempotent: tests build many apps)."""
    # 1. inside the transaction
    facts.keep_in_step()
    # 2. after the commit
    jobs.run_after_commit()
    for deliveries in (dialer.DELIVERIES, replies.DELIVERIES, conference.DELIVERIES):
        for purpose, delivery in deliveries.items():
            outbox.handle(purpose, delivery)
    for signal in (signals.request_changed, signals.senior_alert, signals.answer_target_breached):
        signal.connect(live.on_request, weak=False)
    signals.senior_alert.connect(live.on_senior_alert, weak=False)
    signals.answer_target_breached.connect(live.on_answer_target_breached, weak=False)
    signals.offer_changed.connect(live.on_offer, weak=False)
    signals.clinician_status_changed.connect(live.on_clinician, weak=False)
    signals.message_added.connect(live.on_message, weak=False)
    signals.offer_changed.connect(dialer.on_offer_changed, weak=False)
    signals.request_changed.connect(dialer.on_request_changed, weak=False)
    signals.senior_alert.connect(dialer.on_senior_alert, weak=False)
    signals.answer_target_breached.connect(replies.tell_waiting_officer, weak=False)
    signals.conference_changed.connect(live.on_request, weak=False)
    signals.conference_changed.connect(live.on_conference, weak=False)
    signals.conference_changed.connect(conference.on_conference_changed, weak=False)
