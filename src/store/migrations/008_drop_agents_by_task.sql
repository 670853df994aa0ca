-- Agents are no longer started ahead of their tasks, so nothing looks agents up by the task they
-- are bound to across the whole table any more: the index migration 003 added only costs writes.
DROP INDEX IF EXISTS agents_by_bound_task;
