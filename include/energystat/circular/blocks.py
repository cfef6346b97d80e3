"""A document as a list of blocks: the model that the Word and HTML renderers draw, for any 公文-style document.

The annual circular (`document.py`) builds one; other documents (e.g. a monthly bulletin) build their own
from the same kinds and hand it to the same renderers (`docx_render.render_docx`, `publish.render_html`).

Block kinds, in the order GB/T 9704-2012 places them:

==============  =====================================================================================
masthead        版头: `text` = 发文机关标志 (red), `lines` = [发文字号] (may be empty); red separator line under it
title           标题: `text` the whole title, `lines` its lines (broken only at the allowed points)
addressee       主送机关
heading         一级标题 "一、…" (黑体)
subheading      二级标题 "（一）…" (楷体)
paragraph       正文段落 (仿宋; third and fourth levels "1." "（1）" are paragraphs that start with them)
table           `header` rows of `Cell`s (a "\\n" in a cell is an allowed line break), `rows`, `text` caption,
                `note` under it, `widths` (relative column widths, optional)
figure          `chart` with `text` caption
annex_list      附件说明: `lines` = the annexes' titles (numbered when more than one)
signature       署名 and 成文日期: `lines` = [issuer, date]
remark          附注 (printed in round brackets)
annex           starts an annex on a new page: `note` = "附件1", `text` = its title, `wide` = landscape page
imprint         版记 on the last page: `lines` = 抄送机关, `text` = 印发机关, `note` = 印发日期 "2024年2月5日印发"
==============  =====================================================================================
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

BLOCK_KINDS = ("masthead", "title", "addressee", "heading", "subheading", "paragraph", "table", "figure",
               "annex_list", "signature", "remark", "annex", "imprint")


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Block:
    kind: str
    text: str = ""
    key: str = ""  # tables and figures: a stable id (reporters, region, totals, tasks, reporting, chart_<indicator>)
    header: list[list[Cell]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    wide: bool = False  # annex: a landscape page
    note: str = ""
    chart: Any = None  # charts.Chart for figures
    lines: list[str] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)  # tables: relative column widths (empty = from the text)

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"unknown block kind {self.kind!r}; known: {BLOCK_KINDS}")


@dataclass
class Document:
    title: str
    blocks: list[Block]
    metadata: dict[str, Any]  # technical notes live here (and in the JSON), never in the body

    def table(self, key: str) -> Block:
        return next(b for b in self.blocks if b.kind == "table" and b.key == key)

    def body_text(self) -> list[str]:
        """Every text a reader sees, block by block (for checks such as "no English words")."""
        out: list[str] = []
        for b in self.blocks:
            out += [t for t in (b.text, b.note, *b.lines) if t]
            out += [c.text for row in b.header for c in row] + [v for row in b.rows for v in row]
        return out


#: Widths (ems) of narrow signs in a Times-like Latin font; other narrow characters count 0.5 (digits are 0.5).
NARROW_WIDTHS = {".": 0.25, ",": 0.25, ":": 0.28, "-": 0.34, "/": 0.28, " ": 0.25, "%": 0.84, "+": 0.57,
                 "(": 0.34, ")": 0.34, "—": 1.0}


WORD_JOINER = "\u2060"
_PERCENT_AFTER_NUMBER = re.compile(r"(?<=[0-9])(?=[%％])")


def keep_together(text: str) -> str:
    """Glue a number to its per cent sign with a word joiner (drawn as nothing), so that "0.5%" never breaks as
    "0.5" / "%". Renderers apply it to running text; the document's own text stays plain."""
    return _PERCENT_AFTER_NUMBER.sub(WORD_JOINER, text)


def text_width(text: str) -> float:
    """Width in ems: a Chinese character or full-width sign is 1, a digit 0.5, capitals 0.72, signs their own."""
    width = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 1.0
        elif ch in NARROW_WIDTHS:
            width += NARROW_WIDTHS[ch]
        else:
            width += 0.72 if ch.isupper() else 0.5
    return width


def break_lines(segments: list[str], max_width: float, max_lines: int = 4) -> list[str]:
    """Join `segments` (words) into the fewest lines no wider than `max_width` ems, breaking only between
    segments; among equal line counts the most even split wins (a title's 梯形/菱形 shape).

    A segment wider than a line stays whole on its own line.
    """
    segments = [s for s in segments if s]
    n = len(segments)
    for count in range(1, min(max_lines, n) + 1):
        best: tuple[float, list[str]] | None = None
        for cuts in itertools.combinations(range(1, n), count - 1):
            bounds = [0, *cuts, n]
            lines = ["".join(segments[a:b]) for a, b in itertools.pairwise(bounds)]
            widths = [text_width(line) for line in lines]
            if max(widths) > max_width and count < min(max_lines, n):
                continue
            score = max(widths) - min(widths)
            if best is None or score < best[0]:
                best = (score, lines)
        if best is not None:
            return best[1]
    return ["".join(segments)]
