//! Front matter: the `---` block at the top of a PLAN or SUMMARY file.
//!
//! Values are kept as the text the author wrote (`12.10` stays `12.10`, `010` stays `010`): a
//! real YAML parser is used at the event level, where scalars are still source text, and when it
//! fails (5% of real SUMMARY files are not valid YAML) a tolerant line parser like GSD's own.

use yaml_rust2::parser::{Event, Parser};

/// A front-matter value with every scalar as its source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FmValue {
    Null,
    Text(String),
    List(Vec<FmValue>),
    Map(Vec<(String, FmValue)>),
}

/// Parsed front matter, plus where the body starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrontMatter {
    pub(crate) fields: Vec<(String, FmValue)>,
    /// Byte offset of the body (after the closing `---`).
    pub(crate) body_start: usize,
    /// True when only the fallback line parser could read it.
    pub(crate) used_fallback: bool,
}

/// Why front matter could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FmError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl FmValue {
    /// The scalar text, if this is a scalar.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            FmValue::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The items as texts: a list's scalars, or a single scalar split like GSD (`a, b`).
    pub(crate) fn texts(&self) -> Vec<String> {
        match self {
            FmValue::Null => Vec::new(),
            FmValue::Text(text) if text.trim().is_empty() => Vec::new(),
            FmValue::Text(text) => split_inline_list(text),
            FmValue::List(items) => {
                items.iter().filter_map(|i| i.text().map(str::to_owned)).collect()
            }
            FmValue::Map(_) => Vec::new(),
        }
    }

    /// JSON with every scalar as a string (for metadata; never re-typed).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            FmValue::Null => serde_json::Value::Null,
            FmValue::Text(text) => serde_json::Value::String(text.clone()),
            FmValue::List(items) => items.iter().map(FmValue::to_json).collect(),
            FmValue::Map(fields) => fields
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl FrontMatter {
    /// The value of `key` (GSD also accepts `-` for `_`).
    pub(crate) fn get(&self, key: &str) -> Option<&FmValue> {
        let alternative = key.replace('_', "-");
        self.fields.iter().find(|(k, _)| k == key || *k == alternative).map(|(_, v)| v)
    }

    /// True if `key` is present at all (even empty).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// Splits off front matter if `text` (already normalised) starts with `---`.
pub(crate) fn split(text: &str) -> Result<Option<FrontMatter>, FmError> {
    let Some(rest) =
        text.strip_prefix("---\n").or_else(|| (text.trim_end() == "---").then_some(""))
    else {
        return Ok(None);
    };
    let mut offset = 4;
    let mut close = None;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            close = Some((offset, offset + line.len()));
            break;
        }
        offset += line.len();
    }
    let Some((yaml_end, body_start)) = close else {
        return Err(FmError {
            line: 1,
            message: "front matter opened here is never closed (no second `---` line)".to_owned(),
        });
    };
    let yaml = &text[4.min(text.len())..yaml_end];
    if let Ok(fields) = parse_yaml(yaml) {
        return Ok(Some(FrontMatter { fields, body_start, used_fallback: false }));
    }
    let fields =
        parse_lines(yaml).map_err(|(line, message)| FmError { line: line + 1, message })?;
    Ok(Some(FrontMatter { fields, body_start, used_fallback: true }))
}

fn parse_yaml(yaml: &str) -> Result<Vec<(String, FmValue)>, String> {
    let mut parser = Parser::new_from_str(yaml);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<FmValue> = None;
    loop {
        let (event, _) = parser.next_token().map_err(|e| e.to_string())?;
        let value = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
            Event::Alias(_) => FmValue::Null,
            Event::Scalar(text, style, _, _) => {
                let plain_null = matches!(style, yaml_rust2::scanner::TScalarStyle::Plain)
                    && matches!(text.as_str(), "" | "~" | "null");
                if plain_null { FmValue::Null } else { FmValue::Text(text) }
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::List(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), None));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::List(items)) => FmValue::List(items),
                Some(Frame::Map(fields, _)) => FmValue::Map(fields),
                None => return Err("unbalanced YAML".to_owned()),
            },
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::List(items)) => items.push(value),
            Some(Frame::Map(fields, pending_key)) => match pending_key.take() {
                Some(key) => fields.push((key, value)),
                None => *pending_key = Some(key_text(&value)),
            },
        }
    }
    match root {
        Some(FmValue::Map(fields)) => Ok(fields),
        None | Some(FmValue::Null) => Ok(Vec::new()),
        Some(_) => Err("front matter is not a mapping".to_owned()),
    }
}

enum Frame {
    List(Vec<FmValue>),
    Map(Vec<(String, FmValue)>, Option<String>),
}

fn key_text(value: &FmValue) -> String {
    match value {
        FmValue::Text(text) => text.clone(),
        FmValue::Null => String::new(),
        other => other.to_json().to_string(),
    }
}

/// GSD-style line parser: `key: value`, `key: [a, b]`, `key:` + `  - item`, nested maps by indent.
fn parse_lines(yaml: &str) -> Result<Vec<(String, FmValue)>, (usize, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let (fields, _) = parse_block(&lines, 0, 0)?;
    Ok(fields)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Fields read so far and the index of the first line not consumed; or the failing line.
type BlockResult = Result<(Vec<(String, FmValue)>, usize), (usize, String)>;

fn parse_block(lines: &[&str], mut index: usize, indent: usize) -> BlockResult {
    let mut fields = Vec::new();
    while index < lines.len() {
        let line = lines[index];
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            index += 1;
            continue;
        }
        let line_indent = indent_of(line);
        if line_indent < indent {
            break;
        }
        let trimmed = line.trim();
        let Some(colon) = trimmed.find(':') else {
            // A wrapped continuation of the previous value: append it.
            if let Some((_, FmValue::Text(text))) = fields.last_mut() {
                text.push(' ');
                text.push_str(trimmed);
                index += 1;
                continue;
            }
            return Err((index, format!("expected `key: value`, found `{trimmed}`")));
        };
        let key = trimmed[..colon].trim().trim_matches(['"', '\'']).to_owned();
        let value = trimmed[colon + 1..].trim();
        index += 1;
        if !value.is_empty() {
            fields.push((key, inline_value(value)));
            continue;
        }
        // A block list or a nested map follows (more indented, or `- ` at the same indent).
        let next = lines[index..].iter().position(|l| !l.trim().is_empty()).map(|p| index + p);
        match next {
            Some(n) if lines[n].trim_start().starts_with("- ") || lines[n].trim() == "-" => {
                let item_indent = indent_of(lines[n]);
                let mut items = Vec::new();
                index = n;
                while index < lines.len() {
                    let l = lines[index];
                    if l.trim().is_empty() {
                        index += 1;
                        continue;
                    }
                    if indent_of(l) != item_indent || !l.trim_start().starts_with('-') {
                        if indent_of(l) > item_indent {
                            if let Some(FmValue::Text(text)) = items.last_mut() {
                                text.push(' ');
                                text.push_str(l.trim());
                            }
                            index += 1;
                            continue;
                        }
                        break;
                    }
                    items.push(inline_value(l.trim_start()[1..].trim()));
                    index += 1;
                }
                fields.push((key, FmValue::List(items)));
            }
            Some(n) if indent_of(lines[n]) > line_indent => {
                let (nested, after) = parse_block(lines, n, indent_of(lines[n]))?;
                fields.push((key, FmValue::Map(nested)));
                index = after;
            }
            _ => fields.push((key, FmValue::Null)),
        }
    }
    Ok((fields, index))
}

fn inline_value(value: &str) -> FmValue {
    if value.starts_with('[') && value.ends_with(']') {
        let inner = &value[1..value.len() - 1];
        return FmValue::List(split_inline_list(inner).into_iter().map(FmValue::Text).collect());
    }
    FmValue::Text(unquote(value).to_owned())
}

/// Splits `a, "b, c", d` on commas outside quotes and strips one pair of quotes from each item.
fn split_inline_list(text: &str) -> Vec<String> {
    let text = text.trim();
    let text = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (None, ',') => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items.iter().map(|i| unquote(i.trim()).to_owned()).filter(|i| !i.is_empty()).collect()
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fm(text: &str) -> FrontMatter {
        split(text).unwrap().unwrap()
    }

    fn text_of(fm: &FrontMatter, key: &str) -> Option<String> {
        fm.get(key).and_then(FmValue::text).map(str::to_owned)
    }

    #[test]
    fn scalars_keep_their_source_text() {
        let f = fm("---\nphase: 12.10\nplan: 010\nwave: 2\nautonomous: true\n---\nbody");
        assert!(!f.used_fallback);
        assert_eq!(text_of(&f, "phase").as_deref(), Some("12.10"));
        assert_eq!(text_of(&f, "plan").as_deref(), Some("010"));
        assert_eq!(f.get("depends_on"), None);
    }

    #[test]
    fn every_depends_on_spelling_reads_as_texts() {
        let cases = [
            ("depends_on: []", vec![]),
            ("depends_on: [\"01-01\", '01-02']", vec!["01-01", "01-02"]),
            ("depends_on: [07-01]", vec!["07-01"]),
            ("depends_on: [01, 02]", vec!["01", "02"]),
            ("depends_on:\n  - 04.1-01\n  - \"05-01\"", vec!["04.1-01", "05-01"]),
            ("depends_on:\n  - Phase 67", vec!["Phase 67"]),
            ("depends_on: \"01-01\"", vec!["01-01"]),
            ("depends_on:", vec![]),
        ];
        for (yaml, expected) in cases {
            let f = fm(&format!("---\n{yaml}\n---\n"));
            assert_eq!(f.get("depends_on").unwrap().texts(), expected, "{yaml}");
        }
    }

    #[test]
    fn invalid_yaml_falls_back_to_the_line_parser() {
        let f = fm(
            "---\nphase: 01\nadded: [@types/x, b]\nkey-decisions:\n  - Guard hover: classes md:hover:\n  - paths: {org_id}/x\nnested:\n  a: 1\n---\n",
        );
        assert!(f.used_fallback);
        assert_eq!(text_of(&f, "phase").as_deref(), Some("01"));
        assert_eq!(f.get("added").unwrap().texts(), vec!["@types/x", "b"]);
        assert_eq!(f.get("key_decisions").unwrap().texts().len(), 2);
        assert_eq!(
            f.get("nested"),
            Some(&FmValue::Map(vec![("a".into(), FmValue::Text("1".into()))]))
        );
    }

    #[test]
    fn no_front_matter_and_unclosed_front_matter() {
        assert_eq!(split("# Title\n").unwrap(), None);
        let err = split("---\nphase: 1\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("never closed"));
    }

    #[test]
    fn body_starts_after_the_closing_line() {
        let text = "---\na: 1\n---\n<objective>x</objective>";
        let f = fm(text);
        assert_eq!(&text[f.body_start..], "<objective>x</objective>");
    }
}
