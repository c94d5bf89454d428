"""The addresses the line hands to Twilio, built from the webhook routes themselves."""

from __future__ import annotations

from typing import Any

from flask import current_app


def webhook_url(endpoint: str, **values: Any) -> str:
    """Return the public URL Twilio uses for a webhook endpoint (``twilio.hold``, …)."""
    # url_for without a request needs SERVER_NAME, and calls are placed after commit,
    # outside any request: build the path from the same url_map, on PUBLIC_BASE_URL.
    path = current_app.url_map.bind("").build(endpoint, values)
    return str(current_app.config["PUBLIC_BASE_URL"]) + path
