#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, docs, unit and integration tests,
# the integration tests a second time with the state in PostgreSQL (a throwaway server each run
# starts for itself: tools/pg-server.sh). Needs the Rust toolchain and git; tools/test-deps.sh
# installs the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/test-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
cargo test --locked
CW_TEST_STORE=postgres cargo test --locked --test it
