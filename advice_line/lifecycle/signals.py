"""Blinker signals the domain sends after each change, inside the caller's transaction.

Subscribers that talk to the outside world (sockets, Twilio) must defer that work until
the transaction commits.
"""

from blinker import Namespace

_signals = Namespace()

#: sender: AdviceRequest; kwargs: old_status (None on creation), action
request_changed = _signals.signal("request-changed")
#: sender: Offer; kwargs: action
offer_changed = _signals.signal("offer-changed")
#: sender: Clinician; kwargs: old_status
clinician_status_changed = _signals.signal("clinician-status-changed")
#: sender: AdviceRequest (waited past the last escalation step)
senior_alert = _signals.signal("senior-alert")
#: sender: AdviceRequest (not answered within the answer target)
answer_target_breached = _signals.signal("answer-target-breached")
#: sender: Task
task_created = _signals.signal("task-created")
#: sender: Detention; kwargs: action
detention_changed = _signals.signal("detention-changed")
#: sender: Detention; kwargs: stage ("warning" before the end, "limit" at it), ends_at
detention_clock = _signals.signal("detention-clock")
#: sender: Message (an officer's message in, or a reply out, added to a request's thread)
message_added = _signals.signal("message-added")
#: sender: AdviceRequest; kwargs: action (bring_in, together, drop, left, handed_over) and
#: what the telephony layer needs to ring, hold or release the people on the call
conference_changed = _signals.signal("conference-changed")
