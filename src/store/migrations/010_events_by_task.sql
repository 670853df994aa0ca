-- A task's timeline (the dashboard's task page) reads its events without scanning the log.
CREATE INDEX events_by_task ON events (task_id, id) WHERE task_id IS NOT NULL;
