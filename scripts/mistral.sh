#!/usr/bin/env bash
# Runs a real Mistral 23 (from PyPI, in the project's virtualenv) against the
# local RabbitMQ and PostgreSQL of scripts/local-services.sh: the API and the
# engine in one process, and a Python executor on the fallback topic (so that
# the Swift worker can relay the actions it does not own). Keystone is off.
# Background processes, loopback only, state under the run directory; `stop`
# stops only what `start` started. Safe to call twice.
#
#   scripts/mistral.sh start      # prints nothing but progress on stderr
#   scripts/mistral.sh stop
#   scripts/mistral.sh status
#   scripts/mistral.sh env        # MA_TEST_MISTRAL_* variables to export
#
# A second Mistral with Keystone authentication on ([pecan] auth_enable =
# true, keystonemiddleware and trusts against the OpenStack simulator of
# scripts/simulator.sh, which must be running), its own API port, database
# (mistral_auth), control exchange and topics, so it never takes the plain
# one's requests; no Python executor unless MA_MISTRAL_PYTHON_EXECUTOR=1:
#
#   scripts/mistral.sh start-auth | stop-auth | status-auth
#   scripts/mistral.sh env-auth   # MA_TEST_AUTH_MISTRAL_* variables to export
#
# Settings (environment): MA_MISTRAL_API_PORT (28989), MA_FALLBACK_TOPIC
# (mistral_executor_python), MA_HEARTBEAT_INTERVAL / MA_HEARTBEAT_MAX_MISSED /
# MA_FIRST_HEARTBEAT_TIMEOUT (the engine's [action_heartbeat] values; Mistral's
# defaults 20 / 15 / 3600 unless set), MA_MISTRAL_PYTHON_EXECUTOR (1; 0 = none),
# MA_MISTRAL_TRANSPORT_URL (default: local-services.sh's broker),
# MA_MISTRAL_EXTRA_CONF (INI text appended to mistral.conf, e.g. an
# [oslo_messaging_rabbit] section; the fault suite uses both),
# MA_MISTRAL_VENV (the Mistral to run; default scripts/python-env.sh's),
# MA_MISTRAL_DIR (its state; default <run dir>/mistral), MA_MISTRAL_DATABASE
# (mistral; scripts/compat.sh runs older releases side by side). The
# authenticated one: MA_MISTRAL_AUTH_API_PORT (28991), MA_SIMULATOR_URL
# (default: scripts/simulator.sh's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
DIR=${MA_MISTRAL_DIR:-$RUN_DIR/mistral}
DATABASE=${MA_MISTRAL_DATABASE:-mistral}
API_PORT=${MA_MISTRAL_API_PORT:-28989}
FALLBACK_TOPIC=${MA_FALLBACK_TOPIC:-mistral_executor_python}
HB_INTERVAL=${MA_HEARTBEAT_INTERVAL:-20}
HB_MAX_MISSED=${MA_HEARTBEAT_MAX_MISSED:-15}
HB_FIRST=${MA_FIRST_HEARTBEAT_TIMEOUT:-3600}
WITH_EXECUTOR=${MA_MISTRAL_PYTHON_EXECUTOR:-1}
AUTH=0
case "${1:-}" in
    *-auth)
        AUTH=1
        DIR=$RUN_DIR/mistral-auth
        API_PORT=${MA_MISTRAL_AUTH_API_PORT:-28991}
        FALLBACK_TOPIC=mistral_auth_executor_python
        WITH_EXECUTOR=${MA_MISTRAL_PYTHON_EXECUTOR:-0} ;;
esac
# The authenticated Mistral's exchange and topics (queue names are per
# broker, not per exchange: every topic must differ from the plain one's).
AUTH_EXCHANGE=mistral_auth
AUTH_ENGINE_TOPIC=mistral_auth_engine
AUTH_EXECUTOR_TOPIC=mistral_auth_executor
AUTH_DATABASE=mistral_auth

log() { printf '[mistral] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

services_env() { "$root/scripts/local-services.sh" env; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

simulator_url() {
    if [ -n "${MA_SIMULATOR_URL:-}" ]; then echo "$MA_SIMULATOR_URL"; return; fi
    eval "$("$root/scripts/simulator.sh" env)"
    echo "$MA_TEST_SIMULATOR_URL"
}

# Creates the authenticated Mistral's database (the test role may not create
# databases: PostgreSQL's superuser does it over the local socket).
ensure_auth_database() {
    local bin socket=$RUN_DIR/postgresql/socket port=${MA_PG_PORT:-26432}
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$bin" ] || die "no PostgreSQL binaries under /usr/lib/postgresql"
    local psql=("$bin/psql" -h "$socket" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$AUTH_DATABASE'")" != 1 ]; then
        log "creating database $AUTH_DATABASE"
        as_pg "${psql[@]}" -c "CREATE DATABASE $AUTH_DATABASE OWNER mistral_actions" >/dev/null
    fi
}

write_config() {
    eval "$(services_env)"
    local db_url=${MA_TEST_POSTGRES_URL%/*}/$DATABASE
    [ "$AUTH" = 1 ] && db_url=${MA_TEST_POSTGRES_URL%/*}/$AUTH_DATABASE
    db_url=postgresql+psycopg2://${db_url#postgresql://}
    local auth_enable=false auth_default="" auth_engine=""
    if [ "$AUTH" = 1 ]; then
        auth_enable=true
        auth_default=$'\n'"control_exchange = $AUTH_EXCHANGE"
        auth_engine=$'\n'"topic = $AUTH_ENGINE_TOPIC"
    fi
    mkdir -p "$DIR/log"
    cat > "$DIR/mistral.conf" <<CONF
# Written by scripts/mistral.sh
[DEFAULT]
transport_url = ${MA_MISTRAL_TRANSPORT_URL:-$MA_TEST_AMQP_URL}
log_dir = $DIR/log
use_stderr = false${auth_default}

[api]
host = 127.0.0.1
port = $API_PORT
api_workers = 1

[database]
connection = $db_url

[pecan]
auth_enable = $auth_enable

[engine]
host = 127.0.0.1${auth_engine}

[action_heartbeat]
check_interval = $HB_INTERVAL
max_missed_heartbeats = $HB_MAX_MISSED
first_heartbeat_timeout = $HB_FIRST

[cron_trigger]
execution_interval = 1
CONF
    if [ "$AUTH" = 1 ]; then
        local keystone; keystone="$(simulator_url)/identity"
        # Everything Mistral calls Keystone for (validating tokens, creating
        # and deleting cron triggers' trusts, trust-scoped tokens) goes to
        # the simulator; the service user `mistral` becomes the trustee.
        cat >> "$DIR/mistral.conf" <<CONF

[keystone_authtoken]
www_authenticate_uri = $keystone
auth_url = $keystone
auth_type = password
username = mistral
password = mistral-secret
project_name = service
user_domain_name = Default
project_domain_name = Default

[executor]
topic = $AUTH_EXECUTOR_TOPIC

[event_engine]
topic = mistral_auth_event_engine

[notifier]
topic = mistral_auth_notifier
CONF
    fi
    if [ -n "${MA_MISTRAL_EXTRA_CONF:-}" ]; then
        printf '\n# MA_MISTRAL_EXTRA_CONF\n%s\n' "$MA_MISTRAL_EXTRA_CONF" >> "$DIR/mistral.conf"
    fi
    cat > "$DIR/executor-python.conf" <<CONF
# The Python executor listens on the fallback topic: the Swift workers are the
# only consumers of the engine's executor topic and relay what they do not own.
[executor]
topic = $FALLBACK_TOPIC
host = python-executor
CONF
}

stop_pid() {
    local pidfile=$1 name=$2
    if alive "$pidfile"; then
        log "stopping $name"
        local pid; pid=$(cat "$pidfile")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

start_api_engine() {
    log "starting Mistral API + engine on http://127.0.0.1:$API_PORT"
    nohup setsid "$1/bin/mistral-server" --server api,engine --config-file "$DIR/mistral.conf" \
        > "$DIR/log/api-engine.out" 2>&1 < /dev/null & echo $! > "$DIR/api-engine.pid"
}

# The API answers: 200, or 401 when Keystone authentication is on.
api_up() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$API_PORT/v2/workflows?limit=1" 2>/dev/null) || return 1
    [ "$code" = 200 ] || { [ "$AUTH" = 1 ] && [ "$code" = 401 ]; }
}

start() {
    "$root/scripts/local-services.sh" start >/dev/null
    local venv; venv=${MA_MISTRAL_VENV:-$("$root/scripts/python-env.sh")}
    if [ "$AUTH" = 1 ]; then
        curl -fsS --max-time 5 "$(simulator_url)/_simulator/health" >/dev/null 2>&1 \
            || die "the OpenStack simulator ($(simulator_url)) is not running: start it first (scripts/simulator.sh start)"
        ensure_auth_database
    fi
    write_config
    if [ ! -f "$DIR/db-ready" ]; then
        log "creating Mistral's schema and standard actions (mistral-db-manage)"
        "$venv/bin/mistral-db-manage" --config-file "$DIR/mistral.conf" upgrade head > "$DIR/log/db-manage.log" 2>&1 \
            || { tail -20 "$DIR/log/db-manage.log" >&2; die "mistral-db-manage upgrade failed"; }
        "$venv/bin/mistral-db-manage" --config-file "$DIR/mistral.conf" populate >> "$DIR/log/db-manage.log" 2>&1 \
            || { tail -20 "$DIR/log/db-manage.log" >&2; die "mistral-db-manage populate failed"; }
        touch "$DIR/db-ready"
    fi
    # Running processes started with other settings are restarted.
    if alive "$DIR/api-engine.pid" && ! cmp -s "$DIR/mistral.conf" "$DIR/running.conf"; then
        log "settings changed: restarting Mistral"
        stop_pid "$DIR/executor.pid" "the Python executor"
        stop_pid "$DIR/api-engine.pid" "Mistral API + engine"
    fi
    cp "$DIR/mistral.conf" "$DIR/running.conf"
    if alive "$DIR/api-engine.pid"; then
        log "Mistral API and engine already running (http://127.0.0.1:$API_PORT)"
    else
        port_open "$API_PORT" && die "port $API_PORT is in use by another program; set MA_MISTRAL_API_PORT"
        start_api_engine "$venv"
    fi
    if [ "$WITH_EXECUTOR" = 1 ]; then
        if alive "$DIR/executor.pid"; then
            log "Python executor already running (topic $FALLBACK_TOPIC)"
        else
            log "starting a Python executor on topic $FALLBACK_TOPIC"
            nohup setsid "$venv/bin/mistral-server" --server executor --config-file "$DIR/mistral.conf" \
                --config-file "$DIR/executor-python.conf" \
                > "$DIR/log/executor.out" 2>&1 < /dev/null & echo $! > "$DIR/executor.pid"
        fi
    fi
    # Each probe has a time limit: a Mistral API that accepted the
    # connection but never answers (seen once, at its first request) would
    # otherwise hang here for good. Such an API is restarted once.
    local since=$SECONDS restarted=0
    until api_up; do
        if [ $((SECONDS - since)) -gt 60 ] && [ $restarted = 0 ] && alive "$DIR/api-engine.pid"; then
            log "Mistral API does not answer: restarting it once"
            stop_pid "$DIR/api-engine.pid" "Mistral API + engine"
            start_api_engine "$venv"
            restarted=1 since=$SECONDS
        fi
        if [ $((SECONDS - since)) -gt 180 ] || ! alive "$DIR/api-engine.pid"; then
            tail -30 "$DIR/log/api-engine.out" >&2; ls "$DIR/log" >&2
            die "Mistral API did not come up"
        fi
        sleep 1
    done
    log "Mistral is up: http://127.0.0.1:$API_PORT/v2"
}


case "${1:-}" in
    start|start-auth) start ;;
    stop|stop-auth) stop_pid "$DIR/executor.pid" "the Python executor"; stop_pid "$DIR/api-engine.pid" "Mistral API + engine" ;;
    status-auth)
        if alive "$DIR/api-engine.pid"; then echo "mistral (keystone auth) api+engine: running on http://127.0.0.1:$API_PORT"; else echo "mistral (keystone auth) api+engine: stopped"; fi ;;
    env-auth)
        echo "export MA_TEST_AUTH_MISTRAL_URL='http://127.0.0.1:$API_PORT/v2'"
        echo "export MA_TEST_AUTH_MISTRAL_CONFIG='$DIR/mistral.conf'"
        echo "export MA_TEST_AUTH_MISTRAL_EXCHANGE='$AUTH_EXCHANGE'"
        echo "export MA_TEST_AUTH_MISTRAL_ENGINE_TOPIC='$AUTH_ENGINE_TOPIC'"
        echo "export MA_TEST_AUTH_MISTRAL_EXECUTOR_TOPIC='$AUTH_EXECUTOR_TOPIC'"
        echo "export MA_TEST_AUTH_MISTRAL_FALLBACK_TOPIC='$FALLBACK_TOPIC'"
        eval "$(services_env)"
        echo "export MA_TEST_AUTH_MISTRAL_DATABASE_URL='${MA_TEST_POSTGRES_URL%/*}/$AUTH_DATABASE'" ;;
    status)
        if alive "$DIR/api-engine.pid"; then echo "mistral api+engine: running on http://127.0.0.1:$API_PORT"; else echo "mistral api+engine: stopped"; fi
        if alive "$DIR/executor.pid"; then echo "mistral python executor: running (topic $FALLBACK_TOPIC)"; else echo "mistral python executor: stopped"; fi ;;
    env)
        echo "export MA_TEST_MISTRAL_URL='http://127.0.0.1:$API_PORT/v2'"
        echo "export MA_TEST_MISTRAL_CONFIG='$DIR/mistral.conf'"
        echo "export MA_TEST_FALLBACK_TOPIC='$FALLBACK_TOPIC'"
        eval "$(services_env)"
        echo "export MA_TEST_MISTRAL_DATABASE_URL='${MA_TEST_POSTGRES_URL%/*}/$DATABASE'" ;;
    *) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
