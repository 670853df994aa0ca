-- The coordinator delivers an answer or a merge bounce to an agent by resuming its session.
-- A delivery is recorded so a restart neither loses one nor delivers it twice.
ALTER TABLE questions ADD COLUMN delivered_at INTEGER;
ALTER TABLE merges ADD COLUMN delivered_at INTEGER;
CREATE INDEX merges_by_task ON merges (task_id, id);
