"""The second factor (TOTP and recovery codes), a forced password change, and SSO identities.

A password account proves itself with a TOTP code from an authenticator app: codes of the
time step before, at and after now are accepted, but never one at or before the last
accepted step, so an overheard code cannot be replayed. Ten one-time recovery codes,
stored hashed, stand in for a lost phone. ``MAX_FAILURES`` wrong codes in a row lock the
account until an admin unlocks it.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import InvalidInput, NotFound
from advice_line.models import RecoveryCode, User

MAX_FAILURES = 5
RECOVERY_CODES = 10
MIN_PASSWORD = 12
STEP_SECONDS = 30
ISSUER = "Advice Line"
#: A TOTP code: six digits. A recovery code: ten letters and digits, shown as two halves.
TOTP_CODE = re.compile(r"\d{6}")
RECOVERY_CODE = re.compile(r"[a-z2-7]{5}-?[a-z2-7]{5}")
_MAX_IDENTITY = 255


class CodeCheck(enum.Enum):
    """What a code typed at sign-in did."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    LOCKED = "locked"


def second_factor_needed(user: User, *, required: bool) -> bool:
    """Whether a password sign-in must pass a code: when required, or once enrolled anyway."""
    return required or user.totp_confirmed_at is not None


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("There is no such staff account.")
    return user


def _by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no staff account {username!r}.")
    return user


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def provisioning_uri(user: User) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    assert user.totp_secret is not None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def start_enrolment(session: Session, user_id: int) -> str:
    """Give an unenrolled account a new secret (kept until confirmed); return the secret."""
    user = _user(session, user_id)
    if user.totp_confirmed_at is not None:
        raise InvalidInput({"code": "A second factor is already set up for this account."})
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
        session.flush()
    return user.totp_secret


def _matching_step(user: User, code: str, now: datetime) -> int | None:
    """The time step (now ±1) whose code is ``code`` and was not used before, if any."""
    assert user.totp_secret is not None
    totp = pyotp.TOTP(user.totp_secret)
    for step in (_step(now) - 1, _step(now), _step(now) + 1):
        fresh = user.totp_last_step is None or step > user.totp_last_step
        if fresh and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash_recovery(code: str) -> str:
    """Recovery codes are 50 random bits: a plain SHA-256 keeps them out of a database dump."""
    return hashlib.sha256(code.replace("-", "").encode()).hexdigest()


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user=user, code_hash=_hash_recovery(raw), created_at=now))
    return codes


def confirm_enrolment(
    session: Session, actor: Actor, user_id: int, code: str, *, now: datetime
) -> list[str] | None:
    """Confirm enrolment with a first code; return the recovery codes (shown once), or None."""
    user = _user(session, user_id)
    if user.totp_secret is None or user.totp_confirmed_at is not None:
        raise InvalidInput({"code": "Start setting up the second factor again."})
    step = _matching_step(user, code, now)
    if step is None:
        return None
    user.totp_confirmed_at, user.totp_last_step = now, step
    user.second_factor_failures = 0
    codes = _new_recovery_codes(session, user, now)
    record_event(session, actor, "auth.second_factor_enrolled", now=now, subject=("user", user.id))
    session.flush()
    return codes


def _use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    hashed = _hash_recovery(code)
    for row in unused:
        if hmac.compare_digest(row.code_hash, hashed):
            row.used_at = now
            return True
    return False


def check_code(
    session: Session, actor: Actor, user_id: int, code: str, *, now: datetime
) -> CodeCheck:
    """Check a TOTP or recovery code at sign-in; count a wrong one, and lock at the limit.

    Call with a code already shaped as ``TOTP_CODE`` or ``RECOVERY_CODE``.
    """
    user = _user(session, user_id)
    if user.locked_at is not None:
        return CodeCheck.LOCKED
    if TOTP_CODE.fullmatch(code):
        step = _matching_step(user, code, now)
        if step is not None:
            user.totp_last_step = step
        accepted = step is not None
        how = "authenticator"
    else:
        accepted = _use_recovery_code(session, user, code.lower(), now)
        how = "recovery code"
    if accepted:
        user.second_factor_failures = 0
        if how == "recovery code":
            record_event(
                session, actor, "auth.recovery_code_used", now=now, subject=("user", user.id)
            )
        session.flush()
        return CodeCheck.ACCEPTED
    user.second_factor_failures += 1
    record_event(
        session,
        actor,
        "auth.second_factor_failed",
        now=now,
        subject=("user", user.id),
        detail={"failures": user.second_factor_failures, "kind": how},
    )
    if user.second_factor_failures >= MAX_FAILURES:
        user.locked_at = now
        record_event(session, actor, "auth.account_locked", now=now, subject=("user", user.id))
    session.flush()
    return CodeCheck.LOCKED if user.locked_at is not None else CodeCheck.WRONG


def recovery_codes_left(session: Session, user_id: int) -> int:
    """How many recovery codes the account has not used."""
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def change_own_password(
    session: Session,
    actor: Actor,
    user_id: int,
    password: str,
    confirmation: str,
    *,
    refused: str,
    hashed: Callable[[str], str],
    now: datetime,
) -> None:
    """Set the password chosen at a forced change (``hashed`` hashes it; ``refused`` is the
    published demo password)."""
    user = _user(session, user_id)
    problems: dict[str, str] = {}
    if len(password) < MIN_PASSWORD:
        problems["password"] = f"Choose a password of at least {MIN_PASSWORD} characters."
    elif hmac.compare_digest(password.encode(), refused.encode()):
        problems["password"] = "That is the published demo password: choose another."  # noqa: S105
    elif user.username.lower() in password.lower():
        problems["password"] = "A password may not contain your username."  # noqa: S105
    if not hmac.compare_digest(password.encode(), confirmation.encode()):
        problems["confirmation"] = "The two passwords are not the same."
    if problems:
        raise InvalidInput(problems)
    user.password_hash = hashed(password)
    user.must_change_password = False
    record_event(session, actor, "auth.password_changed", now=now, subject=("user", user.id))
    session.flush()


def reset_second_factor(session: Session, actor: Actor, username: str, *, now: datetime) -> None:
    """Clear an account's second factor and recovery codes: it enrols again at next sign-in."""
    user = _by_username(session, username)
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.second_factor_failures = 0
    user.recovery_codes.clear()
    record_event(session, actor, "staff.second_factor_reset", now=now, subject=("user", user.id))
    session.flush()


def _clean_identity(value: str | None) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > _MAX_IDENTITY or any(unicodedata.category(c).startswith("C") for c in text):
        raise InvalidInput(
            {"sso_identity": f"An SSO identity is at most {_MAX_IDENTITY} printable characters."}
        )
    return text


def set_sso_identity(
    session: Session, actor: Actor, username: str, value: str | None, *, now: datetime
) -> None:
    """Map an account to the identity provider's claim value (None or blank: unmap it)."""
    identity = _clean_identity(value)
    user = _by_username(session, username)
    if identity is not None:
        holder = session.scalar(select(User).where(User.sso_identity == identity))
        if holder is not None and holder.id != user.id:
            raise InvalidInput(
                {"sso_identity": f"That SSO identity already belongs to {holder.username}."}
            )
    before = user.sso_identity
    user.sso_identity = identity
    record_event(
        session,
        actor,
        "staff.sso_identity_changed",
        now=now,
        subject=("user", user.id),
        detail={"from": before, "to": identity},
    )
    session.flush()


def sso_account(session: Session, identity: str) -> User | None:
    """The active, unlocked account mapped to this identity, if there is one."""
    user = session.scalar(select(User).where(User.sso_identity == identity))
    if user is None or not user.active or user.locked_at is not None:
        return None
    return user
