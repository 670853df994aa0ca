//! Tidy checks that keep ownership boundaries real (style.md R2, R8).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each external crate that touches the outside world may appear only under its owner.
#[test]
fn external_effects_stay_with_their_owner() {
    let owners: &[(&str, &[&str])] = &[
        ("rusqlite", &["store/"]),
        ("git2", &["git/"]),
        ("clap", &["cli/"]),
        ("nix::sys::signal", &["process/"]),
        ("rmcp", &["mcp/"]),
        ("axum", &["mcp/"]),
        ("tokio::signal", &["shutdown.rs"]),
        ("notify", &["fsui/"]),
    ];
    let root = src();
    let mut leaks = Vec::new();
    for file in rust_files(&root) {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let text = fs_err::read_to_string(&file).unwrap();
        for (krate, allowed) in owners {
            if allowed.iter().any(|prefix| relative.starts_with(prefix)) {
                continue;
            }
            let uses = text.lines().any(|line| {
                let line = line.trim_start();
                !line.starts_with("//")
                    && (line.contains(&format!("{krate}::"))
                        || line.contains(&format!("use {krate}")))
            });
            if uses {
                leaks.push(format!(
                    "{relative} uses {krate}, which belongs to {}",
                    allowed.join(", ")
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "ownership leaks:\n{}", leaks.join("\n"));
}

/// Every module says what it owns in a `//!` header.
#[test]
fn every_module_starts_with_a_doc_header() {
    let root = src();
    let missing: Vec<String> = rust_files(&root)
        .into_iter()
        .filter(|file| !fs_err::read_to_string(file).unwrap().trim_start().starts_with("//!"))
        .map(|file| file.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "modules without a //! header: {missing:?}");
}

/// No muted or panic-expecting tests anywhere (style.md R23).
#[test]
fn no_muted_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let needles = [
        concat!("#[", "ignore"),
        concat!("#[", "should_panic"),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
    ];
    let mut found = Vec::new();
    for dir in ["src", "tests"] {
        for file in rust_files(&root.join(dir)) {
            let text = fs_err::read_to_string(&file).unwrap();
            for needle in needles {
                if text.contains(needle) {
                    found.push(format!("{}: {needle}", file.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}
