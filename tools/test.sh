#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, docs, unit and integration tests.
# Needs only the Rust toolchain and git.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/test-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
cargo test --locked
