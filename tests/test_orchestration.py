"""Airflow stays at the edge: the package works without Airflow, the glue is only for DAG files, and the
secrets every Airflow component shares are generated once and kept private."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from energystat.orchestration import environment

ROOT = Path(__file__).resolve().parents[1]

_WITHOUT_AIRFLOW = """
import importlib, pkgutil, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name} imported outside energystat.orchestration.glue")

sys.meta_path.insert(0, NoAirflow())
import energystat
names = [m.name for m in pkgutil.walk_packages(energystat.__path__, "energystat.")]
skipped = {"energystat.orchestration.glue"}
for name in names:
    if name not in skipped:
        importlib.import_module(name)
print(len(names) - len(skipped))
"""


def test_every_module_but_the_glue_imports_without_airflow() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_AIRFLOW], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 20


def test_only_dag_files_import_the_glue() -> None:
    users = {
        path.relative_to(ROOT).as_posix()
        for folder in ("include", "dags", "plugins", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if "orchestration.glue" in path.read_text(encoding="utf-8") and path.name != "__init__.py"
    }
    assert users and all(user.startswith("dags/") for user in users), users


def test_shared_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = environment.shared_secrets(tmp_path)
    assert set(first) == {"AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"}
    assert len(first["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64  # HS512 wants a 64-byte key
    assert environment.shared_secrets(tmp_path) == first  # every component, every start: the same keys
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600, oct(mode)
    from cryptography.fernet import Fernet

    Fernet(first["AIRFLOW__CORE__FERNET_KEY"])  # a valid Fernet key


def test_secrets_never_land_in_the_repository() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".energystat/airflow/secrets.json"], cwd=ROOT)
    assert ignored.returncode == 0
