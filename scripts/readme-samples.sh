#!/usr/bin/env bash
# Regenerates the command samples of README.md from the real output of the
# current `mistral-actions` binary, run against the local stack (RabbitMQ and
# PostgreSQL of scripts/local-services.sh, Mistral 23 of scripts/mistral.sh).
#
#   scripts/readme-samples.sh           # rewrites the samples in README.md
#   scripts/readme-samples.sh --check   # fails (exit 1, with a diff) when README.md differs
#
# A sample is the fenced block between `<!-- sample: NAME -->` and
# `<!-- /sample -->` in README.md. The commands run with a configuration of
# their own (action prefix `rdsample`, code source `cli_test_readme`, a worker
# on a topic of its own for `doctor`), so that the rows and queues of other
# users of the stack are never touched; the output is then written as the
# defaults would print it (prefix `int32bit`, code source `mistral_actions`,
# topic `mistral_executor`), with ids and temporary paths replaced by fixed
# ones, and the tables re-aligned. Everything registered is removed at the end.
#
# Settings (environment): MA_BINARY (default: the debug build's mistral-actions);
# MA_SAMPLES_KEEP=1 keeps the raw outputs (their temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
MA_LOG_TAG=readme-samples
. scripts/lib.sh

check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

binary=${MA_BINARY:-$(swift build --show-bin-path)/mistral-actions}
[ -x "$binary" ] || { ma_log "error: $binary is not built (swift build)"; exit 1; }
eval "$(scripts/local-services.sh env)"
eval "$(scripts/mistral.sh env)"

prefix=rdsample
code_source=cli_test_readme
topic=readme_samples_executor
work=$(mktemp -d)
config=$work/mistral.conf
worker_pid=
cleanup() {
    [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    "$binary" clear --config-file "$config" >/dev/null 2>&1 || true
    # The worker's queues outlive it (oslo's topic, server and fanout queues).
    for queue in "$topic" "$topic.readme-samples" $(scripts/local-services.sh rabbitmqctl list_queues --silent name 2>/dev/null | grep "^${topic}_fanout_" || true); do
        scripts/local-services.sh rabbitmqctl delete_queue "$queue" >/dev/null 2>&1 || true
    done
    [ -n "${MA_SAMPLES_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

cat > "$config" <<CONF
[DEFAULT]
transport_url = $MA_TEST_AMQP_URL

[database]
connection = $MA_TEST_MISTRAL_DATABASE_URL

[executor]
topic = $topic
host = readme-samples

[mistral_actions]
action_prefix = $prefix
code_source_name = $code_source
fallback_topic = ${MA_TEST_FALLBACK_TOPIC:-mistral_executor_python}
http_listen = off
log_level = warning
CONF

# One sample: `$ <shown command>` and the output of the real command, in $work/<name>.
# run NAME "SHOWN COMMAND" [--keep-head N --keep-tail M] -- ARGS...
run() {
    local name=$1 shown=$2; shift 2
    local head= tail=
    while [ "$1" != -- ]; do
        case $1 in --keep-head) head=$2 ;; --keep-tail) tail=$2 ;; esac
        shift 2
    done
    shift
    local output status=0
    output=$("$binary" "$@" 2>&1) || status=$?
    {
        printf '$ %s\n' "$shown"
        if [ -n "$head$tail" ]; then
            [ -n "$head" ] && [ "$head" != 0 ] && printf '%s\n' "$output" | head -n "$head"
            printf '...\n'
            printf '%s\n' "$output" | tail -n "${tail:-0}"
        else
            printf '%s\n' "$output"
        fi
    } >> "$work/$name"
    printf '%s\n' "$status" > "$work/$name.status"
}

ma_log "running the commands (prefix $prefix, code source $code_source)"
"$binary" clear --config-file "$config" >/dev/null 2>&1 || true
run discover "mistral-actions discover" -- discover
run register "mistral-actions register --config-file /etc/mistral/mistral.conf" -- register --config-file "$config"
run register "mistral-actions register --config-file /etc/mistral/mistral.conf" --keep-head 0 --keep-tail 3 -- register --config-file "$config"
run action-list "mistral-actions action-list --config-file /etc/mistral/mistral.conf" -- action-list --config-file "$config"

# doctor: every check passes with a worker consuming the executor topic.
"$binary" worker --config-file "$config" --set mistral_actions.log_level=info > "$work/worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 1200); do
    grep -q "worker consuming" "$work/worker.log" && break
    kill -0 "$worker_pid" 2>/dev/null || { cat "$work/worker.log" >&2; ma_log "error: the worker exited"; exit 1; }
    sleep 0.1
done
grep -q "worker consuming" "$work/worker.log" || { cat "$work/worker.log" >&2; ma_log "error: the worker did not start"; exit 1; }
run doctor "mistral-actions doctor --config-file /etc/mistral/mistral.conf" -- doctor --config-file "$config"
kill "$worker_pid"; wait "$worker_pid" 2>/dev/null || true; worker_pid=

run unregister "mistral-actions unregister int32bit.debug.noop nope --config-file /etc/mistral/mistral.conf" \
    -- unregister "$prefix.debug.noop" nope --config-file "$config"
run unregister "mistral-actions clear --config-file /etc/mistral/mistral.conf      # all of ours, and the code source" \
    --keep-head 4 --keep-tail 2 -- clear --config-file "$config"
run error "mistral-actions action-list --set database.connection=postgresql://x:y@127.0.0.1:1/db" \
    -- action-list --set database.connection=postgresql://x:y@127.0.0.1:1/db

for name in discover register action-list doctor; do
    status=$(cat "$work/$name.status")
    [ "$name" = doctor ] || [ "$status" = 0 ] || { cat "$work/$name" >&2; ma_log "error: $name failed ($status)"; exit 1; }
done

MA_SAMPLES_DIR=$work MA_SAMPLES_CHECK=$check MA_PREFIX=$prefix MA_CODE_SOURCE=$code_source MA_TOPIC=$topic \
    MA_CONFIG=$config python3 - <<'PY'
import difflib, os, re, sys

work = os.environ["MA_SAMPLES_DIR"]
check = os.environ["MA_SAMPLES_CHECK"] == "1"

# What the defaults and a production configuration would print.
replacements = [
    (os.environ["MA_CONFIG"], "/etc/mistral/mistral.conf"),
    (os.environ["MA_PREFIX"] + ".", "int32bit."),
    (os.environ["MA_CODE_SOURCE"], "mistral_actions"),
    (os.environ["MA_TOPIC"], "mistral_executor"),
]
patterns = [
    # Ids differ on every run.
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "523abfe7-692a-4986-b527-c32bbc17f4e3"),
    # Python executors on the fallback topic: as many as the stack runs.
    (re.compile(r"\b\d+ consumer\(s\): Python executors"), "1 consumer(s): Python executors"),
]

def normalise(text):
    for old, new in replacements:
        text = text.replace(old, new)
    for pattern, new in patterns:
        text = pattern.sub(new, text)
    return text

def realign(lines, identity=False):
    """Normalises each line and re-pads the text tables (+---+ borders, | cells |)
    whose cells the replacements made wider or narrower: a column grows or
    shrinks by what its widest cell did (a table cut short keeps its widths)."""
    out, block = [], []
    def cells(line):
        return [c.strip() for c in line.strip()[1:-1].split(" | ")]
    def flush():
        if not block:
            return
        border = next((line for line in block if line.startswith("+")), None)
        rows = [None if line.startswith("+") else (cells(line), cells(line if identity else normalise(line))) for line in block]
        count = max(len(row[0]) for row in rows if row is not None) if any(rows) else 0
        widths = [len(part) - 2 for part in border.strip("+").split("+")] if border else [0] * count
        for i in range(len(widths)):
            old = max((len(row[0][i]) for row in rows if row is not None and i < len(row[0])), default=0)
            new = max((len(row[1][i]) for row in rows if row is not None and i < len(row[1])), default=0)
            widths[i] = max(widths[i] + new - old, new)
        for row in rows:
            if row is None:
                out.append("+" + "+".join("-" * (w + 2) for w in widths) + "+")
            else:
                out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[1])) + " |")
        block.clear()
    for line in lines:
        if line.startswith("+-") or (line.startswith("| ") and line.endswith(" |")):
            block.append(line)
        else:
            flush()
            out.append(line if identity else normalise(line))
    flush()
    return out

samples = {}
for name in ["discover", "register", "action-list", "doctor", "unregister", "error"]:
    with open(os.path.join(work, name), encoding="utf-8") as f:
        raw = f.read().rstrip("\n").split("\n")
    # Without replacements the re-alignment must give the output back as it
    # is, or it would change more than widths.
    if realign(raw, identity=True) != raw:
        sys.exit(f"readme-samples: the {name} tables are not in the expected layout")
    samples[name] = "\n".join(realign(raw))

with open("README.md", encoding="utf-8") as f:
    readme = f.read()
marker = re.compile(r"(<!-- sample: ([a-z-]+) -->\n)(.*?)(<!-- /sample -->)", re.S)
found = set()
def replace(match):
    name = match.group(2)
    if name not in samples:
        sys.exit(f"readme-samples: README.md has a sample '{name}' this script does not make")
    found.add(name)
    return match.group(1) + "```text\n" + samples[name] + "\n```\n" + match.group(4)
updated = marker.sub(replace, readme)
missing = set(samples) - found
if missing:
    sys.exit(f"readme-samples: README.md has no marker for {sorted(missing)}")
if check:
    if updated != readme:
        sys.stdout.writelines(difflib.unified_diff(
            readme.splitlines(True), updated.splitlines(True), "README.md", "README.md (current binary)"))
        sys.exit("readme-samples: README.md's samples differ from the current binary's output; run scripts/readme-samples.sh")
    print("readme-samples: README.md's samples are current", file=sys.stderr)
elif updated != readme:
    with open("README.md", "w", encoding="utf-8") as f:
        f.write(updated)
    print("readme-samples: README.md updated", file=sys.stderr)
else:
    print("readme-samples: README.md unchanged", file=sys.stderr)
PY
