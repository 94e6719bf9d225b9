#!/usr/bin/env bash
# make run: the pipeline on the embedded default (SQLite, local folders, a local mail catcher, Airflow on
# 127.0.0.1:8080) over a demo season whose dates are placed around today. Ctrl-C stops everything it started.
#
# Airflow runs as `airflow standalone` would run it (scheduler with LocalExecutor, dag-processor, triggerer,
# api-server), but each component is started here so that everything listens on loopback only: the api-server with
# --host 127.0.0.1, and the two log servers (task logs on 8793, triggerer logs on 8794), which `airflow standalone`
# binds to 0.0.0.0/[::], as Airflow's own log-server app run by uvicorn on 127.0.0.1 (the scheduler and triggerer
# start with --skip-serve-logs). Every port is checked before anything starts.
#
# Environment: AIRFLOW_PORT (8080), AIRFLOW_WORKER_LOG_PORT (8793), AIRFLOW_TRIGGER_LOG_PORT (8794),
# AWARD_SMTP_PORT (1025), AWARD_DEMO_COUNT (demo submissions), AWARD_RUN_HOME (where airflow_home/ and var/ go;
# default: the repository).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/.venv
export PATH=$VENV/bin:$PATH
HOST=127.0.0.1
PORT=${AIRFLOW_PORT:-8080}
WORKER_LOG_PORT=${AIRFLOW_WORKER_LOG_PORT:-8793}
TRIGGER_LOG_PORT=${AIRFLOW_TRIGGER_LOG_PORT:-8794}
SMTP_PORT=${AWARD_SMTP_PORT:-1025}
RUN_HOME=${AWARD_RUN_HOME:-$ROOT}
DEMO=$RUN_HOME/var/demo

say() { echo "$@" 2>/dev/null || true; }  # the terminal or a pipe may be gone at Ctrl-C

# --- every port first: name the one that is taken and start nothing ------------------------------------------------
python - "$HOST" \
  "$PORT|Airflow UI and API (api-server)|AIRFLOW_PORT" \
  "$WORKER_LOG_PORT|Airflow task log server|AIRFLOW_WORKER_LOG_PORT" \
  "$TRIGGER_LOG_PORT|Airflow triggerer log server|AIRFLOW_TRIGGER_LOG_PORT" \
  "$SMTP_PORT|local mail catcher (SMTP)|AWARD_SMTP_PORT" <<'PY'
import socket
import sys

host, seen = sys.argv[1], {}
for spec in sys.argv[2:]:
    port, what, var = spec.split("|")
    if port in seen:
        sys.exit(f"make run: port {port} is set for both {seen[port]} and {what}: set {var} to another port")
    seen[port] = what
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            sys.exit(f"make run: port {port} ({what}) is already in use: stop what uses it "
                     f"(ss -ltnp 'sport = :{port}') or set {var}. Nothing was started.")
print("==> ports free on " + host + ": " + ", ".join(f"{p} ({w})" for p, w in seen.items()))
PY

export AIRFLOW_HOME=$RUN_HOME/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DEFAULT_TIMEZONE=Asia/Shanghai
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
# a 2-core machine: a few task slots, not 32
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=2
export AIRFLOW__SCHEDULER__PARSING_PROCESSES=1
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
# every task parses its DAG file first: on a busy 2-core machine that can take longer than the default 30 s
export AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=120
# ... and a task's calls to the api-server can take longer than the default 5 s (the task then fails at start)
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=30
# new DAG files show up within 30 s
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=20
# an idle scheduler looks again after 0.25 s instead of 1 s: each task of a run starts about a second sooner
# (the demo's season has over a hundred tasks); a busy loop never sleeps anyway
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=0.25
export AIRFLOW__API__HOST=$HOST
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__BASE_URL=http://$HOST:$PORT
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$WORKER_LOG_PORT
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$TRIGGER_LOG_PORT
# the api-server fetches live logs from http://<task hostname>:8793 (8794): the loopback address, where they listen
export AIRFLOW__CORE__HOSTNAME_CALLABLE=loopback_host.hostname
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/simple_auth_manager_passwords.json

export AWARD_DATA_DIR=$DEMO
export AWARD_SEASON_FILE=$DEMO/season.yaml
export AWARD_MAILDIR=$DEMO/maildir
export AWARD_DEMO_CLOCK=$DEMO/clock.json  # the demo clock (award demo advance): make run only, see award.clock
export AIRFLOW_CONN_SMTP_DEFAULT="{\"conn_type\": \"smtp\", \"host\": \"$HOST\", \"port\": $SMTP_PORT, \"extra\": {\"disable_ssl\": true, \"disable_tls\": true, \"from_email\": \"zlfzc@scjg.example.gov.cn\"}}"

mkdir -p "$AIRFLOW_HOME" "$DEMO"
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  python -c 'import json,secrets,sys; json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' \
    "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  chmod 600 "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
fi
printf '{"base_url": "http://%s:%s", "passwords_file": "%s"}\n' "$HOST" "$PORT" \
  "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" >"$DEMO/airflow-api.json"  # for award demo advance/play
PASSWORD=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")

say "==> demo season (dates around today) in $DEMO"
award demo setup --root "$DEMO" ${AWARD_DEMO_COUNT:+--count $AWARD_DEMO_COUNT}
say "==> domain store (SQLite) in $DEMO"
award db upgrade
say "==> Airflow metadata database (SQLite) in $AIRFLOW_HOME (about 10 s)"
airflow db migrate >/dev/null
airflow pools import "$ROOT/deploy/pools.json" >/dev/null

pids=()
names=()
cleanup() {
  trap - INT TERM EXIT
  trap '' PIPE
  say
  say "==> stopping ${names[*]:-nothing}"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  say "==> stopped"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

LOGS=$AIRFLOW_HOME/make-run-logs  # (task logs stay in $AIRFLOW_HOME/logs, which the log servers serve)
mkdir -p "$LOGS"
start() {  # start NAME COMMAND...: its own process group, output in $LOGS/NAME.log
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

say "==> starting, all on $HOST (logs: $LOGS/<component>.log)"
say "    mail catcher          $HOST:$SMTP_PORT  (sent mail lands in $DEMO/sent-mail)"
start mail-catcher python -m aiosmtpd -n -l "$HOST:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$DEMO/sent-mail"
say "    task log server       $HOST:$WORKER_LOG_PORT"
start worker-log-server python -m uvicorn --factory airflow.utils.serve_logs.log_server:get_app \
  --host "$HOST" --port "$WORKER_LOG_PORT" --no-access-log
say "    triggerer log server  $HOST:$TRIGGER_LOG_PORT"
start triggerer-log-server python -m uvicorn --factory airflow.utils.serve_logs.log_server:get_app \
  --host "$HOST" --port "$TRIGGER_LOG_PORT" --no-access-log
say "    scheduler (LocalExecutor, $AIRFLOW__CORE__PARALLELISM task slots)"
start scheduler airflow scheduler --skip-serve-logs
say "    dag-processor (parses dags/)"
start dag-processor airflow dag-processor
say "    triggerer (watches the mailbox and incoming/ for the acknowledgment within a minute)"
start triggerer airflow triggerer --skip-serve-logs
say "    api-server            http://$HOST:$PORT"
start api-server airflow api-server --host "$HOST" --port "$PORT"

# --- start-up takes a minute or two on a small machine: say what is happening -------------------------------------
# Each component's log shows when it has started; the api-server's health endpoint then confirms that the
# scheduler, dag-processor and triggerer heartbeat.
milestone() {  # milestone NAME PATTERN TEXT: print TEXT once, when NAME's log first shows PATTERN
  case " $reported " in *" $1 "*) return ;; esac
  if grep -q -- "$2" "$LOGS/$1.log" 2>/dev/null; then
    say "    [$((SECONDS - began)) s] $3"
    reported="$reported $1"
  fi
}
say "==> waiting for the components (each is reported here once it is up; about 100 s)"
began=$SECONDS
reported=""
next_note=15
while :; do
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      say "make run: ${names[$i]} stopped during start-up; the end of $LOGS/${names[$i]}.log:" >&2
      tail -n 30 "$LOGS/${names[$i]}.log" >&2 || true
      exit 1
    fi
  done
  milestone worker-log-server "Uvicorn running" "task log server listening"
  milestone triggerer-log-server "Uvicorn running" "triggerer log server listening"
  milestone scheduler "Starting the scheduler" "scheduler started (LocalExecutor workers starting)"
  milestone dag-processor "DAG File Processing Stats\|Bulk-writing dags" "dag-processor parsed dags/ (DAGs appear in the UI)"
  milestone triggerer "Starting the triggerer" "triggerer started (the mailbox and incoming/ watchers follow)"
  milestone api-server "Application startup complete\|Uvicorn running" "api-server answering on http://$HOST:$PORT"
  state=$(python - "$HOST" "$PORT" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/api/v2/monitor/health", timeout=10) as r:
        health = json.load(r)
except (OSError, ValueError):
    sys.exit()
print(" ".join(c.replace("_", "-") for c in ("scheduler", "dag_processor", "triggerer")
               if (health.get(c) or {}).get("status") != "healthy") or "healthy")
PY
)
  [ "$state" = healthy ] && break
  elapsed=$((SECONDS - began))
  if [ $elapsed -ge 600 ]; then
    say "make run: Airflow not ready after 600 s; see $LOGS/*.log" >&2
    exit 1
  fi
  if [ $elapsed -ge $next_note ]; then
    say "    [$elapsed s] still starting: waiting for ${state:-the api-server (it loads the plugins and the UI)}"
    next_note=$((elapsed + 15))
  fi
  sleep 1
done
say "    [$((SECONDS - began)) s] all components healthy"

# the award command finds the demo by itself in the checkout (award.cli.environment); elsewhere it is told
STATUS_CMD=".venv/bin/award status"
[ "$RUN_HOME" = "$ROOT" ] || STATUS_CMD="AWARD_DATA_DIR=$DEMO AWARD_SEASON_FILE=$AWARD_SEASON_FILE $STATUS_CMD"
cat <<MSG

  Airflow is running:   http://$HOST:$PORT/zh    (opens the UI in Chinese, with Beijing times)
  Log in as:            admin / $PASSWORD
  Demo season:          $AWARD_SEASON_FILE
  Applicants' mailbox:  $AWARD_MAILDIR/office   (Maildir; a new mail is acknowledged within a minute)
  Shared storage:       $DEMO/shared            (cities' batches in incoming/, reports/, publicity/, national/)
  Sent e-mails:         $DEMO/sent-mail         (Maildir of the local mail catcher)
  Play the season:      .venv/bin/award demo play   (step by step; --auto answers the decisions too)
  Where things stand:   $STATUS_CMD

  Press Ctrl-C to stop everything.
MSG
set +e
wait -n "${pids[@]}"  # returns when a component stops by itself (Ctrl-C runs the trap instead)
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || say "make run: ${names[$i]} stopped; see $LOGS/${names[$i]}.log" >&2
done
exit 1
