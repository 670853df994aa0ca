-- Who runs an agent's process: cw (`managed`: cw run, cw agent spawn), or the user (`registered`
-- with `cw agent register`: given a worktree on its first claim; `bare`: claims and reports only,
-- with no worktree, so it cannot request merges). Agents from before this column that never had
-- a worktree or a session were registered by hand.
ALTER TABLE agents ADD COLUMN kind TEXT NOT NULL DEFAULT 'managed';
UPDATE agents SET kind = 'registered' WHERE worktree IS NULL AND session_id IS NULL;
