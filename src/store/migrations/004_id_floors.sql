-- A database recreated next to an earlier one's branches and worktrees (`cw init` after cw.db was
-- lost) must not hand out an id those already carry: new ids start above the floor recorded here.
CREATE TABLE id_floors (
    entity TEXT PRIMARY KEY,
    above  INTEGER NOT NULL
);
