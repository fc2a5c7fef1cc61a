#!/usr/bin/env bash
# Instructions per request for each client of the overhead bench, counted by valgrind
# (callgrind): repeatable whatever the machine is doing, unlike wall-clock time.
#
#     bash benches/instructions.sh        (needs valgrind: apt-get install valgrind)
#
# Each client runs twice, with FEW and MANY sequential requests after the same warm-up; the
# difference of the two totals, divided by MANY - FEW, is one request's instructions, process
# setup excluded. The in-process server's instructions are included in every row (the same
# work for each), so differences between rows are the clients' own.
set -euo pipefail
cd "$(dirname "$0")/.."
FEW=${FEW:-200}
MANY=${MANY:-1200}
cargo bench -p authed-benches --bench overhead --no-run 2>/dev/null
bin=$(ls -t target/release/deps/overhead-* | grep -v '\.d$' | head -1)
count() {
  local out
  out=$(mktemp)
  AUTHED_BENCH_RUN="$1:$2" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --bench \
    >/dev/null 2>&1
  grep '^summary:' "$out" | awk '{print $2}'
  rm -f "$out"
}
echo "| client | instructions per request | vs reqwest |"
echo "|---|---|---|"
base=""
for client in reqwest reqwest_middleware authed reqwest_30s_timeout authed_no_timeout authed_middleware; do
  few=$(count "$client" "$FEW")
  many=$(count "$client" "$MANY")
  per=$(( (many - few) / (MANY - FEW) ))
  [ -n "$base" ] || base=$per
  rel=$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }')
  echo "| $client | $per | $rel |"
done
