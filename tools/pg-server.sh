#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: `tools/pg-server.sh <dir> <owner pid>`.
# `tools/pg-server.sh restart <dir>` restarts one (immediate mode: as if it crashed);
# `tools/pg-server.sh stop <dir>` stops one before its owner ends. CW_PG_OPTIONS adds server
# options (`-c name=value`; the benchmarks turn fsync back on).
#
# Makes a cluster in <dir>/data (initdb, trust authentication, superuser "cw"), starts it
# listening only on a Unix socket in <dir> (no TCP port to collide with anything), prints
# "ready <socket dir>" on stdout, then waits for process <owner pid> to end and stops the server
# and removes <dir>. Run as root, the server runs as the unprivileged user "nobody" (PostgreSQL
# refuses to run as root). The server is Debian's (installed by tools/test-deps.sh).
set -euo pipefail

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin=$candidate
done
if [ -z "$bin" ]; then
  initdb_path=$(command -v initdb || true)
  [ -n "$initdb_path" ] || { echo "no PostgreSQL server: run tools/test-deps.sh" >&2; exit 1; }
  bin=$(dirname "$(readlink -f "$initdb_path")")
fi

as_server=()
[ "$(id -u)" = 0 ] && as_server=(runuser -u nobody --)

case "$1" in
  restart)
    # pg_ctl restart starts the server again with the options it was started with.
    exec "${as_server[@]}" "$bin/pg_ctl" -D "$2/data" -l "$2/server.log" -m immediate -w -t 60 restart >/dev/null ;;
  stop)
    exec "${as_server[@]}" "$bin/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null ;;
esac

dir=$1
owner=$2
[ "$(id -u)" = 0 ] && chown nobody "$dir"

"${as_server[@]}" "$bin/initdb" -D "$dir/data" -U cw --auth=trust -E UTF8 --no-sync \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off keeps 200 databases' set-up quick; a crash of the server (not of the machine) still
# loses nothing, since every commit reaches the kernel before it is acknowledged.
"${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-k $dir -c listen_addresses= -c fsync=off -c full_page_writes=off -c max_connections=400 ${CW_PG_OPTIONS:-}" \
  start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
echo "ready $dir"

stop() {
  "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
# Blocks until the owner exits (coreutils watches the pid for us).
tail --pid="$owner" -f /dev/null >/dev/null
