"""Browser tests say what to do when the built front end is missing or stale, not time out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from advice_line.assets import MANIFEST, STATIC
from tests import conftest


def install_front_end(tmp_path: Path) -> tuple[Path, Path]:
    """A built folder and node_modules with what the check looks for (it asks only that
    each exists, and that the manifest is newer than the app's own static files)."""
    built, node_modules = tmp_path / "static_built", tmp_path / "node_modules"
    built.mkdir()
    (built / MANIFEST).write_text("{}")
    (node_modules / conftest.AXE).parent.mkdir(parents=True)
    (node_modules / conftest.AXE).write_text("")
    return built, node_modules


@pytest.mark.parametrize(
    ("require_services", "outcome"),
    [(False, pytest.skip.Exception), (True, pytest.fail.Exception)],
    ids=["skips", "fails in CI"],
)
def test_browser_tests_say_run_make_install_without_the_built_assets(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    require_services: bool,
    outcome: type[BaseException],
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", require_services)
    with pytest.raises(outcome, match="run make install"):
        conftest.require_front_end(tmp_path / "static_built", tmp_path / "node_modules")


def test_a_missing_manifest_or_axe_is_enough_to_skip_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", False)
    built, node_modules = install_front_end(tmp_path)
    conftest.require_front_end(built, node_modules)  # everything there: no skip
    (node_modules / conftest.AXE).unlink()
    with pytest.raises(pytest.skip.Exception, match=r"axe\.min\.js"):
        conftest.require_front_end(built, node_modules)


def test_assets_older_than_the_app_s_static_files_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", False)
    built, node_modules = install_front_end(tmp_path)
    os.utime(built / MANIFEST, (0, 0))  # built before any source was written
    with pytest.raises(pytest.skip.Exception, match=r"console\.js \(changed since"):
        conftest.require_front_end(built, node_modules)
    assert (STATIC / "console.js").exists()
