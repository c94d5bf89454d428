"""Templates: the app's and its blueprints', then NHS.UK frontend's Jinja macros."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader


def init_app(app: Flask) -> None:
    """Load ``nhsuk_frontend_jinja``'s macros after the app's own templates.

    The macros read optional parameters as chains (``params.navigation.items``), which
    needs ``ChainableUndefined``; a missing name still renders empty, as before, and
    calling one still fails. Call before anything renders (the environment is made once).
    """
    app.jinja_options = {**app.jinja_options, "undefined": ChainableUndefined}
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(Path(app.root_path, "templates"))),
            PackageLoader("nhsuk_frontend_jinja"),
        ]
    )
