-- One row per upload; `is_live` marks the batch that currently counts for its reporter, period and kind.
select
    upload_id,
    path,
    file_name,
    kind as upload_kind,
    reporter_code,
    period,
    status,
    status in ('accepted', 'accepted_with_warnings') as is_live,
    -- superseded batches were accepted once: they count for "first accepted upload" (timeliness)
    status in ('accepted', 'accepted_with_warnings', 'superseded') as was_accepted,
    received_at,
    processed_at,
    rows_in_file,
    rows_loaded,
    error_count,
    warning_count,
    reason,
    superseded_by
from {{ source('ops', 'upload_log') }}
