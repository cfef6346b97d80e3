-- Key-task progress rows of live batches only.
select
    t.upload_id,
    t.source_row,
    t.reporter_code,
    t.period_quarter,
    t.year,
    t.quarter,
    t.task_code,
    t.project_name,
    t.credit_code,
    t.admin_level,
    t.institution_kind,
    t.quantity::numeric as quantity,
    t.unit,
    t.note
from {{ source('raw', 'task_progress') }} as t
join {{ ref('stg_upload_log') }} as u on u.upload_id = t.upload_id
where u.is_live
