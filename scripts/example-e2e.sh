#!/usr/bin/env bash
# The template package examples/custom-actions (an operator's own actions and
# worker binary, built on this package as a dependency), end to end:
#
#   1. builds it and runs its unit tests (the in-process OpenStack simulator);
#   2. runs its binary's `discover` and `register` against Mistral's database;
#   3. starts its `worker` on Mistral's executor topic and runs, through
#      Mistral's API, a workflow calling its own action
#      (acme.volumes.snapshot_and_tag, against the running simulator's Cinder)
#      and a standard one (debug.echo), then a synchronous run-action of
#      debug.echo; each must end in SUCCESS, run by that worker;
#   4. removes what it registered.
#
# Needs the servers of scripts/test.sh running and their env exported:
# scripts/local-services.sh env, scripts/mistral.sh env, scripts/simulator.sh env.
# The actions are registered with their own prefix and code source
# (acme_e2e), so they never touch the main suite's rows.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log() { printf '[example-e2e] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

: "${MA_TEST_AMQP_URL:?eval \"\$(scripts/local-services.sh env)\" first}"
: "${MA_TEST_MISTRAL_URL:?eval \"\$(scripts/mistral.sh env)\" first}"
: "${MA_TEST_MISTRAL_DATABASE_URL:?eval \"\$(scripts/mistral.sh env)\" first}"
: "${MA_TEST_SIMULATOR_URL:?eval \"\$(scripts/simulator.sh env)\" first}"

package=examples/custom-actions
# The build shares this package's scratch path (.build) by default: the
# example's dependencies are this package and its dependencies, compiled with
# the same commands at the same paths, so only the example's own targets
# compile (about 20 s after scripts/test.sh's build, instead of about 10 min
# for a scratch path of its own on 2 cores). This holds while both resolve the
# same versions, hence the pins copied from this package's Package.resolved
# (a different checkout would rebuild that dependency). MA_EXAMPLE_SCRATCH
# chooses another scratch path (e.g. .build/examples: a build of its own).
scratch=${MA_EXAMPLE_SCRATCH:-$root/.build}
if [ "$scratch" = "$root/.build" ] && [ -f Package.resolved ]; then
    cp Package.resolved "$package/Package.resolved"
fi

# --- 1. build and unit tests ------------------------------------------------------
started=$(date +%s)
log "building $package (scratch path $scratch)"
swift build --package-path "$package" --scratch-path "$scratch" --build-tests
log "built in $(($(date +%s) - started)) s"
swift test --package-path "$package" --scratch-path "$scratch" --skip-build
binary="$(swift build --package-path "$package" --scratch-path "$scratch" --show-bin-path)/acme-mistral-actions"
[ -x "$binary" ] || fail "no binary at $binary"

# --- 2. discover, register -------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ma-example-e2e.XXXXXX")
worker_pid=
cleanup() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$worker_pid" 2>/dev/null || true
    fi
    "$binary" clear --config-file "$work/worker.conf" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

prefix=acme_e2e
cat >"$work/worker.conf" <<CONF
[DEFAULT]
transport_url = $MA_TEST_AMQP_URL

[database]
connection = $MA_TEST_MISTRAL_DATABASE_URL

# Mistral runs without Keystone here: the OpenStack actions act as this user
# of the simulator's cloud.
[keystone_authtoken]
auth_url = $MA_TEST_SIMULATOR_URL/identity
username = admin
password = secret
project_name = demo
user_domain_name = Default
project_domain_name = Default

[mistral_actions]
action_prefix = $prefix
code_source_name = $prefix
fallback_topic = ${MA_TEST_FALLBACK_TOPIC:-mistral_executor_python}
http_listen = off
CONF

"$binary" discover --config-file "$work/worker.conf" >"$work/discover.txt"
for name in "$prefix.acme.volumes.snapshot_and_tag" "$prefix.debug.echo" "$prefix.cinder.snapshots.create_snapshot"; do
    grep -q " $name " "$work/discover.txt" || fail "discover does not list $name: $(cat "$work/discover.txt")"
done
"$binary" register --config-file "$work/worker.conf" >"$work/register.txt" || fail "register: $(cat "$work/register.txt")"
grep -Eq " $prefix\.acme\.volumes\.snapshot_and_tag +\| (created|unchanged|updated) " "$work/register.txt" ||
    fail "register did not register the action: $(cat "$work/register.txt")"
log "discover and register list the operator's action next to the standard ones"

# --- 3. the worker, through Mistral ---------------------------------------------------
"$binary" worker --config-file "$work/worker.conf" >"$work/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1 1200); do
    grep -q "worker consuming" "$work/worker.log" && break
    kill -0 "$worker_pid" 2>/dev/null || fail "the worker exited: $(cat "$work/worker.log")"
    sleep 0.1
done
grep -q "worker consuming" "$work/worker.log" || fail "the worker did not start consuming: $(cat "$work/worker.log")"
log "worker consuming (pid $worker_pid)"

MA_PREFIX=$prefix python3 - <<'PY' || fail "through Mistral (worker log: $(tail -40 "$work/worker.log"))"
import json, os, sys, time, urllib.request, uuid

mistral = os.environ["MA_TEST_MISTRAL_URL"]
simulator = os.environ["MA_TEST_SIMULATOR_URL"]
prefix = os.environ["MA_PREFIX"]

def call(method, url, body=None, content_type="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")

def check(condition, message):
    if not condition:
        print(f"[example-e2e] FAILED: {message}", file=sys.stderr)
        sys.exit(1)

# A fresh volume in the simulator's Cinder.
run = uuid.uuid4().hex[:8]
status, created = call("POST", simulator + "/_simulator/seed",
                       {"volumes": [{"name": f"acme-e2e-{run}", "size": 1, "status": "available"}]})
check(status in (200, 201), f"seeding a volume: {status} {created}")
volume_id = created["volumes"][0]["id"]

workflow = f"""---
version: '2.0'
acme_e2e_snapshot_{run}:
  input: [volume_id]
  output:
    snapshot: <% $.snapshot %>
    echoed: <% $.echoed %>
  tasks:
    snapshot:
      action: {prefix}.acme.volumes.snapshot_and_tag
      input:
        volume_id: <% $.volume_id %>
        purpose: pre-upgrade
        ticket: CHG-{run}
        wait_timeout: 60
        interval: 0.5
      publish:
        snapshot: <% task().result %>
      on-success: [echo]
    echo:
      action: {prefix}.debug.echo output=<% $.snapshot.snapshot_id %>
      publish:
        echoed: <% task().result %>
"""
status, body = call("POST", mistral + "/workflows", workflow.encode(), "text/plain")
check(status == 201, f"POST /workflows: {status} {body}")
workflow_name = f"acme_e2e_snapshot_{run}"
try:
    status, execution = call("POST", mistral + "/executions",
                             {"workflow_name": workflow_name, "input": json.dumps({"volume_id": volume_id})})
    check(status == 201, f"POST /executions: {status} {execution}")
    execution_id = execution["id"]
    deadline = time.monotonic() + 180
    while execution["state"] in ("IDLE", "RUNNING") and time.monotonic() < deadline:
        time.sleep(0.5)
        _, execution = call("GET", mistral + "/executions/" + execution_id)
    _, tasks = call("GET", mistral + "/tasks?workflow_execution_id=" + execution_id)
    summary = [(t["name"], t["state"], t.get("state_info")) for t in (tasks or {}).get("tasks", [])]
    check(execution["state"] == "SUCCESS", f"workflow {execution['state']} {execution.get('state_info')} tasks {summary}")
    output = json.loads(execution["output"])
    snapshot = output["snapshot"]
    check(snapshot["status"] == "available", f"snapshot result {snapshot}")
    check(output["echoed"] == snapshot["snapshot_id"], f"echo result {output}")
    metadata = snapshot["metadata"]
    check(metadata.get("acme:purpose") == "pre-upgrade" and metadata.get("acme:ticket") == f"CHG-{run}"
          and metadata.get("acme:workflow_execution") == execution_id, f"snapshot metadata {metadata}")
    # The simulator's Cinder holds the snapshot (the metadata above is what
    # its GET /snapshots/{id} answered).
    _, state = call("GET", simulator + "/_simulator/state")
    stored = [s for s in state.get("snapshots", []) if s.get("id") == snapshot["snapshot_id"]]
    check(len(stored) == 1 and stored[0].get("volume_id") == volume_id and stored[0].get("status") == "available"
          and stored[0].get("name", "").startswith("acme-pre-upgrade-"),
          f"the simulator's snapshot {stored}")
    print(f"[example-e2e] workflow {workflow_name}: SUCCESS, snapshot {snapshot['snapshot_id']} available and tagged",
          file=sys.stderr)
finally:
    call("DELETE", mistral + "/workflows/" + workflow_name)

# A standard action through the same binary, as a synchronous run-action.
text = f"hello from {run}"
status, action = call("POST", mistral + "/action_executions",
                      {"name": f"{prefix}.debug.echo", "input": json.dumps({"output": text}),
                       "params": json.dumps({"run_sync": True})})
check(status == 201, f"POST /action_executions: {status} {action}")
check(action["state"] == "SUCCESS" and json.loads(action["output"]) == {"result": text}, f"run-action {action}")
print(f"[example-e2e] run-action {prefix}.debug.echo: SUCCESS", file=sys.stderr)
PY

# The worker of the example ran both (not some other executor).
for name in "$prefix.acme.volumes.snapshot_and_tag" "$prefix.debug.echo"; do
    grep "action succeeded" "$work/worker.log" | grep -q "action.name=$name" ||
        fail "the worker did not log that $name succeeded: $(tail -40 "$work/worker.log")"
done
kill -TERM "$worker_pid"
wait "$worker_pid" || fail "the worker exited with $? on SIGTERM: $(tail -20 "$work/worker.log")"
worker_pid=
log "passed in $(($(date +%s) - started)) s (build included)"
