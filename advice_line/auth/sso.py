"""Single sign-on with OpenID Connect (NHS CIS2 Authentication, Microsoft Entra ID).

Authorization code flow with PKCE, state and nonce (Authlib). Authlib checks the ID
token's signature against the provider's published keys (JWKS), its issuer, audience
(our client id), expiry (``OIDC_LEEWAY_SECONDS`` of leeway) and nonce. The configured
claim's value (from the ID token, or the userinfo endpoint when the token lacks it, as
CIS2's ``uid`` does) names the account through ``User.sso_identity``. The provider did
the strong authentication, so single sign-on skips the TOTP step; when an assurance
level was asked for (``acr_values``, CIS2's by default), the ID token's ``acr`` must meet
it, or the sign-in is refused and audited (``acr_shortfall``).
"""

from __future__ import annotations

import re
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError

from advice_line.audit import Actor, record_event
from advice_line.auth import sessions
from advice_line.auth.forms import SignInForm
from advice_line.auth.roles import Staff
from advice_line.auth.routes import bp, sign_in_page
from advice_line.auth.signing_in import home
from advice_line.extensions import db
from advice_line.lifecycle.second_factor import sso_account
from advice_line.transaction import run

_REGISTRY = "advice_line_oidc"
NOT_STARTED = "That sign-in was not started here, or took too long. Start again."
NO_ACCOUNT = (
    "You signed in with {label}, but no active staff account here is linked to you. "
    "Ask an administrator to link your account."
)
REFUSED = "{label} sent a sign-in this service cannot accept ({why}). Start again."
UNREACHABLE = "{label} could not be reached. Try again, or sign in with your password."
WEAKER = (
    "{label} signed you in at a lower assurance level than this service needs ({why}). "
    "Start again and sign in with an authenticator of that level, such as your smartcard."
)
_ASSURANCE_LEVEL = re.compile(r"AAL(\d)")


def acr_shortfall(requested: str | None, returned: object) -> str | None:
    """Why the ID token's ``acr`` falls short of the ``acr_values`` asked for (None if not).

    It is enough if it is one of the values asked for, or names an assurance level (CIS2's
    ``AAL1``..``AAL3``) at least the lowest one asked for: ``AAL3_ANY`` satisfies
    ``AAL2_OR_AAL3_ANY``. Nothing was asked: anything will do. Asked and none given: refused.
    """
    if not requested:
        return None
    if not isinstance(returned, str) or not returned:
        return f"no acr in the ID token, {requested} was asked for"
    asked = requested.split()
    if returned in asked:
        return None
    needed = [int(level) for value in asked for level in _ASSURANCE_LEVEL.findall(value)]
    got = [int(level) for level in _ASSURANCE_LEVEL.findall(returned)]
    if needed and got and min(got) >= min(needed):
        return None
    return f"acr {returned}, {requested} was asked for"


def _registry(app: Flask) -> OAuth:
    """A client for each configured provider, registered on first use (each app its own)."""
    if _REGISTRY in app.extensions:
        return app.extensions[_REGISTRY]
    oauth = OAuth(app)
    for name, provider in app.config["OIDC_PROVIDERS"].items():
        oauth.register(
            name,
            client_id=provider["client_id"],
            client_secret=provider["client_secret"],
            server_metadata_url=provider["metadata_url"],
            client_kwargs={"scope": provider["scope"], "code_challenge_method": "S256"},
        )
    app.extensions[_REGISTRY] = oauth
    return oauth


def _client(name: str) -> tuple[Any, dict[str, Any]]:
    provider = current_app.config["OIDC_PROVIDERS"].get(name)
    if provider is None:
        abort(404)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return _registry(app).create_client(name), provider


@bp.get("/auth/oidc/<name>/login")
def oidc_login(name: str) -> ResponseReturnValue:
    """Send the browser to the provider (state, nonce and PKCE kept in the Flask session)."""
    client, provider = _client(name)
    session.clear()
    extra = {"acr_values": provider["acr_values"]} if provider["acr_values"] else {}
    callback = url_for("auth.oidc_callback", name=name, _external=True)
    try:
        return client.authorize_redirect(callback, **extra)  # type: ignore[no-any-return]
    except requests.RequestException:
        return _refused(name, provider, 502, UNREACHABLE, "unreachable")


def _refused(
    name: str,
    provider: dict[str, Any],
    status: int,
    message: str,
    why: str,
    identity: str | None = None,
) -> ResponseReturnValue:
    """Audit a failed single sign-on, and show the sign-in page with the reason."""
    detail = {"provider": name, "reason": why} | ({"identity": identity} if identity else {})
    run(
        lambda work: record_event(
            work.session, work.actor, "auth.sign_in_failed", now=work.now, detail=detail
        ),
        Actor("anonymous", None, request.remote_addr),
    )
    session.clear()
    problem = message.format(label=provider["label"], why=why)
    return sign_in_page(SignInForm(formdata=None), status, problem)


def _identity(client: Any, token: dict[str, Any], claim: str) -> str | None:
    """The claim's value: from the ID token, else from the userinfo endpoint."""
    value = (token.get("userinfo") or {}).get(claim)
    if value is None:
        value = client.userinfo(token=token).get(claim)
    return str(value) if value not in (None, "") else None


@bp.get("/auth/oidc/<name>/callback")
def oidc_callback(name: str) -> ResponseReturnValue:
    """The provider's answer: check the ID token, find the account, start its session."""
    client, provider = _client(name)
    leeway = current_app.config["OIDC_LEEWAY_SECONDS"]
    try:
        # Authlib checks the audience only through ``azp`` unless told: require ours in ``aud``.
        claims_options = {
            "iss": {"essential": True, "value": client.load_server_metadata()["issuer"]},
            "aud": {"essential": True, "value": client.client_id},
        }
        token = client.authorize_access_token(leeway=leeway, claims_options=claims_options)
        if not token.get("userinfo"):
            return _refused(name, provider, 403, REFUSED, "no ID token")
        shortfall = acr_shortfall(provider["acr_values"], token["userinfo"].get("acr"))
        if shortfall:
            return _refused(name, provider, 403, WEAKER, shortfall)
        identity = _identity(client, token, provider["claim"])
    except MismatchingStateError:
        return _refused(name, provider, 400, NOT_STARTED, "state not ours")
    except ExpiredTokenError:
        return _refused(name, provider, 403, REFUSED, "the ID token has expired")
    except InvalidClaimError as error:
        return _refused(name, provider, 403, REFUSED, f"wrong {error.claim} in the ID token")
    except MissingClaimError as error:
        return _refused(name, provider, 403, REFUSED, f"no {error.claim} in the ID token")
    except JoseError as error:
        return _refused(name, provider, 403, REFUSED, f"ID token not valid: {error.error}")
    except OAuthError as error:
        return _refused(name, provider, 403, REFUSED, f"{error.error}")
    except requests.RequestException:
        return _refused(name, provider, 502, UNREACHABLE, "unreachable")
    user = sso_account(db.session(), identity) if identity else None
    if user is None:
        why = "no active account for this identity" if identity else f"no {provider['claim']} claim"
        return _refused(name, provider, 403, NO_ACCOUNT, why, identity)
    staff = Staff.load(str(user.id))
    assert staff is not None
    sessions.sign_in(staff)
    return redirect(home())
