#!/usr/bin/env bash
# Start / stop a local team MLflow stack: PostgreSQL (OS package, 127.0.0.1 only) + an MLflow
# tracking server on it with a shared artifact root, and a second MLflow server with MLflow's own
# authentication (`--app-name basic-auth`, database mlflow_auth) where registry permissions are
# enforced by the server; a database mlops_nb_log for the prediction log's tests. Installs nothing: needs the Debian `postgresql` package (apt-get install
# postgresql), psycopg2-binary and mlflow[auth] (Flask-WTF) in the venv.
#
#   tools/team_server.sh start [DIR]   # prints the export lines for the tests / settings.ini
#   tools/team_server.sh stop  [DIR]
#   tools/team_server.sh env   [DIR]
#
# DIR (default /tmp/mlops_nb_team) holds pgdata/, artifacts/, logs and pid files.
# Ports: PGPORT (default 55432), MLFLOW_PORT (default 55000), MLFLOW_AUTH_PORT (default 55001).
set -euo pipefail
cmd=${1:-}; DIR=${2:-${MLOPS_NB_TEAM_DIR:-/tmp/mlops_nb_team}}
PGPORT=${PGPORT:-55432}; MLFLOW_PORT=${MLFLOW_PORT:-55000}; MLFLOW_AUTH_PORT=${MLFLOW_AUTH_PORT:-55001}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VENV_BIN=${VENV_BIN:-$HERE/.venv/bin}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
URI="http://127.0.0.1:$MLFLOW_PORT"; AUTH_URI="http://127.0.0.1:$MLFLOW_AUTH_PORT"

die() { echo "team_server.sh: $*" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

print_env() {
  echo "export MLOPS_NB_TEST_SERVER_URI=$URI"
  echo "export MLOPS_NB_TEST_SERVER_ARTIFACTS=$DIR/artifacts"
  echo "export MLOPS_NB_TEST_PG_URI=postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlops_nb_log"
  if [ -f "$DIR/auth/admin_password" ]; then
    echo "export MLOPS_NB_TEST_AUTH_URI=$AUTH_URI"
    echo "export MLOPS_NB_TEST_AUTH_ADMIN_PASSWORD=$(cat "$DIR/auth/admin_password")"
  fi
}

wait_health() {  # URL PIDFILE LOG
  for _ in $(seq 1 120); do
    curl -fs "$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$2")" 2>/dev/null || die "mlflow server exited, see $3"
    sleep 1
  done
  die "mlflow server did not answer $1/health within 120 s, see $3"
}

start_auth() {  # MLflow's basic-auth app: users, and permissions per registered model, checked by the server
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlflow_auth'" | grep -q 1 \
    || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlflow_auth
  mkdir -p "$DIR/auth"; chmod 700 "$DIR/auth"
  [ -f "$DIR/auth/admin_password" ] || (umask 077; "$VENV_BIN/python" -c "import secrets; print(secrets.token_hex(16))" >"$DIR/auth/admin_password")
  [ -f "$DIR/auth/secret_key" ] || (umask 077; "$VENV_BIN/python" -c "import secrets; print(secrets.token_hex(32))" >"$DIR/auth/secret_key")
  printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s/auth/basic_auth.db\nadmin_username = admin\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n' \
    "$DIR" >"$DIR/auth/basic_auth.ini"
  if [ -f "$DIR/mlflow-auth.pid" ] && kill -0 "$(cat "$DIR/mlflow-auth.pid")" 2>/dev/null; then return; fi
  MLFLOW_AUTH_CONFIG_PATH="$DIR/auth/basic_auth.ini" MLFLOW_AUTH_ADMIN_PASSWORD="$(cat "$DIR/auth/admin_password")" \
  MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$DIR/auth/secret_key")" \
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid \
    "$VENV_BIN/mlflow" server --app-name basic-auth \
      --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow_auth" \
      --default-artifact-root "$DIR/auth-artifacts" --host 127.0.0.1 --port "$MLFLOW_AUTH_PORT" --workers 1 \
      >"$DIR/mlflow-auth.log" 2>&1 &
  echo $! >"$DIR/mlflow-auth.pid"
  wait_health "$AUTH_URI" "$DIR/mlflow-auth.pid" "$DIR/mlflow-auth.log"
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
  # the prediction log's tests (tests/test_prediction_log_db.py): a database of their own, the tables made on first use
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlops_nb_log'" | grep -q 1 \
    || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mlops_nb_log
  start_auth
  if [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; then print_env; return; fi
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true setsid \
    "$VENV_BIN/mlflow" server --backend-store-uri "postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/mlflow" \
      --default-artifact-root "$DIR/artifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
      >"$DIR/mlflow.log" 2>&1 &
  echo $! >"$DIR/mlflow.pid"
  wait_health "$URI" "$DIR/mlflow.pid" "$DIR/mlflow.log"
  print_env
}

stop() {
  if [ -f "$DIR/mlflow.pid" ]; then
    pid=$(cat "$DIR/mlflow.pid")
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true  # setsid: the server's process group
    rm -f "$DIR/mlflow.pid"
  fi
  if [ -f "$DIR/mlflow-auth.pid" ]; then
    pid=$(cat "$DIR/mlflow-auth.pid")
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    rm -f "$DIR/mlflow-auth.pid"
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
