-- The registered institutions with their kind, level and registered size.
select
    r.credit_code,
    r.institution_name,
    r.reporter_code,
    r.institution_kind,
    r.institution_subkind,
    r.admin_level,
    r.headcount_persons,
    r.floor_area_m2,
    r.active_from,
    r.active_to,
    r.active_to is null as is_active
from {{ ref('stg_institution_registry') }} as r
