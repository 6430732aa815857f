#!/usr/bin/env bash
# Creates or updates the Python virtualenv used by the conformance tests (real
# oslo.messaging / Mistral peers, python/oslo_peer.py) and prints its path.
# Requirements are (re)installed only when python/requirements.txt changed
# since the last successful install (a hash stamp in the venv). Idempotent and
# quiet: progress goes to stderr only when something is installed; stdout is
# exactly the venv path.
#
#   scripts/python-env.sh          # prints e.g. /work/main/.venv
#   MA_VENV=/tmp/venv scripts/python-env.sh
#
# Settings (environment): MA_VENV (default <project>/.venv), MA_PYTHON
# (interpreter used to create the venv, default python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${MA_VENV:-$root/.venv}
python=${MA_PYTHON:-python3}
requirements=$root/python/requirements.txt
stamp=$venv/.requirements.sha256

log() { printf '[python-env] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

command -v "$python" >/dev/null || die "$python not found"
[ -f "$requirements" ] || die "$requirements not found"

# The stamp covers the requirements and the interpreter version, so a new
# Python (or an edited pin) triggers a reinstall.
want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating virtualenv $venv"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 ships venv without ensurepip unless python3-venv is installed.
        rm -rf "$venv"
        log "installing python3-venv (apt)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv "$venv" >/dev/null || die "python3 -m venv failed"
    fi
fi

log "installing python/requirements.txt into $venv (this can take a few minutes)"
rm -f "$stamp"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 \
    || die "pip install failed"
echo "$want" > "$stamp"
echo "$venv"
