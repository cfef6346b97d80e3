-- Governance reviewers' decisions on explained exceptions (ops.review_decisions, insert-only), with the upload.
select
    d.decision_id,
    d.upload_id,
    u.reporter_code,
    u.period,
    u.upload_kind,
    d.reviewer,
    d.decision,
    d.decision = 'approved' as is_override,
    d.comment,
    d.decided_at,
    d.findings_overridden,
    d.via
from {{ source('ops', 'review_decisions') }} as d
join {{ ref('stg_upload_log') }} as u on u.upload_id = d.upload_id
