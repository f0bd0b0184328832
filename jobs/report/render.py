# SPDX-License-Identifier: Apache-2.0
"""The report's HTML (Jinja2, autoescaped; styles inline, pictures as inline SVG, no script, no font
or image fetched: the file opens offline) and the same document as PDF (WeasyPrint, which lays out
HTML and CSS for print with Pango). Both are deterministic: the same data gives the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from jobs.report.flow_dot import MissingToolError

__all__ = ["render_html", "render_pdf"]

_TEMPLATES = Path(__file__).parent / "templates"


def render_html(data: dict[str, Any]) -> str:
    """Fill the report template with ``data`` (every value escaped except the SVG pictures)."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=False)
    css = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(css=css, **data)


def render_pdf(html: str) -> bytes:
    """The report as PDF (A4, page numbers), laid out by WeasyPrint from the same HTML."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango missing (WeasyPrint loads it with ctypes)
        raise MissingToolError(
            f"PDF output needs WeasyPrint and Pango ({exc.__class__.__name__}: {str(exc)[:120]}): install them with "
            "`apt-get install libpango-1.0-0 libpangoft2-1.0-0` and `pip install weasyprint`, or run "
            "`bash scripts/setup.sh`") from None
    import logging

    # WeasyPrint logs every layout step and each unsupported CSS property at INFO/WARNING: not for users
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return bytes(weasyprint.HTML(string=html).write_pdf())
