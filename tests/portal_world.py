"""A small province for the portal tests: two reporters' 2023 ingested, except 南宁市's December (held back as
the clean file a city uploads through the portal), and three accounts (450100, 450200, governance)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KEPT_REPORTERS = ("450100", "450200")
HELD_PERIOD = "2023-12"
PASSWORDS = {"450100": "nanning-pass-2023", "450200": "liuzhou-pass-2023", "gov": "governance-pass-2023"}


@dataclass
class World:
    root: Path
    landing: Path
    quarantine: Path
    work_dir: Path
    dsn: str
    clean_file: Path  # 450100's 2023-12 monthly form, not yet ingested
    faulty_file: Path  # the same with a negative electricity figure (an error) in row 3

    def env(self) -> dict[str, str]:
        return {"ENERGYSTAT_LANDING_DIR": str(self.landing), "ENERGYSTAT_QUARANTINE_DIR": str(self.quarantine),
                "ENERGYSTAT_PORTAL_WORK_DIR": str(self.work_dir), "ENERGYSTAT_WAREHOUSE_DSN": self.dsn}


def build_world(root: Path, dsn: str) -> World:
    """Generate, hold back 450100/2023-12, ingest the rest, create the accounts."""
    import openpyxl

    from energystat.contract import forms
    from energystat.ingest.run import ingest
    from energystat.portal import accounts
    from energystat.synth import generate

    landing = root / "landing"
    generate(landing, institutions=90, years=[2023], seed=7, fmt="xlsx")
    for folder in landing.iterdir():
        if folder.is_dir() and folder.name not in KEPT_REPORTERS:
            shutil.rmtree(folder)
    held = root / "held"
    held.mkdir()
    month_dir = landing / "450100" / HELD_PERIOD
    clean = held / forms.monthly_file_name("450100", HELD_PERIOD)
    shutil.move(str(month_dir / clean.name), clean)
    book = openpyxl.load_workbook(clean)
    sheet = book[forms.MONTHLY_SHEET]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=header.index("电力(千瓦时)") + 1, value=-1200)
    faulty = held / "南宁市12月 \"最终\"版 $(rm -rf ~); ..\\..\\x.xlsx".replace("\\", "_")
    book.save(faulty)
    world = World(root, landing, root / "quarantine", root / "portal", dsn, clean, faulty)
    with environment(world.env()):
        ingest(landing, dsn, alert_urls=[])
    accounts.add_user(dsn, "450100", "city", "450100", PASSWORDS["450100"], "南宁市统计员")
    accounts.add_user(dsn, "450200", "city", "450200", PASSWORDS["450200"], "柳州市统计员")
    accounts.add_user(dsn, "gov", "governance", None, PASSWORDS["gov"], "自治区治理人员")
    return world


@contextmanager
def world_in_environment(root: Path, dsn: str) -> Iterator[World]:
    """`build_world`, with its settings in os.environ for the portal's code while the block runs (then restored)."""
    world = build_world(root, dsn)
    with environment(world.env()):
        yield world


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set while the block runs, then as it was."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def portal_role_dsn(dsn: str) -> str:
    """The same database as `dsn`, connected as the `energystat_portal` role (with the password the roles module
    keeps, where it exists; the embedded server trusts local roles before it)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        from energystat import roles
    except ImportError:
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(netloc="energystat_portal@" + parts.netloc.rsplit("@", 1)[-1]))
    return roles.role_dsn(roles.PORTAL, dsn)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_portal(settings) -> Iterator[str]:  # noqa: ANN001 (PortalSettings)
    """The portal served by uvicorn in a thread on a free port; yields its base URL."""
    import dataclasses

    import uvicorn

    from energystat.portal.app import create_app

    port = free_port()
    settings = dataclasses.replace(settings, host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("portal did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
