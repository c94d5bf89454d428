"""Building the package (a wheel, `pip install .`) also builds the front-end assets.

Everything else is in pyproject.toml. The wheel carries ``advice_line/static_built/``:
built here from ``node_modules`` (`npm ci`) when it is present, else the folder `make
install` (``python -m advice_line.assets build``) already made; without either the build
stops and says so.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent


def assets_module() -> ModuleType:
    """advice_line/assets.py, loaded alone: the package's dependencies are not installed."""
    spec = importlib.util.spec_from_file_location(
        "advice_line_assets", ROOT / "advice_line" / "assets.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError("advice_line/assets.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class BuildPyWithAssets(build_py):
    """The usual build_py, then the built front end into the build folder."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install serves the source tree's folder, built by make install
        assets = assets_module()
        target = Path(self.build_lib) / "advice_line" / assets.BUILT.name
        node_modules = ROOT / "node_modules"
        if node_modules.is_dir():
            try:
                assets.build(node_modules, target)
            except assets.BuildError as error:
                raise FileError(f"front-end assets not built: {error}") from None
        elif not (target / assets.MANIFEST).exists():
            raise FileError(
                f"front-end assets not built: neither {node_modules} nor "
                f"{assets.BUILT / assets.MANIFEST} exists; run `npm ci` (or make install) "
                "in the checkout first"
            )


setup(cmdclass={"build_py": BuildPyWithAssets})
