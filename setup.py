"""The one build step of the package: the web pages' vendored front-end files (htmx, Swagger UI, uPlot)
come from npm packages (package.json), copied into src/madoguchi/static/vendor before setuptools
collects the package data. So ``pip install .`` (or a wheel built from the checkout) serves the
same UI as ``make run``, whether or not ``make assets`` ran first. Everything else is in
pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "src" / "madoguchi" / "static" / "vendor"
# The file in the package: where it is in node_modules (the Makefile's assets target copies
# the same ones).
VENDORED = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}


def vendor() -> None:
    missing = [name for name in VENDORED if not (VENDOR / name).is_file()]
    if not missing:
        return
    modules = ROOT / "node_modules"
    if not all((modules / VENDORED[name]).is_file() for name in missing):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(
                "Madoguchi's pages need htmx and Swagger UI from npm (package.json): "
                "install Node.js with npm, then install again."
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.copyfile(modules / VENDORED[name], VENDOR / name)


vendor()
setup()
