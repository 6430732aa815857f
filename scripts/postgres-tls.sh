#!/usr/bin/env bash
# A second, throw-away PostgreSQL that accepts TLS connections only, for the
# tests of the worker's database client against `sslmode=verify-full`
# (Tests/PostgresClientTests/TLSTests.swift). It never touches the shared
# server of scripts/local-services.sh: its own cluster, port and certificates
# under one directory, run as a background process (no systemd).
#
#   scripts/postgres-tls.sh start   # creates the CA, certificates and cluster; starts it
#   scripts/postgres-tls.sh stop    # stops it (only if started here)
#   scripts/postgres-tls.sh env     # prints the MA_TEST_POSTGRES_TLS_* variables to export
#   scripts/postgres-tls.sh status
#
# The server certificate is signed by a CA of its own and names localhost and
# 127.0.0.1 (CN and subjectAltName); a second, unrelated CA is there for the
# "wrong CA" test. pg_hba.conf admits only `hostssl` connections.
#
# Settings (environment): MA_RUN_DIR (default /var/tmp/mistral-actions-<uid>),
# MA_PG_TLS_PORT (26434).
set -euo pipefail
cd "$(dirname "$0")/.."
MA_LOG_TAG=postgres-tls
. scripts/lib.sh

RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
DIR=$RUN_DIR/postgresql-tls
PORT=${MA_PG_TLS_PORT:-26434}
USER_=mistral_actions
PASSWORD=ma-tls-secret
DB=postgres

die() { ma_log "error: $*"; exit 1; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
# PostgreSQL refuses to run as root: run it as the Debian `postgres` user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running() { [ -f "$DIR/data/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

make_certificates() {
    local tls=$DIR/tls
    [ -f "$tls/server.crt" ] && [ -f "$tls/other-ca.pem" ] && return 0
    mkdir -p "$tls"
    ma_log "creating a CA and a server certificate (localhost, 127.0.0.1) in $tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mistral-actions PostgreSQL test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 3650 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
    # A CA that signed nothing here: a client trusting only it must refuse the server.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mistral-actions unrelated CA" \
        -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" 2>/dev/null
    chmod 644 "$tls"/*.pem "$tls/server.crt"
    chmod 600 "$tls"/*.key
}

start() {
    command -v openssl >/dev/null || ma_apt_install openssl
    local bin; bin=$(pg_bin)
    [ -n "$bin" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql (scripts/local-services.sh start installs them)"
    if running; then ma_log "already running on 127.0.0.1:$PORT"; return 0; fi
    port_open "$PORT" && die "port $PORT is in use by another program; set MA_PG_TLS_PORT"
    mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
    mkdir -p "$DIR"; chmod 755 "$DIR"
    make_certificates
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        ma_log "initialising a PostgreSQL cluster in $DIR/data"
        mkdir -p "$DIR/data" "$DIR/socket"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR/data" "$DIR/socket"
        printf '%s\n' "$PASSWORD" > "$DIR/pwfile"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR/pwfile"
        as_pg "$bin/initdb" -D "$DIR/data" -U "$USER_" --pwfile="$DIR/pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
        rm -f "$DIR/pwfile"
        # TLS only over TCP: a client without TLS is refused by pg_hba.
        cat > "$DIR/data/pg_hba.conf" <<HBA
local     all all                trust
hostssl   all all 127.0.0.1/32   scram-sha-256
hostnossl all all 0.0.0.0/0      reject
HBA
    fi
    # The server reads its key only if it alone may (0600, its owner).
    install -m 600 "$DIR/tls/server.key" "$DIR/data/server.key"
    install -m 644 "$DIR/tls/server.crt" "$DIR/data/server.crt"
    touch "$DIR/postgresql.log"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR/data/server.key" "$DIR/data/server.crt" "$DIR/postgresql.log"
    ma_log "starting PostgreSQL with TLS on 127.0.0.1:$PORT, data in $DIR/data"
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/postgresql.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR/socket -c max_connections=20 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key" \
        start >/dev/null || { tail -20 "$DIR/postgresql.log" >&2; die "PostgreSQL (TLS) did not start"; }
    touch "$DIR/started-here"
    ma_log "PostgreSQL (TLS) is up"
}

stop() {
    [ -f "$DIR/started-here" ] || { ma_log "not started by this script; leaving it"; return 0; }
    ma_log "stopping PostgreSQL (TLS)"
    as_pg "$(pg_bin)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -f "$DIR/started-here"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "postgresql-tls: running on 127.0.0.1:$PORT"; else echo "postgresql-tls: stopped"; fi ;;
    env)
        cat <<ENV
export MA_TEST_POSTGRES_TLS_URL='postgresql://$USER_:$PASSWORD@localhost:$PORT/$DB'
export MA_TEST_POSTGRES_TLS_CA='$DIR/tls/ca.pem'
export MA_TEST_POSTGRES_TLS_OTHER_CA='$DIR/tls/other-ca.pem'
ENV
        ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
