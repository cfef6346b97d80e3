"""The annual circular (年度通报): Word, HTML and JSON documents built from the marts.

    from energystat.circular import publish
    paths = publish(2023, "out/")          # {"docx": …, "html": …, "json": …}

Every number comes from the marts (`data.py`); the wording lives in `templates/wording.zh.yaml`, editable
without touching code (docs/circular.md).
"""

from __future__ import annotations

from energystat.circular.data import (
    IncompleteReportingError,
    MartsNotReadyError,
    check_complete,
    load_circular_data,
)
from energystat.circular.docx_render import render_docx
from energystat.circular.model import CircularData
from energystat.circular.publish import publish, render_html, write_json

__all__ = [
    "CircularData", "IncompleteReportingError", "MartsNotReadyError", "check_complete", "load_circular_data",
    "publish", "render_docx", "render_html", "write_json",
]
