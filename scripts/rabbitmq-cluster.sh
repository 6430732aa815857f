#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on loopback for the fault suite (scripts/faults.sh):
# Debian's rabbitmq-server run as three background processes (no systemd),
# one shared Erlang cookie, joined with `rabbitmqctl join_cluster`, with a
# vhost and a user of its own. Data under <run dir>/rabbitmq-cluster. Safe to
# call twice: running nodes are reused; `stop` stops only nodes started here.
#
#   scripts/rabbitmq-cluster.sh start            # all three nodes, clustered
#   scripts/rabbitmq-cluster.sh stop             # all three nodes (and their epmd)
#   scripts/rabbitmq-cluster.sh status
#   scripts/rabbitmq-cluster.sh env              # export MA_FAULTS_CLUSTER_URL=rabbit://…,…,…/vhost
#   scripts/rabbitmq-cluster.sh stop-node N      # N = 1, 2 or 3: stops that node's process
#   scripts/rabbitmq-cluster.sh kill-node N      # SIGKILLs that node's Erlang VM (a crash)
#   scripts/rabbitmq-cluster.sh start-node N     # starts it again (it rejoins the cluster)
#   scripts/rabbitmq-cluster.sh ctl N ARGS...    # rabbitmqctl against node N
#   scripts/rabbitmq-cluster.sh wipe             # stop, then delete the cluster's data
#
# Ports (all below Linux's ephemeral range 32768-60999, none shared with
# scripts/local-services.sh's node on 26672/27672 dist, epmd 24369, nor with
# the fault suite's own node on 27772/28772 dist):
#   AMQP         MA_CLUSTER_AMQP_PORT (27872) + 0/1/2  -> 27872 27873 27874
#   distribution MA_CLUSTER_DIST_PORT (27682) + 0/1/2  -> 27682 27683 27684
#   CLI tools    27690-27699 (RABBITMQ_CTL_DIST_PORT_MIN/MAX)
#   epmd         MA_CLUSTER_EPMD_PORT (24372), shared by the three nodes
# Settings: MA_RUN_DIR (/var/tmp/mistral-actions-<uid>), MA_CLUSTER_USER
# (faults), MA_CLUSTER_PASSWORD (faults-secret), MA_CLUSTER_VHOST (faults).
# A node's extra Erlang settings (consumer_timeout, max_message_size...) go in
# <run dir>/rabbitmq-cluster/advanced.config (read at node start).
set -euo pipefail

RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
DIR=$RUN_DIR/rabbitmq-cluster
AMQP_BASE=${MA_CLUSTER_AMQP_PORT:-27872}
DIST_BASE=${MA_CLUSTER_DIST_PORT:-27682}
EPMD_PORT=${MA_CLUSTER_EPMD_PORT:-24372}
CTL_MIN=${MA_CLUSTER_CTL_PORT_MIN:-27690}
USER_=${MA_CLUSTER_USER:-faults}
PASSWORD_=${MA_CLUSTER_PASSWORD:-faults-secret}
VHOST_=${MA_CLUSTER_VHOST:-faults}
NODES=(1 2 3)

log() { printf '[rabbitmq-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_name() { echo "ma_faults_$1@localhost"; }
amqp_port() { echo $((AMQP_BASE + $1 - 1)); }
dist_port() { echo $((DIST_BASE + $1 - 1)); }

node_env() {
    local n=$1 d=$DIR/node$1
    export HOME=$DIR/home                      # the shared .erlang.cookie
    export RABBITMQ_NODENAME; RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_DIST_PORT; RABBITMQ_DIST_PORT=$(dist_port "$n")
    export RABBITMQ_CTL_DIST_PORT_MIN=$CTL_MIN
    export RABBITMQ_CTL_DIST_PORT_MAX=$((CTL_MIN + 9))
    export ERL_EPMD_PORT=$EPMD_PORT
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$d/mnesia
    export RABBITMQ_LOG_BASE=$d/log
    export RABBITMQ_PID_FILE=$d/rabbitmq.pid
    export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config
    export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins
    export RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
}
ctl() { local n=$1; shift; ( node_env "$n"; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$(node_name "$n")" "$@" ); }
running() { ctl "$1" status >/dev/null 2>&1; }

prepare() {
    dpkg -s rabbitmq-server >/dev/null 2>&1 || {
        local root; root=$(cd "$(dirname "$0")/.." && pwd)
        MA_LOG_TAG=rabbitmq-cluster; . "$root/scripts/lib.sh"; ma_apt_install rabbitmq-server
    }
    mkdir -p "$DIR/home"
    if [ ! -s "$DIR/home/.erlang.cookie" ]; then
        umask 077; head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-40 > "$DIR/home/.erlang.cookie"
        chmod 400 "$DIR/home/.erlang.cookie"
    fi
    [ -f "$DIR/advanced.config" ] || echo '[].' > "$DIR/advanced.config"
    echo '[].' > "$DIR/enabled_plugins"
    local n d
    for n in "${NODES[@]}"; do
        d=$DIR/node$n; mkdir -p "$d/log"
        cat > "$d/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$n")
loopback_users = none
log.console = false
log.file.level = warning
cluster_partition_handling = pause_minority
CONF
        : > "$d/rabbitmq-env.conf"
    done
}

launch() {
    local n=$1 d=$DIR/node$1
    if running "$n"; then log "node $n ($(node_name "$n")) already running on 127.0.0.1:$(amqp_port "$n")"; return 0; fi
    port_open "$(amqp_port "$n")" && die "port $(amqp_port "$n") is in use by another program; set MA_CLUSTER_AMQP_PORT"
    log "starting node $n ($(node_name "$n")) on 127.0.0.1:$(amqp_port "$n"), data in $d"
    # Distribution on loopback too (Erlang listens on every address otherwise).
    ( node_env "$n"; export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
      cd "$d"; nohup setsid /usr/lib/rabbitmq/bin/rabbitmq-server \
        > "$d/log/startup.log" 2>&1 < /dev/null & echo $! > "$d/launcher.pid" )
    touch "$d/started-here"
}

await() {
    local n=$1 d=$DIR/node$1 waited=0
    until port_open "$(amqp_port "$n")"; do
        waited=$((waited + 1))
        if [ $waited -gt 600 ] || ! kill -0 "$(cat "$d/launcher.pid" 2>/dev/null || echo 0)" 2>/dev/null; then
            tail -5 "$d/log/startup.log" >&2; die "node $n did not start"
        fi
        sleep 0.5
    done
    ctl "$n" await_startup >/dev/null 2>&1 || die "node $n did not finish booting"
}

# The nodes that node N sees running in its cluster.
running_members() { ctl "$1" cluster_status --formatter json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null || true; }

start_all() {
    prepare
    # Launched together: a node restarted after `stop` waits for the peers
    # it last saw, so none may wait for another to finish booting first.
    local n
    for n in "${NODES[@]}"; do launch "$n"; done
    for n in "${NODES[@]}"; do await "$n"; done
    for n in 2 3; do
        ctl "$n" cluster_status --formatter json 2>/dev/null | grep -q "$(node_name 1)" && continue
        log "node $n joins $(node_name 1)"
        ctl "$n" stop_app >/dev/null
        ctl "$n" join_cluster "$(node_name 1)" >/dev/null
        ctl "$n" start_app >/dev/null
    done
    ctl 1 list_vhosts --silent | grep -qx "$VHOST_" || ctl 1 add_vhost "$VHOST_" >/dev/null
    ctl 1 list_users --silent | grep -q "^$USER_\b" || {
        ctl 1 add_user "$USER_" "$PASSWORD_" >/dev/null
        ctl 1 set_user_tags "$USER_" administrator >/dev/null
    }
    ctl 1 set_permissions -p "$VHOST_" "$USER_" '.*' '.*' '.*' >/dev/null
    log "cluster up: $(running_members 1)"
}

stop_node() {
    local n=$1 d=$DIR/node$1
    [ -f "$d/started-here" ] || { log "node $n was not started by this script; leaving it"; return 0; }
    # By its VM's pid: a node that lost the majority (pause_minority) is
    # paused and does not answer `status`, yet runs.
    local pid; pid=$(cat "$d/rabbitmq.pid" 2>/dev/null || echo)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "stopping node $n ($(node_name "$n"))"
        ctl "$n" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { log "node $n did not stop: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$d/started-here"
}

stop_all() {
    local n
    # Reverse order; the last one stopped (node 1) is the one the others wait for.
    for n in 3 2 1; do stop_node "$n"; done
    ( node_env 1; epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true )
}

status() {
    local n
    for n in "${NODES[@]}"; do
        if running "$n"; then echo "node $n: $(node_name "$n") running on 127.0.0.1:$(amqp_port "$n")"
        else echo "node $n: $(node_name "$n") stopped"; fi
    done
    for n in "${NODES[@]}"; do
        if running "$n"; then echo "running members (seen by node $n): $(running_members "$n")"; break; fi
    done
}

url() {
    local parts=() n
    for n in "${NODES[@]}"; do parts+=("$USER_:$PASSWORD_@127.0.0.1:$(amqp_port "$n")"); done
    local IFS=,
    echo "rabbit://${parts[*]}/$VHOST_"
}

check_n() { case ${1:-} in 1|2|3) ;; *) die "node number must be 1, 2 or 3";; esac; }

case "${1:-}" in
    start) start_all ;;
    stop) stop_all ;;
    status) status ;;
    env)
        echo "export MA_FAULTS_CLUSTER_URL='$(url)'"
        echo "export MA_FAULTS_CLUSTER_VHOST='$VHOST_'" ;;
    stop-node) check_n "${2:-}"; stop_node "$2" ;;
    kill-node)
        check_n "${2:-}"; pid=$(cat "$DIR/node$2/rabbitmq.pid" 2>/dev/null || echo)
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && log "killed node $2 (pid $pid)" || log "node $2 is not running" ;;
    start-node) check_n "${2:-}"; prepare; launch "$2"; await "$2"; log "node $2 back: $(running_members "$2")" ;;
    ctl) check_n "${2:-}"; n=$2; shift 2; ctl "$n" "$@" ;;
    wipe) stop_all; rm -rf "$DIR"; log "removed $DIR" ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
