"""Publish the annual circular: marts -> data -> charts -> .docx, .html and circular_<year>.json."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from energystat.circular import charts as charts_mod
from energystat.circular import gbt9704
from energystat.circular.blocks import Document, keep_together
from energystat.circular.data import check_complete, load_circular_data
from energystat.circular.document import build_document, status_word
from energystat.circular.docx_render import render_docx
from energystat.circular.model import CircularData
from energystat.circular.settings import CircularSettings, load_settings
from energystat.circular.wording import Wording

log = logging.getLogger(__name__)

NO_CJK_FONT_NOTE = (
    "no CJK font found: chart labels use reporter codes and English "
    "(install Debian's fonts-noto-cjk, or any Noto Sans CJK SC / WenQuanYi font, and publish again)"
)
HTML_TEMPLATE = Path(__file__).parent / "templates" / "circular.html.j2"


def file_stem(year: int) -> str:
    return f"circular_{year}"


def make_charts(data: CircularData) -> tuple[dict[str, charts_mod.Chart], list[str]]:
    """One chart per indicator; the notes say when no CJK font was available."""
    font = charts_mod.find_cjk_font()
    notes = []
    if font is None:
        log.warning("no CJK font for matplotlib: charts label reporters by code (install fonts-noto-cjk)")
        notes.append(NO_CJK_FONT_NOTE)
    charts = {
        ind.indicator: charts_mod.yoy_chart(ind.indicator, ind.name_zh, data.reporters, data.region, font)
        for ind in data.region.indicators
    }
    return charts, notes


def table_layout(document: Document) -> dict[str, dict[str, Any]]:
    """Per table: relative column widths (%) and font size (pt) as in the Word file, for the HTML's print pages."""
    layout: dict[str, dict[str, Any]] = {}
    available = gbt9704.TEXT_W * gbt9704.PT_PER_MM
    for block in document.blocks:
        if block.kind == "annex":
            available = (gbt9704.TEXT_H if block.wide else gbt9704.TEXT_W) * gbt9704.PT_PER_MM
        elif block.kind == "table":
            widths, size = gbt9704.column_widths(block, available)
            layout[block.key] = {"widths": [round(100 * w / sum(widths), 2) for w in widths], "size": size,
                                 "wide": available > gbt9704.TEXT_W * gbt9704.PT_PER_MM}
    return layout


def render_html(document: Document, path: Path, wording: Wording | None = None, missed_word: str = "未完成") -> Path:
    """Write the self-contained HTML version (inline CSS, inline SVG charts); printed, its pages follow the
    Word file's (A4, the same 版心, landscape annex, 版记 at the foot of the last page, page numbers)."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["keep_together"] = keep_together
    signature = next((b for b in document.blocks if b.kind == "signature"), None)
    html = env.from_string(HTML_TEMPLATE.read_text(encoding="utf-8")).render(
        doc=document, missed_word=status_word(wording, False) if wording is not None else missed_word,
        g=gbt9704, layout=table_layout(document),
        mark_scale=gbt9704.mark_scale(document.blocks[0].text) if document.blocks[0].kind == "masthead" else 100,
        signature_indents=gbt9704.signature_indents(*signature.lines) if signature else (0, 0),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def circular_json(data: CircularData, document: Document) -> dict[str, Any]:
    """The machine-readable circular: the marts' values at full precision, and every table as displayed."""
    tables = {
        b.key: {"caption": b.text, "header": [[asdict(c) for c in row] for row in b.header], "rows": b.rows}
        for b in document.blocks if b.kind == "table"
    }
    return {"metadata": document.metadata, "data": data.to_dict(), "tables": tables}


def write_json(data: CircularData, document: Document, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(circular_json(data, document), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def publish(
    year: int, out_dir: Path | str, dsn: str | None = None, force: bool = False,
    settings: CircularSettings | None = None,
) -> dict[str, Path]:
    """Write circular_<year>.docx, .html and .json into `out_dir`; returns {"docx": …, "html": …, "json": …}.

    Refuses (IncompleteReportingError, naming reporters and months) when the year's monthly reporting is
    incomplete, unless `force`; a forced circular says in its text what is missing.
    """
    settings = settings or load_settings()
    wording = Wording(settings.wording_file)
    data = load_circular_data(dsn, year, totals_wording=wording.raw("totals"))
    if not force:
        check_complete(data)
    elif data.missing:
        log.warning("publishing the %s circular although %d reporter(s) are incomplete (forced)", year,
                    len(data.missing))
    charts, notes = make_charts(data)
    if data.missing:
        notes.append("报送不完整，强制生成 / incomplete reporting, published with --force")
    document = build_document(data, settings, wording, charts, notes=notes)
    out = Path(out_dir)
    stem = file_stem(year)
    paths = {
        "docx": render_docx(document, out / f"{stem}.docx"),
        "html": render_html(document, out / f"{stem}.html", wording),
        "json": write_json(data, document, out / f"{stem}.json"),
    }
    log.info("circular %s written to %s", year, out)
    return paths
