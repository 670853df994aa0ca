-- The coordinator starts agents ahead of their tasks (warm agents) for pending tasks no agent is
-- bound to yet; this keeps that lookup from scanning every agent.
CREATE INDEX agents_by_bound_task ON agents (bound_task_id) WHERE bound_task_id IS NOT NULL;
