"""The page geometry of GB/T 9704-2012 党政机关公文格式, shared by the Word and HTML renderers.

Lengths in millimetres (mm) or points (pt); font sizes by their Chinese names: 二号 22 pt, 三号 16 pt,
四号 14 pt, 五号 10.5 pt, 小初 36 pt.
"""

from __future__ import annotations

from energystat.circular.blocks import Block, text_width

PT_PER_MM = 72 / 25.4

# A4 and the 版心 (7.1, 5.2.1): 156 × 225 mm, top margin 37 mm, left (binding) margin 28 mm.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_TOP, MARGIN_LEFT = 37.0, 28.0
TEXT_W, TEXT_H = 156.0, 225.0
MARGIN_RIGHT, MARGIN_BOTTOM = PAGE_W - MARGIN_LEFT - TEXT_W, PAGE_H - MARGIN_TOP - TEXT_H
LINES_PER_PAGE, CHARS_PER_LINE = 22, 28
LINE = TEXT_H * PT_PER_MM / LINES_PER_PAGE - 0.05  # 28.95 pt: 22 lines fill the 版心 without spilling

MARK_TOP_MM = 35.0  # 发文机关标志: its top edge below the 版心's top edge (7.2.3)
RULE_GAP_MM = 4.0  # red separator line under the 发文字号 (7.2.6)
PAGE_NUMBER_GAP_MM = 7.0  # page number line: its top edge below the 版心's bottom edge (7.5)

SIZE_TITLE = 22  # 二号
SIZE_BODY = 16  # 三号
SIZE_IMPRINT = 14  # 四号 (版记, page numbers)
SIZE_MARK = 36  # 小初, narrowed to the 版心's width
SIZE_CAPTION = 14
SIZE_TABLE = 10.5  # 五号
SIZE_TABLE_MIN = 7.5
TITLE_LINE = 36  # pt between title lines
BODY_TRACKING = -0.25  # pt: 28 characters of 三号 (16 pt) on the 156 mm line, as the standard counts them
TITLE_LINE_EMS = TEXT_W * PT_PER_MM / SIZE_TITLE  # 20.1 characters of 二号 on a portrait line
TITLE_LINE_EMS_WIDE = TEXT_H * PT_PER_MM / SIZE_TITLE  # 29 on a landscape page
RED = "FF0000"

CELL_PADDING_PT = 2 * 5.4  # Word's default left and right cell margins (0.19 cm each)
CELL_SLACK_EMS = 0.6  # room for glyphs wider than their estimate (fonts differ between Word and LibreOffice)


def mark_scale(text: str) -> int:
    """Horizontal scale (%) that narrows the 发文机关标志 to the 版心's width at 小初."""
    return min(100, int(TEXT_W * PT_PER_MM / (text_width(text) * SIZE_MARK) * 100))


def signature_indents(issuer: str, day: str) -> tuple[float, float]:
    """Right indents (characters) of the 署名 and the 成文日期: the date four characters from the right, the
    署名 centred over it (7.3.5.1); a name longer than that goes flush right with the date centred under it."""
    w_issuer, w_day = text_width(issuer), text_width(day)
    right_day = 4.0
    right_issuer = right_day + (w_day - w_issuer) / 2
    if right_issuer < 0:
        return 0.0, (w_issuer - w_day) / 2
    return right_issuer, right_day


def natural_size(block: Block) -> float:
    """The font size (pt) at which the table fits a portrait 版心 without wrapping (SIZE_TABLE if it does)."""
    return column_widths(block, TEXT_W * PT_PER_MM)[1]


def column_widths(block: Block, available_pt: float, size: float = SIZE_TABLE) -> tuple[list[float], float]:
    """Column widths (pt) so that no header line and no cell wraps, and the font size that allows it.

    Each column gets the width of its widest unbreakable line (header lines split at "\\n", cells whole);
    what is left is shared in proportion; when the lines do not fit, the font shrinks (down to 7.5 pt).
    """
    ncols = len(block.rows[0]) if block.rows else sum(c.colspan for c in block.header[0])
    need = [0.0] * ncols
    spans: list[tuple[int, int, float]] = []
    covered: set[tuple[int, int]] = set()
    for r, header_row in enumerate(block.header):
        c = 0
        for cell in header_row:
            while (r, c) in covered:
                c += 1
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    covered.add((r + dr, c + dc))
            widest = max(text_width(line) for line in cell.text.split("\n"))
            if cell.colspan == 1:
                need[c] = max(need[c], widest)
            else:
                spans.append((c, cell.colspan, widest))
            c += cell.colspan
    for row in block.rows:
        for c, value in enumerate(row):
            need[c] = max(need[c], text_width(value))
    for c, span, widest in spans:  # a group header wider than its columns widens them evenly
        deficit = widest - sum(need[c:c + span])
        if deficit > 0:
            for k in range(c, c + span):
                need[k] += deficit / span
    while True:
        widths = [(n + CELL_SLACK_EMS) * size + CELL_PADDING_PT for n in need]
        if sum(widths) <= available_pt or size <= SIZE_TABLE_MIN:
            break
        size = max(SIZE_TABLE_MIN, size - 0.5)
    spare = max(available_pt - sum(widths), 0.0)
    total = sum(widths)
    return [w + spare * w / total for w in widths], size
