#!/usr/bin/env bash
# Starts a Secret Service (gnome-keyring) on a private session D-Bus, with an unlocked "login"
# collection, for the tests in tests/keyring_store.rs. For CI and for developers on a headless
# machine:
#
#     source <(bash scripts/secret-service.sh)
#
# It installs what is missing (Debian/Ubuntu, via apt-get, when run as root or with sudo),
# starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock --components=secrets`,
# and prints `export DBUS_SESSION_BUS_ADDRESS=...` on stdout (everything else goes to stderr).
# The same line is written to $AUTHED_SECRET_SERVICE_ENV (default target/secret-service.env)
# so a later shell can `source` it. The keyring's password is a throwaway: this keyring is
# for tests only, in a temporary $HOME-like directory.
set -euo pipefail

log() { printf 'secret-service.sh: %s\n' "$*" >&2; }

need=()
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
command -v dbus-send >/dev/null 2>&1 || need+=(dbus-bin)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need+=(gnome-keyring)
if ((${#need[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${need[*]} and no apt-get: install them with your package manager"
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  log "installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >&2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
env_file="${AUTHED_SECRET_SERVICE_ENV:-$root/target/secret-service.env}"
mkdir -p "$(dirname "$env_file")"

# gnome-keyring keeps its files under $XDG_DATA_HOME/keyrings and its control socket under
# $XDG_RUNTIME_DIR: give it a private directory of its own.
state="$(mktemp -d "${TMPDIR:-/tmp}/authed-secret-service.XXXXXX")"
mkdir -p "$state/data" "$state/runtime"
chmod 700 "$state/runtime"

bus_address="$(dbus-daemon --session --fork --nopidfile --print-address=1 \
  --address="unix:path=$state/bus")"
bus_address="${bus_address%%$'\n'*}"
export DBUS_SESSION_BUS_ADDRESS="$bus_address"
log "session bus at $DBUS_SESSION_BUS_ADDRESS"

# --unlock reads the password from stdin and creates (or unlocks) the "login" collection,
# which gnome-keyring makes the default one.
printf 'authed-test-keyring' | env XDG_DATA_HOME="$state/data" XDG_RUNTIME_DIR="$state/runtime" \
  gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
log "gnome-keyring-daemon started (state in $state)"

# Wait until org.freedesktop.secrets answers on the bus; fail loudly if it never does.
ready=""
for _ in $(seq 1 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
    grep -q 'boolean true'; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  log "org.freedesktop.secrets did not appear on $DBUS_SESSION_BUS_ADDRESS within 10 s"
  exit 1
fi

line="export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
printf '%s\n' "$line" >"$env_file"
log "wrote $env_file"
printf '%s\n' "$line"
