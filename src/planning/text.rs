//! Text helpers shared by the planning parsers: normalisation that keeps line numbers, dedent,
//! and line lookup by byte offset.

/// Strips a BOM, turns CRLF/CR into LF and blanks out HTML comments (keeping their newlines, so
/// line numbers stay true to the file). A `<!--` in backticks is text, and a "comment" whose end
/// lies past a front-matter fence or a task tag is not one (`pattern: <!-- AUTOGEN` in YAML, an
/// action quoting HTML): it is left as it is rather than swallow what follows.
pub(crate) fn normalise(raw: &str) -> String {
    let text = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let line_start = out.rfind('\n').map_or(0, |p| p + 1);
        let in_code = out[line_start..].matches('`').count() % 2 == 1;
        let comment = rest[start..].find("-->").map(|len| &rest[start..start + len + 3]);
        match comment {
            Some(comment) if !in_code && !crosses_structure(comment) => {
                out.extend(comment.chars().filter(|&c| c == '\n'));
                rest = &rest[start + comment.len()..];
            }
            _ => {
                out.push_str("<!--");
                rest = &rest[start + 4..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// True if a comment's span holds a line a PLAN file's structure rests on.
fn crosses_structure(comment: &str) -> bool {
    comment.lines().skip(1).any(|line| {
        let line = line.trim_start();
        line.starts_with("---") || line.starts_with("<task") || line.starts_with("</task>")
    })
}

/// `text` with fenced code blocks (fence lines included) and inline code spans blanked to spaces,
/// byte for byte (newlines kept): tags are searched for in this copy, so a `<task>` quoted in a
/// code block or in backticks opens nothing, while offsets still point into `text`.
pub(crate) fn mask_code(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let markers: Vec<Option<&str>> = lines.iter().map(|l| fence_marker(l)).collect();
    // For each line, the next line at or after it holding each kind of fence: a fence that never
    // closes is text (an LLM's plan often leaves one open), found without a quadratic search.
    let mut next: Vec<[Option<usize>; 2]> = vec![[None, None]; lines.len() + 1];
    for at in (0..lines.len()).rev() {
        next[at] = next[at + 1];
        if let Some(marker) = markers[at] {
            next[at][usize::from(marker == "~~~")] = Some(at);
        }
    }
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, line: &str| {
        let body = line.strip_suffix('\n').unwrap_or(line);
        out.extend(std::iter::repeat_n(' ', body.len()));
        out.push_str(&line[body.len()..]);
    };
    let mut at = 0;
    while at < lines.len() {
        let close = markers[at].and_then(|m| next[at + 1][usize::from(m == "~~~")]);
        match close {
            Some(close) => {
                for line in &lines[at..=close] {
                    blank(&mut out, line);
                }
                at = close + 1;
            }
            None => {
                let line = lines[at];
                let body = line.strip_suffix('\n').unwrap_or(line);
                mask_inline(&mut out, body);
                out.push_str(&line[body.len()..]);
                at += 1;
            }
        }
    }
    out
}

/// The fence a line opens or closes (```` ``` ```` or `~~~`), also inside a list item (`- ```ts`).
fn fence_marker(line: &str) -> Option<&'static str> {
    let trimmed = line.trim_start();
    let trimmed = ["- ", "* ", "+ "]
        .iter()
        .find_map(|m| trimmed.strip_prefix(m))
        .map_or(trimmed, str::trim_start);
    ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m))
}

/// One line with its `` `code` `` spans blanked (an unpaired backtick blanks nothing).
fn mask_inline(out: &mut String, line: &str) {
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let ticks = rest[open..].chars().take_while(|&c| c == '`').count();
        let delimiter = &rest[open..open + ticks];
        let Some(close) = rest[open + ticks..].find(delimiter).map(|p| open + ticks + p) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.extend(std::iter::repeat_n(' ', close + ticks - open));
        rest = &rest[close + ticks..];
    }
    out.push_str(rest);
}

/// The 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Line numbers of many offsets in one text: each lookup is a binary search over the newlines
/// (`line_of` counts them from the start, which made a plan of N tasks cost N² to read).
pub(crate) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        LineIndex {
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The 1-based line number of byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&newline| newline < offset) + 1
    }
}

/// Removes surrounding blank lines and one level of common indentation; keeps everything else.
pub(crate) fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else { return String::new() };
    let body = &lines[first..=last];
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() })
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first non-empty line with list markers (`- `, `1. `, `* `) and bold markers removed.
pub(crate) fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_start_matches(['-', '*', '+']).trim_start();
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let line = if digits > 0 && line[digits..].starts_with(['.', ')']) {
        line[digits + 1..].trim_start()
    } else {
        line
    };
    let line = line.replace("**", "");
    let line = line.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

/// Cuts `text` to at most `max` characters on a character boundary, adding `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The first sentence of `text` (up to `. ` or the end of the first line), clipped.
pub(crate) fn first_sentence(text: &str) -> Option<String> {
    let line = first_line(text)?;
    let sentence = match line.find(". ") {
        Some(end) => &line[..end],
        None => line.trim_end_matches('.'),
    };
    Some(clip(sentence.trim(), 120))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_line_numbers_through_comments_and_crlf() {
        let raw = "\u{feff}a\r\n<!-- x\r\ny -->b\r\nc";
        let text = normalise(raw);
        assert_eq!(text, "a\n\nb\nc");
        assert_eq!(line_of(&text, text.find('c').unwrap()), 4);
        let index = LineIndex::new(&text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(index.line_of(offset), line_of(&text, offset), "offset {offset}");
        }
    }

    #[test]
    fn dedent_strips_common_indent_and_blank_edges() {
        assert_eq!(dedent("\n\n    a\n      b\n\n    c\n  \n"), "a\n  b\n\nc");
        assert_eq!(dedent("   \n"), "");
    }

    #[test]
    fn first_line_drops_list_and_bold_markers() {
        assert_eq!(
            first_line("\n 1. **SecurityTab** wired in").as_deref(),
            Some("SecurityTab wired in")
        );
        assert_eq!(first_line("- item").as_deref(), Some("item"));
        assert_eq!(
            first_sentence("Extract lobby logic. Purpose: x").as_deref(),
            Some("Extract lobby logic")
        );
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
