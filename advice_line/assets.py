"""Build the front-end assets once, at install: ``python -m advice_line.assets build``.

Copies the files the pages use out of ``node_modules`` (the npm packages `make install`
fetched) and the app's own ``static/`` into ``static_built/``, each with a hash of its
content in its name (``console.3f2a9c1b04de.js``), references inside CSS rewritten to
those names, a ``manifest.json`` from the names templates use to the built ones, and
gzip and Brotli copies. Nothing here runs Node, and nothing at run time reads
``node_modules``.

Standard library and WhiteNoise only, and no import of the ``advice_line`` package:
setup.py loads this file by its path to build a wheel's assets.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from whitenoise.compress import Compressor

PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
BUILT = PACKAGE / "static_built"
MANIFEST = "manifest.json"
#: Hex digits of the content's SHA-256 in a built name.
HASH_LENGTH = 12
#: A built name: ``<stem>.<hash>.<extension>`` (what is cached for a year).
HASHED_NAME = re.compile(rf"\.[0-9a-f]{{{HASH_LENGTH}}}\.[A-Za-z0-9]+$")
URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
SOURCE_MAP = re.compile(rb"\n?/[*/]# sourceMappingURL=[^\n]*?(\*/)?\s*$")
#: A web font fetched from another site: NHS.UK frontend's Frutiger, from the NHS's asset
#: host. Frutiger is licensed and no npm package ships it, so the rule is dropped and the
#: stylesheet's own fallback (Arial, then the system's sans-serif) is used.
REMOTE_FONT = re.compile(r"@font-face\s*\{[^}]*url\(\s*['\"]?(https?:)?//[^}]*\}", re.IGNORECASE)


class Source(NamedTuple):
    """Files copied from one folder: ``prefix`` is where they go in the built folder.

    A CSS ``url(/x)`` is read as ``root``'s ``x`` (NHS.UK frontend points at its images
    as ``/assets/images/...``).
    """

    prefix: str
    root: Path
    patterns: tuple[str, ...]


def sources(node_modules: Path) -> list[Source]:
    """What the pages use: the app's own files and npm packages (NHS.UK frontend's
    stylesheet, its script of ES modules, its images: icons and the favicon; Socket.IO's
    client, Chart.js, Twilio's Voice SDK)."""
    return [
        Source("", STATIC, ("*.css", "*.js")),
        Source(
            "vendor/nhsuk",
            node_modules / "nhsuk-frontend" / "dist" / "nhsuk",
            ("nhsuk-frontend.min.css", "nhsuk-frontend.min.js", "assets/images/*"),
        ),
        Source(
            "vendor/socket.io", node_modules / "socket.io-client" / "dist", ("socket.io.min.js",)
        ),
        Source("vendor/chart.js", node_modules / "chart.js" / "dist", ("chart.umd.min.js",)),
        Source(
            "vendor/twilio", node_modules / "@twilio" / "voice-sdk" / "dist", ("twilio.min.js",)
        ),
    ]


class BuildError(Exception):
    """The assets cannot be built as they stand (a file missing, a broken reference)."""


def collect(found: Iterable[Source]) -> dict[str, tuple[bytes, Source]]:
    """Every file to build, by the name templates use, with its content and source."""
    files: dict[str, tuple[bytes, Source]] = {}
    for source in found:
        for pattern in source.patterns:
            matches = sorted(p for p in source.root.glob(pattern) if p.is_file())
            if not matches:
                raise BuildError(
                    f"{source.root / pattern} is missing: run make install (npm ci) first"
                )
            for path in matches:
                name = posixpath.join(source.prefix, path.relative_to(source.root).as_posix())
                files[name] = (path.read_bytes(), source)
    return files


def hashed(name: str, content: bytes) -> str:
    """``name`` with a hash of ``content`` before its extension."""
    stem, dot, extension = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    return f"{stem}.{digest}.{extension}" if dot else f"{name}.{digest}"


def rewrite_css(name: str, css: str, source: Source, built: dict[str, str]) -> str:
    """Point the stylesheet's ``url()``s at built names (relative, so any prefix works).

    Pages load nothing from other sites: remote web fonts are dropped, and any other
    reference to another site is refused.
    """
    folder = posixpath.dirname(name)

    def replace(match: re.Match[str]) -> str:
        url = match.group(2).strip()
        if re.match(r"^([a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE):
            raise BuildError(f"{name} refers to {url}, on another site")
        if re.match(r"^([a-z][a-z0-9+.-]*:|#)", url, re.IGNORECASE):
            return match.group(0)  # data:, an SVG fragment: not ours to build
        path, _, fragment = url.partition("#")
        path = path.partition("?")[0]
        if path.startswith("/"):
            target = posixpath.join(source.prefix, path.lstrip("/"))
        else:
            target = posixpath.normpath(posixpath.join(folder, path))
        if target not in built:
            raise BuildError(f"{name} refers to {url}, which is not among the files built")
        relative = posixpath.relpath(built[target], folder or ".")
        return f'url("{relative}{"#" + fragment if fragment else ""}")'

    return URL.sub(replace, REMOTE_FONT.sub("", css))


def build(node_modules: Path, out: Path = BUILT) -> dict[str, str]:
    """Build into ``out`` (replaced whole); return the manifest, template name -> built name."""
    files = collect(sources(node_modules))
    built: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    # Stylesheets last: their url()s need the built names of what they point at.
    for name in sorted(files, key=lambda n: (n.endswith(".css"), n)):
        content, source = files[name]
        content = SOURCE_MAP.sub(b"\n", content)  # the maps are not shipped
        if name.endswith(".css"):
            content = rewrite_css(name, content.decode(), source, built).encode()
        built[name] = hashed(name, content)
        contents[built[name]] = content
    staging = out.with_name(out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    compressor = Compressor(quiet=True)
    for name, content in contents.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if compressor.should_compress(name):
            compressor.compress(str(path))  # writes .br and .gz beside it, if smaller
    (staging / MANIFEST).write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return built


def main(argv: list[str]) -> int:
    """``build [node_modules]``: the command line `make install` runs."""
    if not argv or argv[0] != "build" or len(argv) > 2:
        print("usage: python -m advice_line.assets build [NODE_MODULES]", file=sys.stderr)
        return 2
    node_modules = Path(argv[1]) if len(argv) > 1 else Path.cwd() / "node_modules"
    try:
        manifest = build(node_modules)
    except BuildError as error:
        print(f"front-end assets not built: {error}", file=sys.stderr)
        return 1
    print(f"built {len(manifest)} front-end assets into {BUILT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
