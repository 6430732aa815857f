#!/usr/bin/env bash
# Start-up and memory figures of `mistral-actions worker` (issue 13), against
# the local services of scripts/local-services.sh (vhost `startup`, Mistral's
# database `mistral`):
#   start to consuming  milliseconds from the process's start to its
#                       "worker consuming" log line (median of STARTUP_RUNS)
#   idle memory         VmRSS (RssAnon + RssFile) and threads, STARTUP_IDLE_SECONDS
#                       after consuming
#   registration        seconds to register STARTUP_ACTIONS synthetic actions
#                       (bench/startup/: a first registration into empty
#                       tables, then an unchanged one), and to remove them
#
#   bench/startup.sh                # release build (built if missing)
#   BIN=path/to/mistral-actions bench/startup.sh
#
# Settings (environment): STARTUP_RUNS (5), STARTUP_IDLE_SECONDS (3),
# STARTUP_ACTIONS (1000), STARTUP_HTTP_LISTEN (the worker's http_listen:
# off), STARTUP_START_CLAIMS (true), STARTUP_SKIP_REGISTRATION=1.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/local-services.sh env)"
RUNS=${STARTUP_RUNS:-5}
IDLE=${STARTUP_IDLE_SECONDS:-3}
ACTIONS=${STARTUP_ACTIONS:-1000}
BIN=${BIN:-.build/release/mistral-actions}
REG_BIN=${REG_BIN:-.build/release/mistral-actions-startup}
if [ ! -x "$BIN" ]; then swift build -c release --product mistral-actions >&2; fi
amqp_base=${MA_TEST_AMQP_URL%/}
mistral_db=${MA_TEST_POSTGRES_URL%/*}/mistral
vhost=startup
scripts/local-services.sh rabbitmqctl list_vhosts -q | grep -qx "$vhost" \
    || scripts/local-services.sh rabbitmqctl add_vhost "$vhost" >/dev/null
scripts/local-services.sh rabbitmqctl set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
dir=$(mktemp -d /tmp/mistral-actions-startup.XXXXXX)
# The worker's registration (its own prefix and code source, so that no
# other user's rows are touched) is removed at the end.
cleanup() {
    [ -f "$dir/worker.conf" ] && "$BIN" clear --config-file "$dir/worker.conf" > /dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/worker.conf" <<CONF
[DEFAULT]
transport_url = $amqp_base/$vhost
[database]
connection = $mistral_db
[mistral_actions]
code_source_name = startup_bench
action_prefix = startupbench
start_claims = ${STARTUP_START_CLAIMS:-true}
http_listen = ${STARTUP_HTTP_LISTEN:-off}
CONF

now_ns() { date +%s%N; }
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
starts=()
for run in $(seq 1 "$RUNS"); do
    log=$dir/worker-$run.log
    t0=$(now_ns)
    "$BIN" worker --config-file "$dir/worker.conf" > "$log" 2>&1 &
    pid=$!
    until grep -q "worker consuming" "$log"; do
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "worker exited before consuming" >&2; exit 1; }
        sleep 0.002
    done
    t1=$(now_ns)
    starts+=($(( (t1 - t0) / 1000000 )))
    if [ "$run" = "$RUNS" ]; then
        sleep "$IDLE"
        rss=$(kb VmRSS $pid); anon=$(kb RssAnon $pid); file=$(kb RssFile $pid); threads=$(kb Threads $pid)
        thread_names=$(cat /proc/$pid/task/*/comm | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}')
    fi
    kill -TERM "$pid"; wait "$pid" || true
done
median=$(printf '%s\n' "${starts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "start to consuming: median ${median} ms (runs: ${starts[*]} ms)"
echo "idle after ${IDLE} s: VmRSS ${rss} kB (RssAnon ${anon} kB, RssFile ${file} kB), ${threads} threads (${thread_names})"

if [ "${STARTUP_SKIP_REGISTRATION:-0}" != 1 ]; then
    if [ ! -x "$REG_BIN" ]; then swift build -c release --product mistral-actions-startup >&2; fi
    "$REG_BIN" "$mistral_db" "$ACTIONS"
fi
