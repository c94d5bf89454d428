"""Security headers on every response the app itself answers."""

from __future__ import annotations

from flask import Flask, Response, current_app

#: Scripts, styles and connections only from this site (no inline script, no eval); the
#: NHS.UK frontend's stylesheet fetches its Frutiger fonts from the NHS's own asset host.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' https://assets.nhs.uk",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Flask-WTF checks the Referer of every HTTPS form post against the host: keep it
    # for our own pages, send nothing to anyone else.
    "Referrer-Policy": "same-origin",
}
#: Production is served over https only (secure cookies, Twilio's https webhooks).
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def add_security_headers(response: Response) -> Response:
    """Set the security headers on a response (HSTS only in production)."""
    response.headers.update(HEADERS)
    if current_app.config["ADVICE_LINE_MODE"] == "production":
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return response


def init_app(app: Flask) -> None:
    """Add the security headers to every response of ``app``."""
    app.after_request(add_security_headers)
