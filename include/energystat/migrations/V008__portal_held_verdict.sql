-- The portal's `held` verdict: a checked file whose every error is reviewable (what ingestion logs `held`, see
-- V007) is not loaded until a governance reviewer approves it, so, like a rejected one, it is submitted only with a
-- 说明 (the lists as energystat.portal.uploads spells them; tests/test_portal_parts.py compares). Checks recorded
-- before this migration keep the verdict the portal gave then.
alter table ops.portal_submissions drop constraint portal_submissions_verdict_check;
alter table ops.portal_submissions add constraint portal_submissions_verdict_check check (verdict in
    ('accepted', 'accepted_with_warnings', 'rejected', 'held', 'unreadable'));

-- V004's unnamed check (PostgreSQL named it portal_submissions_check1), now with a name of its own.
alter table ops.portal_submissions drop constraint portal_submissions_check1;
alter table ops.portal_submissions add constraint portal_submissions_explained_check check (
    verdict not in ('rejected', 'held', 'unreadable') or submitted_at is null
    or length(btrim(coalesce(explanation, ''))) > 0);
