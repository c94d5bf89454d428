"""Browser tests say what to do when the front-end packages are missing, not time out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import conftest


def install_front_end(node_modules: Path) -> None:
    """Make every path the check looks for (it asks only that each exists)."""
    for path in conftest.FRONT_END_FILES:
        (node_modules / path).mkdir(parents=True)


@pytest.mark.parametrize(
    ("require_services", "outcome"),
    [(False, pytest.skip.Exception), (True, pytest.fail.Exception)],
    ids=["skips", "fails in CI"],
)
def test_browser_tests_say_run_make_install_without_the_front_end_packages(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    require_services: bool,
    outcome: type[BaseException],
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", require_services)
    with pytest.raises(outcome, match="run make install"):
        conftest.require_front_end(tmp_path / "node_modules")


def test_one_missing_package_is_enough_to_skip_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_SERVICES", False)
    node_modules = tmp_path / "node_modules"
    install_front_end(node_modules)
    conftest.require_front_end(node_modules)  # everything there: no skip
    (node_modules / "chart.js" / "dist").rmdir()
    with pytest.raises(pytest.skip.Exception, match=r"chart\.js"):
        conftest.require_front_end(node_modules)
