-- The governance review loop (issue 15): explanations (说明) of uploads, reviewers' decisions (insert-only),
-- and the mark on findings a reviewer overrode.

-- 说明 given with an upload: a sidecar `<file>.说明.txt`, `energystat explain`, or the portal (portal_submissions).
create table ops.upload_explanations (
    explanation_id  bigserial primary key,
    upload_id       bigint      not null references ops.upload_log (upload_id),
    explanation     text        not null check (length(btrim(explanation)) > 0),
    source          text        not null check (source in ('sidecar', 'cli', 'portal')),
    given_at        timestamptz not null default now()
);
create index upload_explanations_upload on ops.upload_explanations (upload_id);

-- One row per reviewer decision; never updated or deleted (the trigger below refuses both, for every role).
create table ops.review_decisions (
    decision_id          bigserial primary key,
    upload_id            bigint      not null references ops.upload_log (upload_id),
    reviewer             text        not null check (length(btrim(reviewer)) > 0),
    decision             text        not null check (decision in ('approved', 'returned', 'more_requested')),
    comment              text        not null check (length(btrim(comment)) > 0),
    decided_at           timestamptz not null default now(),
    findings_overridden  integer     not null default 0,
    via                  text        not null default 'cli'    -- 'airflow' (HITL task) or 'cli'
);
create index review_decisions_upload on ops.review_decisions (upload_id);

create function ops.review_decisions_insert_only() returns trigger language plpgsql as $$
begin
    raise exception 'ops.review_decisions is insert-only: % refused', tg_op;
end
$$;
create trigger review_decisions_insert_only before update or delete on ops.review_decisions
    for each row execute function ops.review_decisions_insert_only();
create trigger review_decisions_no_truncate before truncate on ops.review_decisions
    for each statement execute function ops.review_decisions_insert_only();

-- A finding a reviewer overrode (the upload was loaded by that decision): kept, and marked.
alter table ops.dq_findings add column overridden_by bigint references ops.review_decisions (decision_id);

-- Least privilege (V003's roles, when they exist): the loader may record decisions, never rewrite them.
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'energystat_loader') then
        revoke update, delete, truncate on ops.review_decisions from energystat_loader;
    end if;
end
$$;
