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

/// The directory the running benchmark's binaries were built in (`target/release`).
fn build_dir() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The `cw` binary built beside the running benchmark.
#[allow(dead_code, reason = "not every benchmark starts cw")]
pub(crate) fn cw_binary() -> std::path::PathBuf {
    build_dir().join("cw")
}

/// Where `cargo build --release --example …` puts the examples (the claim worker).
#[allow(dead_code, reason = "not every benchmark runs an example")]
pub(crate) fn examples_dir() -> std::path::PathBuf {
    build_dir().join("examples")
}

/// `tasks` ready tasks added to `store` in one transaction.
#[allow(dead_code, reason = "not every benchmark loads tasks this way")]
pub(crate) fn add_ready_tasks(store: &cw::store::Store, tasks: usize) {
    use cw::model::{TaskState, Timestamp};
    store
        .write(|tx| {
            for i in 0..tasks {
                let task = cw::store::NewTask { title: format!("t{i}"), ..Default::default() };
                tx.insert_task(&task, TaskState::Ready, Timestamp(1))?;
            }
            Ok::<_, cw::store::StoreError>(())
        })
        .unwrap();
}
