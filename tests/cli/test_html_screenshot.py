"""The HTML report renders in headless Chromium (Debian's ``chromium``) into a non-blank page."""

from __future__ import annotations

import shutil
import sys

import pytest
from conftest import REPO, npu

sys.path.insert(0, str(REPO / "scripts"))
from screenshot_report import screenshot  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed"),
]


def test_report_renders_in_chromium(tmp_path, handmade_prog):
    import matplotlib.image

    html, png = tmp_path / "r.html", tmp_path / "r.png"
    assert npu("profile", handmade_prog, "--html", html).code == 0
    screenshot(html, png, width=1400, height=1600)
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (1600, 1400)
    assert pixels[..., :3].std() > 0.05  # text, plots and table, not a blank page
