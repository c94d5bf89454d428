"""TwiML builders: pure functions from what to say and where to go next to XML.

Built with the Twilio SDK's ``VoiceResponse`` and ``MessagingResponse``; no request,
database or configuration is read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

LANGUAGE = "en-GB"
VOICE = "Polly.Amy"
#: The one wording of what an officer at scene must do if a life is at risk.
RISK_ADVICE = (
    "If there is an immediate risk to life, call 999 for an ambulance and act under your "
    "own powers."
)

#: What the officer hears before joining a recorded conference (docs/DOMAIN.md#recordings).
RECORDING_NOTICE = (
    "This call is recorded, to keep an accurate record of the advice given. "
    "The recording is kept with the advice record."
)


def _recorded(recording_url: str | None) -> dict[str, str]:
    """The conference's recording attributes: from its start, reported when complete."""
    if recording_url is None:
        return {}
    return {
        "record": "record-from-start",
        "recording_status_callback": recording_url,
        "recording_status_callback_method": "POST",
        "recording_status_callback_event": "completed",
    }


def _say(response: VoiceResponse | Gather, text: str) -> None:
    response.say(text, voice=VOICE, language=LANGUAGE)


def _gather(response: VoiceResponse, action: str, *, digits: int | None = None) -> Gather:
    return response.gather(
        input="dtmf speech",
        action=action,
        method="POST",
        timeout=6,
        speech_timeout="auto",
        language=LANGUAGE,
        num_digits=digits,
        finish_on_key="#" if digits is None else None,
        action_on_empty_result=True,
    )


def ask(prompt: str, action: str, *, digits: int | None = None, preface: str = "") -> str:
    """Ask one question by keypad or speech; silence also goes to ``action``."""
    response = VoiceResponse()
    if preface:
        _say(response, preface)
    _say(_gather(response, action, digits=digits), prompt)
    return str(response)


def force_prompt(forces: Sequence[str]) -> str:
    """Return the spoken menu of forces."""
    options = ", ".join(f"press {n} for {force}" for n, force in enumerate(forces, start=1))
    return f"Which force are you with? {options}, or press 9 for another force. Or say it."


def join_as_officer(
    room: str, *, preface: str, wait_url: str, left_url: str, recording_url: str | None = None
) -> str:
    """Put the officer in the request's conference to wait for a clinician; with
    ``recording_url`` the conference is recorded and the officer hears so first."""
    response = VoiceResponse()
    _say(response, preface)
    if recording_url is not None:
        _say(response, RECORDING_NOTICE)
    dial = Dial(action=left_url, method="POST", hangup_on_star=True)
    dial.conference(
        room,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        beep=False,
        wait_url=wait_url,
        wait_method="POST",
        **_recorded(recording_url),
    )
    response.append(dial)
    return str(response)


def hold(message: str, *, hold_url: str) -> str:
    """What the waiting officer hears, repeated with fresh figures (conference waitUrl)."""
    response = VoiceResponse()
    _say(response, message)
    response.pause(length=10)
    response.redirect(hold_url, method="POST")
    return str(response)


def offer_call_back(action: str, rejoin_url: str) -> str:
    """After the officer pressed star: press 1 for a call-back, otherwise back to waiting."""
    response = VoiceResponse()
    _say(
        _gather(response, action, digits=1),
        "Press 1 to be called back when a clinician is free. "
        "Press 2, or stay on the line, to keep your place.",
    )
    response.redirect(rejoin_url, method="POST")
    return str(response)


def goodbye(message: str) -> str:
    """Say something and end the call."""
    response = VoiceResponse()
    _say(response, message)
    response.hangup()
    return str(response)


def whisper(summary: str, action: str) -> str:
    """The on-call clinician's offer by phone: press 1 to accept."""
    response = VoiceResponse()
    _say(
        _gather(response, action, digits=1),
        f"Advice Line. {summary} Press 1 to accept. Any other key declines.",
    )
    _say(response, "No answer. The request will go to the next clinician.")
    response.hangup()
    return str(response)


def _join(room: str, preface: str, **conference: Any) -> str:
    response = VoiceResponse()
    _say(response, preface)
    dial = Dial()
    dial.conference(room, beep=False, **conference)
    response.append(dial)
    return str(response)


def join_as_clinician(room: str, preface: str, recording_url: str | None = None) -> str:
    """Bring a clinician into the request's conference; the conference starts (recorded
    with ``recording_url``, whichever of the two joins first)."""
    return _join(
        room,
        preface,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        **_recorded(recording_url),
    )


def join_as_third_party(room: str, preface: str) -> str:
    """Bring a third party into the request's conference; their leaving does not end it."""
    return _join(room, preface, start_conference_on_enter=True, end_conference_on_exit=False)


def join_as_supervisor(room: str, preface: str) -> str:
    """Bring a senior into the request's conference muted and without a beep: unheard."""
    return _join(
        room, preface, muted=True, start_conference_on_enter=False, end_conference_on_exit=False
    )


def fallback(fallback_number: str | None) -> str:
    """What an officer hears when the line itself has failed: never a dead end."""
    response = VoiceResponse()
    if fallback_number:
        _say(
            response,
            "Sorry, the advice line cannot take your call right now. "
            "Connecting you to the mental-health crisis line. " + RISK_ADVICE,
        )
        response.dial(fallback_number)
    else:
        _say(
            response,
            "Sorry, the advice line cannot take your call right now. Please call back in a "
            "minute or use your force's usual mental-health contact. " + RISK_ADVICE,
        )
    return str(response)


def message_reply(text: str) -> str:
    """Answer an inbound SMS or WhatsApp message."""
    response = MessagingResponse()
    response.message(text)
    return str(response)


def message_fallback(fallback_number: str | None) -> str:
    """Answer a message the line could not take with what the officer can do instead."""
    instead = (
        f"call {fallback_number} (the mental-health crisis line)"
        if fallback_number
        else "call the line or use your force's usual mental-health contact"
    )
    return message_reply(
        f"Sorry, the advice line cannot take messages right now: {instead}. {RISK_ADVICE}"
    )


def message_kept(fallback_number: str | None) -> str:
    """Answer a message kept to be stored later (the database is down): received, and meanwhile."""
    instead = (
        f"call {fallback_number} (the mental-health crisis line)"
        if fallback_number
        else "call the line or use your force's usual mental-health contact"
    )
    return message_reply(
        "Advice Line: your message is received. Our system is slow to answer right now; "
        "we will text you your reference as soon as a clinician can see it. "
        f"If you cannot wait, {instead}. {RISK_ADVICE}"
    )


def no_reply() -> str:
    """Acknowledge a webhook with nothing to say."""
    return str(MessagingResponse())
