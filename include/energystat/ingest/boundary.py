"""The landing tree as a boundary: which entries may be read, and how their names are shown.

Nothing outside the tree is ever read or moved: symbolic links (to files or folders) are not followed, special
files (FIFOs, sockets, devices) are not opened, and only the documented suffixes are read. Period folders must be a
real month no later than the current one; a malformed or future folder is reported, not silently skipped. Every
refusal is a `Refusal` with a Chinese and English reason, which the run records as that entry's rejection (rule
P003). Names from the tree are normalised before they reach logs and reports, and long ones shortened for the
files written beside them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from energystat.contract.uploads import EXPLANATION_SUFFIX, UPLOAD_SUFFIXES

_LOOKS_LIKE_PERIOD = re.compile(r"^\d{4}-\d{1,2}$")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Refusal:
    """Why an entry of the landing tree is not read."""

    zh: str
    en: str


@dataclass(frozen=True)
class Entry:
    """A landing entry: a file to read (`refusal` None) or a refused file or folder."""

    path: Path
    reporter: str | None
    period: str | None
    refusal: Refusal | None = None


def display_name(name: str, limit: int = 120) -> str:
    """A file name fit for a log line or a report: NFC, control and bidi characters shown as `?`, and at most
    `limit` characters (the middle elided)."""
    text = _CONTROL.sub("?", unicodedata.normalize("NFC", name))
    if len(text) <= limit:
        return text
    keep = (limit - 1) // 2
    return text[:keep] + "…" + text[-keep:]


def short_stem(stem: str, max_bytes: int = 120) -> str:
    """A stem for files written beside an upload (`<stem>_检查报告.html`…): unchanged when it fits `max_bytes` of
    UTF-8, else cut at a character boundary and suffixed with 8 hex digits of its hash (distinct names stay
    distinct, and the result plus a suffix stays under the 255-byte file-name limit)."""
    stem = _CONTROL.sub("_", stem)
    if len(stem.encode()) <= max_bytes:
        return stem
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    cut = stem.encode()[:max_bytes - 9].decode("utf-8", errors="ignore")
    return f"{cut}~{digest}"


def period_refusal(name: str, today: dt.date | None = None) -> Refusal | None:
    """None for a period folder `YYYY-MM` that is a real month, not after the current one; else why not."""
    match = _PERIOD.match(name)
    if not match:
        return Refusal(f"上报月份文件夹“{display_name(name)}”不是有效月份（应为 YYYY-MM，如 2024-03）",
                       f"period folder {display_name(name)!r} is not a valid month (expected YYYY-MM, e.g. 2024-03)")
    today = today or dt.date.today()
    if (int(match[1]), int(match[2])) > (today.year, today.month):
        return Refusal(f"上报月份 {name} 晚于当前月份 {today:%Y-%m}，不能上报未来月份的数据",
                       f"period {name} is after the current month {today:%Y-%m}: future months cannot be reported")
    return None


def looks_like_period(name: str) -> bool:
    """A folder name a clerk meant as a period (`2023-13`, `2024-3`): reported when invalid, not ignored."""
    return bool(_LOOKS_LIKE_PERIOD.match(name))


def file_refusal(path: Path) -> Refusal | None:
    """None for a regular file with an upload suffix (checked without following a link); else why not."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return Refusal(f"无法读取文件信息：{exc.strerror or exc}", f"cannot stat the file: {exc.strerror or exc}")
    if stat.S_ISLNK(mode):
        return Refusal("文件是符号链接，平台不跟随链接读取（请上传文件本身）",
                       "the file is a symbolic link; links are not followed (upload the file itself)")
    if not stat.S_ISREG(mode):
        return Refusal("不是普通文件（如管道、设备或套接字），未读取",
                       "not a regular file (a pipe, device or socket): not read")
    if path.suffix.lower() not in UPLOAD_SUFFIXES:
        return Refusal(f"不支持的文件类型“{display_name(path.suffix)}”（请上传 .xlsx 或 .csv）",
                       f"unsupported file type {display_name(path.suffix)!r} (upload .xlsx or .csv)")
    return None


def folder_refusal(path: Path) -> Refusal | None:
    """None for a real folder; a refusal for a link to a folder (never followed)."""
    if path.is_symlink():
        return Refusal("文件夹是符号链接，平台不跟随链接（请把文件放在文件夹本身中）",
                       "the folder is a symbolic link; links are not followed (put the files in the folder itself)")
    return None


def is_local(path: Path) -> bool:
    """A local path (universal-pathlib paths of object stores carry storage options)."""
    return not hasattr(path, "storage_options")


def walk(root: Path, reporter_pattern: re.Pattern[str], reporter: str | None = None, period: str | None = None,
         today: dt.date | None = None) -> Iterator[Entry]:
    """Every entry of `<root>/<reporter>/<period>/<file>` to read or to report, without following links.

    Object stores have no links or special files: there only the suffix and period checks apply."""
    local = is_local(root)
    for reporter_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not reporter_pattern.match(reporter_dir.name) or (reporter and reporter_dir.name != reporter):
            continue
        if local and (refusal := folder_refusal(reporter_dir)):
            yield Entry(reporter_dir, reporter_dir.name, None, refusal)
            continue
        if not reporter_dir.is_dir():
            continue
        for period_dir in sorted(reporter_dir.iterdir(), key=lambda p: p.name):
            name = period_dir.name
            if period and name != period:
                continue
            if local and (refusal := folder_refusal(period_dir)):
                yield Entry(period_dir, reporter_dir.name, name if looks_like_period(name) else None, refusal)
                continue
            if not period_dir.is_dir():
                continue
            if not looks_like_period(name):
                continue  # not meant as a period (notes, a clerk's own folder): not the platform's
            refusal = period_refusal(name, today)
            for path in sorted(period_dir.iterdir(), key=lambda p: p.name):
                if path.name.startswith((".", "~$")) or path.name.endswith(EXPLANATION_SUFFIX):
                    continue  # a 说明 sidecar is read with its upload (ingest.run), never an upload itself
                if refusal is None:
                    refusal_here = file_refusal(path) if local else (
                        None if path.suffix.lower() in UPLOAD_SUFFIXES else Refusal(
                            f"不支持的文件类型“{display_name(path.suffix)}”（请上传 .xlsx 或 .csv）",
                            f"unsupported file type {display_name(path.suffix)!r} (upload .xlsx or .csv)"))
                else:
                    refusal_here = refusal
                if local and refusal_here is None and not path.is_file():
                    continue
                yield Entry(path, reporter_dir.name, name, refusal_here)
