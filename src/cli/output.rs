//! The only place that writes to stdout and stderr. Data goes to stdout; messages to stderr.
//! Every text written here passes `safe_text::visible` (names, titles and agents' words carry
//! control characters otherwise); cw's own terminal control sequences are added here only:
//! colour, as `Style`s on the pieces of a `Doc`, and the status block's erase in `progress`.
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use serde::Serialize;

use super::CommandError;
use crate::model::TaskState;
use crate::safe_text;

/// When cw paints its words: `--color always|never`, or by default (`auto`) on a terminal
/// unless `NO_COLOR` is set (<https://no-color.org>) or `TERM=dumb`. JSON is never painted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Sets the `--color` choice for this process (once, at start).
pub(crate) fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Whether text for a stream that is (or is not) a terminal gets colour.
fn paints(terminal: bool) -> bool {
    match COLOR.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Whether stderr gets colour (the live view and messages).
pub(crate) fn paints_stderr() -> bool {
    paints(std::io::stderr().is_terminal())
}

/// What a piece of cw's own words is; each has one colour, and the words say it without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Task, agent and question ids.
    Id,
    /// Headings and the first line of a record.
    Strong,
    /// Timestamps and what is done with (pending, cancelled).
    Dim,
    /// Done and well (merged).
    Good,
    /// At work (claimed, working, merging).
    Busy,
    /// Ready to go.
    Ready,
    /// Needs a person (waiting for you, bounced).
    Attention,
    /// Failed, and `error:`.
    Bad,
    /// `hint:` and suggested commands.
    Hint,
}

impl Style {
    /// The style of a task state's name.
    pub(crate) fn of_state(state: TaskState) -> Style {
        match state {
            TaskState::Pending | TaskState::Cancelled => Style::Dim,
            TaskState::Ready => Style::Ready,
            TaskState::Merged => Style::Good,
            TaskState::Failed => Style::Bad,
            _ => Style::Busy,
        }
    }

    /// The SGR parameters (bold or not, and one of the 16 colours every terminal theme maps).
    fn sgr(self) -> &'static str {
        match self {
            Style::Id => "36",
            Style::Strong => "1",
            Style::Dim => "2",
            Style::Good => "32",
            Style::Busy => "33",
            Style::Ready => "34",
            Style::Attention => "1;35",
            Style::Bad => "1;31",
            Style::Hint => "32",
        }
    }
}

/// Text for the terminal, in pieces: each piece is made visible when written (an untrusted
/// piece stays inert), and cw's own pieces may carry a `Style`, painted only where colour is
/// on. `write!` adds plain pieces.
#[derive(Debug, Default, Clone)]
pub(crate) struct Doc {
    pieces: Vec<(Option<Style>, String)>,
}

impl Doc {
    pub(crate) fn new() -> Doc {
        Doc::default()
    }

    /// Adds `text` unpainted.
    pub(crate) fn plain(&mut self, text: &str) -> &mut Doc {
        match self.pieces.last_mut() {
            Some((None, last)) => last.push_str(text),
            _ => self.pieces.push((None, text.to_owned())),
        }
        self
    }

    /// Adds `text` in `style`.
    pub(crate) fn paint(&mut self, style: Style, text: &str) -> &mut Doc {
        self.pieces.push((Some(style), text.to_owned()));
        self
    }

    /// Appends another doc's pieces.
    pub(crate) fn append(&mut self, other: Doc) -> &mut Doc {
        self.pieces.extend(other.pieces);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pieces.iter().all(|(_, text)| text.is_empty())
    }

    /// The text with control characters made visible, painted when `color`.
    pub(crate) fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for (style, text) in &self.pieces {
            let text = safe_text::visible(text);
            match style {
                Some(style) if color && !text.is_empty() => {
                    // Reset before a newline so a line cut off (Ctrl-C) leaves no colour on.
                    for (i, line) in text.split('\n').enumerate() {
                        if i > 0 {
                            out.push('\n');
                        }
                        if !line.is_empty() {
                            out.push_str(&format!("\x1b[{}m{line}\x1b[0m", style.sgr()));
                        }
                    }
                }
                _ => out.push_str(&text),
            }
        }
        out
    }
}

impl std::fmt::Write for Doc {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.plain(text);
        Ok(())
    }
}

impl From<&str> for Doc {
    fn from(text: &str) -> Doc {
        let mut doc = Doc::new();
        doc.plain(text);
        doc
    }
}

impl From<String> for Doc {
    fn from(text: String) -> Doc {
        Doc { pieces: vec![(None, text)] }
    }
}

impl From<&String> for Doc {
    fn from(text: &String) -> Doc {
        Doc::from(text.as_str())
    }
}

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

/// Writes text (which should end with a newline) to stdout, control characters made visible,
/// painted when stdout is a terminal (see `ColorChoice`).
pub(crate) fn text(body: impl Into<Doc>) -> Result<(), CommandError> {
    let body = body.into().render(paints(std::io::stdout().is_terminal()));
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(body.as_bytes()).and_then(|()| stdout.flush()).map_err(CommandError::Output)
}

/// Progress for the human (`cw run`'s event lines and live status block) on stderr, so stdout
/// holds only data: cw's own terminal `control` sequence (erasing the status block) raw, then
/// `body` made safe like `text`.
pub(crate) fn progress(control: &str, body: &Doc) -> std::io::Result<()> {
    debug_assert!(control.chars().all(|c| c == '\x1b' || c.is_ascii_graphic()));
    let body = body.render(paints_stderr());
    let mut stderr = std::io::stderr().lock();
    stderr
        .write_all(control.as_bytes())
        .and_then(|()| stderr.write_all(body.as_bytes()))
        .and_then(|()| stderr.flush())
}

/// Writes a one-line message for the human to stderr. A closed stderr is ignored (never a
/// panic: a server whose terminal went away keeps serving).
pub(crate) fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", safe_text::visible(message));
}

/// Writes `error: …` (and `hint: …`) to stderr.
pub(crate) fn error_line(message: &str, hint: Option<&str>) {
    let mut doc = Doc::new();
    doc.paint(Style::Bad, "error:").plain(&format!(" {message}\n"));
    if let Some(hint) = hint {
        doc.paint(Style::Hint, "hint:").plain(&format!(" {hint}\n"));
    }
    let _ = std::io::stderr().lock().write_all(doc.render(paints_stderr()).as_bytes());
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
