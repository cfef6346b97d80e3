-- A read-only role for analysts: `marts` and nothing else.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'energystat_analyst') then
        create role energystat_analyst login;
    end if;
end
$$;
revoke all on schema raw, ops, staging, intermediate from energystat_analyst;
grant usage on schema marts to energystat_analyst;
grant select on all tables in schema marts to energystat_analyst;
-- dbt recreates mart tables on every build: grant on future ones too (created by the migrating role).
alter default privileges in schema marts grant select on tables to energystat_analyst;
