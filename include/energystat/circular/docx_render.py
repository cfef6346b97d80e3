"""The circular as a Word document (python-docx), laid out like a government circular (GB/T 9704 habits):
A4, title in 小标宋 二号, body 仿宋 三号 with a two-character first-line indent and fixed 28 pt lines,
first-level headings in 黑体, second-level in 楷体, tables in 仿宋 五号 with 黑体 headers, page numbers "— n —".

Font names are written as East-Asian font names, so Word on an official's PC uses 仿宋/黑体; other systems
substitute a CJK font of their own.
"""

from __future__ import annotations

import io
from pathlib import Path

from energystat.circular.document import Block, CircularDocument

FONT_BODY = "仿宋"
FONT_HEADING = "黑体"
FONT_SUBHEADING = "楷体"
FONT_TITLE = "方正小标宋简体"
FONT_LATIN = "Times New Roman"
SIZE_TITLE = 22  # 二号
SIZE_BODY = 16  # 三号
SIZE_TABLE = 10.5  # 五号
SIZE_TABLE_WIDE = 9  # 小五
SIZE_NOTE = 10.5


def _set_font(run, east_asia: str, size: float | None = None, bold: bool | None = None) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.name = FONT_LATIN
    r_pr = run._element.get_or_add_rPr()
    r_fonts = r_pr.find(qn("w:rFonts"))
    if r_fonts is None:
        r_fonts = r_pr.makeelement(qn("w:rFonts"), {})
        r_pr.insert(0, r_fonts)
    r_fonts.set(qn("w:eastAsia"), east_asia)
    if size is not None:
        run.font.size = Pt(size)
    if bold is not None:
        run.font.bold = bold


def _paragraph(doc, text: str, font: str = FONT_BODY, size: float = SIZE_BODY, indent: bool = True,
               align=None, bold: bool = False, space_after: float = 0, exact_line: float | None = 28):
    from docx.shared import Pt

    p = doc.add_paragraph()
    fmt = p.paragraph_format
    if indent:
        fmt.first_line_indent = Pt(size * 2)
    if exact_line:
        from docx.enum.text import WD_LINE_SPACING

        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(exact_line)
    fmt.space_after = Pt(space_after)
    fmt.space_before = Pt(0)
    if align is not None:
        p.alignment = align
    _set_font(p.add_run(text), font, size, bold)
    return p


def _page_setup(section, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm

    width, height = Cm(21.0), Cm(29.7)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    if landscape:
        section.top_margin = section.bottom_margin = Cm(2.2)
        section.left_margin = section.right_margin = Cm(2.0)
    else:
        section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
        section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)


def _page_number_footer(section) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    p = section.footer.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _set_font(p.add_run("— "), FONT_LATIN, 14)
    run = p.add_run()
    _set_font(run, FONT_LATIN, 14)
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            el = run._element.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
        else:
            el = run._element.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            el.text = text
        run._element.append(el)
    _set_font(p.add_run(" —"), FONT_LATIN, 14)


def _repeat_header_row(row) -> None:
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))


def _cell_text(cell, text: str, font: str, size: float, bold: bool = False, align=None) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    p = cell.paragraphs[0]
    p.alignment = align if align is not None else WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = 0
    p.paragraph_format.first_line_indent = 0
    _set_font(p.add_run(text), font, size, bold)


def _column_widths(block: Block, ncols: int, available_cm: float) -> list[float]:
    """Label columns get room for a name; the number columns share the rest."""
    first = [1.2, 1.9, 1.3] if block.wide else [3.6]
    first = first[:ncols]
    rest = ncols - len(first)
    return first + [(available_cm - sum(first)) / rest] * rest if rest else first


def _keep_row_together(row) -> None:
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:cantSplit"), {qn("w:val"): "true"}))


def _table(doc, block: Block) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Emu

    size = SIZE_TABLE_WIDE if block.wide else SIZE_TABLE
    caption = _paragraph(doc, block.text, font=FONT_HEADING, size=12, indent=False,
                         align=WD_ALIGN_PARAGRAPH.CENTER, space_after=4, exact_line=None)
    caption.paragraph_format.keep_with_next = True
    ncols = sum(c.colspan for c in block.header[0])
    table = doc.add_table(rows=len(block.header) + len(block.rows), cols=ncols)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    section = doc.sections[-1]
    available = Emu(section.page_width - section.left_margin - section.right_margin).cm
    widths = [Cm(w) for w in _column_widths(block, ncols, available)]
    for c, width in enumerate(widths):
        table.columns[c].width = width
    # row.cells once per row: python-docx's table.cell(r, c) rebuilds the whole grid on every call
    grid = [row.cells for row in table.rows]
    for row, cells in zip(table.rows, grid, strict=True):
        _keep_row_together(row)
        for cell, width in zip(cells, widths, strict=True):
            cell.width = width
    # Header rows with row/column spans: walk a grid, skipping cells already covered by a span.
    covered: set[tuple[int, int]] = set()
    for r, header_row in enumerate(block.header):
        c = 0
        for cell in header_row:
            while (r, c) in covered:
                c += 1
            target = table.cell(r, c)
            if cell.colspan > 1 or cell.rowspan > 1:
                target = target.merge(table.cell(r + cell.rowspan - 1, c + cell.colspan - 1))
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    covered.add((r + dr, c + dc))
            _cell_text(target, cell.text, FONT_HEADING, size)
            c += cell.colspan
    for r in range(len(block.header)):
        _repeat_header_row(table.rows[r])
    for r, values in enumerate(block.rows, start=len(block.header)):
        for cell, value in zip(grid[r], values, strict=True):
            _cell_text(cell, value, FONT_BODY, size)
    # A short table stays on one page with its caption (Word keeps rows whose paragraphs "keep with next").
    if len(table.rows) <= 24:
        for row_cells in grid[:-1]:
            for cell in row_cells:
                for p in cell.paragraphs:
                    p.paragraph_format.keep_with_next = True
    if block.note:
        _paragraph(doc, block.note, size=SIZE_NOTE, indent=False, exact_line=None, space_after=6)
    else:
        _paragraph(doc, "", size=SIZE_NOTE, indent=False, exact_line=None)


def render_docx(document: CircularDocument, path: Path) -> Path:
    """Write the circular as .docx at `path`; returns the path."""
    import docx
    from docx.enum.section import WD_SECTION
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = docx.Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT_LATIN
    normal.font.size = Pt(SIZE_BODY)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT_BODY)
    _page_setup(doc.sections[0], landscape=False)
    _page_number_footer(doc.sections[0])

    props = doc.core_properties
    props.title = document.title
    props.author = document.metadata["issuer"]
    props.subject = f"{document.year}年度公共机构能源资源消费情况通报"
    props.keywords = "energystat; 年度通报"
    props.comments = "; ".join([f"generated {document.metadata['generated_at']}", *document.metadata["notes"]])

    for block in document.blocks:
        if block.kind == "title":
            _paragraph(doc, block.text, font=FONT_TITLE, size=SIZE_TITLE, indent=False,
                       align=WD_ALIGN_PARAGRAPH.CENTER, exact_line=36, space_after=18)
        elif block.kind == "doc_number":
            _paragraph(doc, block.text, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=12)
        elif block.kind == "addressee":
            _paragraph(doc, block.text, indent=False)
        elif block.kind == "heading":
            _paragraph(doc, block.text, font=FONT_HEADING)
        elif block.kind == "subheading":
            _paragraph(doc, block.text, font=FONT_SUBHEADING)
        elif block.kind == "paragraph":
            _paragraph(doc, block.text)
        elif block.kind == "annex_list":
            _paragraph(doc, "", indent=False)
            _paragraph(doc, block.text)
        elif block.kind == "annex_label":  # the annex starts on a landscape page (its table is wide)
            _page_setup(doc.add_section(WD_SECTION.NEW_PAGE), landscape=True)
            _paragraph(doc, block.text, font=FONT_HEADING, indent=False, space_after=6)
        elif block.kind == "table":
            _table(doc, block)
        elif block.kind == "figure" and block.chart is not None:
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run().add_picture(io.BytesIO(block.chart.png), width=Cm(15))
            _paragraph(doc, block.text, font=FONT_HEADING, size=12, indent=False, align=WD_ALIGN_PARAGRAPH.CENTER,
                       space_after=8, exact_line=None)
        elif block.kind == "signature":
            _paragraph(doc, "", indent=False)
            for line in block.lines:
                p = _paragraph(doc, line, indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
                p.paragraph_format.right_indent = Pt(SIZE_BODY * 2)
        elif block.kind == "note":
            _paragraph(doc, block.text, size=SIZE_NOTE, indent=False, exact_line=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path
