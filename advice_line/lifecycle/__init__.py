"""The request lifecycle: the domain layer. Every status change is one function here.

Each function checks everything first and raises a ``DomainError`` before changing
anything; then it changes the rows, writes an audit event, flushes and sends a signal.
Functions flush, never commit: the caller owns the transaction (see
``advice_line.transaction``). Split by what each step changes: ``requests``, ``offers``,
``clinicians`` and ``records``, over the shared ``steps``. The rules are written down in
``docs/DOMAIN.md``. Nothing here imports Flask, Twilio or Socket.IO.
"""

from advice_line.lifecycle.accounts import (
    CONSOLE_ROLES,
    NewAccount,
    change_role,
    create_account,
    deactivate_account,
    force_password_change,
    normalise_username,
    reactivate_account,
    reset_password,
    unlock_account,
)
from advice_line.lifecycle.answers import (
    IntakeAnswers,
    KeyAnswers,
    answer_key_questions,
    record_intake,
)
from advice_line.lifecycle.call_backs import call_back, take_call_back_task
from advice_line.lifecycle.clinicians import (
    MANUAL_STATUSES,
    console_seen,
    set_browser_phone,
    set_clinician_status,
    sweep_lost_consoles,
    takes_calls_in_browser,
)
from advice_line.lifecycle.conference import (
    ThirdParty,
    bring_in,
    drop_third_party,
    hand_over,
    live_leg,
    speak_together,
    third_party_left,
    third_party_not_reached,
)
from advice_line.lifecycle.detentions import (
    DetentionReport,
    check_detention_clock,
    extend_detention,
    record_detention,
    report_decision,
)
from advice_line.lifecycle.offers import (
    accept,
    accept_offer,
    decline_offer,
    expire_offer,
    fail_connection,
    offer_request,
    reassign,
    take,
)
from advice_line.lifecycle.persons import link_same_person, same_person, unlink_same_person
from advice_line.lifecycle.qualification import is_qualifying
from advice_line.lifecycle.recordings import (
    recording_deleted_from_twilio,
    recording_reported,
    recording_stored,
)
from advice_line.lifecycle.records import (
    SAFEGUARDING_QUESTIONS,
    RecordInput,
    complete_record,
    save_draft,
    validate_record,
)
from advice_line.lifecycle.requests import (
    NewRequest,
    abandon,
    cancel,
    connect,
    create_request,
    end_call,
    join,
    mark_answer_target_breached,
    mark_nuisance,
    queue_request,
    request_call_back,
    widen,
)
from advice_line.lifecycle.staff import (
    SessionRules,
    deactivate_user,
    end_session,
    session_in_force,
    sessions_in_force,
    start_session,
)
from advice_line.lifecycle.steps import ALLOWED_TRANSITIONS, FINISHED, TAKEN, WAITING
from advice_line.lifecycle.supervision import (
    listen,
    stop_supervising,
    supervise,
    supervisor_answered,
    supervisor_left,
)
from advice_line.lifecycle.tasks import Referral, complete_task, take_task

__all__ = [
    "ALLOWED_TRANSITIONS",
    "CONSOLE_ROLES",
    "FINISHED",
    "MANUAL_STATUSES",
    "SAFEGUARDING_QUESTIONS",
    "TAKEN",
    "WAITING",
    "DetentionReport",
    "IntakeAnswers",
    "KeyAnswers",
    "NewAccount",
    "NewRequest",
    "RecordInput",
    "Referral",
    "SessionRules",
    "ThirdParty",
    "abandon",
    "accept",
    "accept_offer",
    "answer_key_questions",
    "bring_in",
    "call_back",
    "cancel",
    "change_role",
    "check_detention_clock",
    "complete_record",
    "complete_task",
    "connect",
    "console_seen",
    "create_account",
    "create_request",
    "deactivate_account",
    "deactivate_user",
    "decline_offer",
    "drop_third_party",
    "end_call",
    "end_session",
    "expire_offer",
    "extend_detention",
    "fail_connection",
    "force_password_change",
    "hand_over",
    "is_qualifying",
    "join",
    "link_same_person",
    "listen",
    "live_leg",
    "mark_answer_target_breached",
    "mark_nuisance",
    "normalise_username",
    "offer_request",
    "queue_request",
    "reactivate_account",
    "reassign",
    "record_detention",
    "record_intake",
    "recording_deleted_from_twilio",
    "recording_reported",
    "recording_stored",
    "report_decision",
    "request_call_back",
    "reset_password",
    "same_person",
    "save_draft",
    "session_in_force",
    "sessions_in_force",
    "set_browser_phone",
    "set_clinician_status",
    "speak_together",
    "start_session",
    "stop_supervising",
    "supervise",
    "supervisor_answered",
    "supervisor_left",
    "sweep_lost_consoles",
    "take",
    "take_call_back_task",
    "take_task",
    "takes_calls_in_browser",
    "third_party_left",
    "third_party_not_reached",
    "unlink_same_person",
    "unlock_account",
    "validate_record",
    "widen",
]
