"""Charts of the circular (matplotlib, Agg): each reporter's year-on-year change against the target line.

Chinese labels need a CJK font. `find_cjk_font()` looks through matplotlib's font list for one of the usual
families (Noto Sans/Serif CJK, Source Han, WenQuanYi, SimHei…). Without one, the charts use reporter codes and
English labels (never missing-glyph boxes), a warning is logged and the documents' metadata says so.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from energystat.circular import fmt
from energystat.circular.model import ReporterResult

log = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Noto Serif CJK SC", "AR PL UMing CN",
)
CJK_FILE_TOKENS = ("notosanscjk", "notoserifcjk", "wqy", "sourcehansans", "simhei")
COLOUR_ATTAINED = "#2e7d32"
COLOUR_MISSED = "#c62828"
COLOUR_UNKNOWN = "#9e9e9e"
COLOUR_REGION = "#1565c0"


@dataclass(frozen=True)
class Chart:
    key: str
    png: bytes
    svg: str
    cjk: bool


def find_cjk_font() -> str | None:
    """The family name of an installed CJK font matplotlib can use, or None."""
    from matplotlib import font_manager

    family = _preferred_installed(font_manager.fontManager.ttflist)
    if family is None:
        # matplotlib's cache predates `apt-get install fonts-noto-cjk`: register the CJK files on disk. A .ttc holds
        # every language's face (JP first in Noto's), so the family is picked by preference, not by the file's
        # first face: the JP face draws 直, 骨, 没 … in Japanese shapes.
        for path in font_manager.findSystemFonts():
            if any(token in path.lower() for token in CJK_FILE_TOKENS):
                font_manager.fontManager.addfont(path)
        family = _preferred_installed(font_manager.fontManager.ttflist)
        if family is not None:
            log.info("registered the CJK fonts on disk; charts use %s", family)
    return family


def _preferred_installed(fonts: list) -> str | None:
    installed = {f.name for f in fonts}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def yoy_chart(
    key: str,
    indicator_label: str,
    reporters: list[ReporterResult],
    region: ReporterResult,
    font_family: str | None,
) -> Chart:
    """Horizontal bars of each reporter's yoy change (%) for one indicator, the whole region last, target line.

    Values are the marts' yoy_change and target_change, multiplied by 100 for the axis only.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cjk = font_family is not None
    # Largest decline on top (sorting only orders bars), the whole region last.
    rows = [(r, i) for r in reporters if (i := r.indicator(key)) is not None]
    rows.sort(key=lambda ri: (ri[1].yoy_change is None, ri[1].yoy_change or 0.0))
    if (region_result := region.indicator(key)) is not None:
        rows.append((region, region_result))
    labels = [(r.reporter_name if cjk else r.reporter_code) for r, _ in rows]
    values = [(i.yoy_change * 100 if i.yoy_change is not None else 0.0) for _, i in rows]
    colours = [
        COLOUR_REGION if r.reporter_code == region.reporter_code
        else COLOUR_UNKNOWN if i.attained is None else COLOUR_ATTAINED if i.attained else COLOUR_MISSED
        for r, i in rows
    ]
    target = next((i.target_change for _, i in rows if i.target_change is not None), None)

    rc = {"font.family": [font_family, "DejaVu Sans"] if cjk else ["DejaVu Sans"], "axes.unicode_minus": False,
          "svg.fonttype": "path", "svg.hashsalt": "energystat", "font.size": 9}
    with plt.rc_context(rc):
        # two charts to a page of the 版心 (156 × 225 mm) with their captions
        fig, ax = plt.subplots(figsize=(6.3, 0.15 * len(rows) + 1.0), dpi=150)
        positions = list(range(len(rows)))[::-1]  # first reporter on top
        ax.barh(positions, values, color=colours, height=0.62)
        ax.set_yticks(positions, labels)
        ax.axvline(0, color="#424242", linewidth=0.8)
        if target is not None:
            ax.axvline(target * 100, color="#ef6c00", linestyle="--", linewidth=1.2)
            ax.text(target * 100, len(rows) - 0.35, (f"目标 {fmt.pct(target)}%" if cjk else f"target {fmt.pct(target)}%"),
                    color="#ef6c00", ha="center", va="bottom", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        span = max([abs(v) for v in values] + [abs(target * 100) if target is not None else 0.0, 0.5])
        ax.set_xlim(-span * 1.35, span * 1.35)
        ax.set_ylim(-0.6, len(rows) + 0.2)
        for pos, value, (_, ind) in zip(positions, values, rows, strict=True):
            text = fmt.pct(ind.yoy_change)
            ax.text(value + (span * 0.02 if value >= 0 else -span * 0.02), pos, text, va="center",
                    ha="left" if value >= 0 else "right", fontsize=7.5)
        ax.set_xlabel(f"{indicator_label} 同比变化率（%）" if cjk else f"{key}: year-on-year change (%)")
        from matplotlib.patches import Patch

        legend = [(COLOUR_ATTAINED, "完成" if cjk else "attained"), (COLOUR_MISSED, "未完成" if cjk else "missed"),
                  (COLOUR_REGION, region.reporter_name if cjk else region.reporter_code)]
        ax.legend(handles=[Patch(color=c, label=label) for c, label in legend], loc="lower right", fontsize=7.5,
                  frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.tight_layout()
        png, svg = io.BytesIO(), io.StringIO()
        fig.savefig(png, format="png")
        fig.savefig(svg, format="svg", metadata={"Date": None})
        plt.close(fig)
    return Chart(key=key, png=png.getvalue(), svg=_strip_xml_header(svg.getvalue()), cjk=cjk)


def _strip_xml_header(svg: str) -> str:
    """Inline SVG in HTML: drop the XML declaration and DOCTYPE, keep the <svg> element."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
