#!/usr/bin/env python3
"""Mistral REST calls and counting for scripts/faults.sh (standard library only).

  faulttool.py put-workflow URL < definition.yaml
  faulttool.py start URL WORKFLOW COUNT INPUT_JSON|@FILE [INTERVAL_SECONDS]  # prints execution ids
  faulttool.py executions URL WORKFLOW                                  # "STATE count" lines
  faulttool.py completions LOG...                                       # finished runs in worker logs
  faulttool.py report URL WORKFLOW SCENARIO DIR                         # the scenario's table
  faulttool.py check DIR...                                             # exit 1 if lost or non-safe run twice

A scenario DIR holds worker-*.log (JSON log lines of `mistral-actions worker`),
faults.tsv (label, start epoch, end epoch of each injected fault), and gets
report.json and report.txt.
"""
import collections
import datetime
import glob
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request


def call(base, method, path, body=None, content_type="application/json", timeout=120):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    request.add_header("X-Roles", "admin")
    for attempt in range(30):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
            # Mistral's API may be busy or restarting (its DB or broker is the fault).
            if attempt == 29:
                raise
            print(f"[faulttool] {method} {path}: {error}; retrying", file=sys.stderr)
            time.sleep(2)


def put_workflow(base):
    definition = sys.stdin.read().encode()
    status, body = call(base, "POST", "/workflows", definition, "text/plain")
    if status == 409:
        status, body = call(base, "PUT", "/workflows", definition, "text/plain")
    if status not in (200, 201):
        sys.exit(f"workflow definition refused: {status} {body}")


def start(base, workflow, count, input_json, interval=0.0):
    if input_json.startswith("@"):  # a file: inputs too large for a command line
        with open(input_json[1:]) as handle:
            input_json = handle.read()
    next_at = time.monotonic()
    for _ in range(count):
        status, body = call(base, "POST", "/executions", {"workflow_name": workflow, "input": input_json})
        if status != 201:
            print(f"[faulttool] POST /executions: {status} {body}", file=sys.stderr)
            continue
        print(body["id"], flush=True)
        if interval > 0:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def listing(base, path, key, query, fields):
    """Every row of a paged Mistral listing."""
    rows, marker = [], None
    while True:
        q = f"{query}&limit=500&sort_keys=created_at,id&sort_dirs=asc,asc"
        if fields:
            q += f"&fields={fields}"
        if marker:
            q += f"&marker={marker}"
        status, body = call(base, "GET", f"{path}?{q}")
        if status != 200:
            sys.exit(f"GET {path}: {status} {body}")
        page = body.get(key, [])
        rows.extend(page)
        if len(page) < 500:
            return rows
        marker = page[-1]["id"]


def executions(base, workflow):
    rows = listing(base, "/executions", "executions", f"workflow_name={workflow}", None)
    for state, n in sorted(collections.Counter(r["state"] for r in rows).items()):
        print(state, n)


def parse_time(text):
    return datetime.datetime.strptime(text.rstrip("Z")[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def read_logs(paths):
    """(worker, line dict) for every JSON line of the workers' logs."""
    for path in sorted(paths):
        worker = re.sub(r"\.log(\.\d+)?$", "", os.path.basename(path))
        worker = re.sub(r"\.\d+$", "", worker)
        with open(path, errors="replace") as handle:
            for raw in handle:
                raw = raw.strip()
                if not raw.startswith("{"):
                    continue
                try:
                    yield worker, json.loads(raw)
                except ValueError:
                    continue


FINISHED = ("action succeeded", "action failed", "action timed out and was cancelled")


def completions(paths):
    print(sum(1 for _, line in read_logs(paths) if line.get("message") in FINISHED))


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalize(text, limit=150):
    text = UUID.sub("<id>", text or "")
    text = re.sub(r"\b\d+(\.\d+)?\b", "N", text)
    return text[:limit]


def report(base, workflow, scenario, directory):
    # Mistral 23 lists action executions without their task's name, and its
    # `fields` filter shifts values between columns: whole rows, and the
    # names from the task list.
    actions = listing(base, "/action_executions", "action_executions",
                      f"workflow_name={workflow}&include_output=true", None)
    tasks = listing(base, "/tasks", "tasks", f"workflow_name={workflow}", None)
    task_names = {t["id"]: t["name"] for t in tasks}
    for a in actions:
        a["task_name"] = task_names.get(a.get("task_execution_id"), "?")
    workflows = listing(base, "/executions", "executions", f"workflow_name={workflow}", None)
    by_id = {a["id"]: a for a in actions}
    safe_tasks = {"safe", "safe_long"}

    starts = collections.Counter()
    finishes = collections.Counter()
    refused_redelivered = collections.Counter()
    first_finish_after = []          # (time, worker) of every finished run
    problems = collections.Counter()  # worker warnings/errors by message
    for worker, line in read_logs(glob.glob(os.path.join(directory, "worker-*.log*"))):
        message = line.get("message", "")
        # JSON log field names: `action_execution_id` / `@timestamp` (before:
        # `action.execution_id` / `time`).
        execution_id = line.get("action_execution_id") or line.get("action.execution_id")
        if message == "running action" and execution_id:
            starts[execution_id] += 1
        elif message in FINISHED and execution_id:
            finishes[execution_id] += 1
            first_finish_after.append((parse_time(line.get("@timestamp") or line["time"]), worker))
        elif message.startswith(("not rerunning a redelivered request", "not running a redelivered request again",
                                 "a redelivered copy of a request this worker is running")) and execution_id:
            refused_redelivered[execution_id] += 1
        if line.get("level") in ("warning", "error", "critical"):
            problems[f"{line.get('level')}: {normalize(message, 90)}"] += 1

    # debug.record's lines (records.txt, shared by the workers): a run is
    # counted there even when its worker died before it logged anything.
    recorded_starts = collections.Counter()
    recorded_ends = collections.Counter()
    records_path = os.path.join(directory, "records.txt")
    if os.path.exists(records_path):
        for row in open(records_path, errors="replace"):
            fields = row.split()
            if len(fields) == 5 and fields[4] == "start":
                recorded_starts[fields[0]] += 1
            elif len(fields) == 5 and fields[4] == "end":
                recorded_ends[fields[0]] += 1
    for execution_id, n in recorded_starts.items():
        starts[execution_id] = max(starts[execution_id], n)

    states = collections.Counter(a["state"] for a in actions)
    final = {"SUCCESS", "ERROR", "CANCELLED"}
    unfinished = [a for a in actions if a["state"] not in final]
    lost_never_run = [a for a in unfinished if starts[a["id"]] == 0]
    lost_after_run = [a for a in unfinished if starts[a["id"]] > 0]

    def duplicated(counter, safe):
        return sorted(i for i, n in counter.items()
                      if n > 1 and i in by_id and (by_id[i].get("task_name") in safe_tasks) == safe)

    def reason(a):
        # An action's error is its output's "result"; state_info is mostly empty.
        text = a.get("state_info") or ""
        try:
            output = json.loads(a.get("output") or "null")
            if isinstance(output, dict) and output.get("result") is not None:
                text = str(output["result"])
        except ValueError:
            text = text or (a.get("output") or "")
        return normalize(text)
    errors = collections.Counter(reason(a) for a in actions if a["state"] == "ERROR")
    workflow_states = collections.Counter(w["state"] for w in workflows)

    recoveries = []
    faults_path = os.path.join(directory, "faults.tsv")
    workers = sorted({w for _, w in first_finish_after})
    if os.path.exists(faults_path):
        for row in open(faults_path):
            label, began, ended = row.rstrip("\n").split("\t")[:3]
            ended = float(ended)
            firsts = {}
            for t, w in sorted(first_finish_after):
                if t >= ended and w not in firsts:
                    firsts[w] = t
            if workers and len(firsts) == len(workers):
                recoveries.append((label, round(max(firsts.values()) - ended, 1), ""))
            elif firsts:
                recoveries.append((label, round(max(firsts.values()) - ended, 1),
                                   f"only {len(firsts)} of {len(workers)} workers finished a run afterwards"))
            else:
                recoveries.append((label, None, "no run finished after the fault"))

    table = collections.OrderedDict()
    table["requests (action executions)"] = len(actions)
    table["  of which safe-rerun"] = sum(1 for a in actions if a.get("task_name") in safe_tasks)
    table["final states"] = ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
    table["lost (no final state)"] = len(unfinished)
    table["  never run by a worker"] = len(lost_never_run)
    table["  run, result never recorded"] = len(lost_after_run)
    table["duplicated non-safe (runs started >1)"] = len(duplicated(starts, False))
    table["duplicated safe (runs started >1)"] = len(duplicated(starts, True))
    table["duplicated non-safe (runs finished >1)"] = len(duplicated(finishes, False))
    table["duplicated safe (runs finished >1)"] = len(duplicated(finishes, True))
    table["redelivered non-safe refused (not rerun)"] = sum(refused_redelivered.values())
    table["stuck RUNNING workflow executions"] = workflow_states.get("RUNNING", 0)
    table["workflow executions"] = ", ".join(f"{s} {n}" for s, n in sorted(workflow_states.items()))
    table["worker runs started / finished"] = f"{sum(starts.values())} / {sum(finishes.values())}"
    if recorded_starts:
        table["debug.record runs started / ended (records.txt)"] = (
            f"{sum(recorded_starts.values())} / {sum(recorded_ends.values())}; "
            f"started >1: non-safe {len(duplicated(recorded_starts, False))}, safe {len(duplicated(recorded_starts, True))}")
    for reason, n in errors.most_common(6):
        table[f"ERROR x{n}"] = reason
    for label, seconds, note in recoveries:
        table[f"recovery after {label} (s)"] = (f"{seconds}" if seconds is not None else "-") + (f" ({note})" if note else "")
    for problem, n in problems.most_common(8):
        table[f"worker log x{n}"] = problem

    width = max(len(k) for k in table)
    lines = [f"== {scenario}  (workflow {workflow}, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC)"]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in table.items()]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(directory, "report.txt"), "w") as handle:
        handle.write(text + "\n")
    detail = {
        "table": table,
        "lost_never_run": [a["id"] for a in lost_never_run],
        "lost_after_run": [a["id"] for a in lost_after_run],
        "duplicated_started": {i: starts[i] for i in duplicated(starts, False) + duplicated(starts, True)},
        "duplicated_finished": {i: finishes[i] for i in duplicated(finishes, False) + duplicated(finishes, True)},
        "errors": dict(errors),
        # What scripts/faults.sh checks: nothing lost, no non-safe action
        # started twice (from the logs or from debug.record's lines).
        "lost": len(unfinished),
        "duplicated_non_safe": len(set(duplicated(starts, False)) | set(duplicated(recorded_starts, False))),
    }
    with open(os.path.join(directory, "report.json"), "w") as handle:
        json.dump(detail, handle, indent=1)


def check(directories):
    """Exit 1 when a scenario lost an action or started a non-safe one twice."""
    failed = []
    for directory in directories:
        path = os.path.join(directory, "report.json")
        name = os.path.basename(directory.rstrip("/"))
        if not os.path.exists(path):
            failed.append(f"{name}: no report")
            continue
        detail = json.load(open(path))
        lost, twice = detail.get("lost"), detail.get("duplicated_non_safe")
        if name == "mixed-restarts-default":
            # oslo's default topology (non-durable queues, transient
            # messages) loses what the broker held when it stops: measured
            # and shown, not promised (docs/reliability.md).
            lost = 0
        if lost or twice:
            failed.append(f"{name}: {lost} lost, {twice} non-safe started twice")
        else:
            print(f"[faults] check {name}: 0 lost, 0 non-safe started twice")
    for line in failed:
        print(f"[faults] check FAILED {line}", file=sys.stderr)
    sys.exit(1 if failed else 0)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "put-workflow":
        put_workflow(args[0])
    elif command == "start":
        start(args[0], args[1], int(args[2]), args[3], float(args[4]) if len(args) > 4 else 0.0)
    elif command == "executions":
        executions(args[0], args[1])
    elif command == "completions":
        completions(args)
    elif command == "report":
        report(*args[:4])
    elif command == "check":
        check(args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
