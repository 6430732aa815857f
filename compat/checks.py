#!/usr/bin/env python3
"""The compatibility subset scripts/compat.sh runs against one Mistral release
(standard library only; Mistral's REST API, no Keystone).

  checks.py run RESULT_JSON     # runs every check, writes RESULT_JSON, exit 1 if one failed
  checks.py report DOC RESULT_JSON...   # writes the docs/compatibility.md table

Settings (environment) of `run`:
  COMPAT_API          Mistral's API, e.g. http://127.0.0.1:29101/v2
  COMPAT_SIMULATOR    the OpenStack simulator, e.g. http://127.0.0.1:28500
  COMPAT_EXAMPLES     the project's examples/ directory
  COMPAT_WORKER_LOG   the worker's log (JSON lines)
  COMPAT_EXPECTED     JSON file: `mistral-actions action-list --format json`
                      (the input string the tool expects of each action)
  COMPAT_TAG          makes workflow and resource names unique
  COMPAT_ONLY         comma-separated check names to run (default: all but
                      heartbeat_control, which needs a worker without heartbeats,
                      and provider_allowlist, which needs Mistral restarted)
  COMPAT_DOCTOR_FLAGGED  1 when doctor failed its action providers check
Each check prints one line; RESULT_JSON gets {"checks": {name: {"ok", "detail"}}}
(merged into what the file holds).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request


class CheckFailed(Exception):
    pass


def call(base, method, path, body=None, content_type="application/json", timeout=120, headers=None):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
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


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


class Mistral:
    def __init__(self, base):
        self.base = base

    def put_workflow(self, definition):
        body = definition.encode()
        status, answer = call(self.base, "POST", "/workflows", body, "text/plain")
        if status == 409:
            status, answer = call(self.base, "PUT", "/workflows", body, "text/plain")
        require(status in (200, 201), f"workflow definition refused: {status} {answer}")

    def start(self, workflow, inputs=None):
        status, answer = call(self.base, "POST", "/executions",
                              {"workflow_name": workflow, "input": json.dumps(inputs or {})})
        require(status == 201, f"POST /executions: {status} {answer}")
        return answer["id"]

    def wait(self, execution_id, limit):
        deadline = time.monotonic() + limit
        while True:
            status, answer = call(self.base, "GET", f"/executions/{execution_id}")
            require(status == 200, f"GET /executions/{execution_id}: {status} {answer}")
            if answer["state"] in ("SUCCESS", "ERROR", "CANCELLED"):
                return answer
            require(time.monotonic() < deadline,
                    f"execution {execution_id} still {answer['state']} after {limit} s")
            time.sleep(0.5)

    def run(self, workflow, inputs=None, limit=120):
        execution = self.wait(self.start(workflow, inputs), limit)
        execution["output"] = json.loads(execution.get("output") or "null")
        return execution

    def tasks(self, execution_id):
        status, answer = call(self.base, "GET", f"/executions/{execution_id}/tasks")
        require(status == 200, f"GET tasks: {status} {answer}")
        return answer["tasks"]

    def run_action(self, name, inputs, params=None):
        status, answer = call(self.base, "POST", "/action_executions", {
            "name": name, "input": json.dumps(inputs), "params": json.dumps(params or {})})
        require(status == 201, f"POST /action_executions {name}: {status} {answer}")
        return answer["state"], json.loads(answer.get("output") or "null"), answer.get("state_info")


def log_contains(path, text, limit):
    deadline = time.monotonic() + limit
    while True:
        with open(path, errors="replace") as handle:
            if text in handle.read():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


# ---------------------------------------------------------------- the checks

def check_register(m, env):
    """Every action the worker registered is listed by /v2/actions with the
    input string the tool expects (Mistral derives it from the stubs)."""
    with open(env["COMPAT_EXPECTED"]) as handle:
        expected = {row["name"]: row["input"] for row in json.load(handle)}
    require(expected, "the tool lists no actions")
    status, answer = call(m.base, "GET", "/actions?limit=1000")
    require(status == 200, f"GET /actions: {status} {answer}")
    listed = {a["name"]: a.get("input") for a in answer["actions"]}
    missing = sorted(set(expected) - set(listed))
    require(not missing, f"not listed: {', '.join(missing[:5])}")
    wrong = [f"{n}: {listed[n]!r} (expected {expected[n]!r})" for n in sorted(expected) if listed[n] != expected[n]]
    require(not wrong, "; ".join(wrong[:3]))
    return f"{len(expected)} actions, input strings as expected"


def check_dynamic_api(m, env):
    """Mistral's own API shows what the worker wrote to its tables: the code
    source of the stubs and one dynamic action per action. Some releases
    serve these to the admin role only (Keystone off: the X-Roles header)."""
    admin = {"X-Roles": "admin"}
    plain, _ = call(m.base, "GET", "/dynamic_actions?limit=1")
    status, answer = call(m.base, "GET", "/dynamic_actions?limit=1000", headers=admin)
    require(status == 200, f"GET /dynamic_actions as admin: {status} {str(answer)[:200]}")
    names = {a.get("name") for a in answer.get("dynamic_actions", [])}
    require("int32bit.debug.sleep" in names, f"int32bit.debug.sleep not among {len(names)} dynamic actions")
    status, answer = call(m.base, "GET", "/code_sources/mistral_actions", headers=admin)
    require(status == 200, f"GET /code_sources/mistral_actions as admin: {status} {str(answer)[:200]}")
    require("class " in (answer.get("content") or ""), "the code source has no stubs")
    access = "admin only" if plain == 403 else f"any role ({plain} without admin)"
    return f"{len(names)} dynamic actions and the code source listed; API access: {access}"


def check_sync_run_action(m, env):
    value = {"a": [1, 2.5, "\u00fc"], "tag": env["COMPAT_TAG"]}
    state, output, info = m.run_action("int32bit.debug.echo", {"output": value}, {"run_sync": True})
    require(state == "SUCCESS", f"state {state}: {info}")
    require(output == {"result": value}, f"output {output}")
    return "int32bit.debug.echo returned its input"


def check_with_items(m, env):
    name = f"compat_items_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  input: [n]
  tasks:
    each:
      with-items: i in <% range(0, $.n) %>
      action: int32bit.debug.echo output=<% $.i * 10 %>
      publish:
        results: <% task().result %>
  output:
    results: <% $.results %>
""")
    execution = m.run(name, {"n": 20})
    require(execution["state"] == "SUCCESS", f"{execution['state']}: {execution.get('state_info')}")
    results = execution["output"].get("results")
    require(results == [i * 10 for i in range(20)], f"results {results}")
    return "20 items, results in order"


def check_failing_action(m, env):
    name = f"compat_failing_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  tasks:
    fails:
      action: int32bit.debug.fail message="compat failure text"
""")
    execution = m.run(name)
    require(execution["state"] == "ERROR", f"execution {execution['state']}")
    task = m.tasks(execution["id"])[0]
    require(task["state"] == "ERROR", f"task {task['state']}")
    text = "action int32bit.debug.fail failed: compat failure text"
    require(text in (task.get("state_info") or ""), f"state_info {task.get('state_info')!r}")
    return "task ERROR with the action's message"


def check_router_relay(m, env):
    state, output, info = m.run_action("std.echo", {"output": "relayed " + env["COMPAT_TAG"]})
    require(state == "SUCCESS", f"run-action std.echo: {state}: {info}")
    require(output == {"result": "relayed " + env["COMPAT_TAG"]}, f"output {output}")
    name = f"compat_mixed_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  tasks:
    swift:
      action: int32bit.debug.echo output="from swift"
      publish:
        swift: <% task().result %>
      on-success: [python]
    python:
      action: std.echo output="from python"
      publish:
        python: <% task().result %>
  output:
    both: [<% $.swift %>, <% $.python %>]
""")
    execution = m.run(name)
    require(execution["state"] == "SUCCESS", f"workflow {execution['state']}: {execution.get('state_info')}")
    require(execution["output"].get("both") == ["from swift", "from python"], f"output {execution['output']}")
    return "std.echo relayed to the Python executor (run-action and in a workflow)"


def check_heartbeats(m, env):
    # The engine fails an action after 2 x 2 s without a heartbeat
    # (scripts/compat.sh's window); the sleep lasts far longer.
    name = f"compat_long_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  tasks:
    long:
      action: int32bit.debug.sleep seconds=14
""")
    execution = m.run(name, limit=90)
    require(execution["state"] == "SUCCESS", f"{execution['state']}: {execution.get('state_info')}")
    return "a 14 s action outlived the engine's 4 s heartbeat window"


def check_heartbeat_control(m, env):
    """Run with a worker that sends no heartbeats: the engine must fail the
    action, or the check above proves nothing for this release."""
    name = f"compat_silent_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  tasks:
    long:
      action: int32bit.debug.sleep seconds=120
""")
    execution = m.run(name, limit=100)
    require(execution["state"] == "ERROR", f"execution {execution['state']} (the engine did not fail a silent action)")
    info = m.tasks(execution["id"])[0].get("state_info") or ""
    require("heartbeat" in info.lower(), f"state_info {info!r}")
    return "without heartbeats the engine failed the action: " + info.strip()[:80]


def check_provider_allowlist(m, env):
    """Mistral restarted with `[action_providers] allowlist = legacy,adhoc`
    (no `dynamic`): it hides the Swift actions (18.1 and newer) or ignores
    the option (older); doctor must fail its check exactly when they are hidden."""
    status, answer = call(m.base, "GET", "/actions?limit=1000")
    require(status == 200, f"GET /actions: {status} {str(answer)[:200]}")
    names = {a["name"] for a in answer["actions"]}
    require("std.echo" in names, "std.echo (the legacy provider's) is not listed either")
    hidden = "int32bit.debug.echo" not in names
    flagged = env.get("COMPAT_DOCTOR_FLAGGED") == "1"
    detail = (f"allowlist = legacy,adhoc: Mistral {'hides' if hidden else 'still lists (ignores the option)'} "
              f"the Swift actions; doctor {'reports it' if flagged else 'passes'}")
    require(hidden == flagged, detail)
    return detail


def check_timeout(m, env):
    name = f"compat_timeout_{env['COMPAT_TAG']}"
    m.put_workflow(f"""version: '2.0'
{name}:
  tasks:
    slow:
      action: int32bit.debug.sleep seconds=900
      timeout: 2
""")
    execution = m.run(name, limit=120)
    require(execution["state"] == "ERROR", f"execution {execution['state']}")
    info = (m.tasks(execution["id"])[0].get("state_info") or "").lower()
    require("timeout" in info or "timed out" in info, f"state_info {info!r}")
    require(log_contains(env["COMPAT_WORKER_LOG"], "action timed out and was cancelled", 60),
            "the worker did not cancel the action")
    return "task failed by its timeout; the worker cancelled the action"


def check_backup_example(m, env):
    with open(os.path.join(env["COMPAT_EXAMPLES"], "scheduled_volume_backup.yaml")) as handle:
        m.put_workflow(handle.read())
    status, seeded = call(env["COMPAT_SIMULATOR"], "POST", "/_simulator/seed", {
        "volumes": [{"name": f"compat-{env['COMPAT_TAG']}", "size": 1, "status": "available"}]})
    require(status in (200, 201), f"simulator seed: {status} {seeded}")
    volume = seeded["volumes"][0]["id"]
    lengths = []
    for _ in range(3):
        execution = m.run("scheduled_volume_backup", {
            "volume_id": volume, "max_chain_length": 2, "keep_chains": 1, "wait_timeout": 60}, limit=180)
        require(execution["state"] == "SUCCESS", f"{execution['state']}: {execution.get('state_info')}")
        lengths.append(execution["output"].get("chain_length"))
    require(lengths == [1, 2, 1], f"chain lengths {lengths}, expected [1, 2, 1]")
    chains = execution["output"].get("chains") or []
    require(len(chains) == 1, f"{len(chains)} chains kept, expected 1 (keep_chains)")
    return "chains of 2, the old chain pruned"


CHECKS = [
    ("register", "register, /v2/actions input strings", check_register),
    ("dynamic_api", "/v2/dynamic_actions, /v2/code_sources", check_dynamic_api),
    ("sync_run_action", "sync run-action", check_sync_run_action),
    ("with_items", "with-items workflow", check_with_items),
    ("failing_action", "failing action", check_failing_action),
    ("router_relay", "router relay to Python", check_router_relay),
    ("heartbeats", "heartbeat-kept long action", check_heartbeats),
    ("heartbeat_control", "no heartbeats: engine fails it", check_heartbeat_control),
    ("timeout", "task timeout", check_timeout),
    ("backup_example", "chain-aware backup example", check_backup_example),
    ("provider_allowlist", "[action_providers] allowlist vs doctor", check_provider_allowlist),
]


SEPARATE = {"heartbeat_control", "provider_allowlist"}


def run(result_path):
    env = os.environ
    m = Mistral(env["COMPAT_API"])
    only = [c for c in env.get("COMPAT_ONLY", "").split(",") if c]
    results = {}
    for key, title, function in CHECKS:
        # The control needs a worker without heartbeats: run only when asked.
        if (only and key not in only) or (not only and key in SEPARATE):
            continue
        started = time.monotonic()
        try:
            detail, ok = function(m, env), True
        except CheckFailed as error:
            detail, ok = str(error), False
        except Exception as error:  # a broken API answer is a failed check, not a crash
            detail, ok = f"{type(error).__name__}: {error}", False
        seconds = round(time.monotonic() - started, 1)
        results[key] = {"ok": ok, "detail": detail, "seconds": seconds}
        print(f"[compat] {'PASS' if ok else 'FAIL'} {title} ({seconds} s): {detail}", flush=True)
    try:
        with open(result_path) as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        document = {}
    document.setdefault("checks", {}).update(results)
    with open(result_path, "w") as handle:
        json.dump(document, handle, indent=2)
    return 0 if all(r["ok"] for r in results.values()) else 1


def version_key(version):
    return [int(p) if p.isdigit() else 0 for p in version.split(".")]


def report(doc_path, result_paths):
    rows = []
    for path in result_paths:
        with open(path) as handle:
            rows.append(json.load(handle))
    rows.sort(key=lambda r: version_key(r.get("mistral", "0")))
    head = ["Mistral", "series", "oslo.messaging", "SQLAlchemy"] + [t for _, t, _ in CHECKS] + ["doctor"]
    lines = [
        "# Compatibility with Mistral releases",
        "",
        "Generated by `scripts/compat.sh --doc` (do not edit by hand): one row per",
        "Mistral release, each run on its own (RabbitMQ vhost, database, API port)",
        "against a `mistral-actions worker` built from this tree, with the library",
        "versions of that release's OpenStack series (`compat/constraints/`).",
        "✔ passed, ✘ failed (the details follow the table), – not run.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    details = []
    for row in rows:
        checks = row.get("checks", {})
        cells = [row.get("mistral", "?"), row.get("series", "?"), row.get("oslo.messaging", "?"), row.get("SQLAlchemy", "?")]
        for key, title, _ in CHECKS:
            result = checks.get(key)
            cells.append("–" if result is None else ("✔" if result["ok"] else "✘"))
            if result is not None and not result["ok"]:
                details.append(f"- {row.get('mistral')}, {title}: {result['detail']}")
        doctor = row.get("doctor")
        cells.append("–" if doctor is None else ("✔" if doctor.get("ok") else "✘"))
        if doctor is not None and not doctor.get("ok"):
            details.append(f"- {row.get('mistral')}, doctor: {doctor.get('detail')}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    dates = sorted(r.get("date", "") for r in rows if r.get("date"))
    if dates:
        lines.append(f"Runs from {dates[0]} to {dates[-1]}, worker {rows[-1].get('worker', '?')}.")
        lines.append("")
    if details:
        lines += ["## Failures", ""] + details + [""]
    notes = os.environ.get("COMPAT_NOTES")
    if notes and os.path.exists(notes):
        with open(notes) as handle:
            lines += [handle.read().rstrip(), ""]
    with open(doc_path, "w") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2]))
    if len(sys.argv) >= 3 and sys.argv[1] == "report":
        sys.exit(report(sys.argv[2], sys.argv[3:]))
    sys.exit(__doc__)
