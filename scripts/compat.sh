#!/usr/bin/env bash
# Proves mistral-actions against older Mistral releases: for each release, an
# isolated Mistral (its own RabbitMQ vhost, database, API port and run
# directory, on the shared servers of scripts/local-services.sh; the release's
# venv from scripts/mistral-venv.sh), a `mistral-actions worker` built from
# this tree configured for it, `mistral-actions doctor`, and the subset of
# compat/checks.py: register and /v2/actions input strings, sync run-action,
# a with-items workflow, a failing action, router relay to that release's
# Python executor, a heartbeat-kept long action (engine window 2 x 2 s) and
# its control (a worker without heartbeats: the engine fails the action), a
# task timeout, whether an [action_providers] allowlist hides the Swift
# actions exactly when doctor says so, and the chain-aware backup example on the OpenStack simulator.
# Each release's stack is stopped (and its vhost and database dropped) after
# its run; results go to <run dir>/compat/results/VERSION.json.
#
#   scripts/compat.sh                    # every release of compat/releases.txt
#   scripts/compat.sh 16.0.0 18.1.0      # these (a series works too: 2024.1)
#   scripts/compat.sh --doc [VERSION...] # and then regenerate docs/compatibility.md
#                                        # from every result under the run dir
#   scripts/compat.sh --report           # only regenerate it (compat/notes.md is
#                                        # appended: the findings per release)
#
# Exits 1 when a check of a release run failed. Runs one at a time (a lock
# in the run dir). Needs the debug build (swift build; or MA_COMPAT_BINARY,
# with openstack-simulator beside it); runs an OpenStack simulator of its own
# on port base+99.
#
# Settings (environment): MA_RUN_DIR (/var/tmp/mistral-actions-<uid>),
# MA_COMPAT_BINARY (default .build/debug/mistral-actions), MA_COMPAT_PORT_BASE
# (29100: release n of compat/releases.txt gets API port base+n and the worker's
# HTTP port base+50+n), MA_MISTRAL_VENVS (scripts/mistral-venv.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUN_DIR=${MA_RUN_DIR:-/var/tmp/mistral-actions-$(id -u)}
CDIR=$RUN_DIR/compat
RESULTS=$CDIR/results
PORT_BASE=${MA_COMPAT_PORT_BASE:-29100}
releases=compat/releases.txt

log() { printf '[compat] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

doc=0 report_only=0
args=()
for a in "$@"; do
    case $a in
        --doc) doc=1 ;;
        --report) doc=1; report_only=1 ;;
        -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$a") ;;
    esac
done
write_doc() {
    COMPAT_NOTES=$root/compat/notes.md python3 compat/checks.py report docs/compatibility.md "$RESULTS"/*.json
    log "wrote docs/compatibility.md"
}
if [ "$report_only" = 1 ]; then write_doc; exit 0; fi
all=$(grep -v '^#' "$releases" | awk 'NF { print $1 }')
[ ${#args[@]} -gt 0 ] || mapfile -t args <<<"$all"

# One run at a time per run dir (releases have fixed ports, vhosts and
# databases): another run (e.g. scripts/test.sh elsewhere) is waited for.
mkdir -p "$CDIR"
exec 9> "$CDIR/lock"
if ! flock -n 9; then
    log "waiting for another scripts/compat.sh run to finish"
    flock 9
fi

binary=${MA_COMPAT_BINARY:-$root/.build/debug/mistral-actions}
[ -x "$binary" ] || die "no $binary: build it (swift build --product mistral-actions) or set MA_COMPAT_BINARY"
mkdir -p "$RESULTS"
# Other builds may replace the binary while the releases run: use a copy.
BIN=$CDIR/mistral-actions
cp "$binary" "$BIN.new" && mv "$BIN.new" "$BIN"

"$root/scripts/local-services.sh" start >/dev/null
eval "$("$root/scripts/local-services.sh" env)"
# An OpenStack simulator of its own (port base+99, state under the compat
# run dir): the shared one may be restarted or stopped by other runs.
simulator() { MA_RUN_DIR=$CDIR MA_SIMULATOR_PORT=$((PORT_BASE + 99)) MA_SIMULATOR_DELAY=0.2 "$root/scripts/simulator.sh" "$@"; }
[ -x "$(dirname "$binary")/openstack-simulator" ] || die "no $(dirname "$binary")/openstack-simulator: build it (swift build --product openstack-simulator)"
cp "$(dirname "$binary")/openstack-simulator" "$CDIR/openstack-simulator.new" && mv "$CDIR/openstack-simulator.new" "$CDIR/openstack-simulator"
simulator start "$CDIR/openstack-simulator"
eval "$(simulator env)"

# PostgreSQL's superuser over the local socket (the test role may not create databases).
pg_super() {
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    local run=("$bin/psql" -h "$RUN_DIR/postgresql/socket" -p "${MA_PG_PORT:-26432}" -U postgres -v ON_ERROR_STOP=1 -qtA -c "$1")
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "${run[@]}"; else "${run[@]}"; fi
}
rabbitctl() { "$root/scripts/local-services.sh" rabbitmqctl "$@"; }

current_stack=""
worker_pid=""
# start_worker LOG [OPTIONS...]: the worker of the current release; waits until it consumes.
start_worker() {
    local log_file=$1; shift
    nohup setsid "$BIN" worker "${conf[@]}" "$@" > "$log_file" 2>&1 < /dev/null &
    worker_pid=$!
    local since=$SECONDS
    until grep -q '"message": "worker consuming"' "$log_file"; do
        kill -0 "$worker_pid" 2>/dev/null || { tail -5 "$log_file" >&2; return 0; }
        [ $((SECONDS - since)) -lt 120 ] || { log "worker not consuming after 120 s"; return 0; }
        sleep 0.5
    done
}
stop_worker() {
    [ -n "$worker_pid" ] || return 0
    kill -TERM "$worker_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$worker_pid" 2>/dev/null || true
    worker_pid=""
}
stop_stack() {
    stop_worker
    if [ -n "$current_stack" ]; then
        MA_MISTRAL_DIR=$current_stack "$root/scripts/mistral.sh" stop || true
        current_stack=""
    fi
}
cleanup() {
    stop_stack
    simulator stop || true
}
trap cleanup EXIT

# run_release VERSION: 0 when every check passed.
run_release() {
    local version series index
    read -r version series <<<"$(grep -v '^#' "$releases" | awk -v k="$1" '$1 == k || $2 == k { print $1, $2; exit }')"
    [ -n "$version" ] || die "$1 is not in $releases"
    index=$(grep -v '^#' "$releases" | awk 'NF { print $1 }' | grep -nx "$version" | cut -d: -f1)
    local name=compat_${version//./_} dir=$CDIR/$version port=$((PORT_BASE + index)) http=$((PORT_BASE + 50 + index))
    local result=$RESULTS/$version.json started=$SECONDS
    log "== Mistral $version ($series): vhost and database $name, API port $port"
    rm -rf "$dir"; mkdir -p "$dir"
    local venv_start=$SECONDS venv
    venv=$("$root/scripts/mistral-venv.sh" "$version") || { log "no venv for $version"; return 1; }
    local venv_seconds=$((SECONDS - venv_start))
    versions=$("$venv/bin/python" - <<'PY'
import json
from importlib.metadata import version
print(json.dumps({n: version(n) for n in ("mistral", "oslo.messaging", "SQLAlchemy", "mistral-lib", "kombu")}))
PY
)

    # A fresh vhost and database.
    rabbitctl delete_vhost "$name" >/dev/null 2>&1 || true
    rabbitctl add_vhost "$name" >/dev/null
    rabbitctl set_permissions -p "$name" guest '.*' '.*' '.*' >/dev/null
    pg_super "DROP DATABASE IF EXISTS $name" >/dev/null
    pg_super "CREATE DATABASE $name OWNER mistral_actions" >/dev/null

    export MA_MISTRAL_DIR=$dir/mistral MA_MISTRAL_DATABASE=$name MA_MISTRAL_VENV=$venv
    export MA_MISTRAL_API_PORT=$port MA_MISTRAL_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:${MA_RABBIT_PORT:-26672}/$name
    # A short heartbeat window: the heartbeat check proves the worker keeps a long action alive.
    export MA_HEARTBEAT_INTERVAL=2 MA_HEARTBEAT_MAX_MISSED=2 MA_FIRST_HEARTBEAT_TIMEOUT=3
    current_stack=$MA_MISTRAL_DIR
    local mistral_start=$SECONDS
    if ! "$root/scripts/mistral.sh" start 2> "$dir/mistral-start.log"; then
        tail -5 "$dir/mistral-start.log" >&2
        python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(series=sys.argv[2], checks={"mistral_start": {"ok": False, "detail": sys.argv[3]}}); json.dump(d, open(sys.argv[4], "w"), indent=2)' \
            "$versions" "$series" "Mistral did not start: $(tail -3 "$dir/mistral-start.log" | tr '\n' ' ')" "$result"
        stop_stack; return 1
    fi
    local mistral_seconds=$((SECONDS - mistral_start))

    cat > "$dir/worker.conf" <<CONF
# The worker reads this Mistral's mistral.conf first; this file adds its own settings.
[action_heartbeat]
check_interval = 1

# Mistral runs without Keystone: the OpenStack actions act as this user of the simulator's cloud.
[keystone_authtoken]
auth_url = $MA_TEST_SIMULATOR_URL/identity
username = admin
password = secret
project_name = demo
user_domain_name = Default
project_domain_name = Default

[executor]
host = compat-worker

[mistral_actions]
log_format = json
http_listen = 127.0.0.1:$http
shutdown_grace_period = 20s
CONF
    conf=(--config-file "$MA_MISTRAL_DIR/mistral.conf" --config-file "$dir/worker.conf")
    "$BIN" register "${conf[@]}" > "$dir/register.txt" 2>&1 || { log "register failed:"; tail -5 "$dir/register.txt" >&2; }
    "$BIN" action-list --format json "${conf[@]}" > "$dir/expected.json" 2> "$dir/action-list.err" || true
    start_worker "$dir/worker.log"
    # doctor: what an operator of this release would be told (informational).
    local doctor_status=0
    "$BIN" doctor "${conf[@]}" --mistral-config "$MA_MISTRAL_DIR/mistral.conf" > "$dir/doctor.txt" 2>&1 || doctor_status=$?

    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
failed = [l.strip() for l in open(sys.argv[4], errors="replace") if "✘" in l]
d.update(series=sys.argv[2], worker=sys.argv[5], doctor={"ok": sys.argv[3] == "0", "detail": " ".join(failed)[:600] or "exit status " + sys.argv[3]})
json.dump(d, open(sys.argv[6], "w"), indent=2)' "$versions" "$series" "$doctor_status" "$dir/doctor.txt" "$("$BIN" --version) ($(git rev-parse --short HEAD))" "$result"

    local status=0
    COMPAT_API=http://127.0.0.1:$port/v2 COMPAT_SIMULATOR=$MA_TEST_SIMULATOR_URL COMPAT_EXAMPLES=$root/examples \
        COMPAT_WORKER_LOG=$dir/worker.log COMPAT_EXPECTED=$dir/expected.json COMPAT_TAG=${name}_$(date +%s) \
        python3 compat/checks.py run "$result" || status=$?
    # The control: a worker that sends no heartbeats, whose action the engine must fail.
    stop_worker
    start_worker "$dir/worker-silent.log" --set action_heartbeat.check_interval=0 --set mistral_actions.shutdown_grace_period=1s
    COMPAT_API=http://127.0.0.1:$port/v2 COMPAT_TAG=${name}_$(date +%s) COMPAT_ONLY=heartbeat_control \
        python3 compat/checks.py run "$result" || status=$?
    # [action_providers]: from 18.1 on, Mistral loads only the action providers
    # an allowlist names, and the Swift actions are the `dynamic` provider's.
    # Does this release hide them with one that leaves it out, and does
    # doctor say so exactly then? (Mistral restarts with the setting.)
    stop_worker
    local flagged=0
    "$root/scripts/mistral.sh" stop 2>> "$dir/mistral-start.log" || true
    for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; sleep 0.5; done
    if MA_MISTRAL_EXTRA_CONF=$'[action_providers]\nallowlist = legacy,adhoc' "$root/scripts/mistral.sh" start 2>> "$dir/mistral-start.log"; then
        "$BIN" doctor "${conf[@]}" --mistral-config "$MA_MISTRAL_DIR/mistral.conf" > "$dir/doctor-allowlist.txt" 2>&1 || true
        grep "Mistral action providers" "$dir/doctor-allowlist.txt" | grep -q "✘" && flagged=1
    fi
    COMPAT_API=http://127.0.0.1:$port/v2 COMPAT_TAG=${name}_$(date +%s) COMPAT_ONLY=provider_allowlist COMPAT_DOCTOR_FLAGGED=$flagged \
        python3 compat/checks.py run "$result" || status=$?
    local checks_seconds=$((SECONDS - mistral_start - mistral_seconds))
    python3 -c '
import json, sys, datetime
d = json.load(open(sys.argv[1]))
d["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
d["seconds"] = {"venv": int(sys.argv[2]), "mistral_start": int(sys.argv[3]), "checks": int(sys.argv[4])}
json.dump(d, open(sys.argv[1], "w"), indent=2)' "$result" "$venv_seconds" "$mistral_seconds" "$checks_seconds"
    stop_stack
    rabbitctl delete_vhost "$name" >/dev/null 2>&1 || true
    pg_super "DROP DATABASE IF EXISTS $name" >/dev/null 2>&1 || true
    log "== Mistral $version: $([ $status = 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s (venv ${venv_seconds} s, Mistral start ${mistral_seconds} s, checks ${checks_seconds} s); $dir"
    return $status
}

failed=()
for v in "${args[@]}"; do
    run_release "$v" || failed+=("$v")
done
[ "$doc" = 1 ] && write_doc
[ ${#failed[@]} = 0 ] || die "failed: ${failed[*]}"
log "all passed: ${args[*]}"
