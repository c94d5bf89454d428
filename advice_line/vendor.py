"""Front-end packages installed from the npm registry at set-up, served from node_modules."""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory

from advice_line import PROJECT_ROOT

bp = Blueprint("vendor", __name__)
NODE_MODULES = PROJECT_ROOT / "node_modules"
#: The only package folders served, by the name pages use.
PACKAGES = {
    "nhsuk": NODE_MODULES / "nhsuk-frontend" / "dist" / "nhsuk",
    "socket.io": NODE_MODULES / "socket.io-client" / "dist",
    "chart.js": NODE_MODULES / "chart.js" / "dist",
}


@bp.get("/vendor/<package>/<path:filename>")
def asset(package: str, filename: str) -> Response:
    """Serve a file of an allowed front-end package (long-cached)."""
    folder = PACKAGES.get(package)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=3600)
