"""Uploaded values made harmless wherever they are shown again: escaped in HTML, plain text in Excel.

Every cell of an upload is attacker-controlled (a clerk's file may come from anywhere). Two places show them:
- HTML pages (our report, GX's Data Docs): a value `<script>…</script>` must be shown, never run. Our report is
  a Jinja template with autoescape; GX's Data Docs renderer inserts the values of a validation result verbatim,
  so the result's values are escaped here before the docs are built.
- Excel workbooks (the marked copy of the upload): openpyxl stores a string starting with `=` as a formula,
  and Excel treats text starting with `+`, `-`, `@` (or a tab/CR before them) as one when a reader edits the
  cell. Such text is written as a string cell with Excel's "quote prefix" (shown as text, kept as text).
"""

from __future__ import annotations

import copy
import html
import re
from typing import Any

#: First characters that make a spreadsheet read text as a formula (OWASP "CSV injection" list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def set_text_cell(cell: Any, value: Any) -> Any:
    """Put `value` into an openpyxl cell; text is always stored as text (never a formula). Returns the cell."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl made "=…" a formula ("f"): store the characters as typed
        if looks_like_formula(value):
            cell.quotePrefix = True  # Excel shows it as text and keeps it text when the cell is edited
    return cell


def safe_name(text: str) -> str:
    """`text` (a file name) with every character but letters, digits (any script), `-`, `_` and `.` replaced by
    `_`: for names GX prints into its pages and uses as folder names (run names, batch identifiers)."""
    return re.sub(r"[^\w.\-]", "_", text)


def escape_values(value: Any) -> Any:
    """`value` with every string in it (through dicts, lists and tuples) HTML-escaped; other values as they are."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {key: escape_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(escape_values(item) for item in value)
    return value


def escape_gx_result(validation: Any) -> Any:
    """A copy of a GX ExpectationSuiteValidationResult with its upload-derived parts escaped: each expectation's
    observed values (`result`: unexpected lists and counts, observed value, details) and exception messages.
    The expectations' own arguments (our suites) are left as written; `validation` itself is not changed."""
    validation = copy.deepcopy(validation)
    for expectation_result in validation.results:
        expectation_result.result = escape_values(expectation_result.result)
        if expectation_result.exception_info:
            expectation_result.exception_info = escape_values(expectation_result.exception_info)
    return validation
