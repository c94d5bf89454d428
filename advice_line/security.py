"""Security headers on every response the app itself answers."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)

#: What Twilio's Voice SDK reaches from a console page: its signalling websocket (the
#: default "roaming" edge), its event gateway (call quality reports: first the global
#: host, then the account's home region's, US1 or IE1) and the sounds it plays (incoming
#: ring, disconnect), fetched and played from its own host.
VOICE_SDK_CONNECT = (
    "wss://voice-js.roaming.twilio.com",
    "https://eventgw.twilio.com",
    "https://eventgw.us1.twilio.com",
    "https://eventgw.ie1.twilio.com",
    "https://sdk.twilio.com",
)
VOICE_SDK_MEDIA = ("https://sdk.twilio.com",)


def content_security_policy(*, console: bool) -> str:
    """Everything only from this site (no inline script, no eval, no other origin).

    The NHS.UK frontend's remote Frutiger fonts are dropped at build
    (``assets.REMOTE_FONT``); console pages, where the browser phone runs, also allow
    what the Voice SDK needs.
    """
    connect = ("'self'", *VOICE_SDK_CONNECT) if console else ("'self'",)
    media = ("'self'", *VOICE_SDK_MEDIA) if console else ("'self'",)
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            f"media-src {' '.join(media)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy(console=False)
CONSOLE_CONTENT_SECURITY_POLICY = content_security_policy(console=True)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "microphone=()",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Flask-WTF checks the Referer of every HTTPS form post against the host: keep it
    # for our own pages, send nothing to anyone else.
    "Referrer-Policy": "same-origin",
}
#: Production is served over https only (secure cookies, Twilio's https webhooks).
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def add_security_headers(response: Response) -> Response:
    """Set the security headers on a response (HSTS only in production).

    Only the console's pages may use the microphone (the browser phone) and reach Twilio.
    """
    response.headers.update(HEADERS)
    if request.blueprint == "console":
        response.headers["Content-Security-Policy"] = CONSOLE_CONTENT_SECURITY_POLICY
        response.headers["Permissions-Policy"] = "microphone=(self)"
    if current_app.config["ADVICE_LINE_MODE"] == "production":
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return response


def init_app(app: Flask) -> None:
    """Add the security headers to every response of ``app``."""
    app.after_request(add_security_headers)


def trust_proxies(app: Flask) -> None:
    """Take the client's address (and scheme) from the ``TRUSTED_PROXIES`` nearest proxies.

    Without it, behind a proxy every client has the proxy's address, and the sign-in
    limits would hold everyone at once: a request that arrives forwarded while no proxy
    is trusted is logged once, in words an operator can act on.
    """
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
        return
    warned: list[bool] = []

    @app.before_request
    def warn_if_forwarded() -> None:
        if not warned and "X-Forwarded-For" in request.headers:
            warned.append(True)
            log.warning(
                "A request came through a proxy (X-Forwarded-For) but TRUSTED_PROXIES is 0: "
                "every client has the proxy's address, so one client's failed sign-ins hold "
                "everyone. Set TRUSTED_PROXIES to the number of proxies in front of the app."
            )
