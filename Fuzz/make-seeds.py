#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets (Fuzz/corpus/<target>/seed-*).

Seeds are readable inputs whose outcome is known (FuzzCorpusTests asserts
several of them) and hostile values that broke conversions before. Files the
fuzzer finds are kept beside them under their hash names. Run it again after
changing it; it only rewrites seed-* and capture-* files.

    Fuzz/make-seeds.py [/work/shared/protocol/captures]
"""
import glob
import json
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
captures = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/protocol/captures"


def write(target, name, data):
    directory = os.path.join(root, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# --- oslo-request: message bodies -------------------------------------------

template = None
seen = set()
for path in sorted(glob.glob(os.path.join(captures, "*.jsonl"))):
    base = os.path.basename(path).split(".")[0]
    for number, line in enumerate(open(path)):
        event = json.loads(line)
        body = event.get("body")
        if event.get("event") != "publish" or not body or body in seen:
            continue
        seen.add(body)
        message = json.loads(json.loads(body)["oslo.message"])
        method = message.get("method") or "reply"
        write("oslo-request", f"capture-{base}-{number:02d}-{method}.json", body)
        if method == "run_action" and template is None and "DynamicAction" in message["args"]["action"]:
            template = message

assert template is not None, "no captured run_action of a DynamicAction"


def stub(name):
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", ".").replace("_", ".").split(".")) + "Action"


def body(message):
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def run_action(action_name, data, *, cast=False, timeout=None, message_fields=None, action=None):
    """A run_action for one of our actions, as the engine sends it (arguments as JSON text)."""
    message = json.loads(json.dumps(template))
    serial = {"cls_name": stub(action_name), "cls_attrs": {}, "data": data,
              "code_source_id": "2ba3ae59-11e4-4aee-b385-bf22d20bd8d8", "namespace": ""}
    message["args"]["action"] = action or json.dumps(
        {"__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": json.dumps(serial)})
    message["args"]["timeout"] = json.dumps(timeout) if not isinstance(timeout, str) else timeout
    if cast:
        message["args"]["action_ex_id"] = json.dumps("6f1c1a0e-0000-4000-8000-000000000001")
        message["args"]["exec_ctx"] = json.dumps({"workflow_execution_id": "wf-1", "task_execution_id": "task-1"})
        for key in ("_msg_id", "_reply_q", "_timeout"):
            message.pop(key, None)
    message.update(message_fields or {})
    return body(message)


write("oslo-request", "seed-debug-echo-call.json", run_action("debug.echo", {"output": "hello"}))
write("oslo-request", "seed-debug-echo-cast.json", run_action("debug.echo", {"output": {"a": [1, 2.5, None]}}, cast=True))
write("oslo-request", "seed-debug-echo-nan.json", run_action("debug.echo", {"output": float("nan")}, cast=True))
write("oslo-request", "seed-debug-echo-infinity.json", run_action("debug.echo", {"output": float("inf")}))
write("oslo-request", "seed-debug-echo-bigint.json", run_action("debug.echo", {"output": 123456789012345678901234567890}))
write("oslo-request", "seed-debug-fail.json", run_action("debug.fail", {"message": "boom"}, cast=True))
write("oslo-request", "seed-debug-noop-timeout-1e300.json", run_action("debug.noop", {}, timeout="1e300"))
write("oslo-request", "seed-debug-noop-timeout-1e19.json", run_action("debug.noop", {}, timeout="1e19"))
write("oslo-request", "seed-debug-noop-timeout-9223372036854775807.json",
      run_action("debug.noop", {}, timeout="9223372036854775807"))
write("oslo-request", "seed-debug-noop-timeout-nan.json", run_action("debug.noop", {}, timeout="NaN"))
write("oslo-request", "seed-debug-noop-timeout-negative-zero.json", run_action("debug.noop", {}, timeout="-0.0"))
write("oslo-request", "seed-debug-noop-call-monitor-1e300.json", run_action("debug.noop", {}, message_fields={"_timeout": 1e300}))
write("oslo-request", "seed-debug-noop-call-monitor-1e19.json", run_action("debug.noop", {}, message_fields={"_timeout": 1e19}))
write("oslo-request", "seed-debug-noop-redelivered.json",
      run_action("debug.noop", {}, cast=True, message_fields={"_context_redelivered": True}))
write("oslo-request", "seed-debug-sleep-1e300.json", run_action("debug.sleep", {"seconds": 1e300}))
write("oslo-request", "seed-debug-sleep-infinity.json", run_action("debug.sleep", {"seconds": float("inf")}))
write("oslo-request", "seed-debug-sleep-string.json", run_action("debug.sleep", {"seconds": "1"}))
write("oslo-request", "seed-glance-filter-size-min-1e19.json",
      run_action("glance.images.filter_by", {"size_min": 1e19, "wait_timeout": 1e300}))
write("oslo-request", "seed-cinder-assert-status.json",
      run_action("cinder.volumes.assert_status",
                 {"volume_id": "11111111-2222-3333-4444-555555555555", "status": "available", "wait_timeout": 1e300}))
write("oslo-request", "seed-system-exec.json", run_action("system.exec", {"cmd": "cat /etc/passwd"}))
write("oslo-request", "seed-unknown-action.json", run_action("no.such_action", {}))
adhoc = json.dumps({"__serial_key": "mistral.actions.adhoc.AdHocAction", "__serial_data": {"base_action": json.dumps(
    {"__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": json.dumps(
        {"cls_name": "DebugEchoAction", "data": {"output": 1}, "code_source_id": "x"})})}})
write("oslo-request", "seed-adhoc-debug-echo.json", run_action("debug.echo", {}, action=adhoc))
nested = {"__serial_key": "mistral.actions.dynamic_action.DynamicAction", "__serial_data": {"cls_name": "X", "code_source_id": "x"}}
for _ in range(12):
    nested = {"__serial_key": "mistral.actions.adhoc.AdHocAction", "__serial_data": {"base_action": nested}}
write("oslo-request", "seed-adhoc-nested-12.json", run_action("debug.echo", {}, action=json.dumps(nested)))

# Python's json accepts these; the router must pass them through (issue 10, part 2).
std_echo = json.loads(json.dumps(template))
std_echo["args"]["action"] = json.dumps({"__serial_key": "mistral_lib.actions.base.Action", "__serial_data": json.dumps(
    {"cls": "mistral.actions.std_actions.EchoAction", "data": {"output": float("inf")}})})
write("oslo-request", "seed-std-echo-infinity.json", body(std_echo))
text = body(std_echo)
write("oslo-request", "seed-std-echo-duplicate-keys.json", text.replace('"method": "run_action"', '"method": "x", "method": "run_action"'))
surrogate = json.loads(json.dumps(template))
surrogate["args"]["action"] = json.dumps({"__serial_key": "mistral_lib.actions.base.Action", "__serial_data": json.dumps(
    {"cls": "mistral.actions.std_actions.EchoAction", "data": {"output": "\ud800"}})})
write("oslo-request", "seed-std-echo-lone-surrogate.json", body(surrogate))
write("oslo-request", "seed-std-echo-bigint.json", text.replace("Infinity", "1" + "0" * 40))
write("oslo-request", "seed-invalid-utf8.json", text.encode()[:200] + b"\xff\xfe\xc0\x80" + text.encode()[200:])
write("oslo-request", "seed-deep-nesting.json", "[" * 60000)
write("oslo-request", "seed-envelope-only.json", '{"oslo.version": "2.0", "oslo.message": "{}"}')
write("oslo-request", "seed-envelope-version-9.json", '{"oslo.version": "9.0", "oslo.message": "{}"}')
write("oslo-request", "seed-bare-message.json", json.dumps({"method": "run_action", "args": {}}))
write("oslo-request", "seed-empty.json", "")

# --- action-input: "@<action>\n<JSON input>" ------------------------------------

demo_volume = "11111111-2222-3333-4444-555555555555"
demo_server = "22222222-3333-4444-5555-666666666666"
demo_instance = "33333333-4444-5555-6666-777777777777"
cirros = "6c1f9a54-7d2e-4b8a-9f3c-0e1d2c3b4a01"
inputs = {
    "debug-echo": ("debug.echo", {"output": [1, "two", {"three": 3.5}]}),
    "debug-fail": ("debug.fail", {"message": "boom"}),
    "debug-noop": ("debug.noop", {}),
    "debug-noop-unexpected": ("debug.noop", {"surprise": 1}),
    "debug-sleep-short": ("debug.sleep", {"seconds": 0.001}),
    "debug-sleep-1e300": ("debug.sleep", {"seconds": 1e300}),
    "debug-sleep-1e19": ("debug.sleep", {"seconds": 1e19}),
    "debug-sleep-9.2e15": ("debug.sleep", {"seconds": 9.2e15}),
    "debug-sleep-negative": ("debug.sleep", {"seconds": -1}),
    "debug-sleep-string": ("debug.sleep", {"seconds": "10"}),
    "system-exec": ("system.exec", {"cmd": "cat /etc/passwd", "timeout": 1e300}),
    "cinder-volume-assert-status": ("cinder.volumes.assert_status", {"volume_id": demo_volume, "status": "available"}),
    "cinder-volume-assert-wait-1e300": ("cinder.volumes.assert_status",
                                        {"volume_id": demo_volume, "status": "error", "wait_timeout": 1e300, "interval": 1e300}),
    "cinder-volume-assert-interval-0": ("cinder.volumes.assert_status",
                                        {"volume_id": demo_volume, "status": "error", "wait_timeout": 1, "interval": 0}),
    "cinder-volume-assert-wait-1e19": ("cinder.volumes.assert_status",
                                       {"volume_id": demo_volume, "status": "error", "wait_timeout": 1e19, "interval": 1e-300}),
    "cinder-backup-create": ("cinder.backups.create", {"volume_id": demo_volume, "backup_name": "b", "incremental": False}),
    "cinder-backup-create-chain": ("cinder.backups.create_backup",
                                   {"volume_id": demo_volume, "max_chain_length": 9223372036854775807, "keep_chains": -1}),
    "cinder-backup-create-chain-1e19": ("cinder.backups.create_backup",
                                        {"volume_id": demo_volume, "max_chain_length": 1e19, "keep_chains": 1e19}),
    "cinder-backup-list-chains": ("cinder.backups.list_chains", {"volume_id": demo_volume}),
    "cinder-backup-assert-missing": ("cinder.backups.assert_status", {"backup_id": "nope", "status": "available"}),
    "cinder-snapshot-create": ("cinder.snapshots.create_snapshot", {"volume_id": demo_volume, "force": True}),
    "cinder-snapshot-assert": ("cinder.snapshots.assert_status", {"snapshot_id": "../x?y", "status": "available"}),
    "glance-image-assert": ("glance.images.assert_status", {"image_id": cirros, "status": "active"}),
    "glance-filter-by-name": ("glance.images.filter_by", {"name": "cirros"}),
    "glance-filter-by-size-min-1e19": ("glance.images.filter_by", {"size_min": 1e19}),
    "glance-filter-by-size-max-negative": ("glance.images.filter_by", {"size_max": -1e300, "size_min": float("nan")}),
    "glance-filter-by-kwargs": ("glance.images.filter_by", {"kwargs": {"tag": ["a", "b"], "status": ["active", "queued"]}}),
    "glance-filter-by-created-at": ("glance.images.filter_by", {"created_at": "gte:2020-01-01T00:00:00Z", "wait_timeout": 0.01, "interval": 0.001}),
    "nova-server-get-status": ("nova.servers.get_status", {"server_id": demo_server}),
    "nova-server-assert-status": ("nova.servers.assert_status", {"server_id": demo_server, "status": "ACTIVE"}),
    "nova-server-assert-power": ("nova.servers.assert_power_status", {"server_id": demo_server, "status": "running"}),
    "nova-server-stop": ("nova.servers.stop", {"server_id": demo_server, "wait_timeout": 1e300}),
    "nova-server-start": ("nova.servers.start", {"server_id": demo_server}),
    "nova-server-create-image": ("nova.servers.create_image", {"server_id": demo_server, "image_name": "snap", "metadata": {"k": "v"}}),
    "trove-backup-create": ("trove.backups.create_backup", {"instance_id": demo_instance, "max_chain_length": 2}),
    "trove-backup-assert": ("trove.backups.assert_status", {"backup_id": "x", "status": "COMPLETED", "wait_timeout": float("inf")}),
}
for name, (action, data) in inputs.items():
    write("action-input", f"seed-{name}.txt", f"@{action}\n" + json.dumps(data))
write("action-input", "seed-debug-echo-deep.txt", "@debug.echo\n{\"output\": " + "[" * 5000 + "]" * 5000 + "}")
write("action-input", "seed-debug-echo-invalid-utf8.txt", b"@debug.echo\n{\"output\": \"\xff\xfe\"}")
write("action-input", "seed-json-truncated.txt", "@debug.echo\n{\"output\": [1, 2")
write("action-input", "seed-structured.bin", bytes([0, 0, 1, 5, 14, 2, 9, 7, 20]))

# --- openstack-errors: "<status> <Retry-After>\n<body>" -------------------------

errors = {
    "nova-404": "404\n" + json.dumps({"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}),
    "cinder-413-over-limit": "413 0\n" + json.dumps({"overLimit": {"code": 413, "message": "VolumeSizeExceedsAvailableQuota", "retryAfter": "0"}}),
    "cinder-413-rate-limit": "413 5\n" + json.dumps({"overLimitFault": {"code": 413, "message": "This request was rate-limited."}}),
    "keystone-401": "401\n" + json.dumps({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}),
    "keystone-404-token": "404\n" + json.dumps({"error": {"code": 404, "title": "Not Found", "message": "Could not find token: gAAAAAB-fuzz-secret-token"}}),
    "glance-409": "409\n" + json.dumps({"message": "Image is in use", "code": "409 Conflict", "title": "Conflict"}),
    "html-502": "502\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>\n\n  proxy   error</body></html>",
    "trove-error-string": "500\n" + json.dumps({"error": "an error as a string"}),
    "json-string": "500\n\"just a string\"",
    "retry-after-1e300": "429 1e300\n{}",
    "retry-after-1e19": "429 1e19\n{}",
    "retry-after-9.3e15": "429 9300000000000000\n{}",
    "retry-after-negative": "429 -5\n{}",
    "retry-after-nan": "429 NaN\n{}",
    "retry-after-infinity": "503 Infinity\n{}",
    "retry-after-hex-float": "503 0x1p1000\n{}",
    "retry-after-http-date": "503 Sun, 06 Nov 1994 08:49:37 GMT\n{}",
    "retry-after-http-date-future": "429 Wed, 21 Oct 2099 07:28:00 GMT\n{}",
    "retry-after-asctime": "429 Sun Nov  6 08:49:37 1994\n{}",
    "retry-after-rfc850": "429 Sunday, 06-Nov-94 08:49:37 GMT\n{}",
    "retry-after-year-huge": "429 Sun, 06 Nov 99999999999999999999 08:49:37 GMT\n{}",
    "retry-after-fractional": "429 0.0001\n{}",
    "success-200-not-json": "200\nnot json",
    "success-204-empty": "204\n",
    "iso8601-body": "500\n2015-11-07T02:58:43.578887Z",
    "iso8601-offset-huge": "500\n9999-12-31T23:59:59+99:99",
    "iso8601-year-0": "500\n0000-00-00T00:00:00",
    "deep-json": "500\n" + "[" * 60000,
    "invalid-utf8": b"500\n\xff\xfe<p>\xc0\x80</p>",
    "status-999": "999 1\n{}",
    "status-000": "000\n{}",
}
for name, data in errors.items():
    write("openstack-errors", f"seed-{name}.txt", data)

# --- config: INI files -------------------------------------------------------------

sample = os.path.join(os.path.dirname(root), "..", "config", "mistral-actions.conf.sample")
write("config", "seed-sample.conf", open(sample, "rb").read())
configs = {
    "minimal": "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n",
    "exec-timeout-1e300": "[mistral_actions]\nexec_timeout = 1e300\n",
    "exec-timeout-nan": "[mistral_actions]\nexec_timeout = nan\n",
    "concurrency-1e19": "[mistral_actions]\nconcurrency = 10000000000000000000\n",
    "prefetch-negative": "[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = -9223372036854775808\n",
    "heartbeat-1e300": "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 1e300\n",
    "grace-infinity": "[mistral_actions]\nshutdown_grace_period = inf\nmax_unacked_time = -0\n",
    "openstack-timeout": "[mistral_actions]\nopenstack_request_timeout = 1e19\nopenstack_retries = 99999999999999999999\n",
    "transport-url-odd": "[DEFAULT]\ntransport_url = rabbit://u:p@[::1:99999999999/%zz,h2:-1/\n",
    "continuation": "[DEFAULT]\ndebug = true\n  continued\n\tmore\n",
    "duplicate-sections": "[DEFAULT]\ndebug = true\n[DEFAULT]\ndebug = false\n[mistral_actions]\n[mistral_actions]\n",
    "no-section": "key = value\n",
    "bad-header": "[unterminated\nkey = value\n",
    "bom-crlf": "\ufeff[DEFAULT]\r\ndebug = true\r\n",
    "empty": "",
    "invalid-utf8": b"[DEFAULT]\ndebug = \xff\n",
}
for name, data in configs.items():
    write("config", f"seed-{name}.conf", data)
