#!/usr/bin/env bash
# Installs the real MCP clients the integration tests drive (clients we did not write):
# the Python `mcp` SDK in a virtualenv and the MCP Inspector CLI from npm, both at pinned
# versions, under .test-deps/. Idempotent; a failed install fails the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="$PWD/.test-deps"
mkdir -p "$deps"

# The Python MCP SDK, and Selenium (the WebDriver client the dashboard's browser tests use).
python_version="mcp==2.3.0 selenium==4.51.0"
python_mark="$deps/venv/.installed-${python_version// /_}"
if [ ! -f "$python_mark" ]; then
  python3 -m venv "$deps/venv"
  # shellcheck disable=SC2086 # two pinned requirements
  "$deps/venv/bin/pip" install --quiet --disable-pip-version-check $python_version
  touch "$python_mark"
fi

inspector_version="@modelcontextprotocol/inspector@2.12.0"
if [ ! -f "$deps/node/.installed-${inspector_version//\//_}" ]; then
  mkdir -p "$deps/node"
  (cd "$deps/node" && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
    && npm install --silent --no-audit --no-fund "$inspector_version")
  touch "$deps/node/.installed-${inspector_version//\//_}"
fi

# The real Claude Code CLI, driven offline against tools/fake_anthropic.py by the end-to-end
# tests. Pinned: its stream-json and request formats change between versions.
claude_version="@anthropic-ai/claude-code@2.1.329"
claude_dir="$deps/claude"
claude_pkg="$claude_dir/node_modules/@anthropic-ai/claude-code"
if [ ! -f "$claude_dir/.installed-${claude_version//\//_}" ]; then
  mkdir -p "$claude_dir"
  (cd "$claude_dir" && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
    && npm install --silent --no-audit --no-fund "$claude_version")
  # If npm skipped the postinstall, the binary is still a stub: put the native one in place.
  if ! "$claude_dir/node_modules/.bin/claude" --version >/dev/null 2>&1; then
    node "$claude_pkg/install.cjs"
  fi
  "$claude_dir/node_modules/.bin/claude" --version
  touch "$claude_dir/.installed-${claude_version//\//_}"
fi

# Debian packages the tests drive, installed when missing (the package lists are fetched once
# if a fresh image has none).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q "$@" || { $sudo apt-get update -q && $sudo apt-get install -y -q "$@"; }
}

# The live-view test runs `cw run` in a real pseudo-terminal with util-linux's `script`
# (Debian's essential bsdutils; a slim image may lack it).
command -v script >/dev/null || apt_install bsdutils

# The completion test presses Tab in a real fish (bash is always there).
command -v fish >/dev/null || apt_install fish

# The dashboard's tests run a real headless Chromium through its WebDriver.
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } \
  || apt_install chromium chromium-driver

# The PostgreSQL store's tests start throwaway servers of Debian's PostgreSQL (tools/pg-server.sh).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
