//! The mirror's file operations: atomic writes that skip unchanged content, reads that refuse
//! links, non-files, binary and oversized files, and the `.error.md` notes beside a file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest mirror file read (an answer or message is limited further by the service).
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file under `.cw/` was not read.
pub(super) type Refusal = String;

/// Writes `content` to `path` atomically — a temp file in the same directory, fsynced, renamed
/// over — unless the file already holds exactly that. True if it wrote.
pub(super) fn write_if_changed(path: &Path, content: &str) -> std::io::Result<bool> {
    if fs_err::symlink_metadata(path).is_ok_and(|m| m.is_file())
        && fs_err::read(path).is_ok_and(|old| old == content.as_bytes())
    {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp =
        tempfile::Builder::new().prefix(".cw-mirror-").suffix(".tmp").tempfile_in(dir)?;
    temp.write_all(content.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    // The rename itself is durable once the directory is.
    if let Ok(dir) = fs_err::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(true)
}

/// The text of a mirror file, `None` when it does not exist. A link (cw never follows one under
/// `.cw/`), a directory or device, a binary or an oversized file is refused with the reason.
pub(super) fn read(path: &Path) -> Result<Option<String>, Refusal> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read it: {err}")),
    };
    if meta.file_type().is_symlink() {
        return Err(
            "it is a symbolic link; cw does not follow links under .cw/ (replace it with a file)"
                .to_owned(),
        );
    }
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "it is {} bytes; a mirror file may be at most {MAX_FILE_BYTES} bytes",
            meta.len()
        ));
    }
    let bytes = fs_err::read(path).map_err(|err| format!("cannot read it: {err}"))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "it is not UTF-8 text; save it as UTF-8".to_owned())
}

/// `q3.md` → `q3.error.md`, `inbox.md` → `inbox.error.md`.
pub(super) fn beside(path: &Path, kind: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{stem}.{kind}.md"))
}

/// Writes (or, with `None`, removes) the note that says why `path` was not applied.
pub(super) fn set_error(path: &Path, reason: Option<&str>) -> std::io::Result<()> {
    let note = beside(path, "error");
    match reason {
        Some(reason) => {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let text = format!(
                "# {name} was not applied\n\n{reason}\n\nYour file is unchanged. Fix it and save; this note goes away once it is applied.\n"
            );
            write_if_changed(&note, &text).map(|_| ())
        }
        None => match fs_err::remove_file(&note) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        },
    }
}

/// Makes `dir` (under `.cw/`) unless it exists; refuses a link in its place.
pub(super) fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    match fs_err::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => Err(std::io::Error::other(
            format!("{} is not a directory (a link or a file is in its place)", dir.display()),
        )),
        Ok(_) => Ok(()),
        Err(_) => fs_err::create_dir_all(dir),
    }
}

/// Text as the parsers see it: no byte-order mark, no carriage returns (CRLF and old-Mac line
/// ends both become `\n`-only text; a CR carries no words).
pub(super) fn normalise(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A line a merge tool leaves in a conflicted file.
pub(super) fn has_conflict_markers(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l == "<<<<<<<")
}

/// The `key: value` lines between the `---` fences that open `text`, and the rest.
pub(super) fn front_matter(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest
        .find("\n---\n")
        .map(|i| (i, i + 5))
        .or_else(|| rest.strip_suffix("\n---").map(|head| (head.len(), rest.len())))?;
    let fields = rest[..end.0]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.split_once(':')?;
            Some((key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((fields, &rest[end.1..]))
}

/// The first `bytes` bytes of `text`'s SHA-256 in hex: the part of a dedupe key that names a
/// text (a paragraph, a line, a page).
pub(super) fn digest(text: &str, bytes: usize) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().take(bytes).map(|b| format!("{b:02x}")).collect()
}

/// A one-line front-matter value: what cw writes there never holds a line break.
pub(super) fn scalar(text: &str) -> String {
    crate::safe_text::one_line(text).into_owned()
}

/// Text made of what trips a markdown reader: headings (the answer's own among them), front-matter
/// fences and keys, lines like conflict markers, task lines, unicode, CRLF — for the round-trip
/// property tests of every page.
#[cfg(test)]
pub(super) fn tricky() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        4 => proptest::sample::select(vec![
            "## Answer", "# Question q7", "---", "id: q9", "status: open", "=======",
            "<<<<<< not quite", "> quoted", "- [ ] item", "1. first", "```", "<!-- note -->",
            "**bold**", "é数据✓", "\r", "  indented", "\t", "", "- t4 [ready] Not a task",
            "- Nor a new one (after t1)", "version: 9", "\u{1b}[2J",
        ]).prop_map(str::to_owned),
        1 => "[a-z ]{1,12}",
    ];
    proptest::collection::vec(piece, 1..12).prop_map(|lines| lines.join("\n"))
}
