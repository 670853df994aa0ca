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
        ("postgres", &["store/"]),
        ("git2", &["git/", "bin/cw-sim-agent/"]),
        ("clap", &["cli/"]),
        ("nix::sys::signal", &["process/"]),
        // The scripted agent binary is an MCP client; nothing in the library is.
        ("rmcp", &["mcp/", "bin/cw-sim-agent/"]),
        // One HTTP server: MCP's routes, the dashboard's, and the loopback rule both apply.
        ("axum", &["mcp/", "dashboard/", "loopback.rs"]),
        ("maud", &["dashboard/"]),
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

/// Which modules each module may use (`crate::<module>` outside its tests): dependencies run one
/// way, from the adapters down to the store. A new edge is a design decision: add it here, in
/// the direction the layers run, or do not add it.
const MODULE_GRAPH: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "agent",
            "config",
            "coordinator",
            "dashboard",
            "error",
            "fsui",
            "logging",
            "mcp",
            "model",
            "process",
            "safe_text",
            "service",
            "shutdown",
            "store",
            "wire",
            "workspace",
        ],
    ),
    (
        "coordinator",
        &["agent", "config", "model", "notifications", "process", "safe_text", "service", "store"],
    ),
    ("mcp", &["error", "loopback", "model", "planning", "process", "safe_text", "service", "wire"]),
    // The dashboard renders and routes; every rule it shows or applies is the service's.
    (
        "dashboard",
        &[
            "agent",
            "error",
            "loopback",
            "model",
            "process",
            "safe_text",
            "service",
            "store",
            "wire",
        ],
    ),
    ("loopback", &[]),
    ("fsui", &["model", "safe_text", "service", "store", "workspace"]),
    ("notifications", &["agent", "config", "process", "safe_text", "service", "store"]),
    // The runtime and the loop reach git only through the service's use cases (prepare, restore
    // or remove a worktree; merge a queued branch), which hold the write lock.
    ("agent", &["config", "model", "process", "service", "store"]),
    ("wire", &["model", "service", "store"]),
    ("error", &["agent", "coordinator", "git", "process", "service", "store"]),
    (
        "service",
        &["config", "git", "model", "planning", "process", "safe_text", "store", "workspace"],
    ),
    ("workspace", &["git", "model"]),
    ("planning", &["model", "safe_text"]),
    ("store", &["model"]),
    ("git", &[]),
    ("process", &[]),
    ("config", &[]),
    ("model", &[]),
    ("safe_text", &[]),
    ("logging", &[]),
    ("shutdown", &[]),
];

/// The table itself runs one way: no module reaches itself through the edges it allows.
#[test]
fn the_module_graph_has_no_cycle() {
    let edges = |module: &str| {
        MODULE_GRAPH.iter().find(|(from, _)| *from == module).map_or(&[][..], |(_, to)| *to)
    };
    for (start, _) in MODULE_GRAPH {
        let mut path = vec![*start];
        let mut todo: Vec<(&str, usize)> = edges(start).iter().map(|to| (*to, 1)).collect();
        while let Some((module, depth)) = todo.pop() {
            path.truncate(depth);
            path.push(module);
            if let Some(at) = path[..depth].iter().position(|m| *m == module) {
                panic!("a cycle: {}", path[at..].join(" → "));
            }
            todo.extend(edges(module).iter().map(|to| (*to, depth + 1)));
        }
    }
}

/// The module graph: every `crate::<module>` a module's code (not its tests) names is an edge the
/// table allows; the offending `use` line is named.
#[test]
fn modules_depend_only_in_the_direction_the_layers_run() {
    let root = src();
    let mut offending = Vec::new();
    let reference =
        regex::Regex::new(r"crate::(?:\{\s*)?([a-z_]+)").expect("invariant: a valid regex");
    let grouped = regex::Regex::new(r"crate::\{([^}]*)\}").expect("invariant: a valid regex");
    for file in rust_files(&root) {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let module = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        // The binaries use the library's public API (`cw::`), like any other user of it.
        if module == "main" || module == "lib" || module == "bin" {
            continue;
        }
        let text = fs_err::read_to_string(&file).unwrap();
        // A module's tests may reach wider than its code (a test helper, a fuzz setting).
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let mut targets: Vec<String> =
                reference.captures_iter(line).map(|c| c[1].to_owned()).collect();
            for group in grouped.captures_iter(line) {
                targets.extend(
                    group[1]
                        .split(',')
                        .map(|t| t.trim().split("::").next().unwrap_or("").to_owned()),
                );
            }
            for target in targets.into_iter().filter(|t| !t.is_empty() && *t != module) {
                let allowed = MODULE_GRAPH
                    .iter()
                    .find(|(from, _)| *from == module)
                    .is_some_and(|(_, to)| to.contains(&target.as_str()));
                if !allowed {
                    offending.push(format!(
                        "src/{relative}:{}: {module} → {target}: {}",
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offending.is_empty(),
        "edges the module graph does not allow:\n{}",
        offending.join("\n")
    );
}
