"""The hash-locked requirements cover pyproject.toml: a dependency added without `make lock`
fails here, not on the next machine `make install` runs on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
DEV = [Requirement(line) for line in PROJECT["optional-dependencies"]["dev"]]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)")


def pins(lock: str) -> dict[str, tuple[Version, str]]:
    """Each locked package's version and its whole entry (pin, hashes, comments)."""
    entries: dict[str, tuple[Version, str]] = {}
    text = (ROOT / lock).read_text()
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = PIN.match(entry)
        if match:
            entries[canonicalize_name(match.group(1))] = (Version(match.group(2)), entry)
    return entries


@pytest.mark.parametrize(
    ("lock", "wanted"),
    [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)],
)
def test_every_dependency_is_locked_at_a_version_pyproject_allows(
    lock: str, wanted: list[Requirement]
) -> None:
    locked = pins(lock)
    unlocked = [str(r) for r in wanted if canonicalize_name(r.name) not in locked]
    assert unlocked == [], f"not in {lock}: run make lock"
    outside = [
        f"{r.name}=={locked[canonicalize_name(r.name)][0]} (pyproject: {r.specifier})"
        for r in wanted
        if not r.specifier.contains(locked[canonicalize_name(r.name)][0], prereleases=True)
    ]
    assert outside == [], f"{lock} pins versions pyproject.toml no longer allows: run make lock"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_has_its_hashes(lock: str) -> None:
    locked = pins(lock)
    assert len(locked) > 20
    assert [name for name, (_, entry) in locked.items() if "--hash=sha256:" not in entry] == []
