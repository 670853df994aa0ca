-- A message sent from a file (`.cw/agents/<id>/inbox.md`) carries a key naming the file's version
-- and paragraph: a sync that is repeated (cw killed before it rewrote the file) sends nothing twice.
ALTER TABLE messages ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX messages_dedupe ON messages (dedupe_key) WHERE dedupe_key IS NOT NULL;
