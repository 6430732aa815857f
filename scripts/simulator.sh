#!/usr/bin/env bash
# Runs the project's OpenStack simulator (Keystone, Cinder, Nova, Glance,
# Trove) as a background process on loopback, for the tests and the demo.
#
#   scripts/simulator.sh start [BINARY]   # (re)start; BINARY defaults to the debug build
#   scripts/simulator.sh stop
#   scripts/simulator.sh status
#   scripts/simulator.sh env              # export lines: MA_TEST_SIMULATOR_URL, MA_TEST_KEYSTONE_URL
#
# Environment: MA_SIMULATOR_PORT (28500), MA_SIMULATOR_DELAY (seconds each
# status transition takes, default 1), MA_RUN_DIR (/var/tmp/mistral-actions-<uid>).
# Its data lives in memory; its log is <run dir>/simulator/simulator.log.
set -euo pipefail
cd "$(dirname "$0")/.."
MA_LOG_TAG=simulator
. scripts/lib.sh

port=${MA_SIMULATOR_PORT:-28500}
delay=${MA_SIMULATOR_DELAY:-1}
run_dir=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}/simulator
pid_file=$run_dir/simulator.pid
log_file=$run_dir/simulator.log
url=http://127.0.0.1:$port

running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }
healthy() { curl -fsS -m 2 "$url/_simulator/health" >/dev/null 2>&1; }

stop() {
    if running; then
        local pid; pid=$(cat "$pid_file")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        ma_log "stopped (pid $pid)"
    fi
    rm -f "$pid_file"
}

case ${1:-} in
    start)
        binary=${2:-$(swift build --show-bin-path)/openstack-simulator}
        [ -x "$binary" ] || { ma_log "no simulator binary at $binary: build it first (swift build --product openstack-simulator)"; exit 1; }
        mkdir -p "$run_dir"
        stop
        if healthy; then
            ma_log "port $port is taken by another process: set MA_SIMULATOR_PORT"; exit 1
        fi
        nohup "$binary" --listen "127.0.0.1:$port" --delay "$delay" >"$log_file" 2>&1 &
        echo $! > "$pid_file"
        for _ in $(seq 100); do
            healthy && { ma_log "running at $url (pid $(cat "$pid_file"), transitions take ${delay} s)"; exit 0; }
            running || break
            sleep 0.1
        done
        ma_log "did not start; its log:"; tail -20 "$log_file" >&2; exit 1
        ;;
    stop) stop ;;
    status)
        if running && healthy; then echo "simulator: running at $url (pid $(cat "$pid_file"))"; else echo "simulator: stopped"; fi
        ;;
    env)
        echo "export MA_TEST_SIMULATOR_URL=$url"
        echo "export MA_TEST_KEYSTONE_URL=$url/identity"
        ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
