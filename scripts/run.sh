#!/usr/bin/env bash
# Sets up everything and runs the mistral-actions worker in the foreground.
#
#   scripts/run.sh                              # local demo: everything on this machine
#   scripts/run.sh --config-file /etc/mistral/mistral.conf [--config-file ...]
#
# Without a configuration file it installs what is missing (apt; Mistral 23
# from PyPI into .venv), starts RabbitMQ, PostgreSQL and a real Mistral (API,
# engine and a Python executor for the actions that are not Swift) on loopback,
# builds mistral-actions, registers its actions in Mistral and runs the worker.
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
binary=$(swift build -c release --show-bin-path)/mistral-actions

"$binary" register "${config_args[@]}"
"$binary" discover "${config_args[@]}"

if [ $demo = 1 ]; then
    cat >&2 <<TEXT

mistral-actions is starting. It consumes Mistral's executor topic on the
RabbitMQ at ${MA_TEST_AMQP_URL#*@}; Mistral's API is at $MA_TEST_MISTRAL_URL.
Try it from another terminal:

  curl -s -X POST -H 'Content-Type: application/json' \\
    -d '{"name": "int32bit.debug.echo", "input": "{\\"output\\": \\"hello\\"}", "params": "{\\"run_sync\\": true}"}' \\
    $MA_TEST_MISTRAL_URL/action_executions

  curl -s -X POST -H 'Content-Type: text/plain' --data-binary @examples/debug-echo.yaml $MA_TEST_MISTRAL_URL/workflows
  curl -s -X POST -H 'Content-Type: application/json' -d '{"workflow_name": "debug_echo"}' $MA_TEST_MISTRAL_URL/executions

Ctrl-C stops the worker gracefully.

TEXT
fi
exec "$binary" worker "${config_args[@]}"
