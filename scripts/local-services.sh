#!/usr/bin/env bash
# Starts and stops the RabbitMQ and PostgreSQL servers that mistral-actions
# uses for local runs and tests: real Debian servers, run as background
# processes (no systemd), listening on loopback only, with their data under one
# run directory. Safe to call twice: a server already started here is reused,
# and `stop` stops only servers this script started.
#
#   scripts/local-services.sh start [rabbitmq|postgresql|all]
#   scripts/local-services.sh stop  [rabbitmq|postgresql|all]
#   scripts/local-services.sh status
#   scripts/local-services.sh env      # prints the MA_TEST_* variables to export
#
# Settings (environment): MA_RUN_DIR (default /var/tmp/mistral-actions-<uid>),
# MA_RABBIT_PORT (26672), MA_RABBIT_TLS_PORT (26671), MA_PG_PORT (26432).
# Ports differ from the system defaults so that a RabbitMQ or PostgreSQL the
# operator already runs is never touched, and stay below Linux's range of
# ephemeral ports (32768-60999), so that no outgoing connection can take a
# server's port while it restarts.
set -euo pipefail

RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
RABBIT_PORT=${MA_RABBIT_PORT:-26672}
RABBIT_TLS_PORT=${MA_RABBIT_TLS_PORT:-26671}
RABBIT_DIST_PORT=${MA_RABBIT_DIST_PORT:-$((RABBIT_PORT + 1000))}
EPMD_PORT=${MA_EPMD_PORT:-24369}
PG_PORT=${MA_PG_PORT:-26432}
PG_USER=mistral_actions
PG_PASSWORD=ma-secret
PG_DB=mistral_actions
RABBIT_NODE=mistral_actions@localhost
# A second RabbitMQ user whose name and password need URL escaping.
RABBIT_ESCAPED_USER='ma user'
RABBIT_ESCAPED_PASSWORD='p@ss:w/rd%'

log() { printf '[local-services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} (apt)"
    # Without systemd, keep the packages' own init scripts from starting
    # system-wide servers on the default ports.
    local deny_start=0
    if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        deny_start=1
    fi
    local stamp=/var/lib/apt/periodic/update-success-stamp
    if [ ! -d /var/lib/apt/lists/partial ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e partial -e lock)" ]; then
        as_root apt-get update -qq
    fi
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    [ $deny_start = 1 ] && as_root rm -f /usr/sbin/policy-rc.d
    : "$stamp"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- RabbitMQ
RABBIT_DIR=$RUN_DIR/rabbitmq
rabbit_env() {
    export HOME=$RABBIT_DIR/home
    export RABBITMQ_NODENAME=$RABBIT_NODE
    export RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
    export ERL_EPMD_PORT=$EPMD_PORT
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE=$RABBIT_DIR/mnesia
    export RABBITMQ_LOG_BASE=$RABBIT_DIR/log
    export RABBITMQ_PID_FILE=$RABBIT_DIR/rabbitmq.pid
    export RABBITMQ_CONFIG_FILE=$RABBIT_DIR/rabbitmq.conf
    export RABBITMQ_ENABLED_PLUGINS_FILE=$RABBIT_DIR/enabled_plugins
    export RABBITMQ_CONF_ENV_FILE=$RABBIT_DIR/rabbitmq-env.conf
}
rabbitmqctl_() { ( rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBIT_NODE" "$@" ); }

make_tls_material() {
    local dir=$RUN_DIR/tls
    [ -f "$dir/server.pem" ] && [ -f "$dir/client.pem" ] && return 0
    mkdir -p "$dir"
    command -v openssl >/dev/null || apt_install openssl
    log "creating a test CA and certificates in $dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mistral-actions test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    for who in server client; do
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$dir/$who.key" -out "$dir/$who.csr" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/$who.ext"
        openssl x509 -req -in "$dir/$who.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
            -days 3650 -extfile "$dir/$who.ext" -out "$dir/$who.pem" 2>/dev/null
    done
    chmod 644 "$dir"/*.pem "$dir"/*.key
}

start_rabbitmq() {
    apt_install rabbitmq-server
    mkdir -p "$RABBIT_DIR/home" "$RABBIT_DIR/log"
    if rabbitmqctl_ status >/dev/null 2>&1; then
        log "RabbitMQ already running on 127.0.0.1:$RABBIT_PORT"
        return 0
    fi
    port_open "$RABBIT_PORT" && die "port $RABBIT_PORT is in use by another program; set MA_RABBIT_PORT"
    make_tls_material
    cat > "$RABBIT_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
listeners.ssl.default = 127.0.0.1:$RABBIT_TLS_PORT
ssl_options.cacertfile = $RUN_DIR/tls/ca.pem
ssl_options.certfile = $RUN_DIR/tls/server.pem
ssl_options.keyfile = $RUN_DIR/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
log.console = false
log.file.level = warning
CONF
    echo '[].' > "$RABBIT_DIR/enabled_plugins"
    : > "$RABBIT_DIR/rabbitmq-env.conf"
    log "starting RabbitMQ on 127.0.0.1:$RABBIT_PORT (TLS $RABBIT_TLS_PORT), data in $RABBIT_DIR"
    ( rabbit_env; cd "$RABBIT_DIR"; nohup setsid /usr/lib/rabbitmq/bin/rabbitmq-server \
        > "$RABBIT_DIR/log/startup.log" 2>&1 < /dev/null & echo $! > "$RABBIT_DIR/launcher.pid" )
    touch "$RABBIT_DIR/started-here"
    local waited=0
    until port_open "$RABBIT_PORT"; do
        waited=$((waited + 1))
        if [ $waited -gt 120 ] || ! kill -0 "$(cat "$RABBIT_DIR/launcher.pid")" 2>/dev/null; then
            tail -5 "$RABBIT_DIR/log/startup.log" >&2; rm -f "$RABBIT_DIR/started-here"; die "RabbitMQ did not start"
        fi
        sleep 0.5
    done
    rabbitmqctl_ await_startup >/dev/null 2>&1 || die "RabbitMQ did not finish booting"
    rabbitmqctl_ list_users --silent 2>/dev/null | grep -q "^$RABBIT_ESCAPED_USER\b" || {
        rabbitmqctl_ add_user "$RABBIT_ESCAPED_USER" "$RABBIT_ESCAPED_PASSWORD" >/dev/null
        rabbitmqctl_ set_permissions -p / "$RABBIT_ESCAPED_USER" '.*' '.*' '.*' >/dev/null
    }
    log "RabbitMQ is up"
}

stop_rabbitmq() {
    [ -f "$RABBIT_DIR/started-here" ] || { log "RabbitMQ was not started by this script; leaving it"; return 0; }
    if rabbitmqctl_ status >/dev/null 2>&1; then
        log "stopping RabbitMQ"
        rabbitmqctl_ stop >/dev/null 2>&1 || true
    fi
    # epmd on our private port was started for this node only.
    ( rabbit_env; epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true )
    rm -f "$RABBIT_DIR/started-here"
}

# -------------------------------------------------------------- PostgreSQL
PG_DIR=$RUN_DIR/postgresql
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
# PostgreSQL refuses to run as root: run it as the Debian `postgres` user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgresql() {
    apt_install postgresql libpq-dev
    local bin; bin=$(pg_bin)
    [ -n "$bin" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"
    mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
    if [ -f "$PG_DIR/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
        log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    port_open "$PG_PORT" && die "port $PG_PORT is in use by another program; set MA_PG_PORT"
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        log "initialising a PostgreSQL cluster in $PG_DIR/data"
        mkdir -p "$PG_DIR/data" "$PG_DIR/socket"
        [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_DIR"
        printf '%s\n' "postgres" > "$PG_DIR/pwfile"
        [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR/pwfile"
        as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
        rm -f "$PG_DIR/pwfile"
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT, data in $PG_DIR/data"
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgresql.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR/socket -c max_connections=200" \
        start >/dev/null || { tail -20 "$PG_DIR/postgresql.log" >&2; die "PostgreSQL did not start"; }
    touch "$PG_DIR/started-here"
    local psql=("$bin/psql" -h "$PG_DIR/socket" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
    if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != 1 ]; then
        as_pg "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'" >/dev/null
    fi
    for db in "$PG_DB" "${PG_DB}_test" mistral; do
        if [ "$(as_pg "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
            as_pg "${psql[@]}" -c "CREATE DATABASE $db OWNER $PG_USER" >/dev/null
        fi
    done
    log "PostgreSQL is up"
}

stop_postgresql() {
    [ -f "$PG_DIR/started-here" ] || { log "PostgreSQL was not started by this script; leaving it"; return 0; }
    local bin; bin=$(pg_bin)
    log "stopping PostgreSQL"
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -f "$PG_DIR/started-here"
}

print_env() {
    cat <<ENV
export MA_TEST_AMQP_URL='rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/'
export MA_TEST_AMQP_TLS_PORT='$RABBIT_TLS_PORT'
export MA_TEST_TLS_DIR='$RUN_DIR/tls'
export MA_TEST_RABBITMQCTL='$(cd "$(dirname "$0")" && pwd)/local-services.sh rabbitmqctl'
export MA_TEST_POSTGRES_URL='postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/${PG_DB}_test'
ENV
}

what=${2:-all}
case "${1:-}" in
    start)
        case $what in rabbitmq) start_rabbitmq ;; postgresql) start_postgresql ;;
            all) start_rabbitmq; start_postgresql ;; *) die "unknown service $what" ;; esac ;;
    stop)
        case $what in rabbitmq) stop_rabbitmq ;; postgresql) stop_postgresql ;;
            all) stop_rabbitmq; stop_postgresql ;; *) die "unknown service $what" ;; esac ;;
    status)
        if rabbitmqctl_ status >/dev/null 2>&1; then echo "rabbitmq: running on 127.0.0.1:$RABBIT_PORT"; else echo "rabbitmq: stopped"; fi
        if port_open "$PG_PORT"; then echo "postgresql: running on 127.0.0.1:$PG_PORT"; else echo "postgresql: stopped"; fi ;;
    env) print_env ;;
    rabbitmqctl) shift; rabbitmqctl_ "$@" ;;
    *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
