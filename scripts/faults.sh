#!/usr/bin/env bash
# The fault suite on real servers ("nothing lost, nothing run twice"): real
# Mistral 23 workflows run through 3 `mistral-actions worker` processes while
# RabbitMQ, a worker or PostgreSQL is made to fail. Per scenario it counts the
# requests (Mistral's action executions), the lost ones (no final state), the
# actions run twice (safe-rerun or not), the stuck workflow executions, the
# errors with their reason, and the time the workers took to recover.
#
#   scripts/faults.sh [SCENARIO...]   # default: all, in the order of --list
#   scripts/faults.sh --list
#   scripts/faults.sh stop            # stops the fault stack (Mistral, brokers, PostgreSQL)
#
# It runs on a stack of its own, so that it never disturbs the test suite's
# servers: RabbitMQ on 127.0.0.1:27772 (epmd 24371), PostgreSQL on 27432, a
# Mistral 23 (API + engine + a Python executor) on 28990, all under
# <run dir>/faults (scripts/local-services.sh and scripts/mistral.sh with
# MA_RUN_DIR and ports set), and scripts/rabbitmq-cluster.sh's 3-node cluster
# for cluster-failover. Each scenario gets a fresh vhost, so that queue
# options (durable, quorum) never clash with an earlier run.
#
# Settings (environment):
#   FAULTS_ACTIONS         actions per load scenario (10000)
#   FAULTS_ITEMS           with-items per task; a workflow has a safe-rerun and
#                          a non-safe task of that many items each (25)
#   FAULTS_ACTION_SECONDS  how long each debug.record run sleeps (0.5)
#   FAULTS_HB_INTERVAL / FAULTS_HB_MISSED   the engine's heartbeat window (5 s x 12)
#   FAULTS_QUIET_SECONDS   a scenario ends when nothing moved for this long (150)
#   FAULTS_SOAK_SECONDS    the soak's length (1800)
#   FAULTS_MAX_UNACKED_TIME  the workers' max_unacked_time in consumer-timeout (25m, the default)
#   FAULTS_WORKER_EXTRA    lines added to the workers' [mistral_actions] section
#   FAULTS_BINARY          the mistral-actions binary (.build/release, else .build/debug);
#                          it is copied first, so a rebuild cannot change it mid-run
# Results: <run dir>/faults/runs/<UTC time>/<scenario>/ (worker logs, records.txt of
# debug.record, report.txt, report.json) and summary.txt next to them.
# docs/reliability.md explains the figures. Exit status 1 when a scenario lost
# an action or started a non-safe one twice (mixed-restarts-default: only the
# latter, see docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
MA_LOG_TAG=faults
. scripts/lib.sh

BASE_RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
FDIR=$BASE_RUN_DIR/faults
F_RABBIT_PORT=27772
F_PG_PORT=27432
F_API_PORT=28990
F_API=http://127.0.0.1:$F_API_PORT/v2
ACTIONS=${FAULTS_ACTIONS:-10000}
ITEMS=${FAULTS_ITEMS:-25}
ACTION_SECONDS=${FAULTS_ACTION_SECONDS:-0.5}
HB_INTERVAL=${FAULTS_HB_INTERVAL:-5}
HB_MISSED=${FAULTS_HB_MISSED:-12}
QUIET=${FAULTS_QUIET_SECONDS:-150}
SOAK_SECONDS=${FAULTS_SOAK_SECONDS:-1800}
MAX_UNACKED=${FAULTS_MAX_UNACKED_TIME:-25m}
PY=${MA_VENV:-$root/.venv}/bin/python
TOOL=$root/scripts/faults/faulttool.py

ALL_SCENARIOS=(mixed-restarts mixed-restarts-default cluster-failover broker-pause memory-alarm
    consumer-timeout oversized-result relay-queue-full postgres-restart soak)

log() { ma_log "$*"; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }

# The fault stack's own servers: scripts/local-services.sh and scripts/mistral.sh
# under <run dir>/faults, on ports of their own.
fstack() {
    env MA_RUN_DIR="$FDIR" MA_RABBIT_PORT=$F_RABBIT_PORT MA_RABBIT_TLS_PORT=27771 MA_EPMD_PORT=24371 \
        MA_PG_PORT=$F_PG_PORT MA_MISTRAL_API_PORT=$F_API_PORT \
        MA_HEARTBEAT_INTERVAL="$HB_INTERVAL" MA_HEARTBEAT_MAX_MISSED="$HB_MISSED" MA_FIRST_HEARTBEAT_TIMEOUT=3600 \
        MA_MISTRAL_TRANSPORT_URL="${MISTRAL_URL:-}" MA_MISTRAL_EXTRA_CONF="${MISTRAL_EXTRA:-}" "$@"
}
frabbitctl() { fstack scripts/local-services.sh rabbitmqctl "$@"; }
cluster() { scripts/rabbitmq-cluster.sh "$@"; }
broker_pid() { cat "$FDIR/rabbitmq/rabbitmq.pid"; }
# rabbitmqctl on the scenario's broker (node 1 of the cluster).
bctl() { if [ "$TOPOLOGY" = cluster ]; then cluster ctl 1 "$@"; else frabbitctl "$@"; fi; }

# ------------------------------------------------------------------ the binary
snapshot_binary() {
    local source=${FAULTS_BINARY:-}
    if [ -z "$source" ]; then
        source=$root/.build/release/mistral-actions
        [ -x "$source" ] || source=$root/.build/debug/mistral-actions
    fi
    [ -x "$source" ] || die "no mistral-actions binary: build it (swift build -c release --product mistral-actions) or set FAULTS_BINARY"
    mkdir -p "$FDIR/bin"
    BIN=$FDIR/bin/mistral-actions.$(date -u +%Y%m%dT%H%M%S)
    cp "$source" "$BIN"
    BINARY_NOTE="$source (built $(date -u -r "$source" '+%Y-%m-%d %H:%M UTC')), HEAD $(git rev-parse --short HEAD), last commit on Sources/Worker: $(git log -1 --format='%h %cd' --date=format:'%Y-%m-%d %H:%M' -- Sources/Worker)"
    local dirty; dirty=$(git status --porcelain -- Sources Package.swift | awk '{print $2}' | tr '\n' ' ')
    [ -n "$dirty" ] && BINARY_NOTE="$BINARY_NOTE; uncommitted changes in the checkout when copied (the build may hold them): $dirty"
    log "binary: $BINARY_NOTE"
}

# ------------------------------------------------------------------ scenarios' frame
# scenario_begin NAME single|cluster durable|quorum|default [extra worker config]
scenario_begin() {
    SCEN=$1 TOPOLOGY=$2 QUEUES=$3 WORKER_EXTRA=${4:-}
    SDIR=$RUN/$SCEN
    mkdir -p "$SDIR"
    WF=faults_${SCEN//-/_}_$STAMP
    VHOST=$WF
    local options=""
    case $QUEUES in
        durable) options=$'[oslo_messaging_rabbit]\namqp_durable_queues = true' ;;
        quorum) options=$'[oslo_messaging_rabbit]\nrabbit_quorum_queue = true' ;;
        default) options="" ;;
    esac
    MISTRAL_EXTRA=$options
    if [ "$TOPOLOGY" = cluster ]; then
        cluster start
        eval "$(cluster env)"
        cluster ctl 1 add_vhost "$VHOST" >/dev/null
        cluster ctl 1 set_permissions -p "$VHOST" faults '.*' '.*' '.*' >/dev/null
        MISTRAL_URL=${MA_FAULTS_CLUSTER_URL%/*}/$VHOST
    else
        fstack scripts/local-services.sh start >/dev/null
        frabbitctl add_vhost "$VHOST" >/dev/null
        frabbitctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
        MISTRAL_URL=rabbit://guest:guest@127.0.0.1:$F_RABBIT_PORT/$VHOST
    fi
    log "== $SCEN: $TOPOLOGY broker, $QUEUES queues, vhost $VHOST"
    fstack scripts/mistral.sh start
    : > "$SDIR/faults.tsv"
    WORKER_PIDS=()
    local n
    for n in 1 2 3; do start_worker "$n"; done
    for n in 1 2 3; do wait_consuming "$n"; done
}

worker_config() {
    local n=$1
    cat > "$SDIR/worker-$n.conf" <<CONF
# The worker reads Mistral's own mistral.conf first (transport_url, [database],
# [oslo_messaging_rabbit]); this file adds its own settings.
[executor]
host = faults-worker-$n

[action_heartbeat]
check_interval = 2

[mistral_actions]
log_format = json
log_level = debug
http_listen = 127.0.0.1:$((29470 + n))
shutdown_grace_period = 20s
max_unacked_time = 25m
debug_record_file = $SDIR/records.txt
$WORKER_EXTRA
${FAULTS_WORKER_EXTRA:-}
CONF
}

start_worker() {
    local n=$1
    worker_config "$n"
    grep -c '"message": "worker consuming"' "$SDIR/worker-$n.log" 2>/dev/null > "$SDIR/worker-$n.consuming-before" || echo 0 > "$SDIR/worker-$n.consuming-before"
    nohup setsid "$BIN" worker --config-file "$FDIR/mistral/mistral.conf" --config-file "$SDIR/worker-$n.conf" \
        >> "$SDIR/worker-$n.log" 2>&1 < /dev/null &
    echo $! > "$SDIR/worker-$n.pid"
    echo $! >> "$SDIR/worker-pids.all"
}

wait_consuming() {
    local n=$1 before; before=$(cat "$SDIR/worker-$n.consuming-before")
    local since=$SECONDS
    until [ "$(grep -c '"message": "worker consuming"' "$SDIR/worker-$n.log" || true)" -gt "$before" ]; do
        kill -0 "$(cat "$SDIR/worker-$n.pid")" 2>/dev/null || { tail -5 "$SDIR/worker-$n.log" >&2; die "worker $n exited"; }
        [ $((SECONDS - since)) -lt 300 ] || die "worker $n not consuming after 300 s"
        sleep 0.5
    done
}

worker_pid() { cat "$SDIR/worker-$1.pid"; }

stop_workers() {
    local n pid
    for n in 1 2 3; do
        pid=$(cat "$SDIR/worker-$n.pid" 2>/dev/null || echo)
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for n in 1 2 3; do
        pid=$(cat "$SDIR/worker-$n.pid" 2>/dev/null || echo)
        [ -n "$pid" ] || continue
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$SDIR/worker-$n.pid"
    done
}

# The standard load: a workflow of two with-items tasks run in parallel, one
# safe-rerun, one not, each ITEMS debug.record actions (a debug.sleep that
# also appends a start and an end line per run to the scenario's
# records.txt, which every worker shares: the report counts runs from it).
put_load_workflow() {
    "$PY" "$TOOL" put-workflow "$F_API" <<YAML
version: '2.0'
$WF:
  input: [n, seconds]
  tasks:
    safe:
      with-items: i in <% range(0, \$.n) %>
      action: int32bit.debug.record
      input:
        tag: safe
        seconds: <% \$.seconds %>
      safe-rerun: true
    unsafe:
      with-items: i in <% range(0, \$.n) %>
      action: int32bit.debug.record
      input:
        tag: unsafe
        seconds: <% \$.seconds %>
YAML
}

# start_load ACTIONS [INTERVAL]: as many workflow executions as needed, in the background.
start_load() {
    local actions=$1 interval=${2:-0}
    EXECUTIONS=$(( (actions + 2 * ITEMS - 1) / (2 * ITEMS) ))
    TOTAL=$((EXECUTIONS * 2 * ITEMS))
    log "load: $EXECUTIONS workflow executions x $((2 * ITEMS)) actions = $TOTAL actions (debug.record $ACTION_SECONDS s; half safe-rerun)"
    "$PY" "$TOOL" start "$F_API" "$WF" "$EXECUTIONS" "{\"n\": $ITEMS, \"seconds\": $ACTION_SECONDS}" "$interval" \
        > "$SDIR/executions.txt" 2> "$SDIR/load.err" &
    LOADER=$!
}

completions() { cat "$SDIR"/worker-*.log 2>/dev/null | grep -c -E '"message": "action (succeeded|failed|timed out and was cancelled)"' || true; }

# at_progress FRACTION: waits until that share of TOTAL has finished in the workers.
at_progress() {
    local want; want=$(python3 -c "import math; print(math.ceil($1 * $TOTAL))")
    local last=-1 since=$SECONDS done_
    while :; do
        done_=$(completions)
        [ "$done_" -ge "$want" ] && { log "progress: $done_ of $TOTAL finished (waited for $want)"; return 0; }
        [ "$done_" != "$last" ] && { last=$done_; since=$SECONDS; }
        [ $((SECONDS - since)) -lt "$QUIET" ] || { log "progress stalled at $done_ of $TOTAL; going on"; return 0; }
        sleep 1
    done
}

running_executions() { "$PY" "$TOOL" executions "$F_API" "$WF" | awk '$1=="RUNNING"{print $2}' | grep . || echo 0; }

# drain [HARD_LIMIT]: waits until no workflow execution runs, or nothing moved for QUIET seconds.
drain() {
    local limit=${1:-3600} begin=$SECONDS since=$SECONDS last="" state
    [ -n "${LOADER:-}" ] && wait "$LOADER" 2>/dev/null || true
    while :; do
        state="$(completions) $(running_executions)"
        [ "${state#* }" = 0 ] && { log "drained: no execution running ($(( SECONDS - begin )) s)"; return 0; }
        [ "$state" != "$last" ] && { last=$state; since=$SECONDS; }
        if [ $((SECONDS - since)) -ge "$QUIET" ]; then log "nothing moved for $QUIET s (finished runs, running executions: $state); counting"; return 0; fi
        if [ $((SECONDS - begin)) -ge "$limit" ]; then log "drain limit $limit s reached ($state); counting"; return 0; fi
        sleep 5
    done
}

# fault LABEL START END
fault() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$SDIR/faults.tsv"; log "fault: $1"; }

scenario_end() {
    "$PY" "$TOOL" report "$F_API" "$WF" "$SCEN" "$SDIR" | tee -a "$RUN/summary.txt"
    [ -n "${1:-}" ] && printf '%s\n' "$1" | tee -a "$RUN/summary.txt"
    echo >> "$RUN/summary.txt"
    stop_workers
}

# ------------------------------------------------------------------ broker faults (single node)
broker_restart() {  # graceful stop, start
    local t0; t0=$(now)
    fstack scripts/local-services.sh stop rabbitmq
    fstack scripts/local-services.sh start rabbitmq
    fault "broker restart (rabbitmqctl stop, start)" "$t0" "$(now)"
}
broker_crash_restart() {  # SIGKILL of the Erlang VM, start
    local t0; t0=$(now)
    kill -KILL "$(broker_pid)"
    sleep 2
    fstack scripts/local-services.sh start rabbitmq
    fault "broker crash (SIGKILL), start" "$t0" "$(now)"
}

# ------------------------------------------------------------------ the scenarios
scenario_mixed_restarts() {
    local name=${1:-mixed-restarts} queues=${2:-durable}
    scenario_begin "$name" single "$queues"
    put_load_workflow
    start_load "$ACTIONS"
    at_progress 0.2; broker_restart
    at_progress 0.45; broker_crash_restart
    at_progress 0.7
    local t0; t0=$(now)
    kill -KILL "$(worker_pid 2)"
    log "worker 2 killed (SIGKILL); restarting it in 5 s"
    sleep 5; start_worker 2; wait_consuming 2
    fault "worker 2 SIGKILL, restarted 5 s later" "$t0" "$(now)"
    drain
    scenario_end
}
scenario_mixed_restarts_default() { scenario_mixed_restarts mixed-restarts-default default; }

# The node that worker 1's listener connection is on: a cluster lists every
# connection on every node; the connection's pid names the node it is on.
worker_node() {
    local pid n; pid=$(worker_pid 1)
    for n in 1 2 3; do
        cluster ctl "$n" list_connections -q pid client_properties 2>/dev/null \
            | grep "mistral-actions:$pid:listener" | sed -n 's/^<ma_faults_\([0-9]\)@.*/\1/p' | head -1 | grep . && return 0
    done
    echo 1
}
connections_per_node() {
    local n out
    for n in 1 2 3; do
        out=$(cluster ctl "$n" list_connections -q pid 2>/dev/null | sed -n 's/^<ma_faults_\([0-9]\)@.*/\1/p' | sort | uniq -c \
            | awk '{printf "node %s: %s connections; ", $2, $1}')
        [ -n "$out" ] && { echo "$out"; return 0; }
    done
}
scenario_cluster_failover() {
    scenario_begin cluster-failover cluster quorum
    put_load_workflow
    start_load "${FAULTS_CLUSTER_ACTIONS:-$ACTIONS}"
    at_progress 0.3
    local node; node=$(worker_node)
    local where; where=$(connections_per_node)
    log "worker 1 is connected to node $node ($where)"
    local t0; t0=$(now)
    cluster stop-node "$node"
    fault "node $node (worker 1's) stopped" "$t0" "$(now)"
    sleep 30
    t0=$(now)
    cluster start-node "$node"
    fault "node $node started again" "$t0" "$(now)"
    drain
    scenario_end "cluster-failover: worker 1's node was node $node; connections before: $where"
}

scenario_broker_pause() {
    scenario_begin broker-pause single durable
    put_load_workflow
    start_load "${FAULTS_SHORT_ACTIONS:-$((ACTIONS < 2000 ? ACTIONS : 2000))}"
    at_progress 0.3
    local t0; t0=$(now)
    kill -STOP "$(broker_pid)"; log "broker stopped (SIGSTOP) for 30 s"
    sleep 30
    kill -CONT "$(broker_pid)"
    fault "broker SIGSTOP 30 s" "$t0" "$(now)"
    drain
    scenario_end
}

scenario_memory_alarm() {
    scenario_begin memory-alarm single durable
    put_load_workflow
    start_load "${FAULTS_SHORT_ACTIONS:-$((ACTIONS < 2000 ? ACTIONS : 2000))}"
    at_progress 0.3
    local t0; t0=$(now)
    frabbitctl set_vm_memory_high_watermark absolute 1 >/dev/null; log "memory alarm raised for 60 s"
    sleep 60
    frabbitctl set_vm_memory_high_watermark 0.4 >/dev/null
    fault "memory alarm 60 s" "$t0" "$(now)"
    drain
    scenario_end
}

scenario_consumer_timeout() {
    fstack scripts/local-services.sh start rabbitmq >/dev/null
    frabbitctl eval 'application:set_env(rabbit, consumer_timeout, 60000).' >/dev/null
    scenario_begin consumer-timeout single durable "max_unacked_time = $MAX_UNACKED"
    "$PY" "$TOOL" put-workflow "$F_API" <<YAML
version: '2.0'
$WF:
  tasks:
    safe_long:
      with-items: i in <% range(0, 3) %>
      action: int32bit.debug.record
      input:
        tag: safe_long
        seconds: 120
      safe-rerun: true
    unsafe_long:
      with-items: i in <% range(0, 3) %>
      action: int32bit.debug.record
      input:
        tag: unsafe_long
        seconds: 120
YAML
    "$PY" "$TOOL" start "$F_API" "$WF" 2 '{}' > "$SDIR/executions.txt"
    LOADER=""
    local t0; t0=$(now)
    fault "consumer_timeout 60 s with 120 s actions" "$t0" "$t0"
    QUIET=${FAULTS_QUIET_SECONDS:-200} drain 900
    frabbitctl eval 'application:set_env(rabbit, consumer_timeout, 1800000).' >/dev/null
    scenario_end "consumer-timeout: consumer_timeout 60 s, workers' max_unacked_time $MAX_UNACKED"
}

scenario_oversized_result() {
    fstack scripts/local-services.sh start rabbitmq >/dev/null
    frabbitctl eval 'application:set_env(rabbit, max_message_size, 1048576).' >/dev/null
    scenario_begin oversized-result single durable $'exec_enabled = true\nexec_allowed_commands = seq\nexec_allowed_projects = <default-project>\nexec_output_limit = 8388608'
    # A result far above the 1 MiB limit from a small request (seq 1 300000:
    # 2 MB), small results beside it, and one debug.echo whose input (so
    # the request itself) is above the limit.
    "$PY" "$TOOL" put-workflow "$F_API" <<YAML
version: '2.0'
$WF:
  input: [big]
  tasks:
    big_result:
      with-items: i in <% range(0, 2) %>
      action: int32bit.system.exec cmd="seq 1 300000"
    small:
      with-items: i in <% range(0, 10) %>
      action: int32bit.debug.echo output=<% \$.i %>
    big_echo:
      action: int32bit.debug.echo output=<% \$.big %>
YAML
    "$PY" "$TOOL" start "$F_API" "$WF" 1 '{"big": ""}' > "$SDIR/executions.txt"
    sleep 20
    { printf '{"big": "'; head -c 1300000 /dev/zero | tr '\0' x; printf '"}'; } > "$SDIR/big-input.json"
    "$PY" "$TOOL" start "$F_API" "$WF" 1 "@$SDIR/big-input.json" >> "$SDIR/executions.txt" \
        || log "starting the execution with a 1.3 MB input failed"
    LOADER=""
    QUIET=${FAULTS_QUIET_SECONDS:-120} drain 600
    frabbitctl eval 'application:set_env(rabbit, max_message_size, 134217728).' >/dev/null
    scenario_end "oversized-result: max_message_size 1 MiB; big_result = system.exec 'seq 1 300000' (2 MB); big_echo of 1.3 MB in the 2nd execution"
}

python_executor_stop() {
    local pidfile=$FDIR/mistral/executor.pid pid
    pid=$(cat "$pidfile" 2>/dev/null || echo)
    [ -n "$pid" ] || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

scenario_relay_queue_full() {
    scenario_begin relay-queue-full single durable
    python_executor_stop
    frabbitctl set_policy -p "$VHOST" relay-full '^mistral_executor_python$' \
        '{"max-length": 20, "overflow": "reject-publish"}' --apply-to queues >/dev/null
    "$PY" "$TOOL" put-workflow "$F_API" <<YAML
version: '2.0'
$WF:
  tasks:
    relayed:
      with-items: i in <% range(0, 100) %>
      action: std.echo output=<% \$.i %>
    swift:
      with-items: i in <% range(0, 20) %>
      action: int32bit.debug.noop
YAML
    "$PY" "$TOOL" start "$F_API" "$WF" 1 '{}' > "$SDIR/executions.txt"
    LOADER=""
    log "Python executor stopped; fallback queue limited to 20 (reject-publish); waiting 60 s"
    local t0; t0=$(now)
    sleep 60
    frabbitctl list_queues -p "$VHOST" name messages consumers | grep -E 'mistral_executor' > "$SDIR/queues-during.txt" || true
    cat "$SDIR/queues-during.txt" >&2
    fstack scripts/mistral.sh start
    frabbitctl clear_policy -p "$VHOST" relay-full >/dev/null
    fault "Python executor back, policy removed" "$t0" "$(now)"
    QUIET=${FAULTS_QUIET_SECONDS:-120} drain 900
    local relays; relays=$(cat "$SDIR"/worker-*.log | grep -c '"message": "relay not confirmed' || true)
    scenario_end "relay-queue-full: 'relay not confirmed; returning the request to the queue' logged $relays times; queues after 60 s: $(tr '\n' ';' < "$SDIR/queues-during.txt")"
}

scenario_postgres_restart() {
    scenario_begin postgres-restart single durable
    stop_workers
    local conf=$FDIR/mistral/mistral.conf out=$SDIR/register.txt
    # (a) mistral-actions register while PostgreSQL restarts: until the restart
    # is over, unregister one action and register them all again, so that the
    # runs write (a register that finds nothing to change only reads).
    : > "$out"
    touch "$SDIR/registering"
    ( i=0
      while [ -f "$SDIR/registering" ]; do
        i=$((i + 1))
        for command in "unregister int32bit.debug.noop" register; do
            s=0; "$BIN" $command --config-file "$conf" > "$SDIR/register-last.out" 2>&1 || s=$?
            printf '%s run %s %s exit %s: %s\n' "$(date +%T.%N | cut -c1-12)" "$i" "${command%% *}" "$s" \
                "$(grep -m1 -E 'Error|Code source|unregistered' "$SDIR/register-last.out" | cut -c1-200)" >> "$out"
        done
      done ) &
    local regs=$!
    sleep 3
    local t0; t0=$(now)
    fstack scripts/local-services.sh stop postgresql; sleep 5; fstack scripts/local-services.sh start postgresql
    fault "PostgreSQL restart during register" "$t0" "$(now)"
    sleep 5; rm -f "$SDIR/registering"
    wait "$regs" || true
    "$BIN" register --config-file "$conf" > "$SDIR/register-final.out" 2>&1 || true
    local final=0; "$BIN" action-list --config-file "$conf" > "$SDIR/action-list.txt" 2>&1 || final=$?
    # (b) a worker starting while PostgreSQL is down, which comes back 20 s later.
    fstack scripts/local-services.sh stop postgresql
    t0=$(now)
    start_worker 1
    sleep 20
    fstack scripts/local-services.sh start postgresql
    fault "PostgreSQL down during worker start, back after 20 s" "$t0" "$(now)"
    local outcome="worker 1 consuming after PostgreSQL came back" t_back; t_back=$(now)
    local since=$SECONDS
    until [ "$(grep -c '"message": "worker consuming"' "$SDIR/worker-1.log" || true)" -gt "$(cat "$SDIR/worker-1.consuming-before")" ]; do
        if ! kill -0 "$(worker_pid 1)" 2>/dev/null; then outcome="worker 1 EXITED: $(tail -2 "$SDIR/worker-1.log" | tr '\n' ' ' | cut -c1-400)"; break; fi
        [ $((SECONDS - since)) -lt 180 ] || { outcome="worker 1 not consuming 180 s after PostgreSQL came back"; break; }
        sleep 1
    done
    case $outcome in *"came back") outcome="$outcome ($(python3 -c "print(round($(now) - $t_back, 1))") s after it)";; esac
    # Mistral lost its database too: a small load shows whether all is well again.
    kill -0 "$(worker_pid 1)" 2>/dev/null || start_worker 1
    start_worker 2; start_worker 3
    for n in 1 2 3; do wait_consuming "$n" || true; done
    put_load_workflow
    ITEMS=10 start_load 100
    drain 600
    local failures; failures=$(grep -c 'exit [1-9]' "$out" || true)
    scenario_end "postgres-restart: register/unregister runs around the restart: $(wc -l < "$out"), failed: $failures ($(grep 'exit [1-9]' "$out" | sed 's/^[^ ]* run [0-9]* //; s/[0-9a-f-]\{36\}/<id>/g' | cut -c1-160 | sort | uniq -c | head -4 | tr '\n' ';')); after a last register: action-list exit $final, $(grep -c '| ok' "$SDIR/action-list.txt" || true) actions ok; worker start without PostgreSQL: $outcome"
}

scenario_soak() {
    scenario_begin soak single durable
    put_load_workflow
    # Capacity: a burst of 500 actions, as fast as the stack goes.
    local burst_start=$SECONDS
    start_load 500
    at_progress 1.0
    local burst_seconds=$((SECONDS - burst_start))
    [ "$burst_seconds" -gt 0 ] || burst_seconds=1
    local capacity; capacity=$(python3 -c "print(round($TOTAL / $burst_seconds, 2))")
    local rate; rate=$(python3 -c "print($capacity / 2)")
    local interval; interval=$(python3 -c "print(round($((2 * ITEMS)) / $rate, 2))")
    log "capacity ~$capacity actions/s (500 in $burst_seconds s); soak at $rate actions/s (one execution every $interval s) for $SOAK_SECONDS s"
    local pids=() n; for n in 1 2 3; do pids+=("$(worker_pid "$n")"); done
    : > "$SDIR/rss.tsv"
    start_load $(python3 -c "print(int($rate * $SOAK_SECONDS))") "$interval"
    local begin=$SECONDS
    while [ $((SECONDS - begin)) -lt "$SOAK_SECONDS" ]; do
        for n in 1 2 3; do
            printf '%s\t%s\t%s\n' "$((SECONDS - begin))" "$n" "$(awk '/^VmRSS/{print $2}' "/proc/${pids[$((n-1))]}/status" 2>/dev/null || echo 0)" >> "$SDIR/rss.tsv"
        done
        sleep 10
    done
    drain 900
    # Does the memory come back once the workers are idle?
    sleep 60
    for n in 1 2 3; do
        printf 'idle\t%s\t%s\n' "$n" "$(awk '/^VmRSS/{print $2}' "/proc/${pids[$((n-1))]}/status" 2>/dev/null || echo 0)" >> "$SDIR/rss.tsv"
    done
    local rss; rss=$(python3 - "$SDIR/rss.tsv" <<'PY'
import sys, collections
by, idle = collections.defaultdict(list), {}
for line in open(sys.argv[1]):
    t, n, kb = line.split()
    if t == "idle":
        idle[n] = int(kb)
    else:
        by[n].append(int(kb))
print("; ".join(f"worker {n} RSS MiB min {min(v)/1024:.1f} max {max(v)/1024:.1f} first {v[0]/1024:.1f} last {v[-1]/1024:.1f} ({len(v)} samples), idle 60 s after the load {idle.get(n, 0)/1024:.1f}" for n, v in sorted(by.items())))
PY
)
    scenario_end "soak: capacity ~$capacity actions/s, soak at $rate actions/s for $SOAK_SECONDS s; $rss"
}

# ------------------------------------------------------------------ main
cleanup() {
    local status=$?
    [ -n "${LOADER:-}" ] && kill "$LOADER" 2>/dev/null || true
    if [ -n "${SDIR:-}" ]; then stop_workers 2>/dev/null || true; fi
    # Broker settings a scenario may have left.
    if [ -f "$FDIR/rabbitmq/started-here" ]; then
        frabbitctl eval 'application:set_env(rabbit, consumer_timeout, 1800000), application:set_env(rabbit, max_message_size, 134217728).' >/dev/null 2>&1 || true
        frabbitctl set_vm_memory_high_watermark 0.4 >/dev/null 2>&1 || true
    fi
    [ -f "$FDIR/rabbitmq/rabbitmq.pid" ] && kill -CONT "$(cat "$FDIR/rabbitmq/rabbitmq.pid")" 2>/dev/null || true
    exit $status
}

# All in one function, read whole before it runs: editing this file while
# it runs cannot change a run.
main() {
case "${1:-}" in
    --list) printf '%s\n' "${ALL_SCENARIOS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    stop)
        fstack scripts/mistral.sh stop || true
        fstack scripts/local-services.sh stop || true
        cluster stop || true
        exit 0 ;;
esac

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL_SCENARIOS[@]}")
for s in "${scenarios[@]}"; do
    printf '%s\n' "${ALL_SCENARIOS[@]}" | grep -qx -- "$s" || die "unknown scenario $s (see --list)"
done
if pgrep -f "swift test|xctest" >/dev/null 2>&1; then
    log "note: a test suite runs on this machine; the fault stack is separate (own ports, vhosts, database), but timings will be slower"
fi
[ -x "$PY" ] || PY=$(scripts/python-env.sh)/bin/python
trap cleanup EXIT
STAMP=$(date -u +%Y%m%dT%H%M%S)
RUN=$FDIR/runs/$STAMP
mkdir -p "$RUN"
snapshot_binary
{
    echo "fault suite run $STAMP (UTC); scenarios: ${scenarios[*]}"
    echo "binary: $BINARY_NOTE"
    echo "FAULTS_ACTIONS=$ACTIONS FAULTS_ITEMS=$ITEMS FAULTS_ACTION_SECONDS=$ACTION_SECONDS engine heartbeat window ${HB_INTERVAL}x${HB_MISSED} s"
    echo
} > "$RUN/summary.txt"
for s in "${scenarios[@]}"; do
    "scenario_${s//-/_}"
done
log "summary: $RUN/summary.txt"
# The verdict: exit 1 when a scenario lost an action or started a non-safe
# one twice (mixed-restarts-default is exempt from "lost": see its entry in
# docs/reliability.md).
local dirs=()
for s in "${scenarios[@]}"; do dirs+=("$RUN/$s"); done
"$PY" "$TOOL" check "${dirs[@]}" 2>&1 | tee -a "$RUN/summary.txt"
return "${PIPESTATUS[0]}"
}
main "$@"; exit
