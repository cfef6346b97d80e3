-- The 15 reporters and GX (the whole region).
select
    reporter_code::text as reporter_code,
    reporter_name,
    reporter_short_name,
    reporter_type,
    sort_order
from {{ ref('ref_reporters') }}
