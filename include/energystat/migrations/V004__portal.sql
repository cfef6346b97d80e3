-- The upload portal (报送门户): accounts, server-side sessions, login attempts, checked and submitted uploads.

-- One account per person; city accounts belong to one reporter, governance accounts see every reporter.
create table ops.portal_users (
    username             text primary key check (username ~ '^[A-Za-z0-9_.-]{2,64}$'),
    role                 text not null check (role in ('city', 'governance')),
    reporter_code        text check (reporter_code ~ '^\d{6}$'),
    display_name         text,
    password_hash        text not null,                 -- argon2id, PHC string
    created_at           timestamptz not null default now(),
    password_changed_at  timestamptz not null default now(),
    disabled             boolean not null default false,
    check (role = 'governance' or reporter_code is not null)
);

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256.
create table ops.portal_sessions (
    token_sha256  char(64) primary key,
    username      text not null references ops.portal_users (username) on delete cascade,
    csrf_token    text not null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null
);
create index portal_sessions_username on ops.portal_sessions (username);

-- Every login attempt (throttling and lock-out count the failures since the last success).
create table ops.portal_login_attempts (
    attempt_id    bigserial primary key,
    username      text not null,
    attempted_at  timestamptz not null default now(),
    outcome       text not null check (outcome in ('success', 'wrong_password', 'unknown_user', 'locked')),
    remote_addr   text
);
create index portal_login_attempts_user_time on ops.portal_login_attempts (username, attempted_at desc);

-- One row per file a user checked in the portal; submitted ones carry who/when, where it went and the 说明.
create table ops.portal_submissions (
    submission_id    bigserial primary key,
    reporter_code    text not null,
    period           text not null check (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),  -- the landing folder's period
    kind             text not null check (kind in ('monthly', 'task_progress')),
    checked_by       text not null references ops.portal_users (username),
    checked_at       timestamptz not null default now(),
    original_name    text not null,                    -- the client's file name: metadata only, never a path
    detected_type    text not null,                    -- sniffed from the bytes: xlsx / xls / csv / unknown
    sha256           char(64) not null,
    size_bytes       bigint not null,
    rows_in_file     integer,
    verdict          text not null check (verdict in ('accepted', 'accepted_with_warnings', 'rejected',
                                                      'unreadable')),
    error_count      integer not null default 0,
    warning_count    integer not null default 0,
    check_seconds    double precision,
    submitted_by     text references ops.portal_users (username),
    submitted_at     timestamptz,                       -- = the landing file's mtime = its received time
    landing_path     text,                              -- relative to the landing root, server-chosen name
    explanation      text,                              -- 说明: required to submit a rejected verdict
    airflow_run_id   text,
    trigger_note     text,                              -- why no Airflow run was triggered, or its error
    check (submitted_at is null or landing_path is not null),
    check (verdict not in ('rejected', 'unreadable') or submitted_at is null
           or length(btrim(coalesce(explanation, ''))) > 0)
);
create index portal_submissions_reporter_period on ops.portal_submissions (reporter_code, period);
create unique index portal_submissions_landing_path on ops.portal_submissions (landing_path);

-- The portal's own database role: exactly what the portal reads and writes (created here if V003 did not).
-- Roles are cluster-wide: another database's migration may create it at the same moment (not an error).
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'energystat_portal') then
        begin
            create role energystat_portal login;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;
end
$$;
grant usage on schema ops, raw to energystat_portal;
grant select, insert, update, delete on ops.portal_sessions to energystat_portal;
grant select, update on ops.portal_users to energystat_portal;
grant select, insert on ops.portal_login_attempts to energystat_portal;
grant select, insert, update on ops.portal_submissions to energystat_portal;
grant usage on sequence ops.portal_login_attempts_attempt_id_seq, ops.portal_submissions_submission_id_seq
    to energystat_portal;
-- Statuses and findings of ingested uploads; the registry and live rows the history rules compare with.
grant select on ops.upload_log, ops.dq_findings to energystat_portal;
grant select on raw.institution_registry, raw.monthly_statistics to energystat_portal;

-- Accounts, sessions and login attempts are the portal's alone: other application roles that received rights
-- on new ops tables by default privileges (the loader, the transformer) lose them here; dbt may read submissions.
do $$
declare
    role_name text;
begin
    foreach role_name in array array['energystat_loader', 'energystat_transformer', 'energystat_analyst'] loop
        if exists (select 1 from pg_roles where rolname = role_name) then
            execute format('revoke all on ops.portal_users, ops.portal_sessions, ops.portal_login_attempts,'
                           ' ops.portal_submissions from %I', role_name);
        end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'energystat_transformer') then
        grant select on ops.portal_submissions to energystat_transformer;
    end if;
end
$$;
