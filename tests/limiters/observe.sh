#!/usr/bin/env bash
# Shows, with curl and timestamps, the rate-limit headers each limiter of tests/limiters.rs
# sends: express-rate-limit in its four header styles, Flask-Limiter fixed and moving window,
# all at 5 requests per 2 s. The facts it shows are written down in tests/limiters/README.md.
#
#     bash tests/limiters/observe.sh [express|flask|all]
#
# Needs `npm ci --prefix tests/limiters` and the venv the tests create
# (<target>/tmp/limiters-venv; VENV overrides it): run `bash scripts/test.sh --test limiters`
# once first. Each line before a response is `date +%s.%N` taken just before curl starts.
set -euo pipefail
cd "$(dirname "$0")/../.."

what="${1:-all}"
venv="${VENV:-${CARGO_TARGET_DIR:-target}/tmp/limiters-venv}"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# start OUTFILE COMMAND...: runs a server, waits for its LISTENING line, sets $url.
start() {
  local out="$1"
  shift
  "$@" >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    url="$(awk '/^LISTENING /{print $2}' "$out")"
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "no LISTENING line from $*:" >&2
  cat "$out" >&2
  exit 1
}

# at SECONDS: sleeps until $t0 + SECONDS.
at() {
  sleep "$(awk -v t0="$t0" -v off="$1" -v now="$(date +%s.%N)" \
    'BEGIN { d = t0 + off - now; printf "%.3f", (d > 0 ? d : 0) }')"
}

# hit LABEL N: GET /api/N, printing the time, the status line and the rate-limit headers.
hit() {
  local now
  now="$(date +%s.%N)"
  printf '%s  %-28s ' "$now" "$1"
  curl -s -D - -o /dev/null "$url/api/$2" |
    tr -d '\r' |
    grep -iE '^(HTTP/|ratelimit|x-ratelimit|retry-after)' |
    paste -sd'|' -
}

# The first request at x.5 s on the clock, so that a window aligned to the clock (on even
# seconds) and one that starts at the first hit behave differently at t0 + 1.7 s.
half_second() {
  sleep "$(awk -v now="$(date +%s.%N)" \
    'BEGIN { f = now - int(now); d = 0.5 - f; if (d < 0.05) d += 1; printf "%.3f", d }')"
}

fixed_window() {
  half_second
  t0="$(date +%s.%N)"
  hit "1st of window 1" 1
  for n in 2 3 4; do hit "allowed" "$n"; done
  hit "5th: last allowed" 5
  hit "6th: refused" 6
  at 1.0
  hit "t0+1.0: refused" 7
  at 1.7
  hit "t0+1.7 (clock-aligned: new)" 8
  at 2.05
  hit "t0+2.05: 1st of window 2" 9
  hit "2nd of window 2" 10
}

moving_window() {
  half_second
  t0="$(date +%s.%N)"
  hit "t0: 1st" 1
  at 0.5
  hit "t0+0.5: 2nd" 2
  at 1.0
  hit "t0+1.0: 3rd" 3
  hit "4th" 4
  hit "5th: last allowed" 5
  hit "6th: refused" 6
  at 2.05
  hit "t0+2.05: 1st aged out" 7
  hit "refused" 8
  at 2.55
  hit "t0+2.55: 2nd aged out" 9
  at 3.05
  hit "t0+3.05: 3-5th aged out" 10
  hit "allowed" 11
  hit "allowed" 12
  hit "refused" 13
}

tmp="$(mktemp -d)"
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

if [ "$what" = all ] || [ "$what" = express ]; then
  for style in draft-8 draft-7 draft-6 legacy; do
    echo "== express-rate-limit ($style), 5 per 2 s"
    start "$tmp/express-$style" node tests/limiters/express.mjs --limit 5 --window-ms 2000 \
      --headers "$style"
    fixed_window
    echo
  done
fi

if [ "$what" = all ] || [ "$what" = flask ]; then
  echo "== Flask-Limiter (fixed-window), 5 per 2 seconds"
  start "$tmp/flask-fixed" "$venv/bin/python" tests/limiters/flask_app.py \
    --strategy fixed-window --limit "5 per 2 seconds"
  fixed_window
  echo
  echo "== Flask-Limiter (moving-window), 5 per 2 seconds"
  start "$tmp/flask-moving" "$venv/bin/python" tests/limiters/flask_app.py \
    --strategy moving-window --limit "5 per 2 seconds"
  moving_window
fi
