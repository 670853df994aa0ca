//! Agent prompts: compiled in from `prompts/`, overridable per repository from `.cw/prompts/`.
//! Templates use `{{name}}` placeholders; an unknown placeholder is left as written.

use std::path::Path;

/// The prompts cw sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The system-prompt addition every session gets (`--append-system-prompt`).
    Role,
    /// The first message of a new session.
    Start,
    /// Continuing after a crash, a stop or a restart.
    Resume,
    /// Continuing with the human's answer.
    Answer,
    /// Continuing after the merge was bounced.
    Conflict,
    /// Continuing because messages arrived.
    Message,
}

impl Prompt {
    /// The file name in `prompts/` and `.cw/prompts/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Prompt::Role => "role.md",
            Prompt::Start => "start.md",
            Prompt::Resume => "resume.md",
            Prompt::Answer => "answer.md",
            Prompt::Conflict => "conflict.md",
            Prompt::Message => "message.md",
        }
    }

    fn built_in(self) -> &'static str {
        match self {
            Prompt::Role => include_str!("../../prompts/role.md"),
            Prompt::Start => include_str!("../../prompts/start.md"),
            Prompt::Resume => include_str!("../../prompts/resume.md"),
            Prompt::Answer => include_str!("../../prompts/answer.md"),
            Prompt::Conflict => include_str!("../../prompts/conflict.md"),
            Prompt::Message => include_str!("../../prompts/message.md"),
        }
    }

    /// The template: the repository's override if there is a readable one, else the built-in.
    pub fn template(self, overrides: &Path) -> String {
        fs_err::read_to_string(overrides.join(self.file_name()))
            .unwrap_or_else(|_| self.built_in().to_owned())
    }

    /// The rendered prompt.
    pub fn render(self, overrides: &Path, vars: &[(&str, &str)]) -> String {
        fill(&self.template(overrides), vars)
    }
}

/// Replaces each `{{name}}` with its value.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_placeholders_fill() {
        let dir = tempfile::tempdir().unwrap();
        let start = Prompt::Start.render(dir.path(), &[("task", "t7"), ("title", "Add login")]);
        assert!(start.starts_with("Your task is t7: Add login"), "{start}");
        fs_err::write(dir.path().join("start.md"), "Do {{task}} now, {{unknown}}.\n").unwrap();
        assert_eq!(Prompt::Start.render(dir.path(), &[("task", "t7")]), "Do t7 now, {{unknown}}.");
    }
}
