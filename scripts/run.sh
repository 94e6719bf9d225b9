#!/usr/bin/env bash
# make run: the pipeline on the embedded default (SQLite, local folders, a local mail catcher, Airflow standalone
# on 127.0.0.1:8080) over a demo season whose dates are placed around today. Ctrl-C stops everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/.venv
export PATH=$VENV/bin:$PATH
DEMO=$ROOT/var/demo
PORT=${AIRFLOW_PORT:-8080}
SMTP_PORT=${AWARD_SMTP_PORT:-1025}

export AIRFLOW_HOME=$ROOT/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Shanghai
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
# a 2-core machine: a few task slots, not 32
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=2
export AIRFLOW__SCHEDULER__PARSING_PROCESSES=1
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
# new DAG files show up within 30 s
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=20
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$PORT
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/simple_auth_manager_passwords.json

export AWARD_DATA_DIR=$DEMO
export AWARD_SEASON_FILE=$DEMO/season.yaml
export AWARD_MAILDIR=$DEMO/maildir
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"127.0.0.1\", \"port\": $SMTP_PORT, \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"zlfzc@scjg.example.gov.cn\"}}"

if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  echo "make run: port $PORT is already in use (another Airflow?). Stop it or set AIRFLOW_PORT." >&2
  exit 1
fi

mkdir -p "$AIRFLOW_HOME" "$DEMO"
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  python -c 'import json,secrets,sys; json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' \
    "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  chmod 600 "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
fi
PASSWORD=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")

echo "==> demo season (dates around today) in $DEMO"
award demo setup --root "$DEMO" ${AWARD_DEMO_COUNT:+--count $AWARD_DEMO_COUNT}
award db upgrade
echo "==> Airflow metadata database (SQLite) in $AIRFLOW_HOME"
airflow db migrate >/dev/null
airflow pools import "$ROOT/deploy/pools.json" >/dev/null

pids=()
say() { echo "$@" 2>/dev/null || true; }  # the terminal or a pipe may be gone at Ctrl-C
cleanup() {
  trap - INT TERM EXIT
  trap '' PIPE
  say
  say "==> stopping (Ctrl-C)"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  say "==> stopped"
}
trap cleanup INT TERM EXIT

echo "==> local mail catcher on 127.0.0.1:$SMTP_PORT (sent mail lands in $DEMO/sent-mail)"
setsid python -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$DEMO/sent-mail" \
  >"$DEMO/mail-catcher.log" 2>&1 &
pids+=($!)

echo "==> Airflow standalone (log: $AIRFLOW_HOME/standalone.log)"
setsid airflow standalone >"$AIRFLOW_HOME/standalone.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 180); do
  if python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/api/v2/monitor/health', timeout=2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "Airflow stopped; see $AIRFLOW_HOME/standalone.log" >&2
    tail -n 30 "$AIRFLOW_HOME/standalone.log" >&2
    exit 1
  fi
  sleep 1
done

cat <<MSG

  Airflow is running:   http://127.0.0.1:$PORT
  Log in as:            admin / $PASSWORD
  Demo season:          $AWARD_SEASON_FILE
  Applicants' mailbox:  $AWARD_MAILDIR/office   (Maildir)
  Shared storage:       $DEMO/shared            (cities' batches in incoming/, reports/, publicity/, national/)
  Sent e-mails:         $DEMO/sent-mail         (Maildir of the local mail catcher)
  Where things stand:   AWARD_DATA_DIR=$DEMO AWARD_SEASON_FILE=$AWARD_SEASON_FILE .venv/bin/award status

  Press Ctrl-C to stop everything.
MSG
wait "${pids[1]}"
