"""Pages load front-end files built at install: hashed names, cached for good, compressed."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from advice_line import assets, create_app, static_files
from advice_line.assets import BuildError, build
from tests.conftest import NODE_MODULES, PRODUCTION_ENV


def built_url(app: Flask, name: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=name)


def fetch(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    """GET ``url``, read the body and close the file WhiteNoise opened."""
    response = client.get(url, headers=headers)
    response.get_data()
    response.close()
    return response


def test_templates_name_source_files_and_get_hashed_urls(app: Flask) -> None:
    url = built_url(app, "console.js")
    assert re.fullmatch(r"/static/console\.[0-9a-f]{12}\.js", url)
    nhsuk = built_url(app, "vendor/nhsuk/nhsuk-frontend.min.css")
    assert re.fullmatch(r"/static/vendor/nhsuk/nhsuk-frontend\.min\.[0-9a-f]{12}\.css", nhsuk)
    page = app.test_client().get("/login").get_data(as_text=True)
    assert f'href="{nhsuk}"' in page


def test_a_hashed_asset_is_cached_for_good_and_sent_compressed(app: Flask) -> None:
    client = app.test_client()
    url = built_url(app, "vendor/socket.io/socket.io.min.js")
    plain = fetch(client, url)
    assert plain.status_code == 200
    assert plain.mimetype == "text/javascript"
    cache = plain.headers["Cache-Control"]
    assert "immutable" in cache
    assert int(re.search(r"max-age=(\d+)", cache).group(1)) >= 31_536_000  # type: ignore[union-attr]
    zipped = fetch(client, url, **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 2
    brotli = fetch(client, url, **{"Accept-Encoding": "br, gzip"})
    assert brotli.headers["Content-Encoding"] == "br"
    again = fetch(client, url, **{"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304


def test_the_nhs_stylesheet_finds_its_icons_under_their_hashed_names(app: Flask) -> None:
    client = app.test_client()
    url = built_url(app, "vendor/nhsuk/nhsuk-frontend.min.css")
    css = fetch(client, url).get_data(as_text=True)
    icons = re.findall(r'url\("(assets/images/[^"]+)"\)', css)
    assert icons, "the stylesheet's icons are rewritten to built names"
    for icon in icons:
        response = fetch(client, url.rsplit("/", 1)[0] + "/" + icon)
        assert response.status_code == 200, icon
        assert response.mimetype == "image/svg+xml"
    assert "/assets/images/" not in css, "no path that only worked on the NHS's own site"


def test_an_unknown_static_file_is_named_with_what_to_do(app: Flask) -> None:
    with pytest.raises(static_files.UnknownAsset, match=r"'admin\.js'.*run make install"):
        built_url(app, "admin.js")


@pytest.mark.parametrize(
    ("mode", "advice"), [("demo", "run make install"), ("production", "from a wheel built")]
)
def test_the_app_refuses_to_start_without_its_built_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, advice: str
) -> None:
    monkeypatch.setattr(static_files, "BUILT", tmp_path / "static_built")
    env = {
        **PRODUCTION_ENV,
        "ADVICE_LINE_MODE": mode,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'line.sqlite3'}",
    }
    with pytest.raises(static_files.AssetsNotBuilt, match=advice):
        create_app(env=env)


@pytest.mark.skipif(not (NODE_MODULES / "nhsuk-frontend").exists(), reason="needs npm ci")
def test_a_build_replaces_the_folder_and_names_files_by_their_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("p { margin: 0; }\n")
    (static / "console.js").write_text("console.log(1);\n//# sourceMappingURL=console.js.map\n")
    monkeypatch.setattr(assets, "STATIC", static)
    out = tmp_path / "static_built"
    (out / "old").mkdir(parents=True)
    first = build(NODE_MODULES, out)
    assert not (out / "old").exists()
    assert json.loads((out / "manifest.json").read_text()) == first
    assert (out / first["console.js"]).read_text() == "console.log(1);\n", "no source map"
    (static / "console.js").write_text("console.log(2);\n")
    assert build(NODE_MODULES, out)["console.js"] != first["console.js"]


@pytest.mark.skipif(not (NODE_MODULES / "nhsuk-frontend").exists(), reason="needs npm ci")
def test_a_stylesheet_pointing_at_a_missing_file_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text(".x { background: url(images/gone.svg); }")
    (static / "console.js").write_text("console.log(1);\n")
    monkeypatch.setattr(assets, "STATIC", static)
    with pytest.raises(BuildError, match=r"app\.css refers to images/gone\.svg"):
        build(NODE_MODULES, tmp_path / "static_built")
    assert not (tmp_path / "static_built").exists(), "nothing half-built is left"


@pytest.mark.skipif(not (NODE_MODULES / "nhsuk-frontend").exists(), reason="needs npm ci")
def test_remote_fonts_are_dropped_and_any_other_remote_file_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    font = "@font-face{font-family:X;src:url(https://fonts.example/x.woff2) format('woff2')}"
    (static / "app.css").write_text(font + "p{font-family:X,arial}")
    (static / "console.js").write_text("console.log(1);\n")
    monkeypatch.setattr(assets, "STATIC", static)
    built = build(NODE_MODULES, tmp_path / "built")
    assert (tmp_path / "built" / built["app.css"]).read_text() == "p{font-family:X,arial}"
    (static / "app.css").write_text(".x { background: url(//images.example/x.png); }")
    with pytest.raises(BuildError, match=r"app\.css refers to //images\.example/x\.png"):
        build(NODE_MODULES, tmp_path / "again")


def test_the_build_says_run_npm_ci_without_node_modules(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"nhsuk-frontend.*run make install \(npm ci\)"):
        build(tmp_path / "node_modules", tmp_path / "static_built")
