//! What a statement takes and gives on either engine: parameter values, rows, and the one SQL
//! text written for both.
//!
//! Store functions write their SQL once, in the dialect both engines accept (`?N` parameters,
//! `RETURNING`, `ON CONFLICT`, `IS [NOT] DISTINCT FROM`), and read rows through [`Row::get`],
//! which converts the engine's own cell into the Rust type asked for. `postgres_text` rewrites
//! the few spellings PostgreSQL does not share.

use std::fmt;

/// A parameter or a cell: the four kinds of value cw stores (booleans are integers 0 and 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// What a parameter can be made from; taken by reference, so `args!` never moves a field.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// The parameters of one statement: `args![a, b, c]` (each taken by reference).
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::sql::ToValue::to_value(&$value)),*][..]
    };
}
pub(crate) use args;

/// One cell as read, borrowed from the engine's row where it can be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(*i),
            Value::Real(r) => Cell::Real(*r),
            Value::Text(t) => Cell::Text(t),
        }
    }
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Int(i) => write!(f, "integer {i}"),
            Cell::Real(r) => write!(f, "real {r}"),
            Cell::Text(_) => f.write_str("text"),
        }
    }
}

/// A Rust type a cell converts to; the error says what the cell held instead.
pub(crate) trait FromCell: Sized {
    fn from_cell(cell: Cell<'_>) -> Result<Self, String>;
}

impl FromCell for i64 {
    fn from_cell(cell: Cell<'_>) -> Result<i64, String> {
        match cell {
            Cell::Int(i) => Ok(i),
            other => Err(format!("expected an integer, found {other}")),
        }
    }
}

impl FromCell for u32 {
    fn from_cell(cell: Cell<'_>) -> Result<u32, String> {
        let i = i64::from_cell(cell)?;
        u32::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}

impl FromCell for u64 {
    fn from_cell(cell: Cell<'_>) -> Result<u64, String> {
        let i = i64::from_cell(cell)?;
        u64::try_from(i).map_err(|_| format!("{i} is out of range"))
    }
}

impl FromCell for bool {
    fn from_cell(cell: Cell<'_>) -> Result<bool, String> {
        i64::from_cell(cell).map(|i| i != 0)
    }
}

impl FromCell for f64 {
    fn from_cell(cell: Cell<'_>) -> Result<f64, String> {
        match cell {
            Cell::Real(r) => Ok(r),
            #[expect(clippy::cast_precision_loss, reason = "costs stored as whole numbers")]
            Cell::Int(i) => Ok(i as f64),
            other => Err(format!("expected a number, found {other}")),
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell<'_>) -> Result<String, String> {
        match cell {
            Cell::Text(t) => Ok(t.to_owned()),
            other => Err(format!("expected text, found {other}")),
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell<'_>) -> Result<Option<T>, String> {
        match cell {
            Cell::Null => Ok(None),
            cell => T::from_cell(cell).map(Some),
        }
    }
}

/// One result row, from either engine.
pub(crate) struct Row<'a> {
    pub(super) inner: RowInner<'a>,
}

pub(super) enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Owned(&'a [Value]),
}

impl Row<'_> {
    /// Column `index` as `T`; a cell of another kind is a corrupt database, named by column.
    pub(crate) fn get<T: FromCell>(&self, index: usize) -> Result<T, String> {
        let cell = match &self.inner {
            RowInner::Sqlite(row) => {
                use rusqlite::types::ValueRef;
                match row.get_ref(index).map_err(|err| err.to_string())? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(i) => Cell::Int(i),
                    ValueRef::Real(r) => Cell::Real(r),
                    ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                        Cell::Text(std::str::from_utf8(bytes).map_err(|err| err.to_string())?)
                    }
                }
            }
            RowInner::Owned(cells) => {
                Cell::from(cells.get(index).ok_or_else(|| format!("no column {index}"))?)
            }
        };
        T::from_cell(cell).map_err(|cause| format!("column {index}: {cause}"))
    }
}

/// The statement as PostgreSQL spells it: `?N` → `$N`, SQLite's index hints dropped.
/// String literals are copied as they are.
pub(crate) fn postgres_text(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut in_literal = false;
    while let Some(c) = chars.next() {
        if in_literal {
            in_literal = c != '\'';
            out.push(c);
            continue;
        }
        match c {
            '\'' => {
                in_literal = true;
                out.push(c);
            }
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    drop_index_hints(&out)
}

/// Removes `INDEXED BY <name>` (SQLite's way to insist on an index; PostgreSQL plans alone).
fn drop_index_hints(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("INDEXED BY ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "INDEXED BY ".len()..];
        let name_end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        rest = after[name_end.unwrap_or(after.len())..].trim_start_matches(' ');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_spelling_renumbers_parameters_and_drops_hints() {
        assert_eq!(
            postgres_text("SELECT id FROM tasks INDEXED BY tasks_ready WHERE a = ?1 AND b = ?12"),
            "SELECT id FROM tasks WHERE a = $1 AND b = $12"
        );
        assert_eq!(postgres_text("SELECT '?1' WHERE x = ?2"), "SELECT '?1' WHERE x = $2");
    }

    #[test]
    fn cells_convert_or_say_what_they_held() {
        assert_eq!(i64::from_cell(Cell::Int(4)), Ok(4));
        assert_eq!(Option::<i64>::from_cell(Cell::Null), Ok(None));
        assert_eq!(bool::from_cell(Cell::Int(1)), Ok(true));
        assert!(u32::from_cell(Cell::Int(-1)).unwrap_err().contains("out of range"));
        assert!(String::from_cell(Cell::Int(1)).unwrap_err().contains("expected text"));
    }
}
