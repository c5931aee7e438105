"""Headless Chromium for the tests that look at a page as a person would: screenshots, the DOM
after scripts ran, and how many pixels of a colour a screenshot shows.

Chromium is the Debian package `chromium` (`apt-get install -y chromium`, as .ci/run does); the
tests that need it skip, saying so, where it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MISSING = "Chromium is not installed (apt-get install -y chromium)"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(chromium() is None, reason=MISSING)


def _run(page: Path, profile: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    browser = chromium()
    if browser is None:
        pytest.skip(MISSING)
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *options,
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def screenshot(page: Path, png: Path, size: tuple[int, int]) -> Path:
    """The page rendered at `size` (width, height) into `png`."""
    _run(
        page,
        png.parent / f"{png.stem}-profile",
        f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png}",
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return png


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM once its scripts have run."""
    return _run(page, profile, "--dump-dom").stdout.decode("utf-8")


def pixels_of(png: Path, color: str, tolerance: int = 24) -> int:
    """How many pixels of the screenshot are within `tolerance` of `color` (#rrggbb) on every
    channel: anti-aliased text and icons keep their colour in their inner pixels."""
    from PIL import Image

    target = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        return sum(
            n
            for n, pixel in rgb.getcolors(maxcolors=1 << 24) or []
            if all(abs(a - b) <= tolerance for a, b in zip(pixel, target, strict=True))
        )
