"""Settings read from the environment inside ``create_app``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from limits import parse_many

from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.policy import (
    parse_escalation_steps,
    parse_professions,
    parse_request_limit,
)
from advice_line.logs import LOG_FORMATS
from advice_line.phones import normalise

T = TypeVar("T")

DEMO_SECRET_KEY = "demo-only-secret-key-not-for-production-use"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 24
MODES = ("demo", "production")


class ConfigurationError(RuntimeError):
    """The environment does not describe a configuration the app may start with."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _parsed(parse: Callable[[str], T], text: str) -> T:
    """Parse a setting with the domain's own parser, as a configuration error."""
    try:
        return parse(text)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


DEMO_TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "demo-simulator-auth-token",
    "TWILIO_NUMBER": "+441632960000",
}
#: The simulator's stand-in for a Twilio API key: its tokens reach no Twilio.
DEMO_API_KEY = {
    "TWILIO_API_KEY_SID": "SK" + "0" * 32,
    "TWILIO_API_KEY_SECRET": "demo-simulator-api-key-secret-reaches-no-twilio",
}
DEFAULT_FORCES = "Metropolitan Police Service,City of London Police,British Transport Police"


def _previous_auth_token(
    env: Mapping[str, str], settings: Mapping[str, Any], mode: str
) -> str | None:
    """The auth token Twilio signed with before a rotation, still accepted on webhooks."""
    previous = env.get("TWILIO_AUTH_TOKEN_PREVIOUS") or None
    if previous is not None and previous == settings["TWILIO_AUTH_TOKEN"] and mode == "production":
        raise ConfigurationError(
            "TWILIO_AUTH_TOKEN_PREVIOUS is the token before a rotation; it must differ from "
            "TWILIO_AUTH_TOKEN (remove it once no webhook is signed with it)"
        )
    return previous


def _browser_phone_settings(env: Mapping[str, str], *, simulated: bool) -> dict[str, Any]:
    """The API key that signs browsers' Voice SDK tokens: without one, clinicians use phones."""
    given = {name: env.get(name, "") for name in DEMO_API_KEY}
    if simulated:
        given = dict(DEMO_API_KEY)
    elif any(given.values()) and not all(given.values()):
        raise ConfigurationError(
            "The browser phone needs both TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET "
            "(or neither: clinicians are then rung on their phones)"
        )
    return given | {
        "BROWSER_PHONE": all(given.values()),
        "BROWSER_PHONE_TOKEN_SECONDS": _int(env, "BROWSER_PHONE_TOKEN_SECONDS", 300, minimum=60),
    }


def _twilio_settings(env: Mapping[str, str], mode: str) -> dict[str, Any]:
    """Twilio credentials, or the built-in simulator's in demo mode when none are given."""
    given = {name: env.get(name, "") for name in DEMO_TWILIO}
    if not any(given.values()) and mode == "demo":
        settings: dict[str, Any] = dict(DEMO_TWILIO, TWILIO_SIMULATED=True)
    elif all(given.values()):
        settings = dict(given, TWILIO_SIMULATED=False)
    else:
        missing = ", ".join(name for name, value in given.items() if not value)
        raise ConfigurationError(
            f"Twilio needs {missing} (or, in demo mode, none of them for the simulator)"
        )
    public_base_url = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000" if mode == "demo" else "")
    if not public_base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            "PUBLIC_BASE_URL must be the https:// address Twilio uses to reach this app"
        )
    try:
        settings["TWILIO_NUMBER"] = normalise(settings["TWILIO_NUMBER"])
        fallback = env.get("FALLBACK_NUMBER", "")
        fallback_number = normalise(fallback) if fallback else None
    except InvalidInput as error:
        raise ConfigurationError(f"TWILIO_NUMBER or FALLBACK_NUMBER: {error}") from None
    forces = tuple(f.strip() for f in env.get("FORCES", DEFAULT_FORCES).split(",") if f.strip())
    if not 1 <= len(forces) <= 8:
        raise ConfigurationError("FORCES must name between 1 and 8 police forces")
    return (
        settings
        | _browser_phone_settings(env, simulated=settings["TWILIO_SIMULATED"])
        | {
            "TWILIO_AUTH_TOKEN_PREVIOUS": _previous_auth_token(env, settings, mode),
            "PUBLIC_BASE_URL": public_base_url.rstrip("/"),
            "TWILIO_API_BASE_URL": env.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip(
                "/"
            ),
            "FALLBACK_NUMBER": fallback_number,
            "FORCES": forces,
            "CALL_BACK_OFFER_AFTER_SECONDS": _int(env, "CALL_BACK_OFFER_AFTER_SECONDS", 90),
            "CONSULT_DIRECTORY": _consult_directory(env, mode),
        }
    )


#: The demo's outside numbers a clinician can bring into a call (Ofcom drama numbers).
DEMO_CONSULT_DIRECTORY = "AMHP duty line=+441632960101;Interpreter (Polish)=+441632960102"


def _consult_directory(env: Mapping[str, str], mode: str) -> tuple[tuple[str, str], ...]:
    """Outside numbers to bring into a call: ``label=number`` entries separated by ``;``."""
    default = DEMO_CONSULT_DIRECTORY if mode == "demo" else ""
    entries = []
    for entry in filter(
        None, (e.strip() for e in env.get("CONSULT_DIRECTORY", default).split(";"))
    ):
        label, _, number = (part.strip() for part in entry.rpartition("="))
        if not label or len(label) > 80:
            raise ConfigurationError(
                f"CONSULT_DIRECTORY entry {entry!r}: write label=number, the label 1 to 80 "
                "characters"
            )
        try:
            entries.append((label, normalise(number)))
        except InvalidInput as error:
            raise ConfigurationError(f"CONSULT_DIRECTORY entry {label!r}: {error}") from None
    return tuple(entries)


DEFAULT_LOGIN_RATE_LIMIT = "10 per minute"
DEFAULT_LOGIN_ADDRESS_RATE_LIMIT = "30 per minute"
DEFAULT_MAX_REQUEST_BYTES = 128 * 1024
#: More proxies than this in front of the app is not a deployment, it is a mistake.
MAX_TRUSTED_PROXIES = 5


def _limit(env: Mapping[str, str], name: str, default: str) -> str | None:
    """A rate limit such as '10 per minute', or None for ``off``."""
    text = env.get(name) or default
    if text.strip().lower() == "off":
        return None
    try:
        parse_many(text)
    except ValueError:
        raise ConfigurationError(
            f"{name} must look like '10 per minute' (or be 'off'), not {text!r}"
        ) from None
    return text


def _rate_limit(env: Mapping[str, str]) -> dict[str, Any]:
    """Failed sign-ins allowed per address and username, and per address (``off``: none)."""
    per_username = _limit(env, "LOGIN_RATE_LIMIT", DEFAULT_LOGIN_RATE_LIMIT)
    per_address = _limit(env, "LOGIN_ADDRESS_RATE_LIMIT", DEFAULT_LOGIN_ADDRESS_RATE_LIMIT)
    return {
        "RATELIMIT_ENABLED": bool(per_username or per_address),
        "LOGIN_RATE_LIMIT": per_username,
        "LOGIN_ADDRESS_RATE_LIMIT": per_address,
        # Rate-limit counters live beside the socket message queue when there is one, so
        # every process counts together; one process counts in memory.
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
    }


#: Single sign-on providers: the settings' prefix, the button's words, the claim that names
#: the account by default, and the scopes asked for. CIS2's ``uid`` is the user's UUID
#: (their NHS smartcard identity); Entra's ``oid`` is the user's object id, which unlike
#: ``preferred_username`` never changes or moves to someone else.
SSO_PROVIDERS = {
    "cis2": ("OIDC_CIS2", "NHS CIS2 Authentication", "uid", "openid profile"),
    "entra": ("OIDC_ENTRA", "Microsoft Entra ID", "oid", "openid profile email"),
}
#: CIS2 asks applications to say which authentication assurance level they need
#: (``acr_values``): AAL2 or AAL3 authenticators, as CIS2 recommends, unless told otherwise.
DEFAULT_CIS2_ACR = "AAL2_OR_AAL3_ANY"


def _sso_settings(env: Mapping[str, str], mode: str) -> dict[str, Any]:
    """The second factor's rule and each single sign-on provider that is configured."""
    providers: dict[str, dict[str, Any]] = {}
    for name, (prefix, label, claim, scope) in SSO_PROVIDERS.items():
        given = {
            part: env.get(f"{prefix}_{part}", "")
            for part in ("METADATA_URL", "CLIENT_ID", "CLIENT_SECRET")
        }
        if not any(given.values()):
            continue
        missing = [f"{prefix}_{part}" for part, value in given.items() if not value]
        if missing:
            raise ConfigurationError(f"Single sign-on with {label} also needs {', '.join(missing)}")
        # Plain http is for a local test provider only: in production the metadata (and so
        # the signing keys and endpoints it names) must come over TLS.
        schemes = ("https://",) if mode == "production" else ("https://", "http://")
        if not given["METADATA_URL"].startswith(schemes):
            raise ConfigurationError(
                f"{prefix}_METADATA_URL must be an https:// address"
                + (" in production" if given["METADATA_URL"].startswith("http://") else "")
            )
        acr = env.get(f"{prefix}_ACR_VALUES", DEFAULT_CIS2_ACR if name == "cis2" else "")
        providers[name] = {
            "label": label,
            "metadata_url": given["METADATA_URL"],
            "client_id": given["CLIENT_ID"],
            "client_secret": given["CLIENT_SECRET"],
            "claim": env.get(f"{prefix}_CLAIM") or claim,
            "scope": env.get(f"{prefix}_SCOPE") or scope,
            "acr_values": acr.strip() or None,
        }
    return {
        "SECOND_FACTOR_REQUIRED": _bool(env, "SECOND_FACTOR_REQUIRED", mode == "production"),
        "OIDC_PROVIDERS": providers,
        "OIDC_LEEWAY_SECONDS": _int(env, "OIDC_LEEWAY_SECONDS", 60),
    }


def _trusted_proxies(env: Mapping[str, str]) -> int:
    """How many proxies in front of the app set X-Forwarded-For (ProxyFix trusts that many)."""
    proxies = _int(env, "TRUSTED_PROXIES", 0)
    if proxies > MAX_TRUSTED_PROXIES:
        raise ConfigurationError(
            f"TRUSTED_PROXIES is the number of proxies in front of the app (0 to "
            f"{MAX_TRUSTED_PROXIES}), not {proxies}"
        )
    return proxies


def default_sqlite_url(instance_path: str) -> str:
    """Return the embedded SQLite database inside the instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "advice_line.sqlite3")


#: The app's group role on PostgreSQL (README, "Database roles"): a plain identifier.
DEFAULT_DATABASE_APP_ROLE = "advice_line_app"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _database_url(raw: str) -> str:
    """The URL with PostgreSQL's driver named (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw.removeprefix(prefix)
    return raw


def _database_settings(env: Mapping[str, str], instance_path: str) -> dict[str, Any]:
    """The app's database URL, the owner's (migrations, retention) and the app's role."""
    database_url = _database_url(env.get("DATABASE_URL") or default_sqlite_url(instance_path))
    app_role = env.get("DATABASE_APP_ROLE") or DEFAULT_DATABASE_APP_ROLE
    if not ROLE_NAME.fullmatch(app_role):
        raise ConfigurationError(
            "DATABASE_APP_ROLE must be a PostgreSQL role name of lower-case letters, digits "
            f"and underscores, not {app_role!r}"
        )
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "OWNER_DATABASE_URL": _database_url(env.get("OWNER_DATABASE_URL") or database_url),
        "DATABASE_APP_ROLE": app_role,
    }


#: Server-side encryption asked of S3 for every recording put.
S3_ENCRYPTIONS = ("AES256", "aws:kms")


def _recording_settings(env: Mapping[str, str], instance_path: str, mode: str) -> dict[str, Any]:
    """Whether conferences are recorded, and where the line keeps the recordings."""
    recording = _bool(env, "CALL_RECORDING", False)
    bucket = env.get("RECORDINGS_S3_BUCKET") or None
    endpoint = env.get("RECORDINGS_S3_ENDPOINT_URL") or None
    folder = env.get("RECORDINGS_DIR") or ""
    encryption = env.get("RECORDINGS_S3_ENCRYPTION") or "AES256"
    if encryption not in S3_ENCRYPTIONS:
        raise ConfigurationError(
            f"RECORDINGS_S3_ENCRYPTION must be one of {S3_ENCRYPTIONS}, not {encryption!r}"
        )
    if endpoint and not (bucket and endpoint.startswith(("https://", "http://"))):
        raise ConfigurationError(
            "RECORDINGS_S3_ENDPOINT_URL must be an http(s):// address, with RECORDINGS_S3_BUCKET"
        )
    if recording and mode == "production" and bucket is None and not Path(folder).is_absolute():
        raise ConfigurationError(
            "CALL_RECORDING needs the recordings' storage in production: "
            "RECORDINGS_S3_BUCKET (S3 or MinIO), or RECORDINGS_DIR as an absolute path"
        )
    return {
        "CALL_RECORDING": recording,
        "RECORDINGS_DIR": folder or str(Path(instance_path) / "recordings"),
        "RECORDINGS_S3_BUCKET": bucket,
        "RECORDINGS_S3_ENDPOINT_URL": endpoint,
        "RECORDINGS_S3_ENCRYPTION": encryption,
    }


def settings_from_env(env: Mapping[str, str] | None, instance_path: str) -> dict[str, Any]:
    """Build the Flask config from environment variables; raise on anything unsafe."""
    env = os.environ if env is None else env
    mode = env.get("ADVICE_LINE_MODE", "production")
    if mode not in MODES:
        raise ConfigurationError(f"ADVICE_LINE_MODE must be one of {MODES}, not {mode!r}")
    secret_key = env.get("SECRET_KEY", "")
    if mode == "demo":
        secret_key = secret_key or DEMO_SECRET_KEY
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH or secret_key == DEMO_SECRET_KEY:
        raise ConfigurationError(
            "Production mode needs a real SECRET_KEY of at least "
            f"{MIN_SECRET_KEY_LENGTH} random characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'). "
            "Set ADVICE_LINE_MODE=demo to run with demo secrets."
        )
    escalation_text = env.get("ESCALATION_STEPS", "30:any_qualifying,60:senior_alert")
    metrics_token = env.get("METRICS_TOKEN", "")
    if metrics_token and len(metrics_token) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigurationError(
            f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} random characters"
        )
    log_format = env.get("LOG_FORMAT") or ("text" if mode == "demo" else "json")
    if log_format not in LOG_FORMATS:
        raise ConfigurationError(f"LOG_FORMAT must be one of {LOG_FORMATS}, not {log_format!r}")
    return _twilio_settings(env, mode) | {
        "ADVICE_LINE_MODE": mode,
        "SECRET_KEY": secret_key,
        **_database_settings(env, instance_path),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SOCKETIO_CHANNEL": env.get("SOCKETIO_CHANNEL") or "flask-socketio",
        "LOG_FORMAT": log_format,
        "METRICS_TOKEN": metrics_token or None,
        "OFFER_TIMEOUT_SECONDS": _int(env, "OFFER_TIMEOUT_SECONDS", 20, minimum=1),
        "MAX_MISSED_OFFERS": _int(env, "MAX_MISSED_OFFERS", 3, minimum=1),
        "REOFFER_AFTER_SECONDS": _int(env, "REOFFER_AFTER_SECONDS", 120),
        "ANSWER_TARGET_SECONDS": _int(env, "ANSWER_TARGET_SECONDS", 30, minimum=1),
        "ESCALATION_STEPS": _parsed(parse_escalation_steps, escalation_text),
        "SCHEDULER_IN_PROCESS": _bool(env, "SCHEDULER_IN_PROCESS", True),
        "SPOOL_PATH": env.get("SPOOL_PATH") or str(Path(instance_path) / "spool.sqlite3"),
        "POLICE_STATIONS_ALLOWED": _bool(env, "POLICE_STATIONS_ALLOWED", True),
        "DETENTION_WARNING_MINUTES": _int(env, "DETENTION_WARNING_MINUTES", 120, minimum=1),
        "REGISTRATION_WARNING_DAYS": _int(env, "REGISTRATION_WARNING_DAYS", 28, minimum=1),
        "PRESENCE_GRACE_SECONDS": _int(env, "PRESENCE_GRACE_SECONDS", 30, minimum=1),
        "RETENTION_ADULT_YEARS": _int(env, "RETENTION_ADULT_YEARS", 20, minimum=1),
        "RETENTION_CHILD_YEARS": _int(env, "RETENTION_CHILD_YEARS", 25, minimum=1),
        "RETENTION_DEATH_YEARS": _int(env, "RETENTION_DEATH_YEARS", 8, minimum=1),
        "SOCKETS_PER_ADDRESS": _int(env, "SOCKETS_PER_ADDRESS", 50, minimum=1),
        "PASSWORD_CHECKS_AT_ONCE": _int(env, "PASSWORD_CHECKS_AT_ONCE", 1, minimum=1),
        "HEARTBEAT_SECONDS": _int(env, "HEARTBEAT_SECONDS", 10, minimum=1),
        # A session lasts SESSION_HOURS from sign-in and ends after SESSION_IDLE_MINUTES
        # unused (auth/sessions.py); the cookie is not re-issued on every request.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int(env, "SESSION_HOURS", 12, minimum=1)),
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 30, minimum=1),
        "SESSION_REFRESH_EACH_REQUEST": False,
        "TRUSTED_PROXIES": _trusted_proxies(env),
        # A form's CSRF token lasts as long as the session that holds it (SESSION_HOURS),
        # not Flask-WTF's default hour, so a long record is not refused and lost.
        "WTF_CSRF_TIME_LIMIT": None,
        "SCHEDULER_INTERVAL_SECONDS": _int(env, "SCHEDULER_INTERVAL_MS", 500, minimum=50) / 1000,
        # Shifts are made from the weekly rota patterns this many days ahead; a coverage
        # gap this many hours ahead is warned of on the floor and the dashboard.
        "ROTA_GENERATE_DAYS": _int(env, "ROTA_GENERATE_DAYS", 28, minimum=1),
        "COVERAGE_WARNING_HOURS": _int(env, "COVERAGE_WARNING_HOURS", 48, minimum=1),
        "OUTBOX_LEASE_SECONDS": _int(env, "OUTBOX_LEASE_SECONDS", 30, minimum=15),
        "QUALIFYING_PROFESSIONS": _parsed(
            parse_professions,
            env.get("QUALIFYING_PROFESSIONS", "doctor,nurse,amhp,occupational_therapist,paramedic"),
        ),
        "NEW_REQUESTS_PER_NUMBER": _parsed(
            parse_request_limit, env.get("NEW_REQUESTS_PER_NUMBER") or "6 per hour"
        ),
        "MAX_CONTENT_LENGTH": _int(
            env, "MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, minimum=1024
        ),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": mode == "production",
        **_rate_limit(env),
        **_sso_settings(env, mode),
        **_recording_settings(env, instance_path, mode),
    }
