//! `cw store`: where the state lives.

use clap::{Args, Subcommand};

use super::{CommandResult, Context, output};

/// Where the state lives: move it from .cw/cw.db into PostgreSQL
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    Migrate(MigrateArgs),
}

/// Copy the state from .cw/cw.db into a new PostgreSQL database and use it from now on
///
/// Every row is copied in one transaction (ids, events and all); then [store] url in
/// .cw/config.toml names the database and .cw/cw.db is kept as .cw/cw.db.migrated. Refused
/// while `cw run` serves this repository, and for a database that already holds cw's state.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The PostgreSQL database (postgres://user@host:port/db), created and empty
    #[arg(value_name = "URL")]
    url: String,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_store(cx: &Context, command: &StoreCommand) -> CommandResult {
    let StoreCommand::Migrate(args) = command;
    let moved = cx.service()?.move_store_to(&args.url)?;
    let rows = |name: &str| moved.rows.iter().find(|(t, _)| *t == name).map_or(0, |(_, n)| *n);
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> =
            moved.rows.iter().map(|(t, n)| ((*t).to_owned(), (*n).into())).collect();
        return output::json(&serde_json::json!({
            "store": moved.to.display().to_string(),
            "backup": moved.backup.display().to_string(),
            "rows": tables,
        }));
    }
    output::text(format!(
        "moved the state into {}: {} tasks, {} agents, {} questions, {} events\n  the SQLite file is kept as {}\n",
        moved.to.display(),
        rows("tasks"),
        rows("agents"),
        rows("questions"),
        rows("events"),
        moved.backup.display(),
    ))?;
    Ok(())
}
