"""Least privilege on real PostgreSQL: each role may do its job and is refused everything else; the embedded
server checks passwords; no DSN the CLI prints carries a password."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from energystat import roles, warehouse

ROOT = Path(__file__).resolve().parents[1]

# What dbt would have built (created as the transformer, as `dbt build` does), and a row in each raw/ops table
# the checks below touch.
_BUILT_BY_DBT = [
    "create table reference.conversion as select 'electricity' as carrier, 0.1229 as kgce_per_unit",
    "create view staging.stg_example as select 1 as x",
    "create table intermediate.int_example as select 1 as x",
    "create table marts.mart_example as select 1 as x",
]

# (statement, {role short name: allowed?}); a role not named is refused. Each statement runs in its own
# transaction, rolled back, so the allowed writes leave the database as it was.
ALLOWED, REFUSED = True, False
MATRIX: list[tuple[str, dict[str, bool]]] = [
    ("select count(*) from raw.monthly_statistics", {"loader": ALLOWED, "transformer": ALLOWED, "portal": ALLOWED}),
    ("select count(*) from raw.institution_registry", {"loader": ALLOWED, "transformer": ALLOWED, "portal": ALLOWED}),
    ("select count(*) from raw.task_progress", {"loader": ALLOWED, "transformer": ALLOWED, "portal": ALLOWED}),
    ("select count(*) from ops.upload_log", {"loader": ALLOWED, "transformer": ALLOWED, "portal": ALLOWED}),
    ("select count(*) from ops.dq_findings", {"loader": ALLOWED, "transformer": ALLOWED, "portal": ALLOWED}),
    ("select count(*) from ops.schema_migrations", {}),
    ("insert into ops.upload_log (path, file_name, sha256, size_bytes, kind, status)"
     " values ('a/b.xlsx', 'b.xlsx', repeat('0', 64), 1, 'monthly', 'processing')", {"loader": ALLOWED}),
    ("update ops.upload_log set reason = 'x'", {"loader": ALLOWED}),
    ("delete from raw.institution_registry", {"loader": ALLOWED}),
    ("insert into raw.task_progress (upload_id, source_row, reporter_code, period_quarter, year, quarter,"
     " task_code, quantity, unit) select 1, 1, '450100', '2024-Q1', 2024, 1, 'T1', 1, 'x' where false", {"loader": ALLOWED}),
    ("insert into ops.dq_findings (upload_id, rule_id, severity, message_zh, message_en)"
     " select 1, 'M001', 'error', 'x', 'x' where false", {"loader": ALLOWED}),
    ("truncate raw.monthly_statistics", {}),
    ("delete from ops.schema_migrations", {}),
    ("alter table raw.monthly_statistics add column x int", {}),
    ("create table raw.extra (x int)", {}),
    ("create table ops.extra (x int)", {}),
    ("drop table raw.task_progress", {}),
    ("select count(*) from reference.conversion", {"loader": ALLOWED, "transformer": ALLOWED}),
    ("select count(*) from staging.stg_example", {"transformer": ALLOWED}),
    ("select count(*) from intermediate.int_example", {"transformer": ALLOWED}),
    ("select count(*) from marts.mart_example", {"transformer": ALLOWED, "analyst": ALLOWED}),
    ("insert into marts.mart_example values (2)", {"transformer": ALLOWED}),
    ("alter table marts.mart_example add column y int", {"transformer": ALLOWED}),
    ("drop table marts.mart_example", {"transformer": ALLOWED}),
    ("create table marts.mart_new as select 1 as x", {"transformer": ALLOWED}),
    ("create table staging.stg_new as select 1 as x", {"transformer": ALLOWED}),
    ("create table intermediate.int_new as select 1 as x", {"transformer": ALLOWED}),
    ("create table reference.seed_new as select 1 as x", {"transformer": ALLOWED}),
    ("create table public.anything (x int)", {}),
    ("create schema sneaky", {}),
]
APP_ROLES = sorted(roles.APP_ROLES)


@pytest.fixture(scope="module")
def warehouse_with_marts(module_warehouse_dsn: str) -> str:
    with psycopg.connect(roles.role_dsn(roles.TRANSFORMER, module_warehouse_dsn)) as conn:
        for statement in _BUILT_BY_DBT:
            conn.execute(statement)
    return module_warehouse_dsn


def _attempt(dsn: str, statement: str) -> bool:
    """Run `statement` in a transaction that is rolled back; True if allowed, False if refused for privilege."""
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            conn.rollback()
    return True


@pytest.mark.external_pg
@pytest.mark.parametrize("role", APP_ROLES)
def test_each_role_may_do_its_job_and_is_refused_everything_else(warehouse_with_marts: str, role: str) -> None:
    dsn = roles.role_dsn(roles.APP_ROLES[role], warehouse_with_marts)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone() == (roles.APP_ROLES[role],)
    outcome = {statement: _attempt(dsn, statement) for statement, _ in MATRIX}
    expected = {statement: allowed.get(role, REFUSED) for statement, allowed in MATRIX}
    assert outcome == expected


@pytest.mark.external_pg
def test_what_the_transformer_builds_is_readable_by_analysts_without_a_grant(warehouse_dsn: str) -> None:
    """dbt rebuilds its tables every night: default privileges, not one-off grants, keep analysts reading marts
    and the loader reading the reference seeds."""
    with psycopg.connect(roles.role_dsn(roles.TRANSFORMER, warehouse_dsn)) as conn:
        conn.execute("create table marts.mart_tonight as select 42 as x")
        conn.execute("create table reference.seed_tonight as select 7 as y")
        owner = conn.execute("select tableowner from pg_tables where tablename = 'mart_tonight'").fetchone()
    assert owner == (roles.TRANSFORMER,)
    with psycopg.connect(roles.role_dsn(roles.ANALYST, warehouse_dsn)) as conn:
        assert conn.execute("select x from marts.mart_tonight").fetchone() == (42,)
    with psycopg.connect(roles.role_dsn(roles.LOADER, warehouse_dsn)) as conn:
        assert conn.execute("select y from reference.seed_tonight").fetchone() == (7,)
    assert not _attempt(roles.role_dsn(roles.ANALYST, warehouse_dsn), "select * from reference.seed_tonight")


@pytest.mark.external_pg
def test_marts_built_before_the_roles_existed_are_handed_to_the_transformer(server_dsn: str) -> None:
    """An existing warehouse whose marts dbt built as the owner: after migrating, dbt (now the transformer)
    must still be able to replace them, and analysts still read them."""
    from energystat import migrate

    dsn = warehouse.with_database(server_dsn, f"es_roles_upgrade_{os.getpid()}")
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    try:
        migrate.migrate(dsn, until="V002__analyst_role")  # the warehouse as it was before V003
        with psycopg.connect(dsn) as conn:  # ... with a mart dbt built as the owner
            conn.execute("create table marts.mart_old as select 1 as x")
        migrate.migrate(dsn)
        with psycopg.connect(roles.role_dsn(roles.TRANSFORMER, dsn)) as conn:
            conn.execute("alter table marts.mart_old rename to mart_old__dbt_backup")
            conn.execute("drop table marts.mart_old__dbt_backup")
            conn.execute("create table marts.mart_old as select 2 as x")
        with psycopg.connect(roles.role_dsn(roles.ANALYST, dsn)) as conn:
            assert conn.execute("select x from marts.mart_old").fetchone() == (2,)
    finally:
        warehouse.drop_database(dsn)


# --- each job connects as its own role ------------------------------------------------------------------------


def _only_role_may_connect(dsn: str, role: str | None) -> None:
    """Take CONNECT on the test database from everyone but `role` (the owner, a superuser, keeps it)."""
    database = sql.Identifier(warehouse.database_of(dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("revoke connect on database {} from public").format(database))
        for name in roles.APP_ROLES.values():
            conn.execute(sql.SQL("revoke connect on database {} from {}").format(database, sql.Identifier(name)))
        if role is not None:
            conn.execute(sql.SQL("grant connect on database {} to {}").format(database, sql.Identifier(role)))


@pytest.mark.external_pg
def test_ingestion_connects_as_the_loader(warehouse_dsn: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures_uploads import monthly_row, write_xlsx

    from energystat.ingest import run as ingest

    monkeypatch.setenv("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    root = tmp_path / "landing"
    write_xlsx(root / "450100" / "2024-03" / "450100_2024-03_能源资源消费月报.xlsx", [monthly_row(1)])
    _only_role_may_connect(warehouse_dsn, roles.LOADER)
    summary = ingest.ingest(root, dsn=warehouse_dsn, alert_urls=[])
    assert len(summary.outcomes) == 1
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*) from ops.upload_log").fetchone() == (1,)

    _only_role_may_connect(warehouse_dsn, None)  # now not even the loader: ingestion must fail, not fall back
    write_xlsx(root / "450100" / "2024-04" / "450100_2024-04_能源资源消费月报.xlsx", [monthly_row(1, "2024-04")])
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        ingest.ingest(root, dsn=warehouse_dsn, alert_urls=[])


@pytest.mark.external_pg
def test_dbt_and_the_circular_connect_as_the_transformer(warehouse_dsn: str) -> None:
    from energystat import dbt_runner
    from energystat.circular import data

    _only_role_may_connect(warehouse_dsn, roles.TRANSFORMER)
    dbt_runner.run_dbt(["run", "--select", "stg_upload_log"], dsn=warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        owner = conn.execute("select viewowner from pg_views where viewname = 'stg_upload_log'").fetchone()
    assert owner == (roles.TRANSFORMER,)
    assert data.marts_freshness(warehouse_dsn)[0] is False  # it connected (and found no marts yet)

    _only_role_may_connect(warehouse_dsn, None)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        data.marts_freshness(warehouse_dsn)


# --- the embedded server's authentication --------------------------------------------------------------------

EMBEDDED = warehouse.is_embedded()  # read at collection, before fixtures point ENERGYSTAT_WAREHOUSE_DSN at a test db
embedded_only = pytest.mark.skipif(not EMBEDDED, reason="the embedded server's own authentication")


@embedded_only
@pytest.mark.parametrize("role", APP_ROLES)
def test_embedded_server_refuses_a_wrong_or_missing_password(warehouse_dsn: str, role: str) -> None:
    name = roles.APP_ROLES[role]
    good = roles.role_dsn(name, warehouse_dsn)
    with psycopg.connect(good) as conn:
        assert conn.execute("select current_user").fetchone() == (name,)
    host = f"/{warehouse.database_of(warehouse_dsn)}?host={warehouse.embedded_pgdata()}"
    for credentials in (f"{name}:wrong-password", f"{name}:", name):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://{credentials}@{host}")


@embedded_only
def test_embedded_server_trusts_no_one_and_admits_the_owner_by_peer_only(warehouse_dsn: str) -> None:
    hba = (warehouse.embedded_pgdata() / "pg_hba.conf").read_text(encoding="utf-8")
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert all(rule[0] == "local" for rule in rules), "the server listens on its socket only"
    assert [rule[3] for rule in rules] == ["peer", "scram-sha-256"]
    assert rules[0][2] == "postgres"
    with psycopg.connect(warehouse.with_database(warehouse.server_dsn(), "postgres")) as conn:
        assert conn.execute("show password_encryption").fetchone() == ("scram-sha-256",)
        methods = {row[0] for row in conn.execute("select auth_method from pg_hba_file_rules")}
        stored = conn.execute("select rolname, rolpassword like 'SCRAM-SHA-256$%%' from pg_authid"
                              " where rolname like 'energystat_%%' order by 1").fetchall()
    assert methods == {"peer", "scram-sha-256"}  # what the server really loaded, not only the file
    assert stored == [(name, True) for name in sorted(roles.APP_ROLES.values())]


def test_generated_passwords_are_private_and_never_committed() -> None:
    roles.generated_passwords()
    path = roles.passfile()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(set(roles.generated_passwords().values())) == len(roles.APP_ROLES)
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(ROOT / ".energystat/secrets/pgpass")])
    assert ignored.returncode == 0, "the state folder must be git-ignored"


def test_parsing_the_build_marts_dag_writes_no_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's DAG processor renders the dbt profile (Cosmos) but never connects: on docker compose it holds no
    role's password, and must not write a password file of new ones into the shared state volume."""
    from energystat import dbt_runner

    for role in roles.APP_ROLES.values():
        monkeypatch.delenv(roles.dsn_env(role), raising=False)
        monkeypatch.delenv(roles.password_env(role), raising=False)
    monkeypatch.setenv("ENERGYSTAT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", "postgresql://postgres:5432/energystat")
    profile = dbt_runner.env_for_profile()
    assert (profile["ENERGYSTAT_DBT_USER"], profile["ENERGYSTAT_DBT_PASSWORD"]) == (roles.TRANSFORMER, "")
    assert profile["PGPASSFILE"] == str(roles.passfile()) and not roles.passfile().exists()
    monkeypatch.setenv(roles.password_env(roles.TRANSFORMER), "Transformer-Secret-5")  # the worker's environment
    assert dbt_runner.env_for_profile()["ENERGYSTAT_DBT_PASSWORD"] == "Transformer-Secret-5"


# --- secrets never printed ------------------------------------------------------------------------------------


def _energystat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; on the embedded server as a user has it (no ENERGYSTAT_WAREHOUSE_DSN)."""
    if env is None:
        env = dict(os.environ)
        if EMBEDDED:
            env.pop("ENERGYSTAT_WAREHOUSE_DSN", None)
    return subprocess.run([sys.executable, "-m", "energystat.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=True)


@pytest.fixture
def no_role_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for role in roles.APP_ROLES.values():
        monkeypatch.delenv(roles.dsn_env(role), raising=False)
        monkeypatch.delenv(roles.password_env(role), raising=False)
    yield


@pytest.mark.external_pg
def test_cli_prints_dsns_without_passwords_and_psql_connects_with_them(
    warehouse_dsn: str, no_role_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from energystat import cli

    secrets = set(roles.generated_passwords().values())
    start = _energystat("warehouse", "start")  # as a user runs it: a process, its output and its log lines
    printed = start.stdout + start.stderr
    if EMBEDDED:
        monkeypatch.delenv("ENERGYSTAT_WAREHOUSE_DSN")
    dsns = {}
    for role in ["owner", *APP_ROLES]:
        assert cli.main(["warehouse", "dsn", "--role", role]) == 0
        dsns[role] = capsys.readouterr().out.strip()
    assert cli.main(["warehouse", "status"]) == 0
    printed += capsys.readouterr().out + "\n".join(dsns.values())
    assert {role: roles.dsn_user(dsn) for role, dsn in dsns.items() if role != "owner"} == {
        role: roles.APP_ROLES[role] for role in APP_ROLES}
    assert not [secret for secret in secrets if secret in printed]
    assert cli.main(["warehouse", "dsn", "--role", "analyst", "--show-password"]) == 0
    shown = capsys.readouterr().out.strip()
    assert roles.generated_passwords()[roles.ANALYST] in shown  # the explicit opt-in
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no psql client on this machine")
    for dsn in (dsns["analyst"], shown):
        result = subprocess.run([psql, dsn, "-tAc", "select current_user"], capture_output=True, text=True,
                                check=True, env={**os.environ, "PGPASSWORD": ""})
        assert result.stdout.strip() == roles.ANALYST


@pytest.mark.external_pg
def test_passwords_given_in_the_environment_are_masked(warehouse_dsn: str, no_role_env: None) -> None:
    env = {**os.environ, roles.password_env(roles.ANALYST): "Analyst-Secret-77",
           "ENERGYSTAT_WAREHOUSE_DSN": "postgresql://admin:Owner-Secret-99@db.example:5432/energystat"}
    status = _energystat("warehouse", "status", env=env).stdout
    assert "Owner-Secret-99" not in status and "admin:***@db.example" in status
    assert roles.masked(roles.role_dsn(roles.ANALYST, warehouse_dsn)) == roles.role_dsn(roles.ANALYST, warehouse_dsn)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(roles.password_env(roles.ANALYST), "Analyst-Secret-77")
        dsn = roles.role_dsn(roles.ANALYST, warehouse_dsn)
    assert "Analyst-Secret-77" in dsn and "Analyst-Secret-77" not in roles.masked(dsn)
    for text in ("host=db user=u password=Analyst-Secret-77 dbname=x",
                 "postgresql://u@db/x?password=Analyst-Secret-77&sslmode=require"):
        assert "Analyst-Secret-77" not in roles.masked(text) and roles.MASK in roles.masked(text)
