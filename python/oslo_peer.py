#!/usr/bin/env python3
"""A real oslo.messaging peer for conformance tests of the Swift side.

    oslo_peer.py serve --url URL [--exchange X] --topic T --server S
        Runs an RPC server (threading executor) whose endpoint has
        echo(value) -> value, fail(message) -> raises ValueError(message),
        sleep(seconds) -> seconds (after sleeping). Prints "READY" once it is
        listening, then one JSON line per received request:
        {"event": "request", "method": ..., "args": {...}, "context": {...}}.
        Exits 0 on SIGTERM or SIGINT (within a few seconds: oslo finishes its
        current poll first).

    oslo_peer.py call --url URL [--exchange X] --topic T [--server S]
                 --method M --args JSON [--context JSON] [--timeout N]
        Prints {"result": <value>} or, when the server replied with a
        failure, {"error": {"class", "module", "message", "remote": true}}
        (exactly as sent) and exits 0; on timeout prints {"timeout": true,
        ...} and exits 1; other local errors print {"error": {...,
        "remote": false}} and exit 2.

    oslo_peer.py cast ... (same options, no --timeout)
        Prints {"cast": true} once published and exits 0.

The exchange defaults to "openstack" (oslo's control_exchange). Arguments
and context are passed through unchanged (oslo's no-op serializer), so the
wire shows exactly the JSON given here.
"""

import argparse
import json
import logging
import signal
import sys
import threading
import time
import warnings

# oslo.service still imports eventlet and warns about it on every start;
# keep stderr for real problems.
warnings.simplefilter("ignore")

from oslo_config import cfg  # noqa: E402
import oslo_messaging  # noqa: E402
from oslo_messaging._drivers import common as oslo_common  # noqa: E402

# The failures of the replies this process received, by the id of the
# exception oslo built from them: oslo rebuilds builtins exceptions (ValueError)
# with the remote traceback glued to the message, so the exact class, module
# and message are only available from the failure itself.
_received_failures = {}
_deserialize_remote_exception = oslo_common.deserialize_remote_exception


def _recording_deserialize_remote_exception(data, allowed_remote_exmods):
    error = _deserialize_remote_exception(data, allowed_remote_exmods)
    try:
        _received_failures[id(error)] = json.loads(str(data))
    except ValueError:
        pass
    return error


oslo_common.deserialize_remote_exception = _recording_deserialize_remote_exception


def emit(record):
    """Prints one JSON line on stdout (the test reads stdout line by line)."""
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def make_transport(options):
    # oslo reads some options (tracing) from the global cfg.CONF only, so use
    # it, parsed with no arguments and no config files so that nothing on
    # this machine leaks in. The control exchange is a default of the
    # transport options (and is also named on every Target below).
    oslo_messaging.set_transport_defaults(control_exchange=options.exchange)
    cfg.CONF([], project="oslo_peer", default_config_files=[], default_config_dirs=[])
    return oslo_messaging.get_rpc_transport(cfg.CONF, url=options.url)


class PeerEndpoint:
    """The methods a Swift RPC client can call on the peer."""

    def _log(self, ctxt, method, **args):
        emit({"event": "request", "method": method, "args": args, "context": ctxt})

    def echo(self, ctxt, value):
        self._log(ctxt, "echo", value=value)
        return value

    def fail(self, ctxt, message):
        self._log(ctxt, "fail", message=message)
        raise ValueError(message)

    def sleep(self, ctxt, seconds):
        self._log(ctxt, "sleep", seconds=seconds)
        time.sleep(float(seconds))
        return seconds


def serve(options):
    transport = make_transport(options)
    target = oslo_messaging.Target(
        exchange=options.exchange, topic=options.topic, server=options.server
    )
    server = oslo_messaging.get_rpc_server(
        transport, target, [PeerEndpoint()], executor="threading"
    )
    stop = threading.Event()

    def request_stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()  # declares the queues and starts consuming
    print("READY", flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()
    server.wait()
    transport.cleanup()
    return 0


def describe_error(failure):
    """Class, module and message of a failure reply, as the server sent them."""
    return {
        "class": failure.get("class"),
        "module": failure.get("module"),
        "message": failure.get("message"),
        "remote": True,
    }


def send(options, is_call):
    try:
        arguments = json.loads(options.args)
        context = json.loads(options.context)
    except ValueError as error:
        emit({"error": {"class": "ArgumentError", "message": str(error), "remote": False}})
        return 2
    if not isinstance(arguments, dict) or not isinstance(context, dict):
        emit({"error": {"class": "ArgumentError", "message": "--args and --context must be JSON objects", "remote": False}})
        return 2
    transport = make_transport(options)
    target = oslo_messaging.Target(exchange=options.exchange, topic=options.topic)
    client = oslo_messaging.get_rpc_client(transport, target, timeout=options.timeout)
    if options.server:
        client = client.prepare(server=options.server)
    try:
        if is_call:
            result = client.call(context, options.method, **arguments)
            emit({"result": result})
        else:
            client.cast(context, options.method, **arguments)
            emit({"cast": True})
        return 0
    except oslo_messaging.MessagingTimeout as error:
        emit({"timeout": True, "error": {"class": "MessagingTimeout", "message": str(error), "remote": False}})
        return 1
    except Exception as error:
        failure = _received_failures.get(id(error))
        if failure is None:
            # A local problem (connection, configuration): not a remote failure.
            emit({"error": {"class": type(error).__name__, "module": type(error).__module__, "message": str(error), "remote": False}})
            return 2
        emit({"error": describe_error(failure)})
        return 0
    finally:
        transport.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub):
        sub.add_argument("--url", required=True, help="transport URL, e.g. rabbit://guest:guest@127.0.0.1:35672/")
        sub.add_argument("--exchange", default="openstack", help="control exchange (default: openstack)")
        sub.add_argument("--topic", required=True)

    serve_parser = commands.add_parser("serve", help="run an RPC server")
    common(serve_parser)
    serve_parser.add_argument("--server", required=True, help="server name (queue <topic>.<server>)")

    for name in ("call", "cast"):
        sub = commands.add_parser(name, help=f"send an RPC {name}")
        common(sub)
        sub.add_argument("--server", help="address one server (routing key <topic>.<server>)")
        sub.add_argument("--method", required=True)
        sub.add_argument("--args", default="{}", help="keyword arguments as a JSON object")
        sub.add_argument("--context", default="{}", help="request context as a JSON object")
        if name == "call":
            sub.add_argument("--timeout", type=float, default=30, help="seconds (default 30)")
        else:
            sub.set_defaults(timeout=None)

    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if options.command == "serve":
        return serve(options)
    return send(options, is_call=options.command == "call")


if __name__ == "__main__":
    sys.exit(main())
