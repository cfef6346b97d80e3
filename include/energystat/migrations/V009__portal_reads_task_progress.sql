-- The portal checks a file with the ingestion's own rulebook, whose correction guard compares it with the live batch
-- of its folder (energystat.ingest.validate.context): for a task-progress form that batch is in raw.task_progress,
-- which V004 did not grant. Read-only, like the portal's other raw tables; the portal now checks as its own role
-- instead of borrowing the loader's.
grant select on raw.task_progress to energystat_portal;
