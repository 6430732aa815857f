# Shared helpers of the project's scripts (sourced, not run).

ma_log() { printf '[%s] %s\n' "${MA_LOG_TAG:-mistral-actions}" "$*" >&2; }

# Installs the Debian packages that are missing. Without systemd, the
# packages' init scripts are kept from starting system-wide servers.
ma_apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
    ma_log "installing ${missing[*]} (apt)"
    local deny=0
    if [ ! -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        $sudo_ sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        deny=1
    fi
    $sudo_ apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    local status=$?
    [ $deny = 1 ] && $sudo_ rm -f /usr/sbin/policy-rc.d
    return $status
}

# The packages every build and run needs.
MA_PACKAGES=(pkg-config librabbitmq-dev libpq-dev rabbitmq-server postgresql openssl python3-venv curl
    python3-dev gcc)  # older Mistral releases (scripts/compat.sh) build netifaces from source
