#!/usr/bin/env bash
# Sets up everything and runs the mistral-actions worker in the foreground.
#
#   scripts/run.sh                              # local demo: everything on this machine
#   scripts/run.sh --config-file /etc/mistral/mistral.conf [--config-file ...]
#
# Without a configuration file it installs what is missing (apt; Mistral 23
# from PyPI into .venv), starts RabbitMQ, PostgreSQL, a real Mistral (API,
# engine and a Python executor for the actions that are not Swift) and the
# project's OpenStack simulator on loopback, builds mistral-actions, registers
# its actions in Mistral, runs the worker, and shows it at work: a chain-aware
# volume backup workflow runs a few times (scripts/demo.sh) and the backup
# chains it built are printed. The worker then keeps serving.
# With --config-file it uses your deployment instead (your mistral.conf works
# as it is) and starts nothing. Ctrl-C (SIGINT) or SIGTERM stops the worker
# gracefully; the local servers keep running (scripts/local-services.sh stop,
# scripts/mistral.sh stop). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
MA_LOG_TAG=run
. scripts/lib.sh

config_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --config-file|--config-dir) config_args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) ma_log "unknown argument: $1 (see --help)"; exit 2 ;;
    esac
done

ma_apt_install "${MA_PACKAGES[@]}"
command -v swift >/dev/null || { ma_log "swift is not on PATH: install a Swift 6.1+ toolchain first"; exit 1; }

if [ ${#config_args[@]} -eq 0 ]; then
    scripts/local-services.sh start
    scripts/mistral.sh start
    eval "$(scripts/local-services.sh env)"
    eval "$(scripts/mistral.sh env)"
    run_dir=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
    config=$run_dir/mistral-actions.conf
    database=${MA_TEST_POSTGRES_URL%/*}/mistral
    cat > "$config" <<CONF
# Written by scripts/run.sh for the local demo.
[DEFAULT]
transport_url = $MA_TEST_AMQP_URL

[database]
connection = postgresql+psycopg2://${database#postgresql://}

# Mistral runs without Keystone here, so requests carry no token: the
# OpenStack actions act as this user of the simulated cloud.
[keystone_authtoken]
auth_url = http://127.0.0.1:${MA_SIMULATOR_PORT:-28500}/identity
username = admin
password = secret
project_name = demo
user_domain_name = Default
project_domain_name = Default

[mistral_actions]
mode = router
fallback_topic = $MA_TEST_FALLBACK_TOPIC
CONF
    config_args=(--config-file "$config")
    demo=1
else
    demo=0
fi

ma_log "building mistral-actions (release)"
swift build -c release --product mistral-actions >&2
bin_dir=$(swift build -c release --show-bin-path)
binary=$bin_dir/mistral-actions
if [ $demo = 1 ]; then
    swift build -c release --product openstack-simulator >&2
    scripts/simulator.sh start "$bin_dir/openstack-simulator"
fi

"$binary" register "${config_args[@]}"
"$binary" discover "${config_args[@]}"

if [ $demo = 1 ]; then
    # The worker runs in the background while the demo asks Mistral for work,
    # then stays in the foreground; signals reach it.
    worker_log=$run_dir/worker.log
    : > "$worker_log"
    "$binary" worker "${config_args[@]}" 2> >(tee -a "$worker_log" >&2) &
    worker=$!
    trap 'kill -TERM $worker 2>/dev/null' TERM INT
    for _ in $(seq 300); do
        grep -q "worker consuming" "$worker_log" && break
        kill -0 $worker 2>/dev/null || { wait $worker; exit $?; }
        sleep 0.1
    done
    scripts/demo.sh 5 || ma_log "the demo did not complete; the worker keeps running"
    cat >&2 <<TEXT

mistral-actions is running. It consumes Mistral's executor topic on the
RabbitMQ at ${MA_TEST_AMQP_URL#*@}; Mistral's API is at $MA_TEST_MISTRAL_URL.
Try it from another terminal:

  curl -s -X POST -H 'Content-Type: application/json' \\
    -d '{"name": "int32bit.debug.echo", "input": "{\\"output\\": \\"hello\\"}", "params": "{\\"run_sync\\": true}"}' \\
    $MA_TEST_MISTRAL_URL/action_executions

  curl -s -X POST -H 'Content-Type: text/plain' --data-binary @examples/debug-echo.yaml $MA_TEST_MISTRAL_URL/workflows
  curl -s -X POST -H 'Content-Type: application/json' -d '{"workflow_name": "debug_echo"}' $MA_TEST_MISTRAL_URL/executions

  scripts/demo.sh 3     # three more chain-aware backups of the simulator's demo volume

Ctrl-C stops the worker gracefully.

TEXT
    status=0
    wait $worker || status=$?
    # A signal interrupts the first wait; the second waits for the graceful exit.
    kill -0 $worker 2>/dev/null && { wait $worker || status=$?; }
    exit $status
fi
exec "$binary" worker "${config_args[@]}"
