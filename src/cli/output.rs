//! The only place that writes to stdout and stderr. Data goes to stdout; messages to stderr.
//! Every text written here passes `safe_text::visible` (names, titles and agents' words carry
//! control characters otherwise); cw's own terminal control sequences go through `redraw` only.
use std::io::Write;

use serde::Serialize;

use super::CommandError;
use crate::safe_text;

/// A failed JSON write as the io error it is (a closed pipe stays a closed pipe: the command
/// then ends quietly).
fn io_error(err: serde_json::Error) -> std::io::Error {
    match err.io_error_kind() {
        Some(kind) => std::io::Error::new(kind, err),
        None => std::io::Error::other(err),
    }
}

/// Writes `value` as pretty JSON and a newline to stdout.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<(), CommandError> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(io_error)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(CommandError::Output)
}

/// Writes `value` as one line of compact JSON to stdout (for streams: `--follow --json`).
pub(crate) fn json_line<T: Serialize>(value: &T) -> Result<(), CommandError> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)
        .map_err(io_error)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(CommandError::Output)
}

/// Writes text (which should end with a newline) to stdout, control characters made visible.
pub(crate) fn text(body: &str) -> Result<(), CommandError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(safe_text::visible(body).as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CommandError::Output)
}

/// Progress for the human (`cw run`'s event lines and live status block) on stderr, so stdout
/// holds only data: cw's own terminal `control` sequence (erasing the status block) raw, then
/// `body` made safe like `text`.
pub(crate) fn progress(control: &str, body: &str) -> std::io::Result<()> {
    debug_assert!(control.chars().all(|c| c == '\x1b' || c.is_ascii_graphic()));
    let mut stderr = std::io::stderr().lock();
    stderr
        .write_all(control.as_bytes())
        .and_then(|()| stderr.write_all(safe_text::visible(body).as_bytes()))
        .and_then(|()| stderr.flush())
}

/// Writes a one-line message for the human to stderr. A closed stderr is ignored (never a
/// panic: a server whose terminal went away keeps serving).
pub(crate) fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", safe_text::visible(message));
}

/// Writes `error: …` (and `hint: …`) to stderr.
pub(crate) fn error_line(message: &str, hint: Option<&str>) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", safe_text::visible(message));
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "hint: {hint}");
    }
}

/// An error as one JSON object on stderr, `{"error": {"kind", "message", "hint"}}` (a `--json`
/// command's error; `kind` is `user`, `usage` or `internal`). Exact, like all JSON output.
pub(crate) fn error_json(message: &str, kind: &str, hint: Option<&str>) {
    let error = serde_json::json!({ "error": { "kind": kind, "message": message, "hint": hint } });
    let _ = writeln!(std::io::stderr().lock(), "{error}");
}

/// Pads or clips `text` to exactly `width` characters (for table columns), as one line.
pub(crate) fn column(text: &str, width: usize) -> String {
    let text = safe_text::one_line(text);
    let count = text.chars().count();
    if count > width {
        let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    } else {
        format!("{text}{}", " ".repeat(width - count))
    }
}
