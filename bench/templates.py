#!/usr/bin/env python3
"""Writes the message templates of the benchmark: the bodies Mistral 23 puts
on the wire (oslo envelope 2.0, every kwarg JSON-encoded again, the
mistral_lib serializer's __serial_key wrappers, Python json.dumps spacing;
docs: /work/shared/protocol/mistral-executor-wire.md sections 3-7), with
placeholders the C programs fill in per message:

  @AEID@ action execution id (36 chars)    @UID@  _unique_id (32 hex)
  @OUT@  the echo action's output           @CLS@  stub class name
  @CSID@ code source id                     @REQ@  request id suffix (32 hex)

Placeholder values never need JSON escaping (ids, hex, [A-Za-z0-9-]).

  bench/templates.py DIR   # writes DIR/run_action.tpl, on_action_complete.tpl,
                           # report_running_actions.tpl
"""
import json
import os
import sys


def context(root):
    # The request context of a workflow task's run_action cast, key for key
    # (Keystone off: no user, no token, the engine's request id).
    return {
        "_context_user": None,
        "_context_project_id": None,
        "_context_system_scope": None,
        "_context_project": None,
        "_context_domain": None,
        "_context_user_domain": None,
        "_context_project_domain": None,
        "_context_is_admin": False,
        "_context_read_only": False,
        "_context_show_deleted": False,
        "_context_auth_token": None,
        "_context_request_id": "req-@REQ@",
        "_context_global_request_id": None,
        "_context_resource_uuid": None,
        "_context_roles": [],
        "_context_user_identity": "- - - - -",
        "_context_is_admin_project": True,
        "_context_user_name": None,
        "_context_project_name": None,
        "_context_domain_name": None,
        "_context_user_domain_name": None,
        "_context_project_domain_name": None,
        "_context_auth_uri": "",
        "_context_auth_cacert": None,
        "_context_insecure": False,
        "_context_service_catalog": {},
        "_context_region_name": None,
        "_context_is_trust_scoped": False,
        "_context_redelivered": False,
        "_context_expires_at": None,
        "_context_trust_id": None,
        "_context_is_target": False,
        "_context_root_execution_id": root,
    }


def envelope(method, args, root):
    message = {"method": method, "args": args, "_unique_id": "@UID@"}
    message.update(context(root))
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def serialized(key, data):
    return json.dumps({"__serial_key": key, "__serial_data": json.dumps(data)})


def run_action():
    action = serialized("mistral.actions.dynamic_action.DynamicAction", {
        "cls_name": "@CLS@",
        "cls_attrs": {},
        "data": {"output": "@OUT@"},
        "code_source_id": "@CSID@",
        "namespace": "",
    })
    exec_ctx = {
        "workflow_execution_id": "@AEID@",
        "task_execution_id": "@AEID@",
        "workflow_name": "bench_echo",
        "action_execution_id": "@AEID@",
        "callback_url": "/v2/action_executions/@AEID@",
    }
    args = {
        "action": action,
        "action_ex_id": json.dumps("@AEID@"),
        "safe_rerun": json.dumps(False),
        "exec_ctx": json.dumps(exec_ctx),
        "timeout": None,
    }
    return envelope("run_action", args, "@AEID@")


def on_action_complete():
    result = serialized("mistral_lib.actions.types.Result",
                        {"data": "@OUT@", "error": None, "cancel": False})
    args = {"action_ex_id": json.dumps("@AEID@"), "result": result, "wf_action": json.dumps(False)}
    return envelope("on_action_complete", args, "@AEID@")


def report_running_actions():
    return envelope("report_running_actions", {"action_ex_ids": json.dumps(["@AEID@"])}, None)


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    for name, text in (("run_action", run_action()),
                       ("on_action_complete", on_action_complete()),
                       ("report_running_actions", report_running_actions())):
        with open(os.path.join(directory, name + ".tpl"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
