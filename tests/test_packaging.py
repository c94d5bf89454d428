"""`pip install .` carries everything the app reads at run time, and runs outside a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
#: Offline: the venv's own setuptools, WhiteNoise and Brotli build it, nothing is fetched.
BUILD_WHEEL = ["wheel", "--no-index", "--no-deps", "--no-build-isolation", "-w"]

# Run by the fresh virtualenv's Python in a directory outside the checkout: the page and
# the stylesheet it links to, as a browser asks for them.
SERVE_A_PAGE = """
import re
import sys
from pathlib import Path

import advice_line
from advice_line import create_app

assert Path(advice_line.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())
app = create_app()
client = app.test_client()
for path in ("/", "/login", "/simulator/"):
    assert client.get(path).status_code == 200, path
page = client.get("/login").get_data(as_text=True)
(stylesheet,) = re.findall(r'href="(/static/vendor/nhsuk/[^"]+\\.css)"', page)
response = client.get(stylesheet, headers={"Accept-Encoding": "gzip"})
print(response.status_code, response.headers["Content-Encoding"])
print(response.headers["Cache-Control"])
response.close()
"""


def copy_tracked(destination: Path) -> Path:
    """Only what git tracks: no build leftovers, no caches, no built assets."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def tracked(prefix: str) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", prefix], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    return sorted(filter(None, listing.split("\0")))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a clean copy of the checkout, with its npm packages (make install's)."""
    if not (ROOT / "node_modules").is_dir():
        pytest.fail("the wheel's assets are built from node_modules: run make install")
    source = copy_tracked(tmp_path_factory.mktemp("source"))
    (source / "node_modules").symlink_to(ROOT / "node_modules")
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([*PIP, *BUILD_WHEEL, str(wheels), str(source)], check=True)
    (built,) = wheels.glob("advice_line-*.whl")
    return built


def test_the_wheel_carries_every_template_migration_and_built_asset(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        carried = set(archive.namelist())
        manifest = json.loads(archive.read("advice_line/static_built/manifest.json"))

    # advice_line/static/ is the source of static_built/, which is what is served.
    package_files = [n for n in tracked("advice_line") if not n.startswith("advice_line/static/")]
    assert [n for n in package_files if "/templates/" in n], "templates are tracked"
    assert [n for n in package_files if n.startswith("advice_line/migrations/versions/")]
    assert sorted(set(package_files) - carried) == []
    assert {"console.js", "vendor/nhsuk/nhsuk-frontend.min.css"} <= set(manifest)
    built = {f"advice_line/static_built/{name}" for name in manifest.values()}
    assert sorted(built - carried) == []
    assert f"advice_line/static_built/{manifest['console.js']}.gz" in carried


def test_the_installed_wheel_migrates_and_serves_pages_and_assets_outside_a_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "--quiet"]
    lock = ["install", "--require-hashes", "-r", str(ROOT / "requirements.lock")]
    subprocess.run([*pip, *lock], check=True, timeout=600)
    subprocess.run([*pip, "install", "--no-deps", str(wheel)], check=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "FLASK"))
    }
    env |= {
        "ADVICE_LINE_MODE": "demo",
        "DATABASE_URL": f"sqlite:///{elsewhere / 'line.sqlite3'}",
        "SCHEDULER_IN_PROCESS": "false",
    }
    flask = [str(environment / "bin" / "flask"), "--app", "advice_line"]
    migrated = subprocess.run(
        [*flask, "db", "upgrade"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    served = subprocess.run(
        [str(environment / "bin" / "python"), "-c", SERVE_A_PAGE],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    status, cache = served.stdout.splitlines()
    assert status == "200 gzip"
    assert "immutable" in cache
    assert "max-age=315360000" in cache
    assert not (elsewhere / "instance").exists(), "nothing written beside the caller"


def test_a_wheel_without_node_modules_or_built_assets_is_refused_in_words(
    tmp_path: Path,
) -> None:
    source = copy_tracked(tmp_path / "source")
    built = subprocess.run(
        [*PIP, *BUILD_WHEEL, str(tmp_path / "wheels"), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode != 0
    assert "front-end assets not built" in built.stderr
    assert "run `npm ci` (or make install)" in built.stderr
    assert not list((tmp_path / "wheels").glob("*.whl"))
