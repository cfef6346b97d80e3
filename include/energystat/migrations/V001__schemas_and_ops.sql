-- Schemas of the warehouse, and the operations tables of the ingestion (upload log, findings).
create schema if not exists raw;
create schema if not exists ops;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists marts;

-- One row per file seen in the landing tree.
create table ops.upload_log (
    upload_id        bigserial primary key,
    path             text        not null,          -- path relative to the landing root
    file_name        text        not null,
    sha256           char(64)    not null,
    size_bytes       bigint      not null,
    reporter_code    text,                          -- from the folder, e.g. 450100
    period           text,                          -- from the folder, YYYY-MM
    kind             text        not null check (kind in ('monthly', 'task_progress', 'registry', 'unknown')),
    received_at      timestamptz not null default now(),
    processed_at     timestamptz,
    status           text        not null check (status in
                        ('processing', 'accepted', 'accepted_with_warnings', 'rejected', 'superseded', 'duplicate')),
    rows_in_file     integer,
    rows_loaded      integer,
    error_count      integer     not null default 0,
    warning_count    integer     not null default 0,
    rule_summary     jsonb       not null default '{}'::jsonb,  -- {rule_id: {severity, failed}}
    units_used       jsonb       not null default '{}'::jsonb,  -- {column: unit found in the file}
    reason           text,                          -- why rejected / why unreadable
    report_path      text,                          -- quarantine report folder for rejected uploads
    superseded_by    bigint      references ops.upload_log (upload_id)
);
create index upload_log_sha256 on ops.upload_log (sha256);
create index upload_log_reporter_period on ops.upload_log (reporter_code, period, kind);
-- At most one live (accepted) batch per reporter, period and kind.
create unique index upload_log_one_live_batch on ops.upload_log (reporter_code, period, kind)
    where status in ('accepted', 'accepted_with_warnings');

-- Every rule finding of an upload (warnings of loaded files, errors and warnings of rejected ones).
create table ops.dq_findings (
    finding_id     bigserial primary key,
    upload_id      bigint not null references ops.upload_log (upload_id),
    source_row     integer,                        -- row number as in the file, header = row 1; null = file-level
    credit_code    text,
    column_name    text,
    rule_id        text   not null,
    severity       text   not null check (severity in ('error', 'warning')),
    message_zh     text   not null,
    message_en     text   not null,
    observed_value text
);
create index dq_findings_upload on ops.dq_findings (upload_id);

-- The institution registry (公共机构基本信息), loaded from the landing root's institutions file.
create table raw.institution_registry (
    credit_code          char(18) primary key,
    institution_name     text     not null,
    reporter_code        text     not null,
    institution_kind     text     not null,      -- 党政机关 / 事业单位 / 团体组织
    institution_subkind  text     not null,      -- 机关 / 高等学校 / 中小学校 / 医院 / 场馆 / 其他 / 团体
    admin_level          text     not null,      -- 区直 / 市直 / 县级
    headcount            integer  not null,
    floor_area_m2        numeric  not null,
    active_from          date     not null,
    active_to            date,                   -- null = still active
    upload_id            bigint   references ops.upload_log (upload_id)
);

-- Monthly energy and resource consumption, one row per institution and month, in the template's units.
create table raw.monthly_statistics (
    upload_id          bigint   not null references ops.upload_log (upload_id),
    source_row         integer  not null,
    reporter_code      text     not null,
    period_month       date     not null,        -- first day of the month
    credit_code        text     not null,
    institution_name   text,
    institution_kind   text,
    headcount          numeric,                  -- 用能人数 (persons)
    floor_area_m2      numeric,                  -- 建筑面积
    electricity_kwh    numeric,
    water_t            numeric,
    natural_gas_m3     numeric,
    lpg_kg             numeric,
    coal_kg            numeric,
    gasoline_l         numeric,
    diesel_l           numeric,
    heat_gj            numeric,                  -- 热力 (百万千焦 = GJ)
    pv_kwh             numeric                   -- 光伏发电量, for information
);
create index monthly_statistics_upload on raw.monthly_statistics (upload_id);
create index monthly_statistics_reporter_month on raw.monthly_statistics (reporter_code, period_month);
create index monthly_statistics_institution on raw.monthly_statistics (credit_code, period_month);

-- Key-task progress (重点任务进展), quarterly per reporter: one row per project or count.
create table raw.task_progress (
    upload_id          bigint   not null references ops.upload_log (upload_id),
    source_row         integer  not null,
    reporter_code      text     not null,
    period_quarter     text     not null,        -- YYYY-Qn
    year               integer  not null,
    quarter            integer  not null check (quarter between 1 and 4),
    task_code          text     not null,        -- see seed task_kinds
    project_name       text,
    credit_code        text,
    admin_level        text,
    institution_kind   text,
    quantity           numeric  not null,
    unit               text     not null,
    note               text
);
create index task_progress_upload on raw.task_progress (upload_id);
