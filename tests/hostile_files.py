"""Generators of hostile upload files (issue 13): each writes a small file on the fly, none is committed.

`raw_xlsx` writes a workbook from its XML parts directly (zipfile, inline strings), so a test can declare any
sheet dimension, leave formula cells without a cached value, or stream a million rows in seconds and a few MB.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from energystat.synth.xlsx import column_letter

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" '
               'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def _cell(ref: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Formula):
        cached = "" if value.cached is None else f"<v>{value.cached}</v>"
        return f'<c r="{ref}"><f>{escape(value.text)}</f>{cached}</c>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


class Formula:
    """A formula cell; `cached=None` is how openpyxl and scripts write it: no value until Excel recalculates."""

    def __init__(self, text: str, cached: float | None = None) -> None:
        self.text, self.cached = text, cached


def _sheet_xml(rows: Iterable[Sequence[Any]] | dict[int, dict[int, Any]], dimension: str | None) -> Iterable[str]:
    yield f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {_NS}>'
    if dimension:
        yield f'<dimension ref="{dimension}"/>'
    yield "<sheetData>"
    # A dict is a sparse sheet: {row number: {column index: value}} (a cell far away makes the used range huge).
    numbered = (sorted(rows.items()) if isinstance(rows, dict)
                else ((r, dict(enumerate(row))) for r, row in enumerate(rows, start=1)))
    for r, row in numbered:
        cells = "".join(_cell(f"{column_letter(c)}{r}", v) for c, v in sorted(row.items()))
        yield f'<row r="{r}">{cells}</row>'
    yield "</sheetData></worksheet>"


def raw_xlsx(path: Path, sheets: dict[str, Any], dimensions: dict[str, str] | None = None) -> Path:
    """A minimal .xlsx with the given sheets (name -> rows, streamed) and optional declared dimensions."""
    dimensions = dimensions or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(sheets)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES.format(
            sheets="".join(_SHEET_TYPE.format(n=i) for i in range(1, len(names) + 1))))
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("xl/workbook.xml", (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook {_NS} {_R_NS}><sheets>'
            + "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(names, 1))
            + "</sheets></workbook>"))
        z.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                      f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1))
            + "</Relationships>"))
        for i, name in enumerate(names, start=1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w") as part:
                buffer: list[str] = []
                for chunk in _sheet_xml(sheets[name], dimensions.get(name)):
                    buffer.append(chunk)
                    if len(buffer) >= 4096:
                        part.write("".join(buffer).encode())
                        buffer.clear()
                part.write("".join(buffer).encode())
    return path


def csv_bytes(rows: Sequence[Sequence[Any]], line_end: str = "\r\n") -> bytes:
    """CSV text (UTF-8) with the given line ending (`"\\r"` = the old Mac Excel export)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def read_csv_rows(path: Path) -> list[list[str]]:
    """A generated CSV upload as rows of text (header first)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [row for row in csv.reader(fh)]


def write_rows(path: Path, rows: Sequence[Sequence[Any]], line_end: str = "\r\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(rows, line_end))
    return path
