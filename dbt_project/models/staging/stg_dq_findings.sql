-- Rule findings, with the upload they belong to.
select
    f.finding_id,
    f.upload_id,
    u.reporter_code,
    u.period,
    u.upload_kind,
    u.status as upload_status,
    f.source_row,
    f.credit_code,
    f.column_name,
    f.rule_id,
    f.severity,
    f.message_zh,
    f.message_en,
    f.observed_value
from {{ source('ops', 'dq_findings') }} as f
join {{ ref('stg_upload_log') }} as u on u.upload_id = f.upload_id
