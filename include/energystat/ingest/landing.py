"""Landing stage: find the uploads in the landing tree, identify them by their bytes, and move rejected ones out.

The tree is `<landing>/institutions.csv` and `<landing>/<reporter>/<YYYY-MM>/<file>` (contract.uploads), on a
local disk or any fsspec URL (`s3://…`) through universal-pathlib.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from energystat.config import storage_path
from energystat.contract.forms import REGISTRY_FILE
from energystat.contract.uploads import PERIOD_DIR, REGISTRY, REPORTER_DIR, kind_of

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
    #: The file's modification time (ISO 8601): when the reporter's upload arrived in the landing folder.
    received_at: str | None = None

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
    """Every upload in the landing tree (`institutions.csv` and `<reporter>/<YYYY-MM>/<file>`), in load order:
    the registry first, then by period, so history rules see last year's months before this year's."""
    root = landing_root(root)
    found: list[LandingFile] = []
    registry = root / REGISTRY_FILE
    if registry.is_file() and reporter is None and period is None:
        found.append(_landing_file(root, registry, None, None))
    for reporter_dir in sorted(p for p in root.iterdir() if p.is_dir() and REPORTER_DIR.match(p.name)):
        if reporter and reporter_dir.name != reporter:
            continue
        for period_dir in sorted(p for p in reporter_dir.iterdir() if p.is_dir() and PERIOD_DIR.match(p.name)):
            if period and period_dir.name != period:
                continue
            for path in sorted(period_dir.iterdir()):
                if path.is_file() and not path.name.startswith((".", "~$")):
                    found.append(_landing_file(root, path, reporter_dir.name, period_dir.name))
    found.sort(key=lambda f: (f.kind != REGISTRY, f.period or "", f.reporter_code or "", f.rel_path))
    return found


def _landing_file(root: Path, path: Path, reporter: str | None, period: str | None) -> LandingFile:
    stat = path.stat()
    return LandingFile(
        rel_path=path.relative_to(root).as_posix(),
        reporter_code=reporter,
        period=period,
        kind=kind_of(path.name),
        sha256=sha256_of(path),
        size_bytes=stat.st_size,
        # object stores without modification times report 0: then the file was received now
        received_at=datetime.fromtimestamp(stat.st_mtime or datetime.now(UTC).timestamp(), tz=UTC).isoformat(),
    )


def local_file(root: Path, rel_path: str) -> Path:
    """A local path of the upload for the readers (calamine, csv): remote files are copied to a temp folder."""
    source = root / rel_path
    if not hasattr(source, "storage_options"):  # a plain local path
        return source
    local = Path(tempfile.gettempdir()) / "energystat-landing" / hashlib.sha1(str(source).encode()).hexdigest()
    local.mkdir(parents=True, exist_ok=True)
    target = local / source.name
    target.write_bytes(source.read_bytes())
    return target


def move_out_of_landing(root: Path, rel_path: str, target_dir: Path) -> None:
    """Move an upload from the landing tree into `target_dir` (the quarantine), locally or across filesystems."""
    source = root / rel_path
    if not source.exists():
        return
    if hasattr(source, "storage_options"):  # remote: copy, then delete (no rename across filesystems)
        (target_dir / source.name).write_bytes(source.read_bytes())
        source.unlink()
    else:
        shutil.move(str(source), str(target_dir / source.name))


def batches_by_reporter(files: Iterable[LandingFile], batch_count: int) -> list[list[LandingFileDict]]:
    """Group files into at most `batch_count` batches, each holding whole reporters in period order.

    A reporter's files stay together and chronological, so rules against last year's data see it even
    when both years arrive in the same night. Batches are balanced by bytes.
    """
    by_reporter: dict[str, list[LandingFile]] = {}
    for f in files:
        by_reporter.setdefault(f.reporter_code or "", []).append(f)
    batches: list[list[LandingFile]] = [[] for _ in range(max(1, min(batch_count, len(by_reporter))))]
    sizes = [0] * len(batches)
    for reporter in sorted(by_reporter, key=lambda r: -sum(f.size_bytes for f in by_reporter[r])):
        smallest = sizes.index(min(sizes))
        batches[smallest].extend(sorted(by_reporter[reporter], key=lambda f: (f.period or "", f.rel_path)))
        sizes[smallest] += sum(f.size_bytes for f in by_reporter[reporter])
    return [[f.to_dict() for f in batch] for batch in batches if batch]
