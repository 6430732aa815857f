#!/usr/bin/env python3
"""A real oslo.messaging peer for conformance tests of the Swift side.

    oslo_peer.py serve --url URL [--exchange X] --topic T --server S
        Runs an RPC server (threading executor) whose endpoint has
        echo(value) -> value, fail(message) -> raises ValueError(message),
        sleep(seconds) -> seconds (after sleeping). Prints "READY" once it is
        listening, then one JSON line per received request:
        {"event": "request", "method": ..., "args": {...}, "context": {...}}.
        Exits 0 on SIGTERM or SIGINT, after deleting its private fanout queue
        (which oslo leaves behind for rabbit_transient_queues_ttl) unless
        --keep-queues is given. It exits at once, without oslo's graceful
        stop, which waits for the listener's current poll (up to 5 s when
        idle); --graceful stops the oslo server first. If the server cannot start (e.g. a queue
        exists with other arguments: 406 PRECONDITION_FAILED), prints
        {"event": "error", ...} and exits 3.

    oslo_peer.py call --url URL [--exchange X] --topic T [--server S]
                 --method M --args JSON [--context JSON] [--timeout N]
                 [--call-monitor-timeout N]
        Prints {"result": <value>} or, when the server replied with a
        failure, {"error": {"class", "module", "message", "remote": true}}
        (exactly as sent) and exits 0; on timeout prints {"timeout": true,
        ...} and exits 1; other local errors print {"error": {...,
        "remote": false}} and exit 2. The reply queue is deleted before
        exiting unless --keep-queues is given.

    oslo_peer.py cast ... (same options, no --timeout)
        Prints {"cast": true} once published and exits 0.

    oslo_peer.py client --url URL [--exchange X] --topic T
        A long-lived RPC client: reads one JSON request per line on stdin,
        {"id": any, "op": "call"|"cast", "method": M, "args": {...},
         "context": {...}, "server": S|null, "timeout": N,
         "call_monitor_timeout": N|null},
        runs each in its own thread and prints one line per request:
        {"id": ..., <what call/cast print>}. Prints "READY" first; exits at
        the end of stdin, after the running requests (and deletes its reply
        queue unless --keep-queues).

Every command accepts --option SECTION.KEY=VALUE (repeatable), written to
a configuration file that cfg.CONF reads, e.g.
--option oslo_messaging_rabbit.amqp_durable_queues=true.

The exchange defaults to "openstack" (oslo's control_exchange). Arguments
and context are passed through unchanged (oslo's no-op serializer), so the
wire shows exactly the JSON given here.
"""

import argparse
import configparser
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import warnings

# oslo.service still imports eventlet and warns about it on every start;
# keep stderr for real problems.
warnings.simplefilter("ignore")

import kombu  # noqa: E402
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

_emit_lock = threading.Lock()


def emit(record):
    """Prints one JSON line on stdout (the test reads stdout line by line)."""
    with _emit_lock:
        sys.stdout.write(json.dumps(record, default=str) + "\n")
        sys.stdout.flush()


def write_config_file(option_settings):
    """A configuration file holding the --option SECTION.KEY=VALUE settings."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    for setting in option_settings:
        name, separator, value = setting.partition("=")
        section, dot, key = name.rpartition(".")
        if not separator or not dot or not section or not key:
            raise ValueError(f"--option needs SECTION.KEY=VALUE, got {setting!r}")
        if section != "DEFAULT" and not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    handle, path = tempfile.mkstemp(prefix="oslo_peer.", suffix=".conf")
    with os.fdopen(handle, "w") as file:
        parser.write(file)
    return path


def make_transport(options):
    # oslo reads some options (tracing) from the global cfg.CONF only, so use
    # it, parsed with no arguments and only the --option file so that nothing
    # on this machine leaks in. The control exchange is a default of the
    # transport options (and is also named on every Target below).
    oslo_messaging.set_transport_defaults(control_exchange=options.exchange)
    config_files = []
    if options.option:
        config_files.append(write_config_file(options.option))
    try:
        cfg.CONF([], project="oslo_peer", default_config_files=config_files, default_config_dirs=[])
        return oslo_messaging.get_rpc_transport(cfg.CONF, url=options.url)
    finally:
        for path in config_files:
            os.unlink(path)


def delete_queues(options, names):
    """Deletes queues this process made and oslo leaves behind (x-expires)."""
    names = [name for name in names if name]
    if not names or options.keep_queues:
        return
    url = options.url.replace("rabbit://", "amqp://", 1)
    try:
        with kombu.Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            for name in names:
                channel.queue_delete(name)
    except Exception as error:  # cleanup must not hide the command's outcome
        logging.warning("cannot delete queues %s: %s", names, error)


def reply_queue_of(transport):
    return getattr(transport._driver, "_reply_q", None)


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


def fanout_queues_of(server):
    """The private fanout queue names of a started RPC server (oslo internals)."""
    try:
        connection = server.listener._poll_style_listener.conn
        return [consumer.queue_name for consumer in connection._consumers if consumer.type == "fanout"]
    except AttributeError:
        return []


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
    try:
        server.start()  # declares the queues and starts consuming
    except Exception as error:
        emit({"event": "error", "class": type(error).__name__, "message": str(error)})
        os._exit(3)  # oslo's threads would keep a normal exit waiting
    fanout_queues = fanout_queues_of(server)
    print("READY", flush=True)
    while not stop.wait(0.2):
        pass
    if options.graceful:
        server.stop()
        server.wait()
        transport.cleanup()
    delete_queues(options, fanout_queues)
    sys.stdout.flush()
    os._exit(0)  # oslo's listener threads would keep a normal exit waiting


def describe_error(failure):
    """Class, module and message of a failure reply, as the server sent them."""
    return {
        "class": failure.get("class"),
        "module": failure.get("module"),
        "message": failure.get("message"),
        "remote": True,
    }


def run_request(client, is_call, method, arguments, context, server=None, timeout=None, call_monitor_timeout=None):
    """Sends one call or cast; returns (exit status, record to print)."""
    if not isinstance(arguments, dict) or not isinstance(context, dict):
        return 2, {"error": {"class": "ArgumentError", "message": "args and context must be JSON objects", "remote": False}}
    prepared = {}
    if server:
        prepared["server"] = server
    if is_call:
        prepared["timeout"] = timeout
        if call_monitor_timeout:
            prepared["call_monitor_timeout"] = call_monitor_timeout
    if prepared:
        client = client.prepare(**prepared)
    try:
        if is_call:
            return 0, {"result": client.call(context, method, **arguments)}
        client.cast(context, method, **arguments)
        return 0, {"cast": True}
    except oslo_messaging.MessagingTimeout as error:
        return 1, {"timeout": True, "error": {"class": "MessagingTimeout", "message": str(error), "remote": False}}
    except Exception as error:
        failure = _received_failures.pop(id(error), None)
        if failure is None:
            # A local problem (connection, configuration): not a remote failure.
            return 2, {"error": {"class": type(error).__name__, "module": type(error).__module__, "message": str(error), "remote": False}}
        return 0, {"error": describe_error(failure)}


def send(options, is_call):
    try:
        arguments = json.loads(options.args)
        context = json.loads(options.context)
    except ValueError as error:
        emit({"error": {"class": "ArgumentError", "message": str(error), "remote": False}})
        return 2
    transport = make_transport(options)
    target = oslo_messaging.Target(exchange=options.exchange, topic=options.topic)
    client = oslo_messaging.get_rpc_client(transport, target)
    try:
        status, record = run_request(
            client, is_call, options.method, arguments, context, server=options.server,
            timeout=options.timeout, call_monitor_timeout=options.call_monitor_timeout,
        )
        emit(record)
        return status
    finally:
        reply_queue = reply_queue_of(transport)
        transport.cleanup()
        delete_queues(options, [reply_queue])


def client_loop(options):
    transport = make_transport(options)
    target = oslo_messaging.Target(exchange=options.exchange, topic=options.topic)
    client = oslo_messaging.get_rpc_client(transport, target)
    threads = []

    def handle(line):
        identifier = None
        try:
            request = json.loads(line)
            identifier = request.get("id")
            _, record = run_request(
                client, request.get("op", "call") == "call", request["method"], request.get("args", {}),
                request.get("context", {}), server=request.get("server"), timeout=request.get("timeout", 30),
                call_monitor_timeout=request.get("call_monitor_timeout"),
            )
        except Exception as error:
            record = {"error": {"class": type(error).__name__, "message": str(error), "remote": False}}
        record["id"] = identifier
        emit(record)

    print("READY", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        thread = threading.Thread(target=handle, args=(line,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    reply_queue = reply_queue_of(transport)
    transport.cleanup()
    delete_queues(options, [reply_queue])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub):
        sub.add_argument("--url", required=True, help="transport URL, e.g. rabbit://guest:guest@127.0.0.1:26672/")
        sub.add_argument("--exchange", default="openstack", help="control exchange (default: openstack)")
        sub.add_argument("--topic", required=True)
        sub.add_argument("--option", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="an oslo option, e.g. oslo_messaging_rabbit.amqp_durable_queues=true (repeatable)")
        sub.add_argument("--keep-queues", action="store_true",
                         help="leave the private fanout / reply queue behind at exit (oslo's own behaviour)")

    serve_parser = commands.add_parser("serve", help="run an RPC server")
    common(serve_parser)
    serve_parser.add_argument("--server", required=True, help="server name (queue <topic>.<server>)")
    serve_parser.add_argument("--graceful", action="store_true",
                              help="stop the oslo server gracefully on SIGTERM (slow: waits for its current poll)")

    for name in ("call", "cast"):
        sub = commands.add_parser(name, help=f"send an RPC {name}")
        common(sub)
        sub.add_argument("--server", help="address one server (routing key <topic>.<server>)")
        sub.add_argument("--method", required=True)
        sub.add_argument("--args", default="{}", help="keyword arguments as a JSON object")
        sub.add_argument("--context", default="{}", help="request context as a JSON object")
        if name == "call":
            sub.add_argument("--timeout", type=float, default=30, help="seconds (default 30)")
            sub.add_argument("--call-monitor-timeout", type=int, default=None,
                             help="seconds; the server then sends keep-alive replies (oslo call monitoring)")
        else:
            sub.set_defaults(timeout=None, call_monitor_timeout=None)

    client_parser = commands.add_parser("client", help="send calls and casts read from stdin (JSON lines)")
    common(client_parser)

    options = parser.parse_args(argv)
    # A parent may spawn us with signals blocked (the Swift test runner's
    # threads block SIGTERM); the stop signals must reach the handlers.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if options.command == "serve":
        return serve(options)
    if options.command == "client":
        return client_loop(options)
    return send(options, is_call=options.command == "call")


if __name__ == "__main__":
    sys.exit(main())
