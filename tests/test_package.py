"""``pip install`` of the checkout gives the same working UI as ``make run``: a wheel built from
a checkout where ``make assets`` never ran carries the vendored front-end files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_built_without_make_carries_htmx_swagger_ui_and_the_templates(
    tmp_path: Path,
) -> None:
    if not (ROOT / "node_modules" / "htmx.org").is_dir():
        pytest.skip("node_modules is not installed (make assets); no network in tests")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "package.json", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    shutil.copy(ROOT / "package-lock.json", checkout / "package-lock.json")
    shutil.copytree(
        ROOT / "src",
        checkout / "src",
        ignore=shutil.ignore_patterns("vendor", "__pycache__", "*.egg-info"),
    )
    # The npm packages as `npm ci` would leave them (no network in tests).
    (checkout / "node_modules").symlink_to(ROOT / "node_modules")
    assert not (checkout / "src" / "madoguchi" / "static" / "vendor").exists()
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(checkout),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = list((tmp_path / "dist").glob("madoguchi-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "madoguchi/static/vendor/htmx.min.js",
        "madoguchi/static/vendor/swagger-ui-bundle.js",
        "madoguchi/static/vendor/swagger-ui.css",
        "madoguchi/static/vendor/uPlot.iife.min.js",
        "madoguchi/static/css/app.css",
        "madoguchi/templates/inbox/_messages.html",
        "madoguchi/locale/ja/LC_MESSAGES/messages.po",
        "madoguchi/migrations/versions/0019_broadcast_copies.py",
    ):
        assert needed in names, needed
