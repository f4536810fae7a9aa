"""The HTML report: self-contained, plots inline, and really drawn when headless Chromium renders it."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quantwb.reports.compare import compare
from quantwb.reports.html import render_html
from quantwb.reports.render import write_report
from tests.report_records import write_all

PARETO_RED = np.array([214, 39, 40])  # plots.py draws the Pareto front in #d62728
POINT_BLUE = np.array([31, 119, 180])  # and the variants in #1f77b4


def _html(tmp_path: Path) -> Path:
    return write_report(compare([write_all(tmp_path / "results")]), "html", tmp_path / "report.html")


def _pixels_near(image: np.ndarray, color: np.ndarray, tolerance: int = 12) -> int:
    return int((np.abs(image.astype(int) - color).max(axis=-1) <= tolerance).sum())


def test_html_is_self_contained_with_three_plots(tmp_path: Path) -> None:
    text = _html(tmp_path).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), "the report must not load anything"
    assert "<script" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 3  # size vs KLD, size vs PPL, task scores
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as png:
            assert png.format == "PNG" and png.width > 400 and png.height > 300
    assert "dequantized from the Q4_1 GGUF" in text and "★ m-Q2_K" in text
    assert 'class="pareto"' in text and "m-gptq-w4g64" in text


def test_plots_skip_what_was_not_measured(tmp_path: Path) -> None:
    from quantwb import records as r
    from tests.report_records import VARIANTS, tasks_record

    for spec in VARIANTS[:3]:
        r.write_record(tasks_record(spec), tmp_path)
    text = render_html(compare([tmp_path]))
    assert len(re.findall(r"data:image/png;base64,", text)) == 1  # only the task plot, no empty KLD/PPL axes


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_chromium_screenshot_shows_the_plots(tmp_path: Path) -> None:
    html = _html(tmp_path)
    shot = tmp_path / "shot.png"
    command = [
        "chromium", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400",
        f"--screenshot={shot}", html.as_uri(),
    ]
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (2400, 1400)
    assert image.std() > 20, "the screenshot is blank"
    assert _pixels_near(image, PARETO_RED) > 300, "no Pareto front drawn: the plot images did not render"
    assert _pixels_near(image, POINT_BLUE) > 1000, "no variant points or bars drawn"
    # The first plot sits under the table: its red front appears in the upper part of the page.
    assert _pixels_near(image[:1200], PARETO_RED) > 100
