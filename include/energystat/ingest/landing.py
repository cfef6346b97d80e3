"""Landing stage: find the uploads in the landing tree, identify them by their bytes, and move rejected ones out.

The tree is `<landing>/institutions.csv` and `<landing>/<reporter>/<YYYY-MM>/<file>` (contract.uploads), on a
local disk or any fsspec URL (`s3://…`) through universal-pathlib. The tree is a boundary (`boundary`): links are
not followed, special files not opened, other suffixes and malformed or future period folders not read — such
entries are found with their refusal, and the run records them. A file's bytes are read once, with a size limit
(`read_upload`): the hash logged and the rows parsed come from the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat as stat_mode
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from energystat.config import storage_path
from energystat.contract.forms import REGISTRY_FILE
from energystat.contract.uploads import REGISTRY, REPORTER_DIR, kind_of
from energystat.ingest.boundary import Refusal, file_refusal, is_local, walk

#: JSON-friendly dict of a LandingFile (what Airflow passes between tasks).
LandingFileDict = dict[str, str | int | None]


@dataclass(frozen=True)
class LandingFile:
    """A file found in the landing tree, identified by its bytes."""

    rel_path: str
    reporter_code: str | None
    period: str | None
    kind: str
    sha256: str
    size_bytes: int
    #: The file's modification time (ISO 8601): when the reporter's upload arrived in the landing folder (None:
    #: the store keeps no times; the log then says when it was processed).
    received_at: str | None = None
    #: Why the entry is not read (a link, a special file, another suffix, a bad period folder), Chinese / English.
    refusal_zh: str | None = None
    refusal_en: str | None = None
    #: The upload log's last id when this run selected the file: a log row for it after that is another run's.
    logged_up_to: int | None = None

    @property
    def file_name(self) -> str:
        return Path(self.rel_path).name

    def to_dict(self) -> LandingFileDict:
        return asdict(self)


def landing_root(root: str | Path) -> Path:
    """The landing root as a path object (a local folder, or an fsspec URL through universal-pathlib)."""
    return storage_path(root)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discover(root: str | Path, reporter: str | None = None, period: str | None = None) -> list[LandingFile]:
    """Every entry of the landing tree (`institutions.csv` and `<reporter>/<YYYY-MM>/<file>`), in load order: the
    registry first, then by period and, within a reporter's period, in received order (so of two versions of a
    month the one received last ends up live); refused entries come with their refusal."""
    root = landing_root(root)
    found: list[LandingFile] = []
    registry = root / REGISTRY_FILE
    if reporter is None and period is None and (is_local(root) and os.path.lexists(registry) or registry.is_file()):
        found.append(_landing_file(root, registry, None, None, file_refusal(registry) if is_local(root) else None))
    for entry in walk(root, REPORTER_DIR, reporter, period):
        found.append(_landing_file(root, entry.path, entry.reporter, entry.period, entry.refusal))
    found.sort(key=lambda f: (f.kind != REGISTRY, f.period or "", f.reporter_code or "", f.received_at or "",
                              f.rel_path))
    return found


def _landing_file(root: Path, path: Path, reporter: str | None, period: str | None,
                  refusal: Refusal | None = None) -> LandingFile:
    rel_path = path.relative_to(root).as_posix()
    if refusal is not None:  # never opened: identified by its path, so a rerun knows it
        return LandingFile(rel_path, reporter, period, kind_of(path.name),
                           hashlib.sha256(f"not read: {rel_path}".encode()).hexdigest(), 0,
                           refusal_zh=refusal.zh, refusal_en=refusal.en)
    info = path.stat()
    return LandingFile(
        rel_path=rel_path,
        reporter_code=reporter,
        period=period,
        kind=kind_of(path.name),
        sha256=sha256_of(path),
        size_bytes=info.st_size,
        # object stores without modification times report 0: the log then says when the file was processed
        received_at=datetime.fromtimestamp(info.st_mtime, tz=UTC).isoformat() if info.st_mtime else None,
    )


class TooLarge(Exception):
    """The upload is larger than the size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes > {limit}")
        self.size, self.limit = size, limit


def read_upload(root: Path, rel_path: str, max_bytes: int) -> bytes:
    """The upload's bytes, read once (the hash logged and the rows parsed come from them), at most `max_bytes`.

    Local files are opened without following a link and without blocking (a file swapped for a FIFO since
    discovery does not hang the run) and must still be regular files."""
    source = root / rel_path
    if not is_local(source):
        with source.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    else:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"{rel_path} is not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
        finally:
            os.close(fd)
    if len(data) > max_bytes:
        raise TooLarge(len(data), max_bytes)
    return data


def move_out_of_landing(root: Path, rel_path: str, target_dir: Path) -> None:
    """Move an upload from the landing tree into `target_dir` (the quarantine), locally or across filesystems.
    A link is never moved or followed (refused entries stay where they are, their log row says why)."""
    source = root / rel_path
    if is_local(source) and (source.is_symlink() or not source.is_file()):
        return
    if not source.exists():
        return
    if hasattr(source, "storage_options"):  # remote: copy, then delete (no rename across filesystems)
        (target_dir / source.name).write_bytes(source.read_bytes())
        source.unlink()
    else:
        shutil.move(str(source), str(target_dir / source.name))


def batches_by_reporter(files: Iterable[LandingFile], batch_count: int) -> list[list[LandingFileDict]]:
    """Group files into at most `batch_count` batches, each holding whole reporters in period order.

    A reporter's files stay together and chronological (by period, then in received order), so rules against
    last year's data see it even when both years arrive in the same night, and of two versions of a month the one
    received last is live. Batches are balanced by bytes.
    """
    by_reporter: dict[str, list[LandingFile]] = {}
    for f in files:
        by_reporter.setdefault(f.reporter_code or "", []).append(f)
    batches: list[list[LandingFile]] = [[] for _ in range(max(1, min(batch_count, len(by_reporter))))]
    sizes = [0] * len(batches)
    for reporter in sorted(by_reporter, key=lambda r: -sum(f.size_bytes for f in by_reporter[r])):
        smallest = sizes.index(min(sizes))
        batches[smallest].extend(sorted(by_reporter[reporter],
                                        key=lambda f: (f.period or "", f.received_at or "", f.rel_path)))
        sizes[smallest] += sum(f.size_bytes for f in by_reporter[reporter])
    return [[f.to_dict() for f in batch] for batch in batches if batch]
