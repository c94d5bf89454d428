"""Serve the front-end assets built at install (advice_line/assets.py) with WhiteNoise.

Templates name files as they are in the source (``url_for('static',
filename='console.js')``, ``'vendor/nhsuk/nhsuk-frontend.min.css'``); the manifest turns
that into the built, hashed name, which browsers may cache for a year since its content
never changes. WhiteNoise answers ``/static/`` before Flask, with the gzip or Brotli copy
the browser accepts and the same security headers as every page.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.responders import Headers

from advice_line.assets import BUILT, HASHED_NAME, MANIFEST
from advice_line.security import HEADERS, STRICT_TRANSPORT_SECURITY

#: Anything else under /static/ (the manifest) is checked again after a minute.
SHORT_MAX_AGE = 60


class AssetsNotBuilt(RuntimeError):
    """The app was started without its built front-end assets."""


class UnknownAsset(LookupError):
    """A template asked for a static file the build did not produce."""


def read_manifest(mode: str) -> dict[str, str]:
    """The built names by source name; refuse to go on without them."""
    try:
        manifest: dict[str, str] = json.loads((BUILT / MANIFEST).read_text())
    except FileNotFoundError:
        if mode == "demo":
            raise AssetsNotBuilt(
                f"The front-end assets are not built ({BUILT / MANIFEST} is missing): "
                "run make install"
            ) from None
        raise AssetsNotBuilt(
            f"The front-end assets are not built ({BUILT / MANIFEST} is missing): install "
            "the package from a wheel built with them (its build runs "
            "`python -m advice_line.assets build` where node_modules is present)"
        ) from None
    return manifest


def is_immutable(path: str, url: str) -> bool:
    """Whether browsers may keep ``url`` for good (WhiteNoise says ten years, immutable)."""
    return bool(HASHED_NAME.search(url))


def init_app(app: Flask) -> None:
    """Serve ``static_built/`` at /static/ and map template names to built ones."""
    mode = app.config["ADVICE_LINE_MODE"]
    manifest = read_manifest(mode)

    @app.url_defaults
    def built_name(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or "filename" not in values:
            return
        try:
            values["filename"] = manifest[values["filename"]]
        except KeyError:
            raise UnknownAsset(
                f"static file {values['filename']!r} is not among the built assets "
                "(advice_line/static/*.css and *.js, and the npm files advice_line/assets.py "
                "names): run make install"
            ) from None

    def security_headers(headers: Headers, path: str, url: str) -> None:
        for name, value in HEADERS.items():
            headers[name] = value
        if mode == "production":
            headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY

    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        app.wsgi_app,
        root=str(BUILT),
        prefix=app.static_url_path,
        max_age=SHORT_MAX_AGE,
        immutable_file_test=is_immutable,
        allow_all_origins=False,
        add_headers_function=security_headers,
    )
