#!/usr/bin/env bash
# Starts a Secret Service (gnome-keyring) on a private session D-Bus, with an unlocked "login"
# collection, for the tests in tests/keyring_store.rs (which run this script themselves) and
# for developers on a headless machine:
#
#     source <(bash scripts/secret-service.sh)
#     ...
#     bash scripts/secret-service.sh stop      # stops the bus and the keyring, removes its files
#
# It installs what is missing (Debian/Ubuntu, via apt-get, when run as root or with sudo),
# starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock --components=secrets`,
# and prints `export DBUS_SESSION_BUS_ADDRESS=...` on stdout (everything else goes to stderr).
# The same line, with the daemons' process ids and state directory, is written to
# $AUTHED_SECRET_SERVICE_ENV (default target/secret-service.env) so a later shell can `source`
# it, and so `stop [ENV_FILE]` knows what to stop. The keyring's password is a throwaway: this
# keyring is for tests only, in a temporary directory of its own; the user's own session bus
# and login keyring are never used.
set -euo pipefail

log() { printf 'secret-service.sh: %s\n' "$*" >&2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
env_file="${AUTHED_SECRET_SERVICE_ENV:-$root/target/secret-service.env}"

if [ "${1:-}" = stop ]; then
  env_file="${2:-$env_file}"
  if [ ! -f "$env_file" ]; then
    log "$env_file does not exist: nothing to stop"
    exit 0
  fi
  # shellcheck disable=SC1090
  source "$env_file"
  for pid in ${AUTHED_SECRET_SERVICE_PIDS:-}; do
    kill "$pid" 2>/dev/null || true
  done
  case "${AUTHED_SECRET_SERVICE_STATE:-}" in
  */authed-secret-service.*) rm -rf "$AUTHED_SECRET_SERVICE_STATE" ;;
  esac
  rm -f "$env_file"
  log "stopped ${AUTHED_SECRET_SERVICE_PIDS:-nothing}"
  exit 0
fi

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
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
    # Run by the tests (no terminal): fail rather than wait for a password nobody can type.
    [ -t 0 ] || sudo+=(-n)
  fi
  log "installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >&2
fi

mkdir -p "$(dirname "$env_file")"

# gnome-keyring keeps its files under $XDG_DATA_HOME/keyrings and its control socket under
# $XDG_RUNTIME_DIR: give it a private directory of its own.
state="$(mktemp -d "${TMPDIR:-/tmp}/authed-secret-service.XXXXXX")"
mkdir -p "$state/data" "$state/runtime"
chmod 700 "$state/runtime"

# From here on, a failure stops what was started (gnome-keyring-daemon leaves with the bus).
bus_pid=""
fail() {
  log "$*"
  [ -z "$bus_pid" ] || kill "$bus_pid" 2>/dev/null || true
  rm -rf "$state"
  exit 1
}
trap 'fail "failed at line $LINENO"' ERR

# Prints the address, then the process id, one line each.
bus="$(dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1 \
  --address="unix:path=$state/bus")"
bus_address="${bus%%$'\n'*}"
bus_pid="${bus##*$'\n'}"
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
  fail "org.freedesktop.secrets did not appear on $DBUS_SESSION_BUS_ADDRESS within 10 s"
fi

# gnome-keyring-daemon leaves with the bus, but is stopped by its id too.
keyring_pid="$(dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
  org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets |
  awk '/uint32/ { print $2 }')"

line="export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
{
  printf '%s\n' "$line"
  printf "AUTHED_SECRET_SERVICE_PIDS='%s'\n" "$bus_pid $keyring_pid"
  printf "AUTHED_SECRET_SERVICE_STATE='%s'\n" "$state"
} >"$env_file"
trap - ERR
log "wrote $env_file"
printf '%s\n' "$line"
