#!/usr/bin/env python3
"""Where a worker's CPU goes: reads a `perf record -g` of a worker process
(bench/run.sh records one at C = 64) and charges each sample to the
innermost stack frame of the project's own code, so that the Swift runtime,
malloc and the kernel work done on behalf of, say, the JSON parser count as
the parser's. Samples without any frame of ours (the concurrency runtime
switching tasks, the kernel waking threads) form their own groups.

  bench/profile.py PERF_DATA [--json OUT.json] [--top N]

Prints the groups and the top functions; --json writes both for
bench/report.py.
"""
import argparse
import collections
import json
import re
import subprocess
import sys

OUR_MODULES = re.compile(
    r"(OsloMessaging|OrderedJSON|Worker|AMQPClient|MistralProtocol|ActionKit|ActionCatalog|"
    r"MistralActionsCLI|StartClaims|PostgresClient|StatusServer|CheckedNumbers|OsloConfig)")

# (group, pattern on the demangled function), first match wins.
GROUPS = [
    ("decode a request: oslo envelope, JSON parse, context, arguments",
     r"JSONParser|JSONObject\.(insertParsed|appendNewMember|rebuildIndex|index)|OsloEnvelope\.(decode|unwrap)|"
     r"RPCRequest\.init|RunActionRequest|MistralSerialization\.decode|SerializedAction|RequestContext|JSON\.init.*parsing|"
     r"pumpQueue|Result<RPCRequest|JSONObject|of JSON$|for JSON$|isCompatible|RecentUniqueIDs"),
    ("encode the completion: JSON writer, envelope, ids",
     r"JSONWriter|encodedMessageText|encodedBody|OsloEnvelope\.encode|MistralSerialization\.encode|ActionResult\.serialized|"
     r"MessageID|MistralSerializedObject|onActionCompleteArguments|encodedString|AMQPMessageProperties"),
    ("AMQP connection thread and publish/ack hand-off (incl. socket writes)",
     r"ConnectionLoop|AMQPConnection|ConnectionShared|UnackedDeliveries|ConnectionStateMachine|ConfirmWindow|RabbitMQ"),
    ("log lines", r"LineLogHandler|LogLine|LineBytes|StandardErrorLines|Timestamp|Logger|LogHandler"),
    ("action input and run", r"ActionDescriptor|ActionRunner|Parameter|KeywordArguments|DebugEcho|ActionContext"),
    ("start claims (PostgreSQL)", r"StartClaims|ClaimQueue|Postgres|LibPQ|BatchPlan"),
    ("metrics", r"Metrics|Prometheus|StatusServer"),
    ("worker bookkeeping: task group, delivery state, running set, heartbeats, result publisher",
     r"Worker|DeliveryStateMachine|RunningActions|HeartbeatReporter|ResultPublisher|RPCServer|IncomingBuffer|RPCClient|RPCIncoming|"
     r"TaskGroup|AsyncOnce|ActionRouter|RPCRequest"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in GROUPS]


def demangle(names):
    if not names:
        return {}
    try:
        out = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(names),
                             capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        out = names
    return dict(zip(names, out))


def samples(path):
    """Yields each sample's stack, innermost frame first, as (symbol, dso)."""
    proc = subprocess.Popen(["perf", "script", "-i", path, "-F", "ip,sym,dso"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stack = []
    for line in proc.stdout:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            rest = parts[1]
            dso = rest[rest.rfind(" (") + 2:-1] if rest.endswith(")") and " (" in rest else ""
            symbol = rest[:rest.rfind(" (")] if dso else rest
            stack.append((symbol, dso))
    if stack:
        yield stack
    proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--json")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    by_function = collections.Counter()
    unattributed = collections.Counter()
    total = 0
    for stack in samples(args.data):
        total += 1
        # Frames of the worker's own binary (the Swift runtime's C++ has
        # names like MetadataWaitQueue::Worker).
        ours = next((symbol for symbol, dso in stack
                     if OUR_MODULES.search(symbol) and not dso.startswith(("/opt/", "/usr/", "/lib", "["))), None)
        if ours is not None:
            by_function[ours] += 1
            continue
        symbol, dso = stack[0]
        if "kernel" in dso:
            unattributed["kernel, no frame of ours (wake-ups, scheduling, network receive)"] += 1
        elif "dispatch" in dso or "Concurrency" in dso or any("swift_job_run" in s or "_dispatch" in s for s, _ in stack):
            unattributed["Swift concurrency runtime, no frame of ours (task switches, thread pool)"] += 1
        else:
            unattributed["other, no frame of ours (malloc, runtime, libraries)"] += 1
    if total == 0:
        sys.exit("no samples in %s" % args.data)
    names = demangle(list(by_function))
    groups = collections.Counter()
    functions = collections.Counter()
    for mangled, count in by_function.items():
        name = names.get(mangled, mangled)
        functions[name] += count
        group = next((g for g, pattern in COMPILED if pattern.search(name)), "other code of ours")
        groups[group] += count
    groups.update(unattributed)
    result = {
        "samples": total,
        "groups": [(name, round(100.0 * count / total, 1)) for name, count in groups.most_common()],
        "functions": [(name[:140], round(100.0 * count / total, 1)) for name, count in functions.most_common(args.top)],
    }
    for name, share in result["groups"]:
        print("%5.1f%%  %s" % (share, name))
    print()
    for name, share in result["functions"]:
        print("%5.1f%%  %s" % (share, name))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
