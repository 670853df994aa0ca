//! Codewalk District (`cw`): run a team of Claude Code agents on one git repository.
//!
//! Read `ARCHITECTURE.md` first: it maps these modules, what each owns and what it must not do.
//! Modules are listed in reading order, from the pure core outwards to the adapters.

pub mod model;
pub mod safe_text;

pub mod agent;
pub mod config;
pub mod coordinator;
pub mod git;
pub mod planning;
pub mod process;
pub mod store;
pub mod workspace;

pub mod service;

pub mod fsui;
pub mod notifications;

pub mod dashboard;
pub mod loopback;
pub mod mcp;

pub mod cli;
pub mod error;
pub mod logging;
pub mod shutdown;
pub mod wire;
