#!/usr/bin/env bash
# The benchmark of mistral-actions: one command, one run. A driver
# (bench/driver.c) plays the Mistral engine on the wire against three
# executors in turn, on the local RabbitMQ (vhost `bench`) of
# scripts/local-services.sh:
#   reference  bench/reference-executor: a minimal C executor, the ceiling
#   worker     `mistral-actions worker` (release build), 1, 2 and 4 processes;
#              also start_claims off and http_listen = off at C = 1 and 64
#   python     Mistral 23's own executor (`mistral-server --server executor`)
#              running a dynamic action from a code source row, as Mistral
#              sends ours
# Every executor runs the same echo action for the same run_action casts; the
# driver checks every completion. Writes docs/benchmarks.md and
# docs/benchmarks.png.
#
#   bench/run.sh                 # the whole matrix (about 10 minutes)
#   BENCH_QUICK=1 bench/run.sh   # C = 1 and 64, one worker process, fewer actions
#
# Settings (environment): BENCH_CONCURRENCIES ("1 16 64 256"), BENCH_WORKERS
# ("1 2 4"), BENCH_N (actions per measurement: 20000), BENCH_PYTHON_N (2000),
# BENCH_EXECUTORS ("reference worker python"), BENCH_BUILD (release|debug),
# BENCH_OUTPUT (docs/benchmarks), BENCH_NOTE (a line for the report's
# machine facts), BENCH_VARIANT_ROUNDS (2), BENCH_WORKER_BIN (a built mistral-actions:
# no build), BENCH_NO_VARIANTS=1 (skip start_claims /
# http_listen variants), BENCH_PROFILE (1: record where one worker's CPU goes
# at C = 64 with perf, when perf is installed; 0: skip), BENCH_NO_STARTUP=1
# (skip bench/startup.sh: start-up time, idle memory, registering 1,000
# actions), BENCH_NO_INSTRUCTIONS=1 (skip the callgrind count of
# bench/instructions.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    CONCS=${BENCH_CONCURRENCIES:-"1 64"}; WORKERS=${BENCH_WORKERS:-"1"}
    N=${BENCH_N:-5000}; PY_N=${BENCH_PYTHON_N:-1000}
else
    CONCS=${BENCH_CONCURRENCIES:-"1 16 64 256"}; WORKERS=${BENCH_WORKERS:-"1 2 4"}
    N=${BENCH_N:-20000}; PY_N=${BENCH_PYTHON_N:-2000}
fi
EXECUTORS=${BENCH_EXECUTORS:-"reference worker python"}
BUILD=${BENCH_BUILD:-release}
OUTPUT=${BENCH_OUTPUT:-docs/benchmarks}
VHOST=bench
WORK=$root/.build/bench
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
command_line="$(for v in BENCH_QUICK BENCH_CONCURRENCIES BENCH_WORKERS BENCH_N BENCH_PYTHON_N BENCH_EXECUTORS BENCH_BUILD BENCH_WORKER_BIN BENCH_NO_VARIANTS BENCH_VARIANT_ROUNDS; do if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/run.sh"

# --- packages, services, vhost, programs --------------------------------------------
# What a fresh Debian machine lacks: the C compiler and librabbitmq for the
# driver and the reference, matplotlib for the plot (the system Python's),
# perf for the CPU profile (optional: without it the report has none).
. scripts/lib.sh
MA_LOG_TAG=bench ma_apt_install gcc librabbitmq-dev python3-matplotlib
if ! command -v perf >/dev/null; then
    MA_LOG_TAG=bench ma_apt_install linux-perf || log "linux-perf could not be installed: no CPU profile"
fi
scripts/local-services.sh start >/dev/null
eval "$(scripts/local-services.sh env)"
MA_VENV=${MA_VENV:-$root/.venv}
mistral_db=${MA_TEST_POSTGRES_URL%/*}/mistral
# Mistral's tables (code sources, action definitions) come from Mistral's
# own migrations: on a machine where Mistral never ran, start it once (the
# worker registers there, the Python executor reads its code source there)
# and stop it again, so that it does not run during the measurements.
if ! psql "$mistral_db" -qAtX -c "SELECT 1 FROM code_sources LIMIT 1" >/dev/null 2>&1; then
    log "creating Mistral's database (scripts/mistral.sh start, then stop)"
    scripts/mistral.sh start >/dev/null
    scripts/mistral.sh stop >/dev/null
fi
rabbitmqctl() { scripts/local-services.sh rabbitmqctl "$@"; }
rabbitmqctl list_vhosts -q | grep -qx "$VHOST" || rabbitmqctl add_vhost "$VHOST" >/dev/null
rabbitmqctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
amqp_base=${MA_TEST_AMQP_URL%/}
export BENCH_AMQP_PORT=${amqp_base##*:} BENCH_AMQP_VHOST=$VHOST

python3 bench/templates.py "$WORK/templates"
cc -O2 -Wall -o "$WORK/driver" bench/driver.c -lrabbitmq
cc -O2 -Wall -o "$WORK/reference-executor" bench/reference-executor/reference-executor.c -lrabbitmq
if [ -n "${BENCH_WORKER_BIN:-}" ]; then
    WORKER_BIN=$BENCH_WORKER_BIN
elif [[ " $EXECUTORS " == *" worker "* ]]; then
    log "building the worker ($BUILD)"
    started=$SECONDS
    swift build -c "$BUILD" --product mistral-actions >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log" >&2; die "build failed"; }
    log "build took $((SECONDS - started)) s"
    WORKER_BIN=$(swift build -c "$BUILD" --show-bin-path)/mistral-actions
fi

# --- measuring processes --------------------------------------------------------------
TICK=$(getconf CLK_TCK)
# A process and its descendants (mistral-server runs its service in a child).
tree() { local pid; for pid in "$@"; do echo "$pid"; tree $(pgrep -P "$pid" || true); done; }
cpu_ticks() { local total=0 pid; for pid in $(tree "$@"); do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo $total; }
kib_sum() { local key=$1 total=0 pid; shift; for pid in $(tree "$@"); do total=$((total + $(awk -v k="$key:" '$1 == k {print $2}' "/proc/$pid/status"))); done; echo $total; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
consumers() { rabbitmqctl list_queues -q -p "$VHOST" name consumers 2>/dev/null | awk -v q=mistral_executor '$1 == q {print $2}'; }
wait_consumers() {
    local want=$1 since=$SECONDS
    until [ "$(consumers)" = "$want" ]; do
        [ $((SECONDS - since)) -lt 120 ] || die "no $want consumer(s) on mistral_executor after 120 s"
        sleep 1
    done
}
PIDS=()
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    PIDS=()
}
# Whatever happens: stop what this script started, and remove the
# benchmark's rows from Mistral's database (start claims, code sources).
trap 'stop_all; forget_rows' EXIT

# Action execution ids: be<6 random hex>-0000-4000-8000-<sequence>, new for
# every measurement (a worker refuses to start an id its start claims
# already hold, as it should for a redelivered request).
next_tag() { printf 'be%s' "$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"; }
forget_rows() {
    psql "$mistral_db" -qAtX -c "DELETE FROM mistral_actions.start_claims WHERE action_execution_id LIKE 'be______-0000-4000-8000-%';
        DELETE FROM code_sources WHERE name IN ('bench_actions', 'bench_python_echo')" >/dev/null 2>&1 || true
}

# Runs the driver once: measure EXECUTOR PROCS VARIANT COUNT C CLASS CSID
measure() {
    local executor=$1 procs=$2 variant=$3 count=$4 c=$5 cls=$6 csid=$7
    local before after load line
    before=$(cpu_ticks "${PIDS[@]}")
    load=$(loadavg)
    line=$(BENCH_EXECUTOR_TOPIC=mistral_executor "$WORK/driver" "$WORK/templates" "$cls" "$csid" "$count" "$c" "$(next_tag)" 60) \
        || die "driver failed for $executor $variant C=$c: $line"
    after=$(cpu_ticks "${PIDS[@]}")
    local cpu_us=$(( (after - before) * 1000000 / TICK / count ))
    local rss_loaded; rss_loaded=$(kib_sum VmHWM "${PIDS[@]}")
    printf '%s\n' "${line%\}}, \"executor\": \"$executor\", \"processes\": $procs, \"variant\": \"$variant\", \"cpu_us_per_action\": $cpu_us, \"rss_idle_kib\": $RSS_IDLE, \"rss_loaded_kib\": $rss_loaded, \"load_1min\": $load}" >> "$RESULTS"
    log "$executor ×$procs $variant C=$c: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%(per_second).0f/s p50 %(p50_ms).2f ms p99 %(p99_ms).2f ms" % d)' "$line"), ${cpu_us} µs CPU/action, load $load"
}

# Idle RSS after start, a warm-up, then one measurement per concurrency.
run_series() {
    local executor=$1 procs=$2 variant=$3 count=$4 cls=$5 csid=$6; shift 6
    RSS_IDLE=$(kib_sum VmRSS "${PIDS[@]}")
    "$WORK/driver" "$WORK/templates" "$cls" "$csid" 200 16 "$(next_tag)" 60 >/dev/null || die "warm-up failed for $executor"
    local c
    for c in "$@"; do measure "$executor" "$procs" "$variant" "$count" "$c" "$cls" "$csid"; done
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
forget_rows  # of an interrupted earlier run
# Nothing of an earlier run may linger in the executor queue.
rabbitmqctl purge_queue -p "$VHOST" mistral_executor >/dev/null 2>&1 || true

# --- reference -----------------------------------------------------------------------
if [[ " $EXECUTORS " == *" reference "* ]]; then
    log "reference executor"
    "$WORK/reference-executor" "$WORK/templates" > "$WORK/reference.log" 2>&1 &
    PIDS=($!)
    wait_consumers 1
    run_series reference 1 default "$N" Echo 00000000-0000-0000-0000-000000000000 $CONCS
    stop_all
fi

# --- worker ------------------------------------------------------------------------------
start_workers() {
    local procs=$1 claims=$2 http=$3 i
    for i in $(seq 1 "$procs"); do
        local dir=$WORK/worker-$i
        mkdir -p "$dir"
        local listen=off
        # A port free right now (other programs on this machine hold fixed ones).
        [ "$http" = on ] && listen=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cat > "$dir/worker.conf" <<CONF
[DEFAULT]
transport_url = $amqp_base/$VHOST

[database]
connection = $mistral_db

[mistral_actions]
code_source_name = bench_actions
start_claims = $claims
http_listen = $listen
CONF
        "$WORKER_BIN" worker --config-file "$dir/worker.conf" > "$dir/worker.log" 2>&1 &
        PIDS+=($!)
        local since=$SECONDS
        until grep -q "worker consuming" "$dir/worker.log"; do
            kill -0 "${PIDS[-1]}" 2>/dev/null || { tail -20 "$dir/worker.log" >&2; die "worker $i exited"; }
            [ $((SECONDS - since)) -lt 120 ] || die "worker $i did not start"
            sleep 0.2
        done
    done
    wait_consumers "$procs"
}
if [[ " $EXECUTORS " == *" worker "* ]]; then
    worker_csid=""
    for procs in $WORKERS; do
        log "worker ×$procs"
        start_workers "$procs" true on
        worker_csid=$(psql "$mistral_db" -qAtX -c "SELECT id FROM code_sources WHERE name = 'bench_actions'")
        [ -n "$worker_csid" ] || die "the worker did not register its code source"
        run_series worker "$procs" default "$N" DebugEchoAction "$worker_csid" $CONCS
        stop_all
    done
    if [ "${BENCH_NO_VARIANTS:-0}" != 1 ]; then
        # Each variant right after a default worker measured again, so that
        # both see the same load of the machine (rounds alternate them).
        for round in $(seq 1 "${BENCH_VARIANT_ROUNDS:-2}"); do
            for variant in "start_claims off" "http_listen off"; do
                log "worker ×1, default then $variant (round $round)"
                start_workers 1 true on
                run_series worker 1 "paired default" "$N" DebugEchoAction "$worker_csid" 1 64
                stop_all
                if [ "$variant" = "start_claims off" ]; then start_workers 1 false on; else start_workers 1 true off; fi
                run_series worker 1 "$variant" "$N" DebugEchoAction "$worker_csid" 1 64
                stop_all
            done
        done
    fi
fi

# --- where one worker's CPU goes -------------------------------------------------------------
# perf samples one default worker at C = 64 (not a measurement of the table:
# sampling costs the process a little); bench/profile.py charges each sample
# to the innermost function of ours on its stack.
rm -f "$WORK/profile.json"
if [[ " $EXECUTORS " == *" worker "* ]] && [ "${BENCH_PROFILE:-1}" = 1 ]; then
    if command -v perf >/dev/null && perf record -o /dev/null -- true >/dev/null 2>&1; then
        log "worker ×1 under perf at C=64"
        start_workers 1 true on
        "$WORK/driver" "$WORK/templates" DebugEchoAction "$worker_csid" 200 16 "$(next_tag)" 60 >/dev/null || die "warm-up failed"
        perf record -F 999 -g -p "${PIDS[0]}" -o "$WORK/perf.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 1
        BENCH_EXECUTOR_TOPIC=mistral_executor "$WORK/driver" "$WORK/templates" DebugEchoAction "$worker_csid" "$N" 64 "$(next_tag)" 60 >/dev/null \
            || die "driver failed under perf"
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        stop_all
        python3 bench/profile.py "$WORK/perf.data" --json "$WORK/profile.json" >/dev/null || log "no profile (bench/profile.py failed)"
    else
        log "perf is missing or not allowed here: no CPU profile (apt install linux-perf)"
    fi
fi

# --- Mistral's Python executor --------------------------------------------------------------
if [[ " $EXECUTORS " == *" python "* ]]; then
    [ -x "$MA_VENV/bin/mistral-server" ] || MA_VENV=$(scripts/python-env.sh)
    log "Python executor (Mistral 23)"
    # A dynamic action as Mistral sends ours: class Echo of code source
    # bench_python_echo, which the executor loads from the database.
    psql "$mistral_db" -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO code_sources (id, name, project_id, namespace, content, version, scope, created_at)
VALUES ('be0c0de0-0000-4000-8000-000000000001', 'bench_python_echo', '<default-project>', '',
        E'from mistral_lib import actions\n\n\nclass Echo(actions.Action):\n    def __init__(self, output):\n        super().__init__()\n        self.output = output\n\n    def run(self, context):\n        return self.output\n',
        1, 'public', now())
ON CONFLICT (id) DO NOTHING;
SQL
    mkdir -p "$WORK/python/log"
    cat > "$WORK/python/executor.conf" <<CONF
[DEFAULT]
transport_url = $amqp_base/$VHOST
log_dir = $WORK/python/log
use_stderr = false

[database]
connection = postgresql+psycopg2://${mistral_db#postgresql://}

[executor]
host = bench-python
CONF
    setsid "$MA_VENV/bin/mistral-server" --server executor --config-file "$WORK/python/executor.conf" \
        > "$WORK/python/executor.out" 2>&1 < /dev/null &
    PIDS=($!)
    wait_consumers 1
    run_series python 1 default "$PY_N" Echo be0c0de0-0000-4000-8000-000000000001 $CONCS
    stop_all
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- start-up, idle memory, registration; instructions per action ----------------------------
: > "$WORK/startup.txt"
if [[ " $EXECUTORS " == *" worker "* ]] && [ "${BENCH_NO_STARTUP:-0}" != 1 ]; then
    log "start-up and registration (bench/startup.sh)"
    BIN=$WORKER_BIN bench/startup.sh > "$WORK/startup.txt" || die "bench/startup.sh failed"
fi
instructions=0
if [ "${BENCH_NO_INSTRUCTIONS:-0}" != 1 ]; then
    log "instructions per action (bench/instructions.sh, $BUILD build)"
    instructions=$(BENCH_CONFIGURATION=$BUILD bench/instructions.sh --print) || die "bench/instructions.sh failed"
fi

# --- report ---------------------------------------------------------------------------------
# The plot needs matplotlib (Debian: python3-matplotlib, in the system Python).
py=python3
python3 -c 'import matplotlib' 2>/dev/null || { [ -x /usr/bin/python3 ] && py=/usr/bin/python3; }
"$py" bench/report.py "$RESULTS" "$OUTPUT" \
    --command "$command_line" --build "$BUILD" \
    --load-start "$load_start" --load-end "$load_end" --note "${BENCH_NOTE:-}" \
    --profile "$WORK/profile.json" --startup "$WORK/startup.txt" --instructions "$instructions"
log "wrote $OUTPUT.md and $OUTPUT.png"
