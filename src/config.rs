//! Configuration: `.cw/config.toml`, typed, always passed explicitly.

use std::path::Path;

use serde::Deserialize;

/// The file `cw init` writes: every setting with its default, commented.
pub const DEFAULT_CONFIG_TOML: &str = r#"# cw configuration. Every value shown is the default.

# The branch finished tasks are merged into. Created from HEAD by `cw init`.
integration_branch = "cw/integration"

[claims]
# How long a claim lasts without any call from its agent (every MCP call renews it).
lease_seconds = 1800
# How many times a task may be handed out again after its lease expired before it fails.
max_attempts = 3

[mcp]
# How long ask_user blocks before it answers "pending" (the agent then ends its turn and is
# resumed with the answer later).
ask_wait_seconds = 300
# How often a blocked ask_user sends a progress notification.
progress_seconds = 10

[server]
# The port of `cw run`'s MCP endpoint on 127.0.0.1 (see .cw/server.json). Unset: a port of this
# repository's own, the same on every run (so a `claude mcp add --transport http` entry keeps
# working); 0: any free port.
# port = 0

[run]
# How many agents `cw run` keeps working at once (`--agents` overrides it).
agents = 4
# Do not start another agent if that would leave less memory than this available (MiB); each
# `claude` takes roughly 200-600 MiB.
memory_headroom_mb = 1024
# What cw assumes one more agent takes when it checks the headroom (MiB).
agent_memory_mb = 500
# A command (sh -c) run on each merged tree in a scratch worktree before the integration branch
# moves, e.g. "cargo test"; if it fails, the task is bounced back with its output. "" = none.
merge_gate = ""
# How many times one task may be bounced (conflicts, gate failures) before it fails instead of
# going back to its agent again.
max_bounces = 5

[agent]
# The agent CLI: "claude" (resolved on PATH), a path, or "sim" for cw's built-in scripted agent.
command = "claude"
# Extra arguments put before cw's own (e.g. ["--model", "sonnet"]).
args = []
# Claude Code's permission mode; "" leaves it to Claude Code's default.
permission_mode = "acceptEdits"
# Tools the agent may use without asking (Claude Code's --allowedTools). The cw tools are always
# allowed.
allowed_tools = ["Read", "Edit", "Write", "Glob", "Grep", "Bash(git add:*)", "Bash(git commit:*)", "Bash(git status:*)", "Bash(git diff:*)", "Bash(git log:*)", "Bash(git merge:*)"]
# Where agent worktrees go; relative paths are relative to the repository's parent directory.
# "" means <repo>/../<repo name>.cw-worktrees.
worktree_dir = ""
# A command run (with sh -c) in each new worktree before the agent starts, e.g. "npm ci".
setup_command = ""
# Give a new agent the clean worktree of a finished, merged one (renamed, its new branch checked
# out: only changed files are written, ignored files such as build outputs stay) instead of a
# whole new checkout. false = always a fresh checkout.
reuse_worktrees = true
# How long a stopped agent gets between SIGTERM and SIGKILL.
stop_grace_seconds = 5

[mirror]
# Keep the files under .cw/ (inbox/, agents/<id>/, STATUS.md) in sync while `cw run` runs: answer
# a question by writing under the Answer heading in .cw/inbox/<id>.md and saving. `cw mirror --watch`
# does the same without `cw run`.
enabled = true

[notify]
# When you are needed (a question, a task for you, a failed task or merge gate, the end of the run),
# cw run prints a line; bell = true also rings the terminal bell. command is run (sh -c) with the
# event as JSON on stdin and in CW_EVENT, CW_TASK, CW_AGENT, CW_QUESTION, CW_MESSAGE, e.g.
# 'notify-send cw "$CW_MESSAGE"' or a curl to a webhook; bursts arrive as one summary.
bell = false
command = ""
# A command still running after this is stopped (and logged in .cw/logs/notify.log).
timeout_seconds = 10

[worker]
# Set by `cw worker` in a clone that runs agents for a coordinator on another machine: this
# host's name ("" on the coordinator's own machine).
name = ""
# The git remote of the coordinator's repository: agents' branches are pushed there, the
# integration branch fetched from it.
remote = "origin"
# How often a worker says it is alive; the coordinator counts a host silent for
# lost_after_seconds as lost (its agents' leases can then expire).
heartbeat_seconds = 5
lost_after_seconds = 30

[store]
# Where the state lives. "" = the SQLite file .cw/cw.db. A PostgreSQL URL
# ("postgres://user@host:5432/database", one database per repository) shares it between hosts;
# `cw init --store <url>` sets it. CW_DATABASE_URL overrides it (keep passwords there, not here).
url = ""
"#;

/// All settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub integration_branch: String,
    pub claims: ClaimConfig,
    pub mcp: McpConfig,
    pub server: ServerConfig,
    pub run: RunConfig,
    pub agent: AgentConfig,
    pub mirror: MirrorConfig,
    pub notify: NotifyConfig,
    pub store: StoreConfig,
    pub worker: WorkerConfig,
}

/// Running agents on other hosts (`cw worker`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// This clone's host name; empty on the coordinator's machine.
    pub name: String,
    pub remote: String,
    pub heartbeat_seconds: u64,
    pub lost_after_seconds: u64,
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            name: String::new(),
            remote: "origin".to_owned(),
            heartbeat_seconds: 5,
            lost_after_seconds: 30,
        }
    }
}

impl WorkerConfig {
    /// The host this clone runs agents as; `None` on the coordinator's machine.
    pub fn host(&self) -> Option<&str> {
        Some(self.name.as_str()).filter(|name| !name.is_empty())
    }
}

/// Where the state lives (`crate::store::Location`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL URL; empty for the SQLite file `.cw/cw.db`.
    pub url: String,
}

/// The environment variable that names the store's URL, over `[store] url`.
pub const DATABASE_URL_ENV: &str = "CW_DATABASE_URL";

impl StoreConfig {
    /// The PostgreSQL URL in force: `CW_DATABASE_URL`, else `[store] url`; `None` for SQLite.
    pub fn postgres_url(&self) -> Option<String> {
        let from_env = std::env::var(DATABASE_URL_ENV).ok().filter(|u| !u.trim().is_empty());
        from_env.or_else(|| Some(self.url.clone()).filter(|u| !u.trim().is_empty()))
    }
}

/// Telling the human they are needed (`crate::notifications`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    pub bell: bool,
    pub command: String,
    pub timeout_seconds: u64,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig { bell: false, command: String::new(), timeout_seconds: 10 }
    }
}

/// The file mirror (`crate::fsui`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MirrorConfig {
    pub enabled: bool,
}

impl Default for MirrorConfig {
    fn default() -> MirrorConfig {
        MirrorConfig { enabled: true }
    }
}

/// How `cw run` dispatches and merges.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub agents: usize,
    pub memory_headroom_mb: u64,
    pub agent_memory_mb: u64,
    /// Retired (agents were once started ahead of their tasks): still accepted so that a config
    /// file written by an older cw loads, and otherwise ignored; `Config::load` says so.
    #[serde(rename = "start_ahead")]
    pub retired_start_ahead: Option<bool>,
    pub merge_gate: String,
    pub max_bounces: u32,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            agents: 4,
            memory_headroom_mb: 1024,
            agent_memory_mb: 500,
            retired_start_ahead: None,
            merge_gate: String::new(),
            max_bounces: 5,
        }
    }
}

/// How agents are started (design.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub command: String,
    pub args: Vec<String>,
    pub permission_mode: String,
    pub allowed_tools: Vec<String>,
    pub worktree_dir: String,
    pub setup_command: String,
    pub reuse_worktrees: bool,
    pub stop_grace_seconds: u64,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            command: "claude".to_owned(),
            args: Vec::new(),
            permission_mode: "acceptEdits".to_owned(),
            allowed_tools: [
                "Read",
                "Edit",
                "Write",
                "Glob",
                "Grep",
                "Bash(git add:*)",
                "Bash(git commit:*)",
                "Bash(git status:*)",
                "Bash(git diff:*)",
                "Bash(git log:*)",
                "Bash(git merge:*)",
            ]
            .map(str::to_owned)
            .to_vec(),
            worktree_dir: String::new(),
            setup_command: String::new(),
            reuse_worktrees: true,
            stop_grace_seconds: 5,
        }
    }
}

/// MCP tool settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    pub ask_wait_seconds: u64,
    pub progress_seconds: u64,
}

/// `cw run` server settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct ServerConfig {
    /// `None`: the repository's own port (`stable_port`); `Some(0)`: any free port.
    pub port: Option<u16>,
}

/// The port `cw run` serves on when none is set: derived from the repository's path, so it is
/// the same on every run, in 24000..32000 (below Linux's ephemeral range, where outgoing
/// connections would take it).
pub fn stable_port(root: &std::path::Path) -> u16 {
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash =
        root.as_os_str().as_encoded_bytes().iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    24_000 + u16::try_from(hash % 8_000).unwrap_or(0)
}

impl Default for McpConfig {
    fn default() -> McpConfig {
        McpConfig { ask_wait_seconds: 300, progress_seconds: 10 }
    }
}

/// Claim and lease settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimConfig {
    pub lease_seconds: u64,
    pub max_attempts: u32,
}

/// A config file that cannot be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: std::path::PathBuf, message: String },
}

impl Default for Config {
    fn default() -> Config {
        Config {
            integration_branch: "cw/integration".to_owned(),
            claims: ClaimConfig::default(),
            mcp: McpConfig::default(),
            server: ServerConfig::default(),
            run: RunConfig::default(),
            agent: AgentConfig::default(),
            mirror: MirrorConfig::default(),
            notify: NotifyConfig::default(),
            store: StoreConfig::default(),
            worker: WorkerConfig::default(),
        }
    }
}

impl Default for ClaimConfig {
    fn default() -> ClaimConfig {
        ClaimConfig { lease_seconds: 1800, max_attempts: 3 }
    }
}

impl ClaimConfig {
    /// The lease length in milliseconds.
    pub fn lease_millis(&self) -> i64 {
        i64::try_from(self.lease_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Config {
    /// Reads `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        let config = Config::parse(&text)
            .map_err(|message| ConfigError::Parse { path: path.to_owned(), message })?;
        if config.run.retired_start_ahead.is_some() {
            tracing::warn!(
                path = %path.display(),
                "[run] start_ahead is no longer used (agents start when their task is ready); \
                 the line can be removed"
            );
        }
        Ok(config)
    }

    /// Parses config text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|err| explain(text, &err))?;
        if config.claims.max_attempts == 0 {
            return Err("claims.max_attempts must be at least 1".to_owned());
        }
        if config.mcp.progress_seconds == 0 {
            return Err("mcp.progress_seconds must be at least 1".to_owned());
        }
        if config.agent.command.trim().is_empty() {
            return Err("agent.command must name a program (or \"sim\")".to_owned());
        }
        if config.run.agents == 0 {
            return Err("run.agents must be at least 1".to_owned());
        }
        if config.worker.heartbeat_seconds == 0
            || config.worker.lost_after_seconds <= config.worker.heartbeat_seconds
        {
            return Err("worker.lost_after_seconds must be longer than worker.heartbeat_seconds (at least 1)".to_owned());
        }
        if config.claims.lease_seconds == 0 {
            return Err("claims.lease_seconds must be at least 1".to_owned());
        }
        Ok(config)
    }
}

/// A TOML error in words a user reads: the line, its section and key as written, and what the
/// value should be (`line 14: [run] agents = "abc": expected a number`), not serde's type names.
fn explain(text: &str, err: &toml::de::Error) -> String {
    let message = plain_words(err.message());
    let Some(span) = err.span() else { return message };
    let start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |at| at + 1);
    let end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line_number = text[..start].matches('\n').count() + 1;
    let written = text[start..end].trim();
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('[') && line.ends_with(']'));
    match section {
        Some(section) if !written.starts_with('[') => {
            format!("line {line_number}: {section} {written}: {message}")
        }
        _ => format!("line {line_number}: {written}: {message}"),
    }
}

/// serde's "invalid type: string \"abc\", expected u64" as "expected a number, not the string \"abc\"".
fn plain_words(message: &str) -> String {
    let message = message.trim();
    let Some(rest) = message.strip_prefix("invalid type: ") else { return message.to_owned() };
    let Some((found, expected)) = rest.split_once(", expected ") else { return message.to_owned() };
    let expected = match expected.trim() {
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" => "a string (in quotes)",
        "a sequence" => "a list ([\"a\", \"b\"])",
        other => other,
    };
    format!("expected {expected}, not {found}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_default_file_parses_to_the_defaults() {
        assert_eq!(Config::parse(DEFAULT_CONFIG_TOML), Ok(Config::default()));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = Config::parse("integration_brnch = \"x\"").unwrap_err();
        assert!(err.contains("integration_brnch"), "{err}");
        let err = Config::parse("[claims]\nmax_attempts = 0").unwrap_err();
        assert_eq!(err, "claims.max_attempts must be at least 1");
        let err = Config::parse("[claims]\nlease_seconds = \"soon\"").unwrap_err();
        assert_eq!(
            err,
            "line 2: [claims] lease_seconds = \"soon\": expected a number, not string \"soon\""
        );
        let err = Config::parse("# c\n\n[run]\nagents = \"abc\"\n").unwrap_err();
        assert_eq!(err, "line 4: [run] agents = \"abc\": expected a number, not string \"abc\"");
        let err = Config::parse("[agent]\nreuse_worktrees = \"yes\"").unwrap_err();
        assert!(err.ends_with("expected true or false, not string \"yes\""), "{err}");
        let err = Config::parse("[run]\nagents = 4\nagnets = 5").unwrap_err();
        assert!(err.starts_with("line 3: [run] agnets = 5: unknown field `agnets`"), "{err}");
    }

    #[test]
    fn a_file_from_an_older_cw_with_a_retired_key_still_loads() {
        let config = Config::parse("[run]\nagents = 3\nstart_ahead = true\n").unwrap();
        assert_eq!((config.run.agents, config.run.retired_start_ahead), (3, Some(true)));
    }
}
