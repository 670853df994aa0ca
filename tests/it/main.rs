//! cw's integration tests: one binary, one module per area (style.md R20).
#![expect(clippy::unwrap_used, reason = "test helpers fail loudly by design")]

mod support;

mod agents;
mod claims;
mod claude;
mod cli;
mod coordinator;
mod dashboard;
mod gate;
mod hostile;
mod hosts;
mod import;
mod import_real;
mod mcp;
mod merge;
mod mirror;
mod notify;
mod postgres;
mod process;
mod store;
mod tasks;
mod tidy;
mod worktree;

/// Every file in tests/it must be declared above, or it would silently never run.
#[test]
fn no_forgotten_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = fs_err::read_to_string(dir.join("main.rs")).unwrap();
    for entry in fs_err::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "main" || name == "snapshots" || path.extension().is_some_and(|e| e == "snap") {
            continue;
        }
        assert!(
            main.contains(&format!("mod {name};")),
            "tests/it/{name} is not declared in main.rs"
        );
    }
}
