"""The domain knows nothing of Flask, Twilio or sockets, and stays in rooms a newcomer can read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from advice_line import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "advice_line"
DOMAIN = [PACKAGE / "lifecycle", PACKAGE / "routing", PACKAGE / "models"]
DOMAIN_MODULES = [PACKAGE / "audit.py", PACKAGE / "clock.py", PACKAGE / "phones.py"]
FORBIDDEN = ("flask", "twilio", "socketio", "werkzeug", "gevent")  # and flask_* packages
MAX_DOMAIN_LINES = 400


def _domain_files() -> list[Path]:
    return sorted(f for folder in DOMAIN for f in folder.rglob("*.py")) + DOMAIN_MODULES


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", _domain_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_domain_imports_no_web_telephony_or_socket_library(path: Path) -> None:
    outside = {
        module
        for module in _imported_modules(path)
        if module.split(".")[0].split("_")[0] in FORBIDDEN
        or module.startswith("advice_line.extensions")
    }
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "lifecycle").glob("*.py")), ids=lambda p: p.name)
def test_every_lifecycle_module_is_short_enough_to_read(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_DOMAIN_LINES, f"{path.name} has {lines} lines"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from flask import request\n    import twilio.rest\n"
        "    import flask_socketio\n"
    )
    assert _imported_modules(sample) == {"flask", "twilio.rest", "flask_socketio"}
