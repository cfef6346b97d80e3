-- The registry as loaded (the institutions file replaces it wholesale, so every row counts).
select
    trim(credit_code) as credit_code,
    institution_name,
    reporter_code,
    institution_kind,
    institution_subkind,
    admin_level,
    headcount::numeric as headcount_persons,
    floor_area_m2::numeric as floor_area_m2,
    active_from,
    active_to,
    upload_id
from {{ source('raw', 'institution_registry') }}
