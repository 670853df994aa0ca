//! Helpers the benchmark drivers share.
#![expect(clippy::disallowed_methods, reason = "benchmarks drive git processes")]

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and no global config; panics if it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// The `cw` binary built beside the running benchmark.
#[allow(dead_code, reason = "not every benchmark starts cw")]
pub(crate) fn cw_binary() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("cw")
}
