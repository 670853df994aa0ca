-- A task added from a file (`.cw/tasks/`) carries a key naming the file's version and line: a
-- sync that is repeated (cw killed before it rewrote the file) adds nothing twice.
ALTER TABLE tasks ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX tasks_dedupe ON tasks (dedupe_key) WHERE dedupe_key IS NOT NULL;
