//! Text that did not come from cw itself (titles, questions, answers, messages, agent output,
//! file contents) made safe to show on a terminal: control characters become visible escapes,
//! so a prompt-injected agent cannot clear the screen, rewrite lines, set the clipboard or
//! forge a hyperlink (OSC 52, OSC 8).
//!
//! Owns: the one rule for which characters reach a terminal raw.
//! Must not: do I/O. `--json` output never goes through here: JSON escapes control characters
//! itself and must stay exact.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character made visible, except newline and tab (for multi-line
/// bodies: a question, an answer, a description, an agent's transcript).
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// `text` as one line: control characters made visible, newline and tab too (for a title in a
/// table, a commit subject, a progress line).
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// True if `c` must not reach a terminal raw: C0 and C1 controls, DEL, and the bidirectional
/// overrides and isolates that make text display in another order than it reads ("Trojan
/// source").
/// The first line of `text`, at most `max` characters, for one-line listings: "…" marks a cut,
/// " …" lines left out. (Still untrusted: it goes to a terminal through `visible`.)
pub fn first_line(text: &str, max: usize) -> String {
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or_default();
    match first.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &first[..at]),
        None if lines.next().is_some() => format!("{first} …"),
        None => first.to_owned(),
    }
}

pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_unsafe(c) || keep(c) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => out.write_str("\\n"),
            '\r' => out.write_str("\\r"),
            '\t' => out.write_str("\\t"),
            '\u{1b}' => out.write_str("\\e"),
            c if u32::from(c) < 0x80 => write!(out, "\\x{:02x}", u32::from(c)),
            c => write!(out, "\\u{{{:x}}}", u32::from(c)),
        };
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, multi_line: &str, single_line: &str) {
        assert_eq!(visible(input), multi_line, "visible({input:?})");
        assert_eq!(one_line(input), single_line, "one_line({input:?})");
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        check(
            "plain text, ünïcode — fine",
            "plain text, ünïcode — fine",
            "plain text, ünïcode — fine",
        );
        check("two\nlines\tand a tab", "two\nlines\tand a tab", "two\\nlines\\tand a tab");
        check("\x1b[2J\x1b[Hcleared", "\\e[2J\\e[Hcleared", "\\e[2J\\e[Hcleared");
        check("\x1b]52;c;aGk=\x07", "\\e]52;c;aGk=\\x07", "\\e]52;c;aGk=\\x07");
        check("over\rwrite\x08\x7f", "over\\rwrite\\x08\\x7f", "over\\rwrite\\x08\\x7f");
        check("c1 \u{9b}31m csi", "c1 \\u{9b}31m csi", "c1 \\u{9b}31m csi");
        check("abc\u{202e}fed", "abc\\u{202e}fed", "abc\\u{202e}fed");
    }

    #[test]
    fn safe_text_is_not_copied() {
        assert!(matches!(visible("a\nb"), Cow::Borrowed(_)));
        assert!(matches!(one_line("a b"), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        #![proptest_config(crate::planning::fuzz_config(1))]

        /// Whatever an agent writes, what reaches the terminal holds no character a terminal
        /// acts on (newline and tab only where `visible` keeps them), and nothing is dropped:
        /// every safe character comes out in order.
        #[test]
        fn nothing_unsafe_gets_through(text in proptest::prelude::any::<String>()) {
            let shown = visible(&text);
            proptest::prop_assert!(!shown.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'));
            let line = one_line(&text);
            proptest::prop_assert!(!line.chars().any(is_unsafe));
            // The original's safe characters, in order, are a subsequence of the shown line.
            let mut shown_chars = line.chars();
            let all_kept = text.chars().filter(|c| !is_unsafe(*c)).all(|c| shown_chars.any(|s| s == c));
            proptest::prop_assert!(all_kept, "{:?} became {:?}", text, line);
        }
    }
}
