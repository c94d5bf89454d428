"""Forces and settings, read-only: the forces the line serves and every setting in effect.

Settings are read from the environment at start (``advice_line/config.py``); this page
shows them as the running app has them, with what each means. Secrets are never shown:
a setting named like a secret, token or password is only "set" or "not set", and the
password inside any URL is masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import current_app, render_template

from advice_line.admin.routes import bp, section
from advice_line.config import settings_from_env
from advice_line.lifecycle.policy import EscalationStep

#: Settings whose value is a secret, by name: shown as "set" or "not set".
SECRET_NAME = re.compile(r"SECRET|CREDENTIAL|(^|_)(TOKEN|PASSWORD|PRIVATE_KEY)$", re.IGNORECASE)
MASK = "********"
#: What each setting means (its environment variable in the README's table, if it differs).
MEANINGS: dict[str, tuple[str, str]] = {
    "ADVICE_LINE_MODE": ("", "demo allows demo secrets, the simulator and seed-demo"),
    "SECRET_KEY": ("", "signs session cookies and CSRF tokens"),
    "SQLALCHEMY_DATABASE_URI": ("DATABASE_URL", "the database the app connects to"),
    "OWNER_DATABASE_URL": ("", "the tables' owner: migrations and retention only"),
    "DATABASE_APP_ROLE": ("", "the PostgreSQL group role the app's login is in"),
    "REDIS_URL": ("", "console pushes between processes; sign-in limits' counters"),
    "SOCKETIO_CHANNEL": ("", "the Redis channel console pushes travel on"),
    "LOG_FORMAT": ("", "json: one JSON object a line; text: readable lines"),
    "METRICS_TOKEN": ("", "the bearer token /metrics answers to"),
    "OFFER_TIMEOUT_SECONDS": ("", "how long a clinician has to accept an offer"),
    "MAX_MISSED_OFFERS": ("", "missed offers in a row before a clinician is set away"),
    "REOFFER_AFTER_SECONDS": ("", "a declined or missed request is not offered again sooner"),
    "ANSWER_TARGET_SECONDS": ("", "waiting longer is recorded as an answer-target breach"),
    "ESCALATION_STEPS": ("", "waits (s) at which routing widens, then seniors are alerted"),
    "SCHEDULER_IN_PROCESS": ("", "whether each web process runs the timer scheduler"),
    "SPOOL_PATH": ("", "this host's spool of webhooks kept while the database is down"),
    "POLICE_STATIONS_ALLOWED": ("", "whether a police station may be the place of safety"),
    "DETENTION_WARNING_MINUTES": ("", "warning before a detention's time limit ends"),
    "PRESENCE_GRACE_SECONDS": ("", "a console silent this long sets its clinician offline"),
    "RETENTION_ADULT_YEARS": ("", "adults' records kept this long after last contact"),
    "RETENTION_CHILD_YEARS": ("", "under-18s' records kept until this age (at least)"),
    "RETENTION_DEATH_YEARS": ("", "records kept this long after a recorded death"),
    "SOCKETS_PER_ADDRESS": ("", "open consoles one address may hold on one process"),
    "PASSWORD_CHECKS_AT_ONCE": ("", "sign-in password checks run at once per process"),
    "HEARTBEAT_SECONDS": ("", "how often an open console says it is there"),
    "PERMANENT_SESSION_LIFETIME": ("SESSION_HOURS", "a sign-in ends this long after it began"),
    "SESSION_IDLE_MINUTES": ("", "a sign-in not used this long ends"),
    "SESSION_REFRESH_EACH_REQUEST": ("", "the cookie is not re-issued on every request"),
    "TRUSTED_PROXIES": ("", "proxies in front of the app whose X-Forwarded-For is trusted"),
    "WTF_CSRF_TIME_LIMIT": ("", "a form's CSRF token lasts as long as its session"),
    "SCHEDULER_INTERVAL_SECONDS": ("SCHEDULER_INTERVAL_MS", "the scheduler's tick, in seconds"),
    "OUTBOX_LEASE_SECONDS": ("", "how long a process's claim on a call or message lasts"),
    "QUALIFYING_PROFESSIONS": ("", "professions who may give the s136(1C) consultation"),
    "NEW_REQUESTS_PER_NUMBER": ("", "new requests one number may open before ranking lower"),
    "MAX_CONTENT_LENGTH": ("MAX_REQUEST_BYTES", "bytes: larger request bodies are refused (413)"),
    "SESSION_COOKIE_HTTPONLY": ("", "scripts cannot read the session cookie"),
    "SESSION_COOKIE_SAMESITE": ("", "the session cookie is not sent on cross-site posts"),
    "SESSION_COOKIE_SECURE": ("", "the session cookie is sent over https only"),
    "RATELIMIT_ENABLED": ("LOGIN_RATE_LIMIT", "whether failed sign-ins are limited at all"),
    "LOGIN_RATE_LIMIT": ("", "failed sign-ins allowed per address and username"),
    "LOGIN_ADDRESS_RATE_LIMIT": ("", "failed sign-ins allowed per address"),
    "RATELIMIT_STORAGE_URI": ("REDIS_URL", "where the sign-in limits count"),
    "TWILIO_ACCOUNT_SID": ("", "the Twilio account the line uses"),
    "TWILIO_AUTH_TOKEN": ("", "signs Twilio's webhooks and the line's API calls"),
    "TWILIO_AUTH_TOKEN_PREVIOUS": (
        "",
        "while the token is rotated: webhooks signed with the old one are still accepted",
    ),
    "TWILIO_API_KEY_SID": ("", "the API key the browser phone's access tokens are issued under"),
    "TWILIO_API_KEY_SECRET": ("", "signs the browser phone's access tokens"),
    "BROWSER_PHONE": (
        "TWILIO_API_KEY_SID",
        "clinicians may answer in the console (on with both API key settings)",
    ),
    "BROWSER_PHONE_TOKEN_SECONDS": ("", "how long a browser phone's access token lasts"),
    "REGISTRATION_WARNING_DAYS": (
        "",
        "how far ahead a clinician and the seniors are warned that a registration lapses",
    ),
    "ROTA_GENERATE_DAYS": ("", "how far ahead shifts are made from the weekly patterns"),
    "COVERAGE_WARNING_HOURS": (
        "",
        "an hour this close without a qualifying clinician (or a skill) on the rota is warned of",
    ),
    "SECOND_FACTOR_REQUIRED": ("", "password accounts must use a TOTP code to sign in"),
    "OIDC_PROVIDERS": (
        "OIDC_CIS2_* and OIDC_ENTRA_*",
        "single sign-on providers (NHS CIS2, Microsoft Entra ID), the claim naming an account",
    ),
    "OIDC_LEEWAY_SECONDS": ("", "clock difference allowed when an ID token's times are checked"),
    "TWILIO_NUMBER": ("", "the line's phone number"),
    "TWILIO_SIMULATED": ("", "the phone simulator stands in for Twilio (demo only)"),
    "PUBLIC_BASE_URL": ("", "the address Twilio reaches the app at"),
    "TWILIO_API_BASE_URL": ("", "Twilio's REST API"),
    "FALLBACK_NUMBER": ("", "dialled and spoken when the line itself fails"),
    "FORCES": ("", "the forces read out in the keypad menu"),
    "CALL_BACK_OFFER_AFTER_SECONDS": ("", "waiting longer, the officer is offered a call-back"),
    "CALL_RECORDING": (
        "",
        "conferences are recorded; the officer hears a notice first (docs/DOMAIN.md#recordings)",
    ),
    "RECORDINGS_DIR": ("", "where recordings are kept when no S3 bucket is set"),
    "RECORDINGS_S3_BUCKET": ("", "the S3 (or MinIO) bucket recordings are kept in"),
    "RECORDINGS_S3_ENDPOINT_URL": ("", "an S3-compatible service other than AWS (MinIO)"),
    "RECORDINGS_S3_ENCRYPTION": ("", "server-side encryption asked for each recording stored"),
    "CONSULT_DIRECTORY": ("", "outside numbers a clinician can bring into a call: label, number"),
}


@dataclass(frozen=True)
class Setting:
    """One setting as the page shows it."""

    name: str
    variable: str
    value: str
    meaning: str


def _masked_url(text: str) -> str:
    """``text`` with the password of any URL in it replaced by a mask."""
    parts = urlsplit(text)
    if not parts.scheme or parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def shown(name: str, value: Any) -> str:
    """A setting's value as it may be shown: never a secret."""
    if SECRET_NAME.search(name):
        return "set" if value else "not set"
    if value is None or value == "":
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, timedelta):
        return f"{value.total_seconds() / 3600:g} hours"
    if isinstance(value, EscalationStep):
        return f"after {value.after_seconds} s: {value.level.replace('_', ' ')}"
    if name == "NEW_REQUESTS_PER_NUMBER":
        count, period = value
        return f"{count} per {period.total_seconds() / 3600:g} hours"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {shown(str(key), item)}" for key, item in value.items()) or "none"
    if isinstance(value, tuple | list | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return ", ".join(shown(name, item) for item in items)
    return _masked_url(str(getattr(value, "value", value)))


def settings_in_effect() -> list[Setting]:
    """Every setting the environment gives the app, with its value in effect now."""
    names = settings_from_env({"ADVICE_LINE_MODE": "demo"}, current_app.instance_path)
    found = []
    for name in sorted(names):
        variable, meaning = MEANINGS.get(name, ("", ""))
        found.append(
            Setting(name, variable or name, shown(name, current_app.config.get(name)), meaning)
        )
    return found


@bp.get("/settings")
@section(
    "Forces and settings",
    "The forces the line serves and the line's settings as they are in effect (read-only).",
    order=60,
)
def settings() -> str:
    """The forces and the settings in effect, read-only."""
    return render_template(
        "admin/settings.html",
        forces=current_app.config["FORCES"],
        settings=settings_in_effect(),
    )
