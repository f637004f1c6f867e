#!/usr/bin/env bash
# Starts throwaway PostgreSQL and Redis servers on loopback for the scale-out test pass and prints
# the environment the tests read (eval its output). Installs them from Debian's packages when
# missing. Used by .ci/run; handy locally too:  eval "$(scripts/test-backends.sh)"
set -euo pipefail

PG_PORT=${KEYWARD_TEST_PG_PORT:-55432}
REDIS_PORT=${KEYWARD_TEST_REDIS_PORT:-56379}
WORK=${KEYWARD_TEST_BACKEND_DIR:-$(mktemp -d /tmp/keyward-backends.XXXXXX)}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ] || ! command -v redis-server >/dev/null 2>&1; then
  echo "installing postgresql and redis-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql redis-server >&2
fi
PG_BIN=$(pg_bin)

# PostgreSQL refuses to run as root: run it as the `postgres` account the package created.
as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
# A server already answering on the port (an earlier run's) is reused as it is.
if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  mkdir -p "$WORK/pg"
  chmod 755 "$WORK"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK/pg"; fi
  if [ ! -f "$WORK/pg/PG_VERSION" ]; then
    as_pg "'$PG_BIN/initdb' -D '$WORK/pg' -U keyward --auth=trust >/dev/null"
  fi
  as_pg "'$PG_BIN/pg_ctl' -D '$WORK/pg' -w -l '$WORK/pg/server.log' \
    -o \"-h 127.0.0.1 -p $PG_PORT -k '$WORK/pg' -c max_connections=400 -c fsync=on\" start" >&2
fi

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' \
    --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" >&2
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "export KEYWARD_TEST_PG_URL=postgres://keyward@127.0.0.1:$PG_PORT/postgres"
echo "export KEYWARD_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
echo "export KEYWARD_TEST_PG_BIN=$PG_BIN"
