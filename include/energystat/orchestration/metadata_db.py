"""Airflow's metadata database on a shared server: owned by a login role of its own, never by the superuser.

docker compose's one-shot `airflow-init` (the only service holding the server's superuser password) calls
`ensure_owner` before `airflow db migrate`: the role that ENERGYSTAT_AIRFLOW_DB_DSN names gets that DSN's password
and owns that DSN's database and every table in it, so the long-running Airflow services connect with it and
none holds a password that opens the warehouse. A stack whose metadata tables the superuser created (before this
role existed) is handed over the same way, on its next `docker compose up`.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from energystat import roles, warehouse

log = logging.getLogger(__name__)

#: relkind -> the word `alter … owner to` needs; sequences only when no table column owns them (those move with
#: their table, and altering them alone is an error).
_RELATION_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table",
                   "S": "sequence"}

_NOT_OWNED_SQL = """
select c.relkind, n.nspname, c.relname
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = any(%(kinds)s)
  and n.nspname <> 'information_schema' and n.nspname not like 'pg\\_%%'
  and c.relowner <> (select oid from pg_roles where rolname = %(role)s)
  and not (c.relkind = 'S' and exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                                        and d.objid = c.oid and d.deptype in ('a', 'i')))
order by n.nspname, c.relname
"""


class NotAnOwnRole(ValueError):
    """The metadata DSN names no user or password, or the server's superuser itself."""


def ensure_owner(superuser_dsn: str, metadata_dsn: str) -> list[str]:
    """Make the user of `metadata_dsn` a plain login role with that DSN's password owning that DSN's database and
    every relation in it, connecting to the same server as `superuser_dsn`; idempotent. Returns what changed."""
    role, secret = roles.dsn_user(metadata_dsn), roles.dsn_password(metadata_dsn)
    database = warehouse.database_of(metadata_dsn)
    if not role or not secret:
        raise NotAnOwnRole(f"{roles.masked(metadata_dsn)}: Airflow's metadata DSN must name its user and password")
    changed: list[str] = []
    with psycopg.connect(warehouse.with_database(superuser_dsn, "postgres"), autocommit=True) as conn:
        found = conn.execute("select rolsuper from pg_roles where rolname = %s", (role,)).fetchone()
        if found and found[0]:
            raise NotAnOwnRole(f"{role} is a superuser: Airflow's metadata database needs a role of its own")
        if found is None:
            try:
                conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
                changed.append(f"created role {role}")
            except psycopg.errors.DuplicateObject:
                pass  # another airflow-init created it between our check and our create
        if roles.set_password(conn, role, secret):
            changed.append(f"set the password of {role}")
        owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s",
                             (database,)).fetchone()
        if owner is None:
            conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(database), sql.Identifier(role)))
            changed.append(f"created database {database}")
        elif owner[0] != role:
            conn.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(database), sql.Identifier(role)))
            changed.append(f"database {database}: owner {owner[0]} -> {role}")
    with psycopg.connect(warehouse.with_database(superuser_dsn, database), autocommit=True) as conn, conn.transaction():
        for kind, schema, name in conn.execute(_NOT_OWNED_SQL, {"kinds": list(_RELATION_KINDS), "role": role}).fetchall():
            conn.execute(sql.SQL("alter {} {}.{} owner to {}").format(
                sql.SQL(_RELATION_KINDS[kind]), sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role)))
            changed.append(f"{schema}.{name} -> {role}")
    if changed:
        log.info("Airflow's metadata database: %s", "; ".join(changed[:5]) + (" …" if len(changed) > 5 else ""))
    return changed
