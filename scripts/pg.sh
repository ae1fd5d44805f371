#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests and benchmarks (Debian's postgresql package).
#
#   scripts/pg.sh install        apt-get install postgresql when no initdb is found (root only)
#   scripts/pg.sh start DIR      initdb in DIR/data and start a server listening only on a unix
#                                socket in DIR (no TCP port, so no clash with anything else);
#                                prints the URL to give --data, e.g.
#                                postgresql:///collections?host=DIR&port=5432&user=nobody
#   scripts/pg.sh stop DIR       stop that server and remove DIR
#
# PostgreSQL refuses to run as root: as root the server runs as the unprivileged user in
# $PG_USER (default nobody), which owns DIR. Authentication is `trust` on the socket only, which
# only processes on this machine that can reach DIR can use.
set -euo pipefail

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return 0; fi
  local d
  # Debian keeps the server programs out of PATH, one folder per major version: take the newest.
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "${PG_USER:-nobody}" -- "$@"
  else
    "$@"
  fi
}

cmd="${1:-}"
case "$cmd" in
  install)
    if find_bin >/dev/null; then exit 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "pg.sh: no PostgreSQL server programs found and cannot install them (needs root and apt-get)" >&2
      exit 3
    fi
    echo "installing Debian's postgresql for the database tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    find_bin >/dev/null
    ;;
  start)
    dir="${2:?usage: pg.sh start DIR}"
    # exit 3: no server programs at all (the tests skip, or fail under CI, on that alone)
    bin="$(find_bin)" || { echo "pg.sh: no PostgreSQL server programs found (initdb, postgres); run 'scripts/pg.sh install'" >&2; exit 3; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    user="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
      user="${PG_USER:-nobody}"
      chown "$user" "$dir"
      chmod 700 "$dir"
      # The server user must be able to reach DIR through its parents (e.g. a 0700 temp folder).
      p="$(dirname "$dir")"
      while [ "$p" != "/" ]; do
        if ! runuser -u "$user" -- test -x "$p"; then chmod o+x "$p"; fi
        p="$(dirname "$p")"
      done
    fi
    port="${PG_PORT:-5432}"
    as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # Small and quiet: a test server, not a tuned one. fsync off: the data is thrown away.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h "$dir" -p "$port" -U "$user" collections
    echo "postgresql:///collections?host=$dir&port=$port&user=$user"
    ;;
  stop)
    dir="${2:?usage: pg.sh stop DIR}"
    bin="$(find_bin)" || exit 0
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/pg.sh install | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
