"""Parse stage: read one upload (monthly form or task progress) into a frame of raw columns; never raises.

What the parser does, in order: read the cells (.xlsx/.xls via python-calamine; CSV in UTF-8, UTF-8 with BOM or
GBK/GB18030, detected), find the header row, tell the form kind, map header aliases to raw columns and units to
the template's unit (recording the unit each column used), drop blank rows, check and drop a trailing `合计` row,
and turn cells into numbers (thousands separators and full-width digits accepted). Whatever cannot be read becomes
a file-level finding (P001 unreadable, M001/T001 missing columns, M015 total row mismatch) instead of an exception;
cell-level problems (text in a number column, a bad period…) are left for the validate stage.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energystat import config, reference
from energystat.contract.findings import (
    ERROR,
    FORMULA_WITHOUT_VALUE,
    LANDING_ENTRY,
    MISSING_COLUMNS,
    NO_DATA_ROWS,
    TOTAL_ROW_MISMATCH,
    UNREADABLE,
    Finding,
)
from energystat.contract.forms import (
    MONTHLY_FORM,
    MONTHLY_SHEET,
    TASK_FORM,
    TASK_OPTIONAL_COLUMNS,
    TASK_SHEET,
    ColumnSpec,
)
from energystat.contract.uploads import MONTHLY, TASK_PROGRESS
from energystat.ingest import copy_format
from energystat.ingest.bounded import (
    BoundedCall,
    ReaderFailed,
    ReaderLimits,
    preload_in_readers,
    run_bounded,
    start_bounded,
)
from energystat.ingest.workbook_scan import SheetScan, scan_workbook

log = logging.getLogger(__name__)
preload_in_readers(__name__)  # the reader children's fork server imports this module (pandas, calamine) once

#: The rows of a file's table, each a list of cell values as read.
Cells = list[list[Any]]

#: Suffix of the derived column that keeps a number column's original text when it is not a number (for M002/T002).
NOT_A_NUMBER_SUFFIX = "__not_a_number"


COLUMNS = {MONTHLY: MONTHLY_FORM, TASK_PROGRESS: TASK_FORM}
#: Columns a file may leave out (everything else is required: M001 / T001).
OPTIONAL_COLUMNS = {MONTHLY: frozenset(), TASK_PROGRESS: TASK_OPTIONAL_COLUMNS}
TOTAL_LABELS = ("合计", "总计")


@dataclass
class ParsedUpload:
    """A parsed upload. `frame` has the raw columns (numbers converted to the template's units), `source_row`
    (row number in the file, header = row 1) and, per number column, `<col>__not_a_number` holding the cell's
    original text when it was not a number. `cells` are the rows as read (the marked workbook copies them).
    `readable` is False when nothing could be read (P001)."""

    path: Path
    kind: str | None
    reporter_code: str | None
    period: str | None
    frame: pd.DataFrame
    units_used: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # raw column -> header text as found in the file
    header_row: int | None = None  # row number of the header in the file
    sheet: str | None = None
    cells: Cells = field(default_factory=list, repr=False)
    #: Reads `cells` again when the parser left them in its child process (`start_parse`).
    reread_cells: Callable[[], Cells] | None = field(default=None, repr=False, compare=False)
    #: The rows as COPY text (`copy_format.rows_csv`), formatted by the reader process, or None.
    rows_csv: bytes | None = field(default=None, repr=False, compare=False)

    def table_cells(self) -> Cells:
        """The rows as read (what the marked workbook copies), read again when the parser's child kept them."""
        if not self.cells and self.reread_cells is not None:
            self.cells = self.reread_cells()
        return self.cells

    @property
    def readable(self) -> bool:
        """False when the file could not be read (P001) or was not read at all (P003, a landing refusal)."""
        return not any(f.rule_id in (UNREADABLE, LANDING_ENTRY) for f in self.findings)

    @property
    def rows(self) -> int:
        return len(self.frame)

    def column_header(self, raw: str) -> str:
        """The header the file used for a raw column (the template header when the column was missing)."""
        if raw in self.headers:
            return self.headers[raw]
        spec = next((s for s in COLUMNS.get(self.kind or MONTHLY, ()) if s.raw == raw), None)
        return spec.header if spec else raw


# ---------------------------------------------------------------------------------------------------- reading


class UnreadableFile(Exception):
    """The file cannot be read as a table; the message (Chinese and English) is the P001 reason."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def _decode_csv(data: bytes) -> tuple[str, str]:
    """Text and encoding name of CSV bytes: UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"无法识别文件编码（支持 UTF-8、GBK/GB18030）：第 {exc.start} 字节处无效",
            f"unknown text encoding (UTF-8 and GBK/GB18030 are supported): invalid byte at offset {exc.start}",
        ) from exc


@dataclass(frozen=True)
class ReadLimits:
    """How large a table the parser reads (settings `max_rows`, `max_columns`)."""

    rows: int
    columns: int

    @classmethod
    def from_settings(cls) -> ReadLimits:
        settings = config.settings()
        return cls(settings.max_rows, settings.max_columns)


def _too_many(what_zh: str, what_en: str, rows: int, columns: int, limits: ReadLimits) -> UnreadableFile:
    return UnreadableFile(
        f"{what_zh}有 {rows:,} 行 × {columns:,} 列，超过限额（{limits.rows:,} 行、{limits.columns:,} 列）；请只上传报表本身",
        f"{what_en} {rows:,} rows × {columns:,} columns, over the limit ({limits.rows:,} rows, "
        f"{limits.columns:,} columns): upload the form only")


def _read_csv(data: bytes, limits: ReadLimits) -> Cells:
    lines = max(data.count(b"\n"), data.count(b"\r"))
    if lines > limits.rows + 100:  # counted before decoding: a huge CSV costs no memory
        raise _too_many("文件", "the file has", lines, 0, limits)
    text, _encoding = _decode_csv(data)
    if "\x00" in text:
        raise UnreadableFile("文件不是文本表格（含有二进制内容）", "not a text table (binary content)")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    try:
        # newline=None: CR-only (old Mac Excel), CRLF and LF line endings all read as rows
        return [row for row in csv.reader(io.StringIO(text, newline=None), dialect)]
    except csv.Error as exc:
        raise UnreadableFile(f"CSV 格式错误：{exc}", f"malformed CSV: {exc}") from exc


def _read_workbook(data: bytes, kinds_sheets: tuple[str, ...], limits: ReadLimits,
                   scans: list[SheetScan]) -> tuple[Cells, str]:
    from python_calamine import CalamineWorkbook

    for scan in scans:  # declared sizes, before any reader allocates for them
        if (scan.declared_rows or 0) > limits.rows or (scan.declared_columns or 0) > limits.columns:
            raise _too_many(f"工作表“{scan.name}”声明", f"sheet {scan.name!r} declares", scan.declared_rows or 0,
                            scan.declared_columns or 0, limits)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:  # calamine raises its own error types for every kind of broken file
        raise UnreadableFile(f"无法打开 Excel 文件（文件损坏或不是 Excel 格式）：{exc}",
                             f"cannot open the workbook (corrupt or not Excel): {exc}") from exc
    names = workbook.sheet_names
    if not names:
        raise UnreadableFile("工作簿中没有工作表", "the workbook has no sheet")
    sheet = next((n for n in names if n.strip() in kinds_sheets), names[0])
    rows = _sheet_rows(workbook, sheet, limits)
    others = [n for n in names if n != sheet and _holds_form_data(_sheet_rows(workbook, n, limits), n)]
    if others:
        raise UnreadableFile(
            f"报表数据分布在多个工作表（“{sheet}”及“{'”“'.join(others)}”），只会读取一个：请把所有数据行放在同一工作表中",
            f"form data on more than one sheet ({sheet!r} and {', '.join(map(repr, others))}); only one would be "
            "read: put every data row on one sheet")
    return rows, sheet


def _sheet_rows(workbook: Any, sheet: str, limits: ReadLimits) -> Cells:
    try:
        table = workbook.get_sheet_by_name(sheet)
        if table.height > limits.rows or table.width > limits.columns:
            raise _too_many(f"工作表“{sheet}”", f"sheet {sheet!r} has", table.height, table.width, limits)
        return table.to_python(skip_empty_area=False)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile(f"无法读取工作表“{sheet}”：{exc}", f"cannot read sheet {sheet!r}: {exc}") from exc


def _holds_form_data(rows: Cells, sheet: str) -> bool:
    """A header row of a form, then at least one non-blank row (a notes sheet is not form data)."""
    _kind, header = _detect_kind(rows[:15], sheet, Path(sheet))
    return header is not None and any(not _blank(row) for row in rows[header + 1:])


def read_cells(path: Path, data: bytes | None = None, limits: ReadLimits | None = None) -> tuple[Cells, str | None]:
    """All rows of the file's table as lists of cell values, and the sheet read (None for CSV)."""
    rows, sheet, _scans = _read(path, data, limits or ReadLimits.from_settings())
    return rows, sheet


def _read(path: Path, data: bytes | None, limits: ReadLimits) -> tuple[Cells, str | None, list[SheetScan]]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"):
        raise UnreadableFile(f"不支持的文件类型“{path.suffix}”（请上传 .xlsx 或 .csv）",
                             f"unsupported file type {path.suffix!r} (upload .xlsx or .csv)")
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise UnreadableFile(f"文件不存在：{path}", f"file not found: {path}") from exc
    if suffix in (".csv", ".txt"):
        return _read_csv(data, limits), None, []
    scans: list[SheetScan] = []
    xml = suffix in (".xlsx", ".xlsm")
    if xml:
        try:  # declared sizes first (cheap): a workbook declaring a million rows is refused before any pass
            scans = scan_workbook(io.BytesIO(data), formulas_of=None)
        except (zipfile.BadZipFile, KeyError, SyntaxError):
            xml = False  # not an Open XML package after all: calamine says why
    rows, sheet = _read_workbook(data, (MONTHLY_SHEET, TASK_SHEET), limits, scans)
    if xml:
        scans = scan_workbook(io.BytesIO(data), formulas_of=sheet)
    return rows, sheet, scans


def _formula_findings(scans: list[SheetScan], sheet: str | None) -> list[Finding]:
    scan = next((s for s in scans if s.name == sheet), None)
    if scan is None or not scan.formula_cells_without_value:
        return []
    cells = "、".join(scan.formula_refs) + (" …" if scan.formula_cells_without_value > len(scan.formula_refs) else "")
    return [Finding(
        FORMULA_WITHOUT_VALUE, ERROR,
        f"有 {scan.formula_cells_without_value} 个公式单元格没有计算结果（{cells}），读取时为空：请在 Excel 中打开并保存后重新上传",
        f"{scan.formula_cells_without_value} formula cells carry no calculated value ({cells.replace('、', ', ')}) "
        "and read as blank: open and save the file in Excel, then upload it again",
        observed_value=cells[:200])]


# ---------------------------------------------------------------------------------------------------- headers

_UNIT_IN_HEADER = re.compile(r"^(?P<name>.*?)\s*[(\[{【]\s*(?P<unit>[^)\]}】]*?)\s*[)\]}】]\s*$")
_UNIT_AFTER_SLASH = re.compile(r"^(?P<name>[^/]+?)\s*/\s*(?P<unit>.+)$")


def normalise_text(value: Any) -> str:
    """Cell text with full-width characters folded (NFKC) and outer blanks stripped."""
    if value is None:
        return ""
    if isinstance(value, str) and value.isascii():  # nothing to fold: the common case, kept fast
        return value.strip()
    if isinstance(value, float) and math.isnan(value):
        return ""
    return unicodedata.normalize("NFKC", str(value)).replace("\u3000", " ").strip()


def split_header(header: Any) -> tuple[str, str | None]:
    """`电力(万千瓦时)` -> ("电力", "万千瓦时"); full-width brackets and `名称/单位` accepted."""
    text = normalise_text(header).replace(" ", "")
    for pattern in (_UNIT_IN_HEADER, _UNIT_AFTER_SLASH):
        match = pattern.match(text)
        if match and match["name"]:
            return match["name"], match["unit"] or None
    return text, None


def _match_spec(name: str, specs: tuple[ColumnSpec, ...]) -> ColumnSpec | None:
    key = name.lower()
    return next((s for s in specs if key in (n.lower() for n in s.names)), None)


def _header_score(row: list[Any], specs: tuple[ColumnSpec, ...]) -> int:
    return len({s.raw for cell in row if (s := _match_spec(split_header(cell)[0], specs))})


def _detect_kind(rows: Cells, sheet: str | None, path: Path) -> tuple[str | None, int | None]:
    """The form kind and the index of the header row: the first of the first rows naming ≥ 3 known columns;
    the kind whose columns the header names best, ties broken by the sheet name, then the file name."""
    hint = None
    for text in (sheet or "", path.name):
        if TASK_SHEET in text or "任务" in text:
            hint = hint or TASK_PROGRESS
        elif MONTHLY_SHEET in text or "月报" in text:
            hint = hint or MONTHLY
    for index, row in enumerate(rows[:15]):
        scores = {kind: _header_score(row, specs) for kind, specs in COLUMNS.items()}
        best = max(scores.values())
        if best >= 3:
            # Monthly-only headers (电力, 用能人数) or task-only ones (任务类别, 数量) decide; else the name hint.
            winners = [k for k, s in scores.items() if s == best]
            kind = hint if hint in winners else winners[0]
            return kind, index
    return hint, None


# ---------------------------------------------------------------------------------------------------- values

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def to_number(value: Any) -> tuple[float | None, str | None]:
    """(number, None) for a number cell, (None, None) for a blank one, (None, original text) otherwise.
    Thousands separators, full-width digits and surrounding blanks are accepted."""
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return (None, None) if math.isnan(value) else (None, str(value))
        return float(value), None
    text = normalise_text(value)
    if not text:
        return None, None
    compact = text.replace(",", "").replace(" ", "").replace("_", "")
    if _NUMBER.match(compact) and math.isfinite(number := float(compact)):  # 1e400 parses as infinity: not a number
        return number, None
    return None, str(value).strip()


def _cell_text(value: Any) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code or number Excel stored as a float
    text = normalise_text(value)
    return text or None


_MONTH_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*(月份?)?(\s*[-/.]\s*\d{1,2}\s*日?)?(\s.*)?$"),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})$"),
)
_QUARTER_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/年]?\s*(第)?\s*[Qq]?(?P<q>[1-4])\s*(季度?)?$"),
    re.compile(r"^(?P<y>\d{4})\s*[-/年]?\s*第?(?P<q>[一二三四])季度?$"),
)
_CHINESE_QUARTER = {"一": "1", "二": "2", "三": "3", "四": "4"}


def normalise_month(value: Any) -> str | None:
    """`YYYY-MM` for the usual spellings of a month (2024-03, 2024/3, 2024年3月, 202403, an Excel date);
    other text is returned as written so M004 can show it."""
    if isinstance(value, dt.date | dt.datetime):
        return f"{value.year:04d}-{value.month:02d}"
    text = _cell_text(value)
    if text is None:
        return None
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(text)
        if match and 1 <= int(match["m"]) <= 12:
            return f"{match['y']}-{int(match['m']):02d}"
    return text


def normalise_quarter(value: Any) -> str | None:
    """`YYYY-Qn` for 2024-Q1, 2024Q1, 2024年第1季度, 2024年第一季度; other text as written."""
    text = _cell_text(value)
    if text is None:
        return None
    for pattern in _QUARTER_PATTERNS:
        match = pattern.match(text)
        if match:
            return f"{match['y']}-Q{_CHINESE_QUARTER.get(match['q'], match['q'])}"
    return text


# ---------------------------------------------------------------------------------------------------- parsing


def _unreadable(path: Path, reporter: str | None, period: str | None, zh: str, en: str,
                kind: str | None = None) -> ParsedUpload:
    return not_read(path, reporter, period, UNREADABLE, zh, en, kind)


def not_read(path: Path, reporter: str | None, period: str | None, rule_id: str, zh: str, en: str,
             kind: str | None = None) -> ParsedUpload:
    """The result for a file that could not be read (P001) or was not read (P003), with its reason."""
    if rule_id == UNREADABLE:
        zh, en = f"文件无法读取：{zh}", f"file unreadable: {en}"
    return ParsedUpload(path=path, kind=kind, reporter_code=reporter, period=period, frame=pd.DataFrame(),
                        findings=[Finding(rule_id, ERROR, zh, en)])


@dataclass
class PendingParse:
    """A file being parsed in its bounded child (`start_parse`); `result()` waits for it."""

    call: BoundedCall[ParsedUpload]
    path: Path
    reporter_code: str | None
    period: str | None
    kind: str | None
    data: bytes | None
    limits: ReadLimits
    reader_limits: ReaderLimits

    def result(self) -> tuple[ParsedUpload, str | None]:
        """The ParsedUpload (whatever the bytes did to the reader), and the engineer's error when the cause was
        not the file (a bug, the machine) — None when it was the file or nothing failed."""
        try:
            parsed = self.call.result()
        except ReaderFailed as exc:
            if exc.unexpected:
                log.error("reader of %s failed: %s", self.path, exc.en)
            parsed = not_read(self.path, self.reporter_code, self.period, UNREADABLE,
                              exc.zh + ("（平台内部错误，已通知技术人员）" if exc.unexpected else ""),
                              exc.en + (" (internal error: engineers have been told)" if exc.unexpected else ""),
                              self.kind)
            return parsed, exc.en if exc.unexpected else None
        parsed.reread_cells = partial(_reread_cells, self.path, self.data, self.limits, self.reader_limits)
        return parsed, None


def start_parse(path: Path, reporter_code: str | None = None, period: str | None = None,
                data: bytes | None = None, kind: str | None = None) -> PendingParse:
    """Start `parse_upload` in a child process with the settings' memory and time limits (`ingest.bounded`);
    several can run side by side while the caller validates and loads earlier files."""
    settings = config.settings()
    limits = ReadLimits.from_settings()  # read here: the child comes from a fork server started earlier
    reader_limits = ReaderLimits(settings.reader_memory_bytes, settings.reader_timeout_s)
    call = start_bounded(_parse_leaving_cells, path, reporter_code, period, data, limits,
                         limits=reader_limits, label=path.name)
    return PendingParse(call, path, reporter_code, period, kind, data, limits, reader_limits)


def parse_bounded(path: Path, reporter_code: str | None = None, period: str | None = None,
                  data: bytes | None = None, kind: str | None = None) -> tuple[ParsedUpload, str | None]:
    """`parse_upload` in a bounded child process, waited for (see `start_parse` and `PendingParse.result`)."""
    return start_parse(path, reporter_code, period, data, kind).result()


def _parse_leaving_cells(path: Path, reporter_code: str | None, period: str | None, data: bytes | None,
                         limits: ReadLimits) -> ParsedUpload:
    """`parse_upload` as the reader child runs it: the table's cells stay behind (sending them back cost more than
    the parse; only a rejected file's report needs them, and `table_cells()` reads them again, bounded too), and
    the rows come back formatted for COPY too."""
    parsed = parse_upload(path, reporter_code, period, data=data, limits=limits)
    parsed.cells = []
    if parsed.readable and parsed.kind is not None:  # formatted here, beside the next files' reads, not at load
        parsed.rows_csv = copy_format.rows_csv(parsed.kind, parsed.frame)
    return parsed


def _reread_cells(path: Path, data: bytes | None, limits: ReadLimits, reader_limits: ReaderLimits) -> Cells:
    try:
        return run_bounded(read_cells, path, data, limits, limits=reader_limits, label=path.name)[0]
    except ReaderFailed as exc:  # it was read a moment ago: the machine's problem; the report lists no cells
        log.error("re-reading the cells of %s failed: %s", path, exc.en)
        return []


def parse_upload(path: str | Path, reporter_code: str | None = None, period: str | None = None,
                 fuel_densities: dict[str, float] | None = None, data: bytes | None = None,
                 limits: ReadLimits | None = None) -> ParsedUpload:
    """Parse one upload; never raises for bad input (problems become findings).

    `reporter_code` and `period` are the folder's (`<reporter>/<YYYY-MM>/file`); they are kept on the result for
    the rules (M004, M009…). `fuel_densities` ({"gasoline_l": kg/L, "diesel_l": kg/L}) defaults to the reference
    seed and is only needed when a file gives a liquid fuel by mass. `data` are the file's bytes when the caller
    read them already (the run reads each upload once); `limits` default to the settings.
    """
    path = Path(path)
    try:
        rows, sheet, scans = _read(path, data, limits or ReadLimits.from_settings())
    except UnreadableFile as exc:
        return _unreadable(path, reporter_code, period, exc.zh, exc.en)
    except OSError as exc:
        return _unreadable(path, reporter_code, period, f"无法打开文件：{exc.strerror or exc}",
                           f"cannot open the file: {exc}")
    try:
        parsed = _parse_rows(path, rows, sheet, reporter_code, period, fuel_densities)
        if parsed.readable:
            parsed.findings.extend(_formula_findings(scans, sheet))
        return parsed
    except Exception as exc:  # last resort: a user must get a finding, never a traceback
        log.exception("unexpected error parsing %s", path)
        return _unreadable(path, reporter_code, period, f"解析出错：{exc}", f"parse error: {exc!r}")


def _parse_rows(path: Path, rows: Cells, sheet: str | None, reporter: str | None, period: str | None,
                fuel_densities: dict[str, float] | None) -> ParsedUpload:
    if not any(_cell_text(c) for row in rows for c in row):
        return _unreadable(path, reporter, period, "文件为空", "the file is empty")
    kind, header_index = _detect_kind(rows, sheet, path)
    if kind is None or header_index is None:
        return _unreadable(path, reporter, period,
                           "未找到表头行，无法判断报表类型（能源资源消费月报 / 重点任务进展）",
                           "no header row found: cannot tell the form (monthly statistics / task progress)", kind)
    specs = COLUMNS[kind]
    parsed = ParsedUpload(path=path, kind=kind, reporter_code=reporter, period=period, frame=pd.DataFrame(),
                          header_row=header_index + 1, sheet=sheet, cells=rows)

    # Map header cells to raw columns and unit factors.
    positions: dict[str, int] = {}
    factors: dict[str, Any] = {}
    for position, cell in enumerate(rows[header_index]):
        name, unit = split_header(cell)
        spec = _match_spec(name, specs)
        if spec is None:
            continue
        if spec.raw in positions:  # a second column of the same field: which one is meant cannot be guessed
            first = parsed.headers.get(spec.raw, spec.header)
            parsed.findings.append(Finding(
                MISSING_COLUMNS[kind], ERROR,
                f"列“{first}”出现了两次（第 {positions[spec.raw] + 1} 列和第 {position + 1} 列），请只保留一列",
                f"column {first!r} appears twice (columns {positions[spec.raw] + 1} and {position + 1}): keep one",
                column_name=spec.raw, observed_value=normalise_text(cell)))
            continue
        if spec.units:
            unit_key = (unit or spec.unit or "").lower()
            factor = next((f for u, f in spec.units.items() if u.lower() == unit_key), None)
            if factor is None:
                parsed.findings.append(Finding(
                    MISSING_COLUMNS[kind], ERROR,
                    f"列“{normalise_text(cell)}”的计量单位“{unit}”无法识别，应为：{'、'.join(spec.units)}",
                    f"column {normalise_text(cell)!r}: unknown unit {unit!r}; expected one of {', '.join(spec.units)}",
                    column_name=spec.raw, observed_value=unit))
                continue
            if factor == "density":
                densities = fuel_densities if fuel_densities is not None else reference.fuel_densities()
                factor = 1.0 / float(densities[spec.raw])
                if unit_key in ("吨", "t"):
                    factor *= 1000.0
            factors[spec.raw] = float(factor)
            parsed.units_used[spec.raw] = unit or spec.unit or ""
        positions[spec.raw] = position
        parsed.headers[spec.raw] = normalise_text(cell)

    missing = [s for s in specs if s.raw not in positions and s.raw not in OPTIONAL_COLUMNS[kind]
               and not any(f.column_name == s.raw for f in parsed.findings)]
    if missing:
        parsed.findings.append(Finding(
            MISSING_COLUMNS[kind], ERROR,
            "缺少必填列：" + "、".join(s.header for s in missing),
            "required columns missing: " + ", ".join(f"{s.header} ({s.raw})" for s in missing),
            column_name=",".join(s.raw for s in missing)))

    # Data rows: blank rows skipped; every kept row remembers its row number in the file.
    data: list[tuple[int, list[Any]]] = [
        (index + 1, row) for index, row in enumerate(rows[header_index + 1:], start=header_index + 1)
        if not _blank(row)
    ]
    total_row = _trailing_total(data, positions, kind)
    if total_row is not None:
        data = data[:-1]

    parsed.frame = _build_frame(specs, positions, factors, data, kind)
    if total_row is not None:
        parsed.findings.extend(_check_total(parsed, specs, positions, factors, total_row))
    if not data:
        parsed.findings.append(Finding(
            NO_DATA_ROWS, ERROR, "文件没有数据行（只有表头）：空文件不能替换已上报的数据",
            "the file has no data rows (headers only): an empty file cannot replace reported data"))
    return parsed


def _blank(row: list[Any]) -> bool:
    """No cell holds anything but blanks (checked cheaply first: this runs on every row)."""
    first = row[0] if row else None
    if isinstance(first, str) and first.strip():  # the usual data row: a filled first cell decides at once
        return False
    return all(c is None or (isinstance(c, str) and not c.strip())  # str.strip also removes the full-width space
               or (isinstance(c, float) and math.isnan(c)) for c in row)


def _by_unique(cells: list[Any], convert: Callable[[Any], Any]) -> list[Any] | np.ndarray:
    """`convert` applied once per distinct cell value (periods and kinds repeat on every row)."""
    values = np.empty(len(cells), dtype=object)
    values[:] = cells
    try:
        position, distinct = pd.factorize(values)
    except TypeError:  # an unhashable cell: convert each directly
        return [convert(value) for value in cells]
    bulk = _BULK_TEXT.get(convert)
    texts = bulk(distinct.tolist()) if bulk is not None else None
    converted = np.array([*(texts if texts is not None else map(convert, distinct)), None], dtype=object)
    out = converted[position]  # position -1 (a missing cell): the last, converted below
    for missing in np.flatnonzero(position < 0):
        out[missing] = convert(cells[missing])
    return out


def _credit_code_text(value: Any) -> str | None:
    return (_cell_text(value) or "").upper().replace(" ", "") or None


#: A separator no cell text holds (checked) and NFKC leaves alone: it neither composes nor reorders with a neighbour.
_JOIN = "\x00"


def _joined_texts(values: list[Any], credit_codes: bool = False) -> list[str | None] | None:
    """`_cell_text` (or `_credit_code_text`) of each value when all are text, computed in one pass over the texts
    joined (a column of names or codes is mostly distinct values: a call per cell cost more than the rest of the
    column); None when a value is not text or holds the separator (the caller converts each then)."""
    if not values or not set(map(type, values)) <= {str}:
        return None
    joined = _JOIN.join(values)
    if joined.count(_JOIN) != len(values) - 1:
        return None
    if not joined.isascii():  # NFKC of ASCII is itself: `normalise_text`'s fast path
        joined = unicodedata.normalize("NFKC", joined).replace("\u3000", " ")
    if credit_codes:  # the same as per value: case and inner blanks never touch the separator
        joined = joined.upper().replace(" ", "")
    return [text or None for text in map(str.strip, joined.split(_JOIN))]


#: Converters of `_by_unique` with a whole-column form.
_BULK_TEXT: dict[Callable[[Any], Any], Callable[[list[Any]], list[str | None] | None]] = {
    _cell_text: _joined_texts,
    _credit_code_text: partial(_joined_texts, credit_codes=True),
}


def _cell(row: list[Any], position: int | None) -> Any:
    return row[position] if position is not None and position < len(row) else None


def _trailing_total(data: list[tuple[int, list[Any]]], positions: dict[str, int], kind: str) -> tuple | None:
    """The last data row when one of its first text cells says 合计/总计."""
    if not data:
        return None
    row = data[-1][1]
    label_columns = ("credit_code", "institution_name") if kind == MONTHLY else ("period_quarter", "task_category",
                                                                                "project_name")
    cells = [_cell_text(_cell(row, positions.get(c))) for c in label_columns] + [_cell_text(c) for c in row[:2]]
    if any(c and c.replace(" ", "") in TOTAL_LABELS for c in cells):
        return data[-1]
    return None


def _build_frame(specs: tuple[ColumnSpec, ...], positions: dict[str, int], factors: dict[str, float],
                 data: list[tuple[int, list[Any]]], kind: str) -> pd.DataFrame:
    columns: dict[str, Any] = {"source_row": pd.array([n for n, _ in data], dtype="Int64")}
    width = max([len(row) for _, row in data] + [max(positions.values(), default=0) + 1])
    # Transposed once: one tuple of cells per file column (short rows padded with None).
    by_position = list(zip(*[row if len(row) == width else [*row, *[None] * (width - len(row))]
                             for _, row in data], strict=True)) if data else [()] * width
    for spec in specs:
        position = positions.get(spec.raw)
        cells = list(by_position[position]) if position is not None else [None] * len(data)
        if spec.numeric:
            series, texts = _numbers(cells)
            factor = factors.get(spec.raw, 1.0)
            columns[spec.raw] = series * factor if factor != 1.0 else series
            columns[spec.raw + NOT_A_NUMBER_SUFFIX] = pd.Series(texts, dtype="object")
        else:
            convert = {"period_month": normalise_month, "period_quarter": normalise_quarter,
                       "credit_code": _credit_code_text}.get(spec.raw, _cell_text)
            columns[spec.raw] = pd.Series(_by_unique(cells, convert), dtype="object")
    frame = pd.DataFrame(columns)
    if kind == TASK_PROGRESS:
        frame["task_code"] = frame["task_category"].map(_task_codes())
    return frame


def _numbers(cells: list[Any]) -> tuple[pd.Series, list[str | None]]:
    """Cells as float64 (NaN = blank or not a number) and, per cell, its original text when it is not a number.
    Fast paths: a column of finite floats (what a workbook's number cells give) is taken as it is; otherwise pandas
    converts plain numbers and only the cells it cannot read go through `to_number`."""
    texts: list[str | None] = [None] * len(cells)
    if set(map(type, cells)) <= {float}:
        numbers = np.array(cells, dtype="float64")
        if np.isfinite(numbers).all():
            return pd.Series(numbers), texts
    raw = pd.Series(cells, dtype="object")
    series = pd.to_numeric(raw, errors="coerce").astype("float64")
    series[np.isinf(series.to_numpy())] = np.nan  # "1e400", inf: not numbers (to_number keeps their text)
    for position in (series.isna() & raw.notna()).to_numpy().nonzero()[0]:
        number, text = to_number(cells[position])
        if number is not None:
            series.iat[position] = number
        texts[position] = text
    return series, texts


def _task_codes() -> dict[str, str]:
    """任务类别 (Chinese) -> task_code, from the seed ref_task_kinds."""
    return {k.category_zh: k.task_code for k in reference.task_kinds().values()}


def _check_total(parsed: ParsedUpload, specs: tuple[ColumnSpec, ...], positions: dict[str, int],
                 factors: dict[str, float], total_row: tuple[int, list[Any]]) -> list[Finding]:
    """M015: each number in the 合计 row equals its column's sum (within 0.01 of the file's unit)."""
    if parsed.kind != MONTHLY:
        return []
    row_number, row = total_row
    findings = []
    for spec in specs:
        if not spec.numeric or spec.raw not in positions:
            continue
        total, _text = to_number(_cell(row, positions[spec.raw]))
        if total is None:
            continue
        factor = factors.get(spec.raw, 1.0)
        column_sum = float(parsed.frame[spec.raw].sum()) / factor  # back in the file's unit
        if abs(column_sum - total) > max(0.01, 1e-9 * abs(column_sum)):
            header = parsed.column_header(spec.raw)
            findings.append(Finding(
                TOTAL_ROW_MISMATCH, ERROR,
                f"合计行“{header}”为 {total:,.2f}，但各行之和为 {column_sum:,.2f}",
                f"total row: {header} is {total:,.2f} but the rows sum to {column_sum:,.2f}",
                source_row=row_number, column_name=spec.raw, observed_value=f"{total:g}"))
    return findings
