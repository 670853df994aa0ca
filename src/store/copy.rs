//! `cw store migrate`: every row of an SQLite state copied into a new PostgreSQL one, ids and
//! all, in one transaction on each side (a snapshot read, one write): either all of it arrives
//! or none.

use super::sql::{Value, args};
use super::{Store, StoreError, Tx, TxConn};

/// Every table, parents before children. `agents` and `tasks` name each other: agents are copied
/// without their task references, which are set once the tasks are in.
const TABLES: &[&str] = &[
    "initiatives",
    "phases",
    "phase_deps",
    "plans",
    "plan_deps",
    "agents",
    "tasks",
    "task_deps",
    "questions",
    "messages",
    "merges",
    "id_floors",
    "hosts",
    "events",
];

/// The tables whose ids PostgreSQL's identities hand out: their counters move past the copy.
const IDENTITIES: &[&str] =
    &["initiatives", "phases", "plans", "questions", "messages", "merges", "hosts", "events"];

/// One table as read: its column names and rows.
struct Table {
    name: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Copies every row of `from` (SQLite) into `to` (PostgreSQL, just created, empty). Returns how
/// many rows each table held.
pub fn copy_state(from: &Store, to: &Store) -> Result<Vec<(&'static str, usize)>, StoreError> {
    let tables = from.read(|tx| TABLES.iter().map(|name| read_table(tx, name)).collect())?;
    let tables: Vec<Table> = tables;
    to.write(|tx| {
        for table in &tables {
            insert_rows(tx, table)?;
        }
        if let Some(agents) = tables.iter().find(|t| t.name == "agents") {
            restore_agent_tasks(tx, agents)?;
        }
        for name in IDENTITIES {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', 'id'),
                        (SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
                ),
                args![],
            )?;
        }
        // Whoever waits on the new database hears of the copied log at commit.
        tx.mark_event_appended();
        Ok::<_, StoreError>(())
    })?;
    Ok(tables.iter().map(|t| (t.name, t.rows.len())).collect())
}

fn read_table(tx: &Tx<'_>, name: &'static str) -> Result<Table, StoreError> {
    let TxConn::Sqlite(conn) = &tx.conn else {
        return Err(tx.corrupt("only an SQLite state is copied from".to_owned()));
    };
    let sqlite = |err| StoreError::from_sqlite(err, tx.shown);
    let mut stmt = conn.prepare(&format!("SELECT * FROM {name}")).map_err(sqlite)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| (*c).to_owned()).collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.query([]).map_err(sqlite)?;
    while let Some(row) = cursor.next().map_err(sqlite)? {
        let mut cells = Vec::with_capacity(width);
        for index in 0..width {
            use rusqlite::types::ValueRef;
            cells.push(match row.get_ref(index).map_err(sqlite)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(r) => Value::Real(r),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Value::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        rows.push(cells);
    }
    Ok(Table { name, columns, rows })
}

fn insert_rows(tx: &Tx<'_>, table: &Table) -> Result<(), StoreError> {
    // Agents first go in without the tasks they name (the tasks are not there yet).
    let deferred = |column: &str| table.name == "agents" && column.ends_with("task_id");
    let columns = table.columns.join(", ");
    let params: Vec<String> = (1..=table.columns.len()).map(|n| format!("?{n}")).collect();
    let sql = format!(
        "INSERT INTO {} ({columns}) OVERRIDING SYSTEM VALUE VALUES ({})",
        table.name,
        params.join(", ")
    );
    for row in &table.rows {
        let values: Vec<Value> = row
            .iter()
            .zip(&table.columns)
            .map(|(value, column)| if deferred(column) { Value::Null } else { value.clone() })
            .collect();
        tx.execute(&sql, &values)?;
    }
    Ok(())
}

fn restore_agent_tasks(tx: &Tx<'_>, agents: &Table) -> Result<(), StoreError> {
    let position = |name: &str| agents.columns.iter().position(|c| c == name);
    let (Some(id), Some(task), Some(bound)) =
        (position("id"), position("task_id"), position("bound_task_id"))
    else {
        return Err(tx.corrupt("the agents table lacks id, task_id or bound_task_id".to_owned()));
    };
    for row in &agents.rows {
        tx.execute(
            "UPDATE agents SET task_id = ?2, bound_task_id = ?3 WHERE id = ?1",
            &[row[id].clone(), row[task].clone(), row[bound].clone()],
        )?;
    }
    Ok(())
}
