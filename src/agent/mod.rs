//! Agents: the Claude Code adapter (command line, per-agent MCP config, prompts, stream-json),
//! and the runtime that spawns, continues, watches, stops and re-adopts agent processes (the
//! scripted agent is its own binary, `src/bin/cw-sim-agent`).
//!
//! Owns: how an agent is started and what its output means.
//! Must not: write SQL (it records through the service), call git2 or signals directly (the git
//! and process modules do).

mod error;
pub mod launch;
pub mod prompts;
mod runtime;
pub mod stream;

pub use error::AgentError;
pub use runtime::{Adoption, AgentExit, AgentRuntime, Continuation, LiveAgent};
