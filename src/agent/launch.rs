//! The Claude Code adapter: the command line of a session (design.md §5), the per-agent MCP
//! config, and session ids. Another MCP-capable CLI plugs in through `[agent]` in the config.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::config::AgentConfig;
use crate::model::AgentId;

/// The MCP server name in every agent's config: the model sees `mcp__cw__claim_task` and so on.
pub const MCP_SERVER_NAME: &str = "cw";

/// The agent tools, always allowed without asking.
pub const CW_TOOLS: [&str; 6] =
    ["claim_task", "report_progress", "report_done", "ask_user", "request_merge", "get_messages"];

/// A new session or the continuation of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStart {
    New(String),
    Resume(String),
}

impl SessionStart {
    /// The session id either way.
    pub fn id(&self) -> &str {
        match self {
            SessionStart::New(id) | SessionStart::Resume(id) => id,
        }
    }
}

/// `[agent] command` for the scripted agent.
pub const SIM: &str = "sim";

/// The scripted agent's binary: `cw-sim-agent` beside the running `cw` (where `cargo build` and
/// `cargo install` put it).
pub fn sim_agent_exe(cw_exe: &Path) -> PathBuf {
    cw_exe.with_file_name("cw-sim-agent")
}

/// The program to run and the arguments that come before cw's own.
pub fn agent_program(config: &AgentConfig, cw_exe: &Path) -> (PathBuf, Vec<OsString>) {
    let program = if config.command.trim() == SIM {
        sim_agent_exe(cw_exe)
    } else {
        PathBuf::from(config.command.trim())
    };
    (program, config.args.iter().map(OsString::from).collect())
}

/// The arguments of one session: `-p <prompt> --output-format stream-json --verbose
/// --mcp-config <file> --strict-mcp-config --session-id|--resume <id> [--permission-mode M]
/// --append-system-prompt <role> --allowedTools <tools…>` (the variadic list goes last so it
/// cannot swallow anything).
pub fn session_args(
    config: &AgentConfig,
    prompt: &str,
    mcp_config: &Path,
    session: &SessionStart,
    role: &str,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "-p".into(),
        prompt.into(),
        "--output-format".into(),
        "stream-json".into(),
        "--verbose".into(),
        "--mcp-config".into(),
        mcp_config.into(),
        "--strict-mcp-config".into(),
    ];
    match session {
        SessionStart::New(id) => args.extend(["--session-id".into(), id.into()]),
        SessionStart::Resume(id) => args.extend(["--resume".into(), id.into()]),
    }
    if !config.permission_mode.trim().is_empty() {
        args.extend(["--permission-mode".into(), config.permission_mode.trim().into()]);
    }
    args.extend(["--append-system-prompt".into(), role.into()]);
    args.push("--allowedTools".into());
    args.extend(CW_TOOLS.iter().map(|t| OsString::from(format!("mcp__{MCP_SERVER_NAME}__{t}"))));
    args.extend(config.allowed_tools.iter().map(OsString::from));
    args
}

/// Writes the per-agent MCP config (mode 0600: it holds the agent's token). It starts
/// `cw -C <repo> mcp --agent <id>` with the token in `CW_TOKEN`.
pub fn write_mcp_config(
    path: &Path,
    cw_exe: &Path,
    repo_root: &Path,
    agent: AgentId,
    token: &str,
) -> std::io::Result<()> {
    let body = json!({
        "mcpServers": {
            MCP_SERVER_NAME: {
                "type": "stdio",
                "command": cw_exe,
                "args": ["-C", repo_root, "mcp", "--agent", agent.to_string()],
                "env": { "CW_TOKEN": token }
            }
        }
    });
    let temp = path.with_extension("json.tmp");
    let _ = fs_err::remove_file(&temp);
    let mut file =
        fs_err::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
    file.write_all(format!("{body:#}\n").as_bytes())?;
    file.sync_all()?;
    fs_err::rename(&temp, path)
}

/// A random (version 4) UUID, the form Claude Code's `--session-id` requires.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    // getrandom only fails without an OS entropy source; then the time still gives a unique id.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_follows_the_design() {
        let config = AgentConfig::default();
        let args = session_args(
            &config,
            "do it",
            Path::new("/r/.cw/agents/a1/mcp.json"),
            &SessionStart::Resume("s-1".to_owned()),
            "role",
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let line = args.join(" ");
        assert!(line.starts_with("-p do it --output-format stream-json --verbose --mcp-config /r/.cw/agents/a1/mcp.json --strict-mcp-config --resume s-1 --permission-mode acceptEdits --append-system-prompt role --allowedTools mcp__cw__claim_task"), "{line}");
        assert_eq!(args.last().map(String::as_str), Some("Bash(git merge:*)"));
        let (program, prefix) =
            agent_program(&AgentConfig { command: "sim".into(), ..config }, Path::new("/bin/cw"));
        assert_eq!((program.as_path(), prefix), (Path::new("/bin/cw-sim-agent"), vec![]));
    }

    #[test]
    fn session_ids_are_v4_uuids() {
        let id = new_session_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_session_id());
    }
}
