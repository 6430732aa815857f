#!/usr/bin/env bash
# Runs every test of mistral-actions on this machine: installs what is missing
# (Debian packages; a Python virtualenv for the conformance peers), starts real
# RabbitMQ and PostgreSQL on loopback (scripts/local-services.sh), builds, and
# runs the whole suite. Servers this script started are stopped at the end;
# servers that were already running are left alone. Safe to run twice.
#
#   scripts/test.sh            # everything
#   scripts/test.sh --filter X # pass-through to `swift test` (main pass only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[test] %s\n' "$*" >&2; }

# --- system packages -----------------------------------------------------
MA_LOG_TAG=test
. scripts/lib.sh
ma_apt_install "${MA_PACKAGES[@]}"

# --- servers ---------------------------------------------------------------
services=scripts/local-services.sh
started=()
mistral_was_running=1
auth_mistral_was_running=1
pg_tls_was_running=1
cleanup() {
    [ "$pg_tls_was_running" = 0 ] && scripts/postgres-tls.sh stop || true
    [ "${MA_SKIP_FAULTS:-0}" = 1 ] || scripts/faults.sh stop >/dev/null 2>&1 || true
    scripts/simulator.sh stop || true
    [ "$mistral_was_running" = 0 ] && scripts/mistral.sh stop || true
    [ "$auth_mistral_was_running" = 0 ] && scripts/mistral.sh stop-auth || true
    for s in "${started[@]}"; do "$services" stop "$s" || true; done
}
trap cleanup EXIT
status=$("$services" status)
for s in rabbitmq postgresql; do
    if ! grep -q "^$s: running" <<<"$status"; then
        "$services" start "$s"
        started+=("$s")
    fi
done
eval "$("$services" env)"
# A TLS-only PostgreSQL of its own (not the shared one) for the sslmode=verify-full tests.
pg_tls_was_running=$(scripts/postgres-tls.sh status | grep -c ": running" || true)
scripts/postgres-tls.sh start
eval "$(scripts/postgres-tls.sh env)"

# --- build ---------------------------------------------------------------------
MA_VENV=$(scripts/python-env.sh)
export MA_VENV
log "building"
swift build --build-tests
bench/instructions.sh  # instructions per action vs bench/baseline.json: fails on a >20% regression

# The OpenStack simulator the end-to-end tests of the catalog call (through
# real Mistral and the worker); its transitions are quick.
MA_SIMULATOR_DELAY=0.2 scripts/simulator.sh start "$(swift build --show-bin-path)/openstack-simulator"
eval "$(scripts/simulator.sh env)"

# Tests that disturb the shared broker (restarts) run alone, first, before
# Mistral starts.
log "disruptive tests (broker restarts), run alone"
MA_TEST_DISRUPTIVE=1 swift test --skip-build --filter BrokerRestartTests

# A reduced pass of the fault suite (docs/reliability.md; the full one is
# `scripts/faults.sh`): 200 actions, half not safe to rerun, through 3 workers
# on a stack of its own while the broker restarts, crashes and a worker is
# SIGKILLed. It fails when an action is lost or a non-safe one runs twice.
if [ "${MA_SKIP_FAULTS:-0}" != 1 ]; then
    log "reduced fault pass (about 2 minutes; MA_SKIP_FAULTS=1 skips it)"
    FAULTS_ACTIONS=200 FAULTS_ACTION_SECONDS=1 FAULTS_WORKER_EXTRA="concurrency = 4" FAULTS_QUIET_SECONDS=120 \
        FAULTS_BINARY="$(swift build --show-bin-path)/mistral-actions" scripts/faults.sh mixed-restarts
    scripts/faults.sh stop
fi

# --- a real Mistral 23 ------------------------------------------------------------
# A short heartbeat window, so that the end-to-end tests can prove heartbeats
# keep long actions alive (and that the engine fails them without).
mistral_was_running=$(scripts/mistral.sh status | grep -c "api+engine: running" || true)
MA_HEARTBEAT_INTERVAL=2 MA_HEARTBEAT_MAX_MISSED=2 MA_FIRST_HEARTBEAT_TIMEOUT=3 scripts/mistral.sh start
eval "$(scripts/mistral.sh env)"
# A second one with Keystone authentication on, against the simulator's
# Keystone (user tokens, cron triggers' trusts): its own port, database and topics.
auth_mistral_was_running=$(scripts/mistral.sh status-auth | grep -c "api+engine: running" || true)
scripts/mistral.sh start-auth
eval "$(scripts/mistral.sh env-auth)"
# Rows left in Mistral's database by an interrupted earlier run of the tests
# (each test removes its own); a broken one would fail Mistral's action listing.
psql "$MA_TEST_MISTRAL_DATABASE_URL" -qX -v ON_ERROR_STOP=1 -c "
    DELETE FROM dynamic_action_definitions
     WHERE code_source_name LIKE 'sync\_test\_%' OR code_source_name LIKE 'foreign\_%' OR code_source_name LIKE 'cli\_test\_%';
    DELETE FROM code_sources WHERE name LIKE 'sync\_test\_%' OR name LIKE 'foreign\_%' OR name LIKE 'cli\_test\_%';"

# README's command samples are the current binary's output against this stack.
scripts/readme-samples.sh --check

# The template package of an operator's own actions (examples/custom-actions):
# built on this package (sharing .build: about 20 s), its unit tests, and its
# own worker binary through Mistral (scripts/example-e2e.sh).
log "template package examples/custom-actions, end to end"
scripts/example-e2e.sh
# The compatibility subset against Mistral 18.1.0 (2024.1) on a stack of its own (docs/compatibility.md).
scripts/compat.sh 18.1.0

# --- the main pass: in parallel; prints the closing summary ---------------------
scripts/check-units.sh
log "main test pass"
swift test --skip-build "$@"
