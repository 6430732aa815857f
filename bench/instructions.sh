#!/usr/bin/env bash
# The benchmark's regression guard: counts the CPU instructions the worker
# spends per action on its hot path without the broker (decode a captured
# run_action, route it, encode the on_action_complete: bench/instructions/)
# under valgrind's callgrind, and fails when the count grew more than 20%
# over bench/baseline.json. Instruction counts, unlike times, do not move
# with the load of a shared machine.
#
#   bench/instructions.sh             # print, compare, exit 1 on a regression
#   bench/instructions.sh --update    # write the count into bench/baseline.json
#   bench/instructions.sh --print     # only print the count (bench/run.sh's report)
#
# Settings (environment): BENCH_CONFIGURATION (debug, what CI builds;
# release), BENCH_TOLERANCE (percent, 20). The baseline holds one number per
# build configuration. Two runs (few and many iterations) cancel out the
# start-up cost: per action = (I_many - I_few) / (many - few).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION=${BENCH_CONFIGURATION:-debug}
TOLERANCE=${BENCH_TOLERANCE:-20}
FEW=20
MANY=220
log() { printf '[instructions] %s\n' "$*" >&2; }

if ! command -v valgrind >/dev/null || ! command -v objcopy >/dev/null; then
    . scripts/lib.sh
    ma_apt_install valgrind binutils
fi
swift build -c "$CONFIGURATION" --product mistral-actions-instructions >/dev/null
# Without its debug information: valgrind's reader gives up on the DWARF the
# Swift compiler writes (the count of instructions does not need it).
binary=$(mktemp)
trap 'rm -f "$binary"' EXIT
objcopy --strip-debug "$(swift build -c "$CONFIGURATION" --show-bin-path)/mistral-actions-instructions" "$binary"

instructions() {
    local out
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" 2>&1) \
        || { printf '%s\n' "$out" >&2; log "the workload failed"; exit 2; }
    grep -q "^iterations $1 " <<<"$out" || { printf '%s\n' "$out" >&2; log "the workload did not finish"; exit 2; }
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out"
}
few=$(instructions $FEW)
many=$(instructions $MANY)
per_action=$(( (many - few) / (MANY - FEW) ))
log "$per_action instructions per action ($CONFIGURATION build; decode, route, encode)"
if [ "${1:-}" = --print ]; then
    echo "$per_action"
    exit 0
fi

baseline_file=bench/baseline.json
if [ "${1:-}" = --update ]; then
    python3 - "$baseline_file" "$CONFIGURATION" "$per_action" <<'PY'
import json, os, sys
path, configuration, value = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = json.load(open(path)) if os.path.exists(path) else {}
data.setdefault("instructions_per_action", {})[configuration] = value
data["comment"] = ("CPU instructions per action of bench/instructions (decode, route, encode), "
                   "counted by callgrind; bench/instructions.sh fails above this + 20%; "
                   "bench/instructions.sh --update rewrites it.")
with open(path, "w") as f:
    json.dump(data, f, indent=2, sort_keys=True)
    f.write("\n")
PY
    log "wrote $baseline_file"
    exit 0
fi
baseline=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["instructions_per_action"].get(sys.argv[2], 0))' "$baseline_file" "$CONFIGURATION" 2>/dev/null || echo 0)
if [ "$baseline" = 0 ]; then
    log "no $CONFIGURATION baseline in $baseline_file: run bench/instructions.sh --update"
    exit 1
fi
limit=$(( baseline * (100 + TOLERANCE) / 100 ))
change=$(python3 -c "print('%+.1f' % (($per_action - $baseline) * 100 / $baseline))")
if [ "$per_action" -gt "$limit" ]; then
    log "REGRESSION: $per_action instructions per action, baseline $baseline ($change%, limit +$TOLERANCE%)"
    log "if the growth is intended, run bench/instructions.sh --update and commit bench/baseline.json"
    exit 1
fi
log "ok: baseline $baseline ($change%, limit +$TOLERANCE%)"
