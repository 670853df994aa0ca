//! The schema's history for both engines, in one list: entry N brings a database from version
//! N - 1 to N. SQLite keeps its version in `user_version` (rusqlite_migration), PostgreSQL in
//! `cw_schema`.
//!
//! PostgreSQL support arrived at version 10: its first entry creates the whole schema of version
//! 10 and entries 2–10 are empty. From version 11 on, every change is written for both.

/// One schema change, as each engine spells it.
pub(super) struct Migration {
    pub(super) sqlite: &'static str,
    pub(super) postgres: &'static str,
}

/// Every migration, oldest first.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: include_str!("migrations/001_initial.sql"),
        postgres: include_str!("migrations/postgres/001_schema_10.sql"),
    },
    Migration { sqlite: include_str!("migrations/002_deliveries.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/003_agents_by_task.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/004_id_floors.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/005_agent_kind.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/006_message_keys.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/007_task_keys.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/008_drop_agents_by_task.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/009_restart_requests.sql"), postgres: "" },
    Migration { sqlite: include_str!("migrations/010_events_by_task.sql"), postgres: "" },
    Migration {
        sqlite: include_str!("migrations/011_hosts.sql"),
        postgres: include_str!("migrations/postgres/011_hosts.sql"),
    },
];
