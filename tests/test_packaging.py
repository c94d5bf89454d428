"""`pip install .` carries everything the app reads at run time, and runs outside a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh directory with only the installed package on the path: migrate, then
# render pages from every template folder and serve a static file.
INSTALLED_APP = """
import sys
from pathlib import Path

import advice_line
from advice_line import create_app
from advice_line.extensions import db
from flask_migrate import upgrade

site = Path(sys.argv[1]).resolve()
assert Path(advice_line.__file__).resolve().is_relative_to(site), advice_line.__file__
app = create_app({"TESTING": True}, env={
    "ADVICE_LINE_MODE": "demo",
    "DATABASE_URL": "sqlite:///" + sys.argv[2],
    "SCHEDULER_IN_PROCESS": "false",
})
with app.app_context():
    upgrade()
    assert "advice_request" in db.inspect(db.engine).get_table_names()
client = app.test_client()
for path in ("/", "/login", "/simulator/", "/static/app.css"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
print("installed app ok")
"""


def tracked(prefix: str) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z", prefix], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    return sorted(filter(None, listing.split("\0")))


def test_the_wheel_carries_every_template_static_file_and_migration(tmp_path: Path) -> None:
    source = tmp_path / "source"  # only what git tracks: no build leftovers, no caches
    for name in tracked("."):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # Offline: the venv's own setuptools (a dev dependency) builds it, nothing is fetched.
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheels = tmp_path / "wheels"
    build = ["wheel", "--no-index", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    subprocess.run([*pip, *build, str(source)], check=True)
    (wheel,) = wheels.glob("advice_line-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = set(archive.namelist())

    package_files = tracked("advice_line")
    assert [n for n in package_files if "/templates/" in n], "templates are tracked"
    assert [n for n in package_files if n.startswith("advice_line/migrations/versions/")]
    assert [n for n in package_files if n.startswith("advice_line/static/")]
    assert sorted(set(package_files) - carried) == []

    site = tmp_path / "site"
    install = ["install", "--no-index", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run([*pip, *install], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    ran = subprocess.run(
        [sys.executable, "-c", INSTALLED_APP, str(site), str(elsewhere / "line.sqlite3")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert "installed app ok" in ran.stdout
