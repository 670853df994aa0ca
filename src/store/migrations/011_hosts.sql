-- Hosts beside the coordinator's that run agents (`cw worker`): a name, a token (stored hashed),
-- the capacity it last reported and when it was last heard from. An agent records the host it
-- runs on (NULL: the coordinator's own machine); only that host supervises it.
CREATE TABLE hosts (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    agents     INTEGER NOT NULL DEFAULT 0,
    memory_mb  INTEGER NOT NULL DEFAULT 0,
    last_seen  INTEGER,
    created_at INTEGER NOT NULL
);
ALTER TABLE agents ADD COLUMN host TEXT;
