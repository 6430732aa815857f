#!/usr/bin/env bash
# The demo of scripts/run.sh: with a worker running, asks the local Mistral to
# run examples/scheduled_volume_backup.yaml a few times on the simulator's
# demo volume, and shows how the backups chain up (as Cinder keeps them).
#
#   scripts/demo.sh [RUNS]      # default 5 runs, max_chain_length 3, keep_chains 1
#
# Needs Mistral (scripts/mistral.sh), the simulator (scripts/simulator.sh) and
# a mistral-actions worker configured for that simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
MA_LOG_TAG=demo
. scripts/lib.sh
runs=${1:-5}
eval "$(scripts/mistral.sh env)"
eval "$(scripts/simulator.sh env)"
api=$MA_TEST_MISTRAL_URL
volume=11111111-2222-3333-4444-555555555555

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

curl -fsS -X POST -H 'Content-Type: text/plain' --data-binary @examples/scheduled_volume_backup.yaml "$api/workflows" >/dev/null 2>&1 \
    || curl -fsS -X PUT -H 'Content-Type: text/plain' --data-binary @examples/scheduled_volume_backup.yaml "$api/workflows" >/dev/null
input=$(printf '{"volume_id": "%s", "max_chain_length": 3, "keep_chains": 1, "wait_timeout": 120}' "$volume")

ma_log "running scheduled_volume_backup $runs times on volume $volume (max_chain_length 3, keep_chains 1)"
for run in $(seq "$runs"); do
    body=$(python3 -c 'import json,sys; print(json.dumps({"workflow_name": "scheduled_volume_backup", "input": sys.argv[1]}))' "$input")
    id=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "$body" "$api/executions" | json 'd["id"]')
    state=RUNNING
    for _ in $(seq 600); do
        execution=$(curl -fsS "$api/executions/$id")
        state=$(json 'd["state"]' <<<"$execution")
        [ "$state" = RUNNING ] || break
        sleep 0.5
    done
    if [ "$state" != SUCCESS ]; then
        ma_log "run $run: $state: $(json 'd.get("state_info")' <<<"$execution")"
        exit 1
    fi
    json 'd["output"]' <<<"$execution" | python3 -c '
import json, sys
out = json.load(sys.stdin)
kind = "incremental" if out["incremental"] else "full       "
deleted = out.get("deleted_backups") or []
chains = " | ".join(" <- ".join(b["id"][:8] for b in c["backups"]) for c in out["chains"])
line = "run %s: %s backup %s, chain length %s" % (sys.argv[1], kind, out["backup_id"][:8], out["chain_length"])
if deleted:
    line += ", deleted %d old backups" % len(deleted)
print(line + "   chains: " + chains)' "$run"
done

ma_log "the volume's backups as the simulated Cinder holds them (parent_id is never shown by Cinder's API):"
curl -fsS "$MA_TEST_SIMULATOR_URL/_simulator/state" | python3 -c '
import json, sys
state = json.load(sys.stdin)
backups = [b for b in state["backups"] if b["volume_id"] == sys.argv[1]]
for b in sorted(backups, key=lambda b: b["created_at"]):
    parent = (b.get("parent_id") or "-")[:8]
    print("  %s  %-10s parent %-8s  %s" % (b["id"][:8], b["status"], parent, b["name"]))' "$volume"
