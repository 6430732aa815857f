#!/usr/bin/env bash
# Checks the systemd units in systemd/ with `systemd-analyze verify` (and
# prints the worker's `systemd-analyze security` exposure). No running
# systemd is needed: the units are installed into a temporary root, next to
# a copy of the distribution's units (sysinit.target ...) and a stand-in
# executable at the ExecStart path. Fails on anything verify prints: it
# prints unknown keys, bad values and missing dependencies as warnings but
# still exits 0.
#
#   scripts/check-units.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MA_LOG_TAG=check-units
. scripts/lib.sh

command -v systemd-analyze >/dev/null 2>&1 || ma_apt_install systemd

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/local/bin"
for dir in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$dir" ]; then cp -r "$dir" "$root/usr/lib/systemd/"; break; fi
done
units=(mistral-actions-worker@.service mistral-actions-register.service mistral-actions.target)
for unit in "${units[@]}"; do cp "systemd/$unit" "$root/etc/systemd/system/"; done
printf '#!/bin/sh\nexit 0\n' > "$root/usr/local/bin/mistral-actions"
chmod +x "$root/usr/local/bin/mistral-actions"

# Two worker instances: the instance name ends up in the HTTP port.
output=$(systemd-analyze verify --root="$root" \
    mistral-actions-worker@1.service mistral-actions-worker@2.service \
    mistral-actions-register.service mistral-actions.target 2>&1) || {
    printf '%s\n' "$output" >&2
    ma_log "systemd-analyze verify failed"
    exit 1
}
if [ -n "$output" ]; then
    printf '%s\n' "$output" >&2
    ma_log "systemd-analyze verify printed warnings"
    exit 1
fi
exposure=$(systemd-analyze security --offline=yes --root="$root" mistral-actions-worker@1.service 2>&1 | tail -n 1 || true)
ma_log "units verified (${units[*]}); ${exposure#→ }"
