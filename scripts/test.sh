#!/usr/bin/env bash
# Runs every test of mistral-actions on this machine: installs what is missing
# (Debian packages; a Python virtualenv for the conformance peers), starts real
# RabbitMQ and PostgreSQL on loopback (scripts/local-services.sh), builds, and
# runs the whole suite. Servers this script started are stopped at the end;
# servers that were already running are left alone. Safe to run twice.
#
#   scripts/test.sh            # everything
#   scripts/test.sh --filter X # pass-through to `swift test` (main pass only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[test] %s\n' "$*" >&2; }

# --- system packages -----------------------------------------------------
need=()
for pkg in pkg-config librabbitmq-dev libpq-dev rabbitmq-server postgresql openssl python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    deny=0
    if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        # No systemd: keep package scripts from starting system-wide servers.
        $sudo_ sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'; deny=1
    fi
    $sudo_ apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    [ $deny = 1 ] && $sudo_ rm -f /usr/sbin/policy-rc.d
fi

# --- servers ---------------------------------------------------------------
services=scripts/local-services.sh
started=()
cleanup() {
    for s in "${started[@]}"; do "$services" stop "$s" || true; done
}
trap cleanup EXIT
status=$("$services" status)
for s in rabbitmq postgresql; do
    if ! grep -q "^$s: running" <<<"$status"; then
        "$services" start "$s"
        started+=("$s")
    fi
done
eval "$("$services" env)"

# --- Python peers (oslo.messaging, mistral) -------------------------------
if [ -x scripts/python-env.sh ]; then
    MA_VENV=$(scripts/python-env.sh)
    export MA_VENV
fi

# --- build and test ----------------------------------------------------------
log "building"
swift build --build-tests

# Tests that disturb the shared broker (restarts) run alone, first; the main
# pass runs in parallel and prints the closing summary.
log "disruptive tests (broker restarts), run alone"
MA_TEST_DISRUPTIVE=1 swift test --skip-build --filter Disruptive
log "main test pass"
swift test --skip-build "$@"
