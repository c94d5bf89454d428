"""The repository's shape: it stands alone, and each part keeps to its place."""

from __future__ import annotations

import ast
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tracked_text_files() -> dict[str, str]:
    """Every file git tracks that is text, by path."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    texts: dict[str, str] = {}
    for name in filter(None, listing.split("\0")):
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        texts[name] = data.decode("utf-8", errors="replace")
    return texts


def test_nothing_cites_a_file_outside_the_repository() -> None:
    # Built from parts so this file does not name them itself.
    outside = ("DESIGN" + ".md", "../" + "shared")
    citing = sorted(
        f"{name}: {word}"
        for name, text in tracked_text_files().items()
        for word in outside
        if word in text
    )
    assert citing == [], "cite docs/DOMAIN.md instead"


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def test_every_citation_of_the_domain_document_names_one_of_its_headings() -> None:
    texts = tracked_text_files()
    domain = texts["docs/DOMAIN.md"]
    headings = [
        github_anchor(line.lstrip("#"))
        for line in domain.splitlines()
        if re.match(r"#{1,6} ", line)
    ]
    assert len(headings) == len(set(headings)), "headings must give unique anchors"
    cited = {
        (name, anchor)
        for name, text in texts.items()
        for anchor in re.findall(r"DOMAIN\.md#([\w-]+)", text)
    }
    cited |= {("docs/DOMAIN.md", a) for a in re.findall(r"\]\(#([\w-]+)\)", domain)}
    assert cited, "the code cites the domain document"
    assert sorted(c for c in cited if c[1] not in headings) == []


def test_the_repository_tracks_no_symbolic_links() -> None:
    """A committed link (a worktree's .venv, say) points at a folder a fresh clone lacks."""
    staged = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    links = [line.split("\t", 1)[1] for line in staged.splitlines() if line.startswith("120000")]
    assert links == [], f"symbolic links are tracked: {links}"


def test_the_package_root_holds_only_the_app_factory() -> None:
    tree = ast.parse((ROOT / "advice_line" / "__init__.py").read_text())
    defined = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert defined == ["create_app"]


def test_template_names_are_unique_across_the_app_and_its_blueprints() -> None:
    # Flask searches the app's folder first, then each blueprint's in registration order:
    # a name in two folders would silently render the first one found.
    package = ROOT / "advice_line"
    folders = [package / "templates", *sorted(package.glob("*/templates"))]
    names = Counter(
        path.relative_to(folder).as_posix()
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file()
    )
    assert sorted(name for name, count in names.items() if count > 1) == []


# --- the domain knows nothing of Flask, Twilio or sockets ------------------------------

PACKAGE = ROOT / "advice_line"
DOMAIN = [PACKAGE / "lifecycle", PACKAGE / "routing", PACKAGE / "models"]
DOMAIN_MODULES = [PACKAGE / f for f in ("audit.py", "clock.py", "phones.py", "text.py")]
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


# --- the safety case names real tests --------------------------------------------------

SAFETY_CASE = ROOT / "docs" / "CLINICAL-SAFETY.md"
HAZARDS = (
    "Wrong legal advice recorded",
    "A request lost",
    "A request unanswered",
    "The wrong clinician",
    "A child not safeguarded",
    "Data disclosed",
)


def _cited_tests(text: str) -> set[tuple[str, str]]:
    """Every test the safety case cites, as (file, function), ``::name`` after a file."""
    cited: set[tuple[str, str]] = set()
    for row in text.splitlines():
        current = None
        for file, name in re.findall(r"(tests/\w+\.py)?::(\w+)", row):
            current = file or current
            assert current is not None, f"{name} cited without its file: {row}"
            cited.add((current, name))
    return cited


def test_every_control_in_the_safety_case_is_a_test_that_exists() -> None:
    text = SAFETY_CASE.read_text()
    for hazard in HAZARDS:
        assert hazard in text, f"the hazard log lacks {hazard!r}"
    cited = _cited_tests(text)
    assert len(cited) >= 30
    for file, name in sorted(cited):
        tree = ast.parse((ROOT / file).read_text())
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in names, f"docs/CLINICAL-SAFETY.md cites {file}::{name}, which is not there"
