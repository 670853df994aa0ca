//! Logging: the only subscriber setup. Logs go to stderr (and, for long-running commands, to a
//! file under `.cw/logs/`); stdout carries only data.

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// The environment variable that overrides the log filter (`CW_LOG=debug`, `CW_LOG=cw=trace`).
pub const LOG_ENV: &str = "CW_LOG";

/// Installs the stderr logger. `verbosity` counts `-v` flags: 0 warn, 1 info, 2 debug, 3+ trace.
pub fn init(verbosity: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbosity))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Installs a logger that writes to stderr and appends to `log_file` (for `cw run`, `cw mcp`).
pub fn init_with_file(verbosity: u8, log_file: &Path) -> std::io::Result<()> {
    if let Some(dir) = log_file.parent() {
        fs_err::create_dir_all(dir)?;
    }
    let file = fs_err::OpenOptions::new().create(true).append(true).open(log_file)?.into_parts().0;
    let writer = std::io::stderr.and(std::sync::Mutex::new(file));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbosity))
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(())
}

fn filter(verbosity: u8) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_env(LOG_ENV) {
        return filter;
    }
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    EnvFilter::new(level)
}
