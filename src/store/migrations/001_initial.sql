-- The initial schema. Times are milliseconds since the Unix epoch; JSON columns hold text.

CREATE TABLE initiatives (
    id          INTEGER PRIMARY KEY,
    key         TEXT UNIQUE,                 -- import key (the .planning folder), NULL if typed in
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL
);

CREATE TABLE phases (
    id            INTEGER PRIMARY KEY,
    initiative_id INTEGER NOT NULL REFERENCES initiatives(id),
    key           TEXT NOT NULL,             -- normalised phase number ("2.1")
    number        TEXT NOT NULL,             -- as written ("02.1")
    seq           INTEGER NOT NULL,          -- numeric order within the initiative
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    metadata      TEXT NOT NULL DEFAULT '{}',
    UNIQUE (initiative_id, key)
);

CREATE TABLE phase_deps (
    phase_id   INTEGER NOT NULL REFERENCES phases(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES phases(id) ON DELETE CASCADE,
    PRIMARY KEY (phase_id, depends_on)
) WITHOUT ROWID;

CREATE TABLE plans (
    id          INTEGER PRIMARY KEY,
    phase_id    INTEGER REFERENCES phases(id),
    key         TEXT,                        -- canonical plan id ("12.2-01"), NULL if typed in
    seq         INTEGER NOT NULL DEFAULT 0,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    wave        INTEGER,
    source      TEXT,                        -- file the plan came from
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    UNIQUE (phase_id, key)
);

CREATE TABLE plan_deps (
    plan_id    INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    PRIMARY KEY (plan_id, depends_on)
) WITHOUT ROWID;

CREATE TABLE agents (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    task_id         INTEGER REFERENCES tasks(id),   -- the task it works on (or last worked on)
    bound_task_id   INTEGER REFERENCES tasks(id),   -- set at registration: it may claim only this
    worktree        TEXT,
    branch          TEXT,
    pid             INTEGER,
    pgid            INTEGER,
    process_start   TEXT,
    session_id      TEXT,
    token_hash      TEXT NOT NULL UNIQUE,
    cost_usd        REAL NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    exit_status     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    plan_id          INTEGER REFERENCES plans(id),
    key              TEXT,                   -- import key ("12.2-01#3"), NULL if typed in
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    files            TEXT NOT NULL DEFAULT '[]',
    verify           TEXT NOT NULL DEFAULT '',
    done_criteria    TEXT NOT NULL DEFAULT '',
    kind             TEXT NOT NULL DEFAULT 'auto',
    needs_human      INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'claimed', 'waiting',
                        'done', 'merging', 'conflict', 'merged', 'failed', 'cancelled')),
    unmerged_deps    INTEGER NOT NULL DEFAULT 0 CHECK (unmerged_deps >= 0),
    priority         INTEGER NOT NULL DEFAULT 2,
    phase_seq        INTEGER NOT NULL DEFAULT 0,
    wave             INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    agent_id         INTEGER REFERENCES agents(id),
    lease_expires_at INTEGER,
    result_summary   TEXT,
    failure_reason   TEXT,
    metadata         TEXT NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (plan_id, key)
);

-- The ready set, in dispatch order: the claim picks the first row with needs_human = 0, and the
-- ready listing walks it in order (tasks for the human last). Neither ever sorts.
CREATE INDEX tasks_ready ON tasks (needs_human, priority, phase_seq, wave, id)
    WHERE state = 'ready' AND agent_id IS NULL;
CREATE INDEX tasks_by_state ON tasks (state);
CREATE INDEX tasks_by_lease ON tasks (lease_expires_at) WHERE state = 'claimed';
CREATE INDEX tasks_by_agent ON tasks (agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX tasks_by_plan ON tasks (plan_id);

CREATE TABLE task_deps (
    task_id    INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    origin     TEXT NOT NULL DEFAULT 'manual',   -- manual | import
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id <> depends_on)
) WITHOUT ROWID;
CREATE INDEX task_deps_reverse ON task_deps (depends_on, task_id);

CREATE TABLE questions (
    id          INTEGER PRIMARY KEY,
    agent_id    INTEGER REFERENCES agents(id),
    task_id     INTEGER REFERENCES tasks(id),
    question    TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'withdrawn')),
    answer      TEXT,
    answered_by TEXT,
    asked_at    INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX questions_open ON questions (asked_at) WHERE status = 'open';

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    agent_id    INTEGER NOT NULL REFERENCES agents(id),
    sender      TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER
);
CREATE INDEX messages_unread ON messages (agent_id, id) WHERE read_at IS NULL;

CREATE TABLE merges (
    id             INTEGER PRIMARY KEY,
    task_id        INTEGER NOT NULL REFERENCES tasks(id),
    state          TEXT NOT NULL CHECK (state IN ('queued', 'merged', 'conflict', 'failed')),
    branch         TEXT,
    commit_sha     TEXT,
    conflict_paths TEXT NOT NULL DEFAULT '[]',
    detail         TEXT,
    requested_at   INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX merges_queued ON merges (requested_at) WHERE state = 'queued';

-- Append-only: every transaction that changes state adds its rows here. Other processes wake on it.
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    task_id  INTEGER,
    agent_id INTEGER,
    data     TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
