# SPDX-License-Identifier: Apache-2.0
"""The report as a person sees it: opened in a real browser (headless Chromium, Debian's package),
printed to PDF by that browser, and the product's own PDF (WeasyPrint) read back with poppler.

Chromium renders the self-contained HTML from a file URL with the network closed; its screenshot
must show a page with content, and its printed PDF's text (``pdftotext``) must carry the exchange's
name, the exact amounts of ``STORY.md``, the flow graph's labels and the cited txids. The product's
PDF must have pages whose text says the same, and a first page that renders (``pdftoppm``) to a
picture with ink on it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.report.conftest import FIXTURE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None or shutil.which("pdftotext") is None,
                                reason="needs Debian's chromium and poppler-utils (scripts/setup.sh --test)")

#: closed network and no first-run work: Chromium must not try to reach anything (shared machine notes)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--no-pdf-header-footer"]


def _chromium(tmp_path: Path, *args: str) -> None:
    subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                   check=True, capture_output=True, timeout=120)


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, flags=re.MULTILINE)
    assert match, info
    return int(match.group(1))


def _png_has_ink(png: Path) -> bool:
    """True when the PNG is not one flat colour (decoded with zlib: no imaging library needed)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = b"", 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        if kind == b"IDAT":
            chunks += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(chunks)
    # a blank page decodes to two byte values (filter bytes and white); text and pictures to many
    return len(set(raw)) > 16


def _squeezed(text: str) -> str:
    """Text with every whitespace removed: a txid wrapped across lines reads whole again."""
    return re.sub(r"\s+", "", text)


@pytest.fixture()
def report(cli: Cli, case_home: Path) -> dict:
    data = cli.json("report", "op-fixture", "--pdf")
    return dict(data)


def test_chromium_shows_the_report_with_its_flow_graph(report: dict, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", Path(report["html"]).as_uri())
    assert shot.stat().st_size > 50_000
    assert _png_has_ink(shot)


def test_chromium_prints_the_story_in_exact_amounts(report: dict, tmp_path: Path) -> None:
    story = json.loads((FIXTURE / "story.json").read_text())
    printed = tmp_path / "printed.pdf"
    _chromium(tmp_path, f"--print-to-pdf={printed}", Path(report["html"]).as_uri())
    assert _pages(printed) >= 5
    text = _text(printed)
    assert "Case report: op-fixture" in text
    assert "Exchange Alpha" in text
    assert "10.5 rLTC" in text and "6.4999 rLTC" in text and "1.5 rLTC" in text
    assert "CoinJoin (joinmarket)" in text            # the flow graph's node for the mixing transaction
    squeezed = _squeezed(text)
    assert story["ltc"]["exchange_deposit"]["txid"] in squeezed
    assert story["ltc"]["coinjoin"]["txid"] in squeezed


def test_the_products_pdf_has_pages_that_say_the_same(report: dict, tmp_path: Path) -> None:
    pdf = Path(report["pdf"])
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert _pages(pdf) >= 5
    text = _text(pdf)
    assert "Exchange Alpha" in text and "6.4999 rLTC" in text and "Appendix A" in text
    assert json.loads((FIXTURE / "story.json").read_text())["ltc"]["exchange_deposit"]["txid"] in _squeezed(text)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=60)
    (page,) = tmp_path.glob("page*.png")
    assert _png_has_ink(page)
