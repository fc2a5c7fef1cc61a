#!/usr/bin/env bash
# The test command (README.md, .ci/run):
#
#     bash scripts/test.sh [cargo test options] [-- test binary options]
#
# Runs `cargo test` with every feature but `native-tls` (the middleware tests need
# `reqwest-middleware`, the FileStore tests `file-store`; with both TLS features reqwest picks
# native-tls, and the tests should exercise the default, rustls; CI checks that native-tls
# builds), then `cargo test -p authed-cli` for the command line tool in cli/ (a package of its
# own: the library's feature list does not apply to it). `-p authed` or `-p authed-cli` among
# the arguments runs only that one.
#
# The tests start what they need themselves: the OAuth tests install and run
# node-oidc-provider (tests/support/oidc.rs), the keyring tests start a private Secret
# Service (tests/support/secret_service.rs, via scripts/secret-service.sh), the pacing tests
# of tests/limiters.rs start express-rate-limit, Flask-Limiter and nginx (installing their
# packages, and nginx with apt-get, themselves: tests/support/limiters.rs), and the CLI's
# browser login tests (cli/tests/browser.rs) start headless Chromium (installed with
# `apt-get install chromium` when missing) and drive it with tests/browser/login.mjs (`npm ci
# --prefix tests/browser`: tests/support/chromium.rs), and its terminal tests (cli/tests/pty.rs)
# run it under tmux (installed with apt-get when missing: cli/tests/support/pty.rs), and the
# fleet tests (tests/fleet_*.rs) start redis-server (installed with apt-get when missing:
# tests/support/redis.rs). A component that cannot be had fails its tests, with the fix in
# the message.
#
# The one way to skip: AUTHED_TEST_SKIP, a comma-separated list of components:
#
#     oidc              the tests in `needs_oidc` modules (Node.js, npm)
#     secret-service    the tests in `needs_secret_service` modules (D-Bus, gnome-keyring)
#     kernel-keyring    the tests in `needs_kernel_keyring` modules (keyctl)
#     limiters          the tests in `needs_limiters` modules (Node.js, npm, Python 3 with
#                       venv and pip, nginx)
#     redis             the tests in `needs_redis` modules (redis-server, and redis-cli for
#                       the cluster's, installed with apt-get by tests/support/redis.rs when
#                       missing)
#     browser           the tests in `needs_browser` modules (Chromium; they sit inside
#                       `needs_oidc`, so `oidc` skips them too)
#     terminal          the tests in `needs_terminal` modules (tmux; the device login's
#                       terminal test sits in `needs_terminal::needs_oidc`)
#
# Their tests are filtered out with libtest's `--skip`, so that cargo's summaries count them
# as "filtered out" rather than passed, and the last line says how many were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

FEATURES="reqwest-middleware,system-proxy,gzip,brotli,zstd,file-store,redis"

declare -A modules=(
  [oidc]=needs_oidc
  [secret-service]=needs_secret_service
  [kernel-keyring]=needs_kernel_keyring
  [limiters]=needs_limiters
  [redis]=needs_redis
  [browser]=needs_browser
  [terminal]=needs_terminal
)

skip_modules=()
IFS=',' read -ra requested <<<"${AUTHED_TEST_SKIP:-}"
for component in "${requested[@]}"; do
  component="${component//[[:space:]]/}"
  [ -n "$component" ] || continue
  if [ -z "${modules[$component]:-}" ]; then
    echo "test.sh: unknown component '$component' in AUTHED_TEST_SKIP" \
      "(known: oidc, secret-service, kernel-keyring, limiters, redis, browser, terminal)" >&2
    exit 2
  fi
  skip_modules+=("${modules[$component]}")
done

# Our arguments: cargo's, then (after `--`) the test binaries'.
cargo_args=()
test_args=()
after_dashes=""
for arg in "$@"; do
  if [ -z "$after_dashes" ] && [ "$arg" = "--" ]; then
    after_dashes=1
  elif [ -z "$after_dashes" ]; then
    cargo_args+=("$arg")
  else
    test_args+=("$arg")
  fi
done

# Which packages: the library and the CLI, unless the arguments pick one.
packages=(lib cli)
for ((i = 0; i < ${#cargo_args[@]}; i++)); do
  arg="${cargo_args[$i]}"
  case "$arg" in
    -p | --package) picked="${cargo_args[$((i + 1))]:-}" ;;
    --package=*) picked="${arg#--package=}" ;;
    -p*) picked="${arg#-p}" ;;
    *) continue ;;
  esac
  case "$picked" in
    authed) packages=(lib) ;;
    authed-cli) packages=(cli) ;;
  esac
done
# The cargo command of each package (the arguments follow).
cargo_test() {
  local package="$1"
  shift
  if [ "$package" = lib ]; then
    cargo test --features "$FEATURES" "$@"
  else
    cargo test -p authed-cli "$@"
  fi
}

skip_args=()
skipped=0
if ((${#skip_modules[@]})); then
  for module in "${skip_modules[@]}"; do
    skip_args+=(--skip "$module::")
  done
  # How many tests the filters take out: those that would run without them (a module may sit
  # inside another: needs_oidc::needs_browser).
  pattern="(^|::)($(IFS='|' && echo "${skip_modules[*]}"))::.*: test$"
  for package in "${packages[@]}"; do
    n="$(cargo_test "$package" "${cargo_args[@]}" -- --list "${test_args[@]}" 2>/dev/null |
      grep -cE "$pattern" || true)"
    skipped=$((skipped + n))
  done
fi

log="$(mktemp "${TMPDIR:-/tmp}/authed-test.XXXXXX")"
trap 'rm -f "$log"' EXIT
status=0
for package in "${packages[@]}"; do
  package_status=0
  cargo_test "$package" "${cargo_args[@]}" -- "${test_args[@]}" "${skip_args[@]}" 2>&1 |
    tee -a "$log" || package_status=$?
  [ "$package_status" -eq 0 ] || status=$package_status
done

# One line for the whole run: the sum of every test binary's summary.
sum() { grep '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{ n += $1 } END { print n + 0 }'; }
echo
echo "test.sh: $(sum passed) passed, $(sum failed) failed, $(sum ignored) ignored," \
  "$(sum 'filtered out') filtered out"
if ((${#skip_modules[@]})); then
  echo "test.sh: skipped (AUTHED_TEST_SKIP=$AUTHED_TEST_SKIP): $skipped tests" \
    "(in ${skip_modules[*]}; counted as filtered out above)"
fi
exit "$status"
