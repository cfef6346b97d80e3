-- Least privilege: one login role per job, each allowed only the schemas its job needs.
--   energystat_loader       ingestion: reads and writes the rows of raw and ops (no DDL), reads reference
--   energystat_transformer  dbt: reads raw, ops and reference; creates and replaces staging, intermediate,
--                           marts and the reference seeds (it owns what dbt builds)
--   energystat_analyst      reads marts only (V002)
--   energystat_portal       the upload portal: nothing here; the portal's own migration grants what it needs
-- The migrating role (the owner) keeps the rest: schemas, the raw/ops tables' DDL, the migrations log.
-- Passwords are not set here (migrations are checked in): energystat.roles sets them after migrating.

-- Roles are cluster-wide while migrations run per database: another database's migration may create the
-- same role at the same moment, so "already exists" (either form) is not an error.
do $$
declare
    role_name text;
begin
    foreach role_name in array array['energystat_loader', 'energystat_transformer', 'energystat_portal'] loop
        if not exists (select 1 from pg_roles where rolname = role_name) then
            begin
                execute format('create role %I login', role_name);
            exception when duplicate_object or unique_violation then
                null;
            end;
        end if;
    end loop;
end
$$;

create schema if not exists reference;  -- dbt's seeds; created here so that dbt needs no CREATE on the database

-- Start from nothing, then grant (PostgreSQL gives PUBLIC no schema rights on schemas it did not create, but a
-- warehouse migrated before this file may have had grants added by hand).
revoke all on schema raw, ops, staging, intermediate, marts, reference
    from public, energystat_loader, energystat_transformer, energystat_portal;
revoke all on all tables in schema raw, ops, staging, intermediate, marts, reference
    from public, energystat_loader, energystat_transformer, energystat_portal;
revoke all on schema raw, ops, staging, intermediate, reference from energystat_analyst;

-- The loader: rows of raw and ops, their sequences; reference read-only; nothing else.
grant usage on schema raw, ops, reference to energystat_loader;
grant select, insert, update, delete on all tables in schema raw, ops to energystat_loader;
grant usage, select on all sequences in schema raw, ops to energystat_loader;
grant select on all tables in schema reference to energystat_loader;
revoke all on ops.schema_migrations from energystat_loader;  -- the migrations log is the owner's
-- Tables later migrations add to raw/ops (created by the migrating role) get the same rights.
alter default privileges in schema raw, ops grant select, insert, update, delete on tables to energystat_loader;
alter default privileges in schema raw, ops grant usage, select on sequences to energystat_loader;

-- The transformer: reads the sources of the dbt project, builds in its own schemas.
grant usage on schema raw, ops to energystat_transformer;
grant select on all tables in schema raw, ops to energystat_transformer;
revoke all on ops.schema_migrations from energystat_transformer;
alter default privileges in schema raw, ops grant select on tables to energystat_transformer;
grant usage, create on schema staging, intermediate, marts, reference to energystat_transformer;

-- What dbt built before this migration (as the owner) becomes the transformer's: dbt replaces a table by
-- renaming and dropping the old one, which only its owner may do.
do $$
declare
    rel record;
begin
    for rel in
        select n.nspname, c.relname, c.relkind
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('staging', 'intermediate', 'marts', 'reference')
          and c.relkind in ('r', 'v', 'm', 'p', 'f')
    loop
        execute format('alter %s %I.%I owner to energystat_transformer',
                       case rel.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                        when 'f' then 'foreign table' else 'table' end,
                       rel.nspname, rel.relname);
    end loop;
end
$$;

-- Objects dbt creates from now on belong to the transformer: their grants are the transformer's defaults.
alter default privileges for role energystat_transformer in schema marts grant select on tables to energystat_analyst;
alter default privileges for role energystat_transformer in schema reference grant select on tables to energystat_loader;
grant select on all tables in schema marts to energystat_analyst;
grant usage on schema marts to energystat_analyst;

-- Nobody but the owner creates objects in the public schema (already PostgreSQL 15's default; older servers
-- let PUBLIC create there). PUBLIC keeps CONNECT and TEMP on the database; no role may create schemas.
revoke create on schema public from public;
