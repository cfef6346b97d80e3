"""The portal's settings, read once from the environment (every one has a default that works on a laptop)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from energystat import config


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class PortalSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    #: Largest upload accepted, in bytes (the request is cut off beyond it: HTTP 413).
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Most data rows a checked file may hold (a reporter's month is a few thousand institutions).
    max_rows: int = 50_000
    session_hours: int = 8
    #: Failed passwords in a row after which an account is locked for `lockout_minutes`.
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    #: Send cookies with `Secure` (set when served over HTTPS behind a proxy).
    secure_cookies: bool = False
    #: Where checked files and their reports are kept (`<work_dir>/<submission_id>/`).
    work_dir: Path = Path(".")
    #: A DSN for the portal's own role (`energystat_portal`); empty = the warehouse DSN.
    dsn: str | None = None
    airflow_url: str | None = None
    airflow_user: str | None = None
    airflow_password: str | None = None

    @classmethod
    def from_env(cls) -> PortalSettings:
        return cls(
            host=os.environ.get("ENERGYSTAT_PORTAL_HOST", "127.0.0.1"),
            port=_int("ENERGYSTAT_PORTAL_PORT", 8090),
            max_upload_bytes=_int("ENERGYSTAT_PORTAL_MAX_UPLOAD_MB", 20) * 1024 * 1024,
            max_rows=_int("ENERGYSTAT_PORTAL_MAX_ROWS", 50_000),
            session_hours=_int("ENERGYSTAT_PORTAL_SESSION_HOURS", 8),
            max_failed_logins=_int("ENERGYSTAT_PORTAL_MAX_FAILED_LOGINS", 5),
            lockout_minutes=_int("ENERGYSTAT_PORTAL_LOCKOUT_MINUTES", 15),
            secure_cookies=os.environ.get("ENERGYSTAT_PORTAL_SECURE_COOKIES", "").lower() in ("1", "true", "yes"),
            work_dir=Path(os.environ.get("ENERGYSTAT_PORTAL_WORK_DIR") or config.state_dir() / "portal"),
            dsn=os.environ.get("ENERGYSTAT_PORTAL_DSN") or None,
            airflow_url=os.environ.get("ENERGYSTAT_AIRFLOW_URL") or None,
            airflow_user=os.environ.get("ENERGYSTAT_AIRFLOW_USER") or None,
            airflow_password=os.environ.get("ENERGYSTAT_AIRFLOW_PASSWORD") or None,
        )

    def warehouse_dsn(self) -> str:
        """`dsn`, else the portal role's DSN where the roles module manages role passwords, else the warehouse's."""
        from energystat import warehouse

        if self.dsn:
            return self.dsn
        try:
            from energystat import roles
        except ImportError:  # before least-privilege roles (migration V003) the owner's DSN is the only one
            return warehouse.warehouse_dsn()
        return roles.role_dsn(roles.PORTAL, warehouse.warehouse_dsn())
