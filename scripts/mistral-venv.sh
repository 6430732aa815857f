#!/usr/bin/env bash
# Creates or updates a Python virtualenv holding one Mistral release, pinned
# to its OpenStack series' versions, and prints its path. The releases and
# their series are compat/releases.txt; a series' pins are
# compat/constraints/SERIES.txt (only the packages Mistral's install pulls,
# taken from that series' openstack/requirements upper-constraints), so the
# install needs nothing beyond PyPI. Without them pip would take today's
# newest libraries: Mistral 16-18 then fail at `mistral-db-manage upgrade`
# (SQLAlchemy 2 has no Session.begin(subtransactions=...)).
# The newest release in compat/releases.txt is the project's own venv
# (scripts/python-env.sh, python/requirements.txt).
#
#   scripts/mistral-venv.sh 18.1.0      # prints e.g. /work/main/.venvs/mistral-18.1.0
#   scripts/mistral-venv.sh 2024.1      # the same: a series names its release
#   scripts/mistral-venv.sh derive 18.1.0 UPPER_CONSTRAINTS_FILE
#       # writes compat/constraints/2024.1.txt from a series' full
#       # upper-constraints.txt (openstack/requirements at tag 2024.1-eom,
#       # or branch stable/<series>): installs with the whole file, keeps
#       # the pins of what got installed
#
# Idempotent: pip runs only when the constraints (or the interpreter) changed
# since the last successful install (a hash stamp in the venv); progress goes
# to stderr, stdout is exactly the venv path.
#
# Settings (environment): MA_MISTRAL_VENVS (where the venvs go, default
# <project>/.venvs), MA_PYTHON (interpreter, default python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venvs=${MA_MISTRAL_VENVS:-$root/.venvs}
python=${MA_PYTHON:-python3}
releases=$root/compat/releases.txt

log() { printf '[mistral-venv] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# release VERSION|SERIES -> "VERSION SERIES"
release() {
    local line
    line=$(grep -v '^#' "$releases" | awk -v k="$1" '$1 == k || $2 == k { print $1, $2; exit }')
    [ -n "$line" ] || die "$1 is not in compat/releases.txt"
    echo "$line"
}
newest() { grep -v '^#' "$releases" | awk 'NF { v = $1 } END { print v }'; }

pip_() { "$1/bin/python" -m pip --disable-pip-version-check "${@:2}"; }

make_venv() {
    local venv=$1
    [ -x "$venv/bin/python" ] && return 0
    [ -L "$venv" ] && rm -f "$venv"  # a link to a venv that is gone
    log "creating virtualenv $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" >/dev/null || die "$python -m venv failed (scripts/python-env.sh installs python3-venv)"
}

build() {
    local version series; read -r version series <<<"$(release "$1")"
    if [ "$version" = "$(newest)" ]; then
        MA_PYTHON=$python "$root/scripts/python-env.sh"
        return
    fi
    local constraints=$root/compat/constraints/$series.txt
    [ -f "$constraints" ] || die "$constraints not found (scripts/mistral-venv.sh derive)"
    local venv=$venvs/mistral-$version stamp
    stamp=$venvs/mistral-$version/.constraints.sha256
    local want
    want=$( { echo "$version"; cat "$constraints"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "$venv"; return
    fi
    make_venv "$venv"
    log "installing mistral==$version with compat/constraints/$series.txt into $venv (a few minutes)"
    rm -f "$stamp"
    pip_ "$venv" install --quiet -c "$constraints" "mistral==$version" psycopg2-binary >&2 \
        || die "pip install of mistral==$version failed"
    echo "$want" > "$stamp"
    echo "$venv"
}

# derive VERSION UPPER_CONSTRAINTS: the pins of the installed packages only.
derive() {
    local version series; read -r version series <<<"$(release "$1")"
    local full=$2 out=$root/compat/constraints/$series.txt
    [ -f "$full" ] || die "$full not found"
    local venv; venv=$(mktemp -d)/venv
    make_venv "$venv"
    log "installing mistral==$version with the whole upper-constraints file"
    pip_ "$venv" install --quiet -c "$full" "mistral==$version" psycopg2-binary >&2 || die "pip install failed"
    {
        echo "# Mistral $version ($series): the versions pinned by openstack/requirements'"
        echo "# upper-constraints.txt of $series for the packages \`pip install mistral==$version"
        echo "# psycopg2-binary\` installs. Written by: scripts/mistral-venv.sh derive $version FILE"
        pip_ "$venv" freeze --all 2>/dev/null | "$venv/bin/python" -c '
import re, sys
def key(name): return re.sub(r"[-_.]+", "-", name).lower()
pinned = set()
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if "===" in line:
        pinned.add(key(line.split("===")[0]))
for line in sys.stdin:
    name, sep, version = line.strip().partition("==")
    if sep and key(name) in pinned:
        print(f"{name}=={version}")
' "$full" | sort -f
    } > "$out"
    rm -rf "$(dirname "$venv")"
    log "wrote $out ($(grep -vc '^#' "$out") pins)"
}

case "${1:-}" in
    derive) [ $# = 3 ] || die "usage: $0 derive VERSION UPPER_CONSTRAINTS_FILE"; derive "$2" "$3" ;;
    ""|-h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    *) build "$1" ;;
esac
