-- A `held` upload (issue 13): rejected, but every error is reviewable (a correction guard, a history rule), so the
-- review loop may approve it (it loads) or return it (it becomes `rejected`); never applied silently.
alter table ops.upload_log drop constraint upload_log_status_check;
alter table ops.upload_log add constraint upload_log_status_check check (status in
    ('processing', 'accepted', 'accepted_with_warnings', 'rejected', 'held', 'superseded', 'duplicate'));

-- Uploads rejected before this migration whose every error is reviewable and that no reviewer returned are held
-- (the reviewable rules as contract.findings.REVIEWABLE_RULES lists them; tests/test_contract.py compares).
update ops.upload_log u set status = 'held'
where u.status = 'rejected'
  and exists (select 1 from ops.dq_findings f where f.upload_id = u.upload_id and f.severity = 'error')
  and not exists (select 1 from ops.dq_findings f where f.upload_id = u.upload_id and f.severity = 'error'
                  and f.rule_id not in ('M010', 'M011', 'M012', 'M017', 'R002', 'T009'))
  and not exists (select 1 from ops.review_decisions d where d.upload_id = u.upload_id and d.decision = 'returned');
