#!/usr/bin/env bash
# Builds cw and runs it on the example plan in example/.planning, in a throwaway repository:
# init, import, the task hierarchy, the status. (Replaced by `cw demo` once the coordinator lands.)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --locked --manifest-path "$here/Cargo.toml"
cw="$here/target/release/cw"

repo="$(mktemp -d "${TMPDIR:-/tmp}/cw-example.XXXXXX")"
trap 'rm -rf "$repo"' EXIT
git -C "$repo" init -q
git -C "$repo" -c user.name=cw -c user.email=cw@example.invalid commit -q --allow-empty -m "empty start"

cd "$repo"
echo "\$ cw init"; "$cw" init
echo; echo "\$ cw import example/.planning"; "$cw" import "$here/example/.planning"
echo; echo "\$ cw task list"; "$cw" task list
echo; echo "\$ cw status"; "$cw" status
