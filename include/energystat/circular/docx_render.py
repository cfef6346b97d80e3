"""A block document (`blocks.Document`) as a Word file laid out per GB/T 9704-2012 党政机关公文格式.

A4; 版心 156 × 225 mm (top margin 37 mm, left 28 mm); 22 lines of 28.95 pt. 版头: the red 发文机关标志 35 mm
below the 版心's top edge, the 发文字号 two lines below it, a red line of the 版心's width 4 mm under the number.
Title 2号小标宋 two lines under the red line, in the lines the document broke it into; 主送机关 one line
below, flush left; body 3号仿宋 with two-character indents, 一、 in 黑体, （一） in 楷体. 附件说明 one line below
the body; 发文机关署名 centred over the 成文日期, which sits four characters from the right; 附注 under it.
Each 附件 on a new page ("附件1" top left in 3号黑体, its title on the third line). 版记 on the last page, at the
bottom of the 版心, between a thick first and last line with thin lines between its elements, 4号仿宋.
Page numbers "— 1 —" in 4号宋体 7 mm under the 版心: odd pages on the right, even pages on the left, one
character from the edge.

Font names are written as East-Asian font names, so Word on an official's PC uses 方正小标宋简体/仿宋/黑体/楷体;
other systems substitute a CJK font of their own.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from energystat.circular.blocks import Block, Document, keep_together
from energystat.circular.gbt9704 import (
    BODY_TRACKING,
    LINE,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    MARK_TOP_MM,
    PAGE_H,
    PAGE_NUMBER_GAP_MM,
    PAGE_W,
    PT_PER_MM,
    RED,
    RULE_GAP_MM,
    SIZE_BODY,
    SIZE_CAPTION,
    SIZE_IMPRINT,
    SIZE_MARK,
    SIZE_TABLE,
    SIZE_TITLE,
    TEXT_H,
    TEXT_W,
    TITLE_LINE,
    column_widths,
    mark_scale,
    signature_indents,
)

FONT_BODY = "仿宋"
FONT_HEADING = "黑体"
FONT_SUBHEADING = "楷体"
FONT_TITLE = "方正小标宋简体"
FONT_PAGE_NUMBER = "宋体"
FONT_LATIN = "Times New Roman"


# OOXML requires children in schema order; these are the successors of the elements added here.
_AFTER = {
    "w:spacing": ("w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr",
                  "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout"),
    "w:w": ("w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr", "w:shd",
            "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout"),
    "w:lang": ("w:eastAsianLayout", "w:specVanish", "w:oMath"),
    "w:pBdr": ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
               "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange"),
    "w:tblCellMar": ("w:tblLook", "w:tblCaption", "w:tblDescription", "w:tblPrChange"),
    # settings.xml: the 禁则 lists come after w:characterSpacingControl, before the compatibility settings
    "w:noLineBreaksAfter": ("w:noLineBreaksBefore", "w:savePreviewPicture", "w:doNotValidateAgainstSchema",
                            "w:saveInvalidXml", "w:ignoreMixedContent", "w:alwaysShowPlaceholderText",
                            "w:doNotDemarcateInvalidXml", "w:saveXmlDataOnly", "w:useXSLTWhenSaving",
                            "w:saveThroughXslt", "w:showXMLTags", "w:alwaysMergeEmptyNamespace",
                            "w:updateFields", "w:hdrShapeDefaults", "w:footnotePr", "w:endnotePr", "w:compat",
                            "w:docVars", "w:rsids", "m:mathPr", "w:attachedSchema", "w:themeFontLang",
                            "w:clrSchemeMapping", "w:doNotIncludeSubdocsInStats", "w:doNotAutoCompressPictures",
                            "w:forceUpgrade", "w:captions", "w:readModeInkLockDown", "w:smartTagType",
                            "sl:schemaLibrary", "w:shapeDefaults", "w:doNotEmbedSmartTags", "w:decimalSymbol",
                            "w:listSeparator"),
    "w:noLineBreaksBefore": ("w:savePreviewPicture", "w:doNotValidateAgainstSchema", "w:saveInvalidXml",
                             "w:ignoreMixedContent", "w:alwaysShowPlaceholderText", "w:doNotDemarcateInvalidXml",
                             "w:saveXmlDataOnly", "w:useXSLTWhenSaving", "w:saveThroughXslt", "w:showXMLTags",
                             "w:alwaysMergeEmptyNamespace", "w:updateFields", "w:hdrShapeDefaults", "w:footnotePr",
                             "w:endnotePr", "w:compat", "w:docVars", "w:rsids", "m:mathPr", "w:attachedSchema",
                             "w:themeFontLang", "w:clrSchemeMapping", "w:doNotIncludeSubdocsInStats",
                             "w:doNotAutoCompressPictures", "w:forceUpgrade", "w:captions",
                             "w:readModeInkLockDown", "w:smartTagType", "sl:schemaLibrary", "w:shapeDefaults",
                             "w:doNotEmbedSmartTags", "w:decimalSymbol", "w:listSeparator"),
}


_AFTER["w:overflowPunct"] = _AFTER["w:pBdr"][_AFTER["w:pBdr"].index("w:overflowPunct") + 1:]


def _add_child(parent: Any, tag: str, attrs: dict[str, str] | None = None) -> Any:
    """Add `tag` to `parent` where the schema puts it (before its successors)."""
    from docx.oxml.ns import qn

    element = parent.makeelement(qn(tag), {qn(k): v for k, v in (attrs or {}).items()})
    parent.insert_element_before(element, *_AFTER.get(tag, ()))
    return element


def _r_fonts(run: Any, east_asia: str, latin: str = FONT_LATIN) -> None:
    from docx.oxml.ns import qn

    run.font.name = latin
    r_pr = run._element.get_or_add_rPr()
    r_fonts = r_pr.find(qn("w:rFonts"))
    if r_fonts is None:
        r_fonts = r_pr.makeelement(qn("w:rFonts"), {})
        r_pr.insert(0, r_fonts)
    r_fonts.set(qn("w:eastAsia"), east_asia)


def _run(paragraph: Any, text: str, font: str, size: float, colour: str | None = None, scale: int | None = None,
         latin: str = FONT_LATIN) -> Any:
    from docx.shared import Pt, RGBColor

    run = paragraph.add_run(text)
    _r_fonts(run, font, latin)
    run.font.size = Pt(size)
    run.font.bold = False
    if colour:
        run.font.color.rgb = RGBColor.from_string(colour)
    # Chinese, on every run: LibreOffice applies the 禁则 and picks the SC face of a font collection by it
    _add_child(run._element.get_or_add_rPr(), "w:lang", {"w:val": "zh-CN", "w:eastAsia": "zh-CN"})
    if size == SIZE_BODY:  # 28 characters a line
        _add_child(run._element.get_or_add_rPr(), "w:spacing", {"w:val": str(round(BODY_TRACKING * 20))})
    if scale:
        _add_child(run._element.get_or_add_rPr(), "w:w", {"w:val": str(scale)})
    return run


def _paragraph(doc: Any, text: str = "", font: str = FONT_BODY, size: float = SIZE_BODY, indent: float = 2,
               align: Any = None, line: float | None = LINE, space_before: float = 0, space_after: float = 0,
               colour: str | None = None) -> Any:
    """A paragraph of one run; `indent` in characters of `size` (the first line's), `line` exact spacing in pt."""
    from docx.enum.text import WD_LINE_SPACING
    from docx.shared import Pt

    p = doc.add_paragraph()
    f = p.paragraph_format
    f.first_line_indent = Pt(size * indent) if indent else Pt(0)
    if line:
        f.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        f.line_spacing = Pt(line)
    f.space_before, f.space_after = Pt(space_before), Pt(space_after)
    f.widow_control = False  # fixed 22 lines a page: no line moves for widows
    _add_child(p._p.get_or_add_pPr(), "w:overflowPunct", {"w:val": "0"})  # no punctuation past the 版心
    if align is not None:
        p.alignment = align
    if text:  # digits and signs in the same Chinese font ("西文使用中文字体"): one run, no break at a font change
        _run(p, keep_together(text), font, size, colour, latin=font)
    return p


def _border(paragraph: Any, side: str, size_eighths: int, colour: str = "000000", space: int = 0) -> None:
    from docx.oxml.ns import qn

    p_pr = paragraph._p.get_or_add_pPr()
    borders = p_pr.find(qn("w:pBdr"))
    if borders is None:
        borders = _add_child(p_pr, "w:pBdr")
    borders.append(borders.makeelement(qn(f"w:{side}"), {
        qn("w:val"): "single", qn("w:sz"): str(size_eighths), qn("w:space"): str(space), qn("w:color"): colour}))


def _page_setup(section: Any, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    if landscape:  # the portrait 版心 turned a quarter: 225 mm wide, 156 mm high, binding edge on top
        section.page_width, section.page_height = Mm(PAGE_H), Mm(PAGE_W)
        section.top_margin, section.bottom_margin = Mm(MARGIN_LEFT), Mm(MARGIN_RIGHT)
        section.left_margin, section.right_margin = Mm(MARGIN_TOP), Mm(MARGIN_BOTTOM)
    else:
        section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
        section.top_margin, section.bottom_margin = Mm(MARGIN_TOP), Mm(MARGIN_BOTTOM)
        section.left_margin, section.right_margin = Mm(MARGIN_LEFT), Mm(MARGIN_RIGHT)
    number_line_mm = SIZE_IMPRINT * 1.36 / PT_PER_MM  # the footer's line: 四号 with the CJK fonts' line gap
    bottom_mm = (MARGIN_RIGHT if landscape else MARGIN_BOTTOM) - PAGE_NUMBER_GAP_MM - number_line_mm
    section.footer_distance = Mm(bottom_mm)
    section.header_distance = Mm(15)


def _page_number(footer: Any, odd: bool) -> None:
    """"— n —" in 4号宋体: odd pages right, even pages left, one character in from the 版心's edge."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    p = footer.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT if odd else WD_ALIGN_PARAGRAPH.LEFT
    f = p.paragraph_format
    f.right_indent, f.left_indent = (Pt(SIZE_IMPRINT), Pt(0)) if odd else (Pt(0), Pt(SIZE_IMPRINT))
    f.first_line_indent = Pt(0)
    _run(p, "— ", FONT_PAGE_NUMBER, SIZE_IMPRINT, latin=FONT_PAGE_NUMBER)
    run = _run(p, "", FONT_PAGE_NUMBER, SIZE_IMPRINT, latin=FONT_PAGE_NUMBER)
    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = run._element.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
        elif text == "PAGE":
            el = run._element.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            el.text = " PAGE "
        else:
            el = run._element.makeelement(qn("w:t"), {})
            el.text = text
        run._element.append(el)
    _run(p, " —", FONT_PAGE_NUMBER, SIZE_IMPRINT, latin=FONT_PAGE_NUMBER)


def _row_props(row: Any, header: bool) -> None:
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:cantSplit"), {qn("w:val"): "true"}))
    if header:
        tr_pr.append(tr_pr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))


def _cell_text(cell: Any, text: str, font: str, size: float, align: Any = None) -> None:
    """A cell's text; a "\\n" is a line break, nothing else breaks (the column is wide enough)."""
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.shared import Pt

    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    p = cell.paragraphs[0]
    p.alignment = align if align is not None else WD_ALIGN_PARAGRAPH.CENTER
    f = p.paragraph_format
    f.space_after = f.space_before = Pt(0)
    f.first_line_indent = Pt(0)
    f.line_spacing = 1.0
    for n, line in enumerate(text.split("\n")):
        run = _run(p, line, font, size)
        if n < text.count("\n"):
            run.add_break(WD_BREAK.LINE)


def _table(doc: Any, block: Block, available_pt: float) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    if block.text:
        caption = _paragraph(doc, block.text, font=FONT_HEADING, size=SIZE_CAPTION, indent=0,
                             align=WD_ALIGN_PARAGRAPH.CENTER, line=None, space_before=6, space_after=4)
        caption.paragraph_format.keep_with_next = True
    widths, size = column_widths(block, available_pt, SIZE_TABLE)
    ncols = len(widths)
    table = doc.add_table(rows=len(block.header) + len(block.rows), cols=ncols)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for c, width in enumerate(widths):
        table.columns[c].width = Pt(width)
    # row.cells once per row: python-docx's table.cell(r, c) rebuilds the whole grid on every call
    grid = [row.cells for row in table.rows]
    for r, (row, cells) in enumerate(zip(table.rows, grid, strict=True)):
        _row_props(row, header=r < len(block.header))
        for cell, width in zip(cells, widths, strict=True):
            cell.width = Pt(width)
    covered: set[tuple[int, int]] = set()
    for r, header_row in enumerate(block.header):
        c = 0
        for cell in header_row:
            while (r, c) in covered:
                c += 1
            target = grid[r][c]
            if cell.colspan > 1 or cell.rowspan > 1:
                target = target.merge(grid[r + cell.rowspan - 1][c + cell.colspan - 1])
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    covered.add((r + dr, c + dc))
            _cell_text(target, cell.text, FONT_HEADING, size)
            c += cell.colspan
    for r, values in enumerate(block.rows, start=len(block.header)):
        for cell, value in zip(grid[r], values, strict=True):
            _cell_text(cell, value, FONT_BODY, size)
    # A short table stays on one page with its caption (Word keeps rows whose paragraphs "keep with next").
    if len(table.rows) <= 24:
        for row_cells in grid[:-1]:
            for cell in row_cells:
                for p in cell.paragraphs:
                    p.paragraph_format.keep_with_next = True
    _paragraph(doc, block.note, size=SIZE_TABLE, indent=0, line=None, space_before=2, space_after=6)


def _title(doc: Any, lines: list[str], space_after: float = 0) -> None:
    """2号小标宋, centred, in the given lines (broken between words by the document)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK

    p = _paragraph(doc, indent=0, align=WD_ALIGN_PARAGRAPH.CENTER, line=TITLE_LINE, space_after=space_after)
    for n, text in enumerate(lines):
        run = _run(p, text, FONT_TITLE, SIZE_TITLE)
        if n < len(lines) - 1:
            run.add_break(WD_BREAK.LINE)


def _masthead(doc: Any, block: Block) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    # The mark: red 小标宋, narrowed so that it fits the 版心's width, its top 35 mm under the 版心's top.
    scale = mark_scale(block.text)
    p = _paragraph(doc, "", indent=0, align=WD_ALIGN_PARAGRAPH.CENTER, line=SIZE_MARK * 1.2,
                   space_before=MARK_TOP_MM * PT_PER_MM - SIZE_MARK * 0.1)
    _run(p, block.text, FONT_TITLE, SIZE_MARK, colour=RED, scale=scale)
    _paragraph(doc, indent=0)  # 发文字号: 下空二行
    _paragraph(doc, indent=0)
    _paragraph(doc, block.lines[0] if block.lines else "", indent=0, align=WD_ALIGN_PARAGRAPH.CENTER)
    # The red line of the 版心's width, 4 mm under the number: the bottom border of a 4 mm high line.
    rule = _paragraph(doc, indent=0, line=RULE_GAP_MM * PT_PER_MM, size=2)
    _border(rule, "bottom", 12, RED)


def _signature(doc: Any, block: Block) -> None:
    """署名 centred over the 成文日期, the date four characters from the right (sealed layout, 7.3.5.1)."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    issuer, day = block.lines
    right_issuer, right_day = signature_indents(issuer, day)
    _paragraph(doc, indent=0)
    _paragraph(doc, indent=0)
    for text, right in ((issuer, right_issuer), (day, right_day)):
        p = _paragraph(doc, text, indent=0, align=WD_ALIGN_PARAGRAPH.RIGHT)
        p.paragraph_format.right_indent = Pt(SIZE_BODY * right)


def _annex_list(doc: Any, block: Block) -> None:
    """附件说明: a line below the body, two characters in; "附件：1.…", later items aligned under the first."""
    from docx.shared import Pt

    _paragraph(doc, indent=0)
    numbered = len(block.lines) > 1
    for n, title in enumerate(block.lines, start=1):
        text = f"{n}.{title}" if numbered else title
        p = _paragraph(doc, ("附件：" if n == 1 else "") + text, indent=0)
        f = p.paragraph_format
        f.left_indent = Pt(SIZE_BODY * 5)  # 2 characters + "附件：" (3)
        f.first_line_indent = Pt(-SIZE_BODY * 3) if n == 1 else Pt(0)


def _annex(doc: Any, block: Block) -> float:
    """A new page (landscape for a wide annex) with "附件n" top left and the title on the third line."""
    from docx.enum.section import WD_SECTION

    section = doc.add_section(WD_SECTION.NEW_PAGE)
    _page_setup(section, landscape=block.wide)
    _paragraph(doc, block.note, font=FONT_HEADING, indent=0)
    _paragraph(doc, indent=0)
    _title(doc, block.lines or [block.text], space_after=12)
    return (TEXT_H if block.wide else TEXT_W) * PT_PER_MM


def _imprint(doc: Any, block: Block) -> None:
    """版记 at the bottom of the last page: a borderless one-cell table as high as the 版心, bottom-aligned."""
    from docx.enum.section import WD_SECTION
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE
    from docx.enum.text import WD_TAB_ALIGNMENT
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    section = doc.add_section(WD_SECTION.NEW_PAGE)
    _page_setup(section, landscape=False)
    # a hair-thin paragraph before and after the table: LibreOffice keeps the previous section's page size for a
    # section that starts with a table, and Word always adds a paragraph after a document's last table
    _paragraph(doc, indent=0, line=1, size=1)
    table = doc.add_table(rows=1, cols=1)
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    margins = _add_child(tbl_pr, "w:tblCellMar")
    for side in ("top", "left", "bottom", "right"):
        margins.append(margins.makeelement(qn(f"w:{side}"), {qn("w:w"): "0", qn("w:type"): "dxa"}))
    row = table.rows[0]
    row.height_rule = WD_ROW_HEIGHT_RULE.EXACTLY
    row.height = Mm(TEXT_H - 2)  # a little under the 版心 (with the two thin paragraphs), so it stays on one page
    cell = row.cells[0]
    cell.width = Mm(TEXT_W)
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
    width_pt = TEXT_W * PT_PER_MM

    def line(p: Any) -> None:
        f = p.paragraph_format
        f.first_line_indent = Pt(0)
        f.space_before = f.space_after = Pt(0)
        f.line_spacing = Pt(LINE)

    paragraphs = []
    first = cell.paragraphs[0]
    for n, cc in enumerate(block.lines):
        p = first if n == 0 else cell.add_paragraph()
        line(p)
        # 抄送: one character in from each side; wrapped lines align after "抄送："
        p.paragraph_format.left_indent = Pt(SIZE_IMPRINT * 4)
        p.paragraph_format.right_indent = Pt(SIZE_IMPRINT)
        p.paragraph_format.first_line_indent = Pt(-SIZE_IMPRINT * 3)
        _run(p, cc, FONT_BODY, SIZE_IMPRINT)
        paragraphs.append(p)
    p = first if not block.lines else cell.add_paragraph()
    line(p)
    p.paragraph_format.left_indent = Pt(SIZE_IMPRINT)
    p.paragraph_format.tab_stops.add_tab_stop(Pt(width_pt - SIZE_IMPRINT), WD_TAB_ALIGNMENT.RIGHT)
    _run(p, f"{block.text}\t{block.note}", FONT_BODY, SIZE_IMPRINT)
    paragraphs.append(p)
    _border(paragraphs[0], "top", 8, space=1)  # first line: thick (0.35 mm ≈ 1 pt)
    for p in paragraphs[:-1]:
        _border(p, "bottom", 6, space=1)  # between elements: thin (0.25 mm ≈ 0.75 pt)
    _border(paragraphs[-1], "bottom", 8, space=1)  # last line: thick, on the 版心's bottom edge
    _paragraph(doc, indent=0, line=1, size=1)


# 禁则 (GB/T 15834 practice): signs a line may not start or end with. LibreOffice reads them from the settings.
NO_BREAK_BEFORE = "!%),.:;?]}¢°·’”‰′″℃∶、。〃〆〉》」』】〕〗〞﹚﹜！＂％＇），．：；？］｝～"
NO_BREAK_AFTER = "([{£¥‘“〈《「『【〔〖〝﹙﹛＄（．［｛￡￥"


def _chinese_line_breaking(doc: Any) -> None:
    settings = doc.settings.element
    for tag, chars in (("w:noLineBreaksAfter", NO_BREAK_AFTER), ("w:noLineBreaksBefore", NO_BREAK_BEFORE)):
        _add_child(settings, tag, {"w:lang": "zh-CN", "w:val": chars})


def _core_properties(doc: Any, document: Document) -> None:
    props = doc.core_properties
    meta = document.metadata
    generated = datetime.fromisoformat(meta["generated_at"]) if meta.get("generated_at") else datetime.now(UTC)
    created = generated.astimezone(UTC).replace(tzinfo=None)  # core properties are UTC
    props.title = document.title
    props.author = props.last_modified_by = meta.get("issuer", "")
    props.subject = meta.get("subject", document.title)
    props.category = "公文"
    props.keywords = meta.get("doc_number") or ""
    props.language = "zh-CN"
    props.created = props.modified = created
    props.revision = 1
    comments = "; ".join([meta.get("data_note", ""), *meta.get("notes", [])]).strip("; ")
    # a core property holds at most 255 characters (python-docx refuses more): long notes are cut
    props.comments = comments if len(comments) <= CORE_PROPERTY_MAX else comments[:CORE_PROPERTY_MAX - 1] + "…"


#: Longest text a .docx core property (title, comments …) may hold.
CORE_PROPERTY_MAX = 255


def render_docx(document: Document, path: Path) -> Path:
    """Write the document as .docx at `path`; returns the path."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm

    doc = docx.Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT_LATIN
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT_BODY)
    # Chinese text: without the language, LibreOffice picks the Japanese face of a CJK font collection
    lang = normal.element.rPr.makeelement(qn("w:lang"), {qn("w:val"): "zh-CN", qn("w:eastAsia"): "zh-CN"})
    normal.element.rPr.append(lang)
    from docx.shared import Pt

    normal.font.size = Pt(SIZE_BODY)
    doc.settings.odd_and_even_pages_header_footer = True
    _chinese_line_breaking(doc)
    first = doc.sections[0]
    _page_setup(first, landscape=False)
    _page_number(first.footer, odd=True)
    _page_number(first.even_page_footer, odd=False)
    _core_properties(doc, document)
    available = TEXT_W * PT_PER_MM

    for block in document.blocks:
        kind = block.kind
        if kind == "masthead":
            _masthead(doc, block)
        elif kind == "title":
            _paragraph(doc, indent=0)  # 标题: 红色分隔线下空二行
            _paragraph(doc, indent=0)
            _title(doc, block.lines)
            _paragraph(doc, indent=0)  # 主送机关: 标题下空一行
        elif kind == "addressee":
            _paragraph(doc, block.text, indent=0)
        elif kind == "heading":
            _paragraph(doc, block.text, font=FONT_HEADING)
        elif kind == "subheading":
            _paragraph(doc, block.text, font=FONT_SUBHEADING)
        elif kind == "paragraph":
            _paragraph(doc, block.text)
        elif kind == "annex_list":
            _annex_list(doc, block)
        elif kind == "signature":
            _signature(doc, block)
        elif kind == "remark":
            _paragraph(doc, block.text)
        elif kind == "annex":
            available = _annex(doc, block)
        elif kind == "table":
            _table(doc, block, available)
        elif kind == "figure" and block.chart is not None:
            p = _paragraph(doc, indent=0, align=WD_ALIGN_PARAGRAPH.CENTER, line=None)
            p.paragraph_format.keep_with_next = True
            p.add_run().add_picture(io.BytesIO(block.chart.png), width=Cm(14.5))
            _paragraph(doc, block.text, font=FONT_HEADING, size=SIZE_CAPTION, indent=0,
                       align=WD_ALIGN_PARAGRAPH.CENTER, line=None, space_after=8)
        elif kind == "imprint":
            _imprint(doc, block)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path
