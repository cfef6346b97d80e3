-- Messages of the during-the-year monitoring already sent (deadline reminders, early warnings): a message is
-- recorded in the same transaction that sends it, so it goes out at most once (reminders: once a day; early
-- warnings: once per reporter and month, whatever the day).
create table ops.reminders_sent (
    reminder_id    bigserial   primary key,
    message_kind   text        not null check (message_kind in
                      ('deadline_before', 'deadline_overdue', 'early_warning', 'early_warning_summary')),
    reporter_code  text        not null,           -- GX for the province summary
    upload_kind    text        not null,           -- monthly / task_progress
    period         text        not null,           -- YYYY-MM (task progress: the quarter's last month)
    sent_on        date        not null,           -- Asia/Shanghai calendar day the message is for
    deadline_date  date,
    title          text        not null,
    channels       integer     not null,           -- Apprise URLs it went to
    sent_at        timestamptz not null default now()
);
create unique index reminders_sent_once_a_day
    on ops.reminders_sent (message_kind, reporter_code, upload_kind, period, sent_on);
create unique index early_warnings_once
    on ops.reminders_sent (message_kind, reporter_code, upload_kind, period)
    where message_kind in ('early_warning', 'early_warning_summary');
