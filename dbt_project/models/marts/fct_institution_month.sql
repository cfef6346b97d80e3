-- One row per institution and month of the live batches: native quantities, kgce, kgCO2 and the upload.
-- loaded_by_override: the row's upload was rejected on reviewable rules and loaded by a reviewer's approval.
select
    m.*,
    m.upload_id in (select upload_id from {{ ref('stg_review_decisions') }} where is_override) as loaded_by_override
from {{ ref('int_institution_month') }} as m
