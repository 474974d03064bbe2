#!/usr/bin/env bash
# Start / stop a local team MLflow stack: PostgreSQL (OS package, 127.0.0.1 only) + an MLflow
# tracking server on it with a shared artifact root. Installs nothing: needs the Debian
# `postgresql` package (apt-get install postgresql) and psycopg2-binary in the venv.
#
#   tools/team_server.sh start [DIR]   # prints the export lines for the tests / settings.ini
#   tools/team_server.sh stop  [DIR]
#   tools/team_server.sh env   [DIR]
#
# DIR (default /tmp/mlops_nb_team) holds pgdata/, artifacts/, logs and pid files.
# Ports: PGPORT (default 55432), MLFLOW_PORT (default 55000).
set -euo pipefail
cmd=${1:-}; DIR=${2:-${MLOPS_NB_TEAM_DIR:-/tmp/mlops_nb_team}}
PGPORT=${PGPORT:-55432}; MLFLOW_PORT=${MLFLOW_PORT:-55000}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VENV_BIN=${VENV_BIN:-$HERE/.venv/bin}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
URI="http://127.0.0.1:$MLFLOW_PORT"

die() { echo "team_server.sh: $*" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

print_env() {
  echo "export MLOPS_NB_TEST_SERVER_URI=$URI"
  echo "export MLOPS_NB_TEST_SERVER_ARTIFACTS=$DIR/artifacts"
}

start() {
  [ -n "$PGBIN" ] || die "PostgreSQL is not installed: apt-get install -y postgresql"
  "$VENV_BIN/python" -c "import psycopg2" 2>/dev/null || die "psycopg2 missing: $VENV_BIN/pip install psycopg2-binary"
  mkdir -p "$DIR/artifacts"; chmod 755 "$DIR"
  if [ ! -f "$DIR/pgdata/PG_VERSION" ]; then
    mkdir -p "$DIR/pgdata"; [ "$(id -u)" = 0 ] && chown postgres "$DIR/pgdata"
    as_pg "$PGBIN/initdb" -D "$DIR/pgdata" -U postgres --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1 \
      || die "initdb failed, see $DIR/initdb.log"
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$DIR/pgdata" status >/dev/null 2>&1; then
    # 127.0.0.1 only; the socket in DIR so no system directory is needed
    as_pg "$PGBIN/pg_ctl" -D "$DIR/pgdata" -l "$DIR/pgdata/postgres.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $DIR/pgdata" start >/dev/null || die "PostgreSQL did not start, see $DIR/pgdata/postgres.log"
  fi
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlflow'" | grep -q 1 \
    || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlflow
  if [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; then print_env; return; fi
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid \
    "$VENV_BIN/mlflow" server --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow" \
      --default-artifact-root "$DIR/artifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
      >"$DIR/mlflow.log" 2>&1 &
  echo $! >"$DIR/mlflow.pid"
  for _ in $(seq 1 120); do
    curl -fs "$URI/health" >/dev/null 2>&1 && { print_env; return; }
    kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null || die "mlflow server exited, see $DIR/mlflow.log"
    sleep 1
  done
  die "mlflow server did not answer $URI/health within 120 s, see $DIR/mlflow.log"
}

stop() {
  if [ -f "$DIR/mlflow.pid" ]; then
    pid=$(cat "$DIR/mlflow.pid")
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true  # setsid: the server's process group
    rm -f "$DIR/mlflow.pid"
  fi
  if [ -n "$PGBIN" ] && [ -f "$DIR/pgdata/PG_VERSION" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$DIR/pgdata" -m fast stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env [DIR]" ;;
esac
