#!/usr/bin/env bash
# Dashboard cost: CPU of Burrow and of dockerd over the same window with 1
# and with 10 open dashboards (each an SSE stream of /live/status, as the
# page holds it), on the test-kit stack. Every page shares one watch
# (engine::dashboard), so the ratio 10:1 should stay near 1 (before the
# shared watch: about 10, per the history issue).
# Usage: bench/dashboard.sh [seconds]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-30}
testkit/build-images.sh >/dev/null
[ -x target/debug/burrow ] || cargo build -q -p burrow
bin=$PWD/target/debug/burrow
config=$PWD/testkit/stack.toml
work=$(mktemp -d)
export BURROW_DATA_DIR=$work/data BURROW_LOG=warn
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null;
      "$bin" down --config "$config" --volumes >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

"$bin" down --config "$config" --volumes >/dev/null 2>&1 || true
"$bin" apply --config "$config" >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
BURROW_LISTEN=127.0.0.1:$port "$bin" >/dev/null 2>&1 & pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cookie=$(python3 - "$port" "$BURROW_DATA_DIR" <<'PY'
import http.client, sys, urllib.parse
port, data = int(sys.argv[1]), sys.argv[2]
token = open(f"{data}/setup-token").read().strip()
pw = "bench password 1234"
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("POST", "/api/setup", urllib.parse.urlencode({"token": token, "username": "bench", "password": pw, "confirm": pw}),
          {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}", "Accept": "application/json"})
r = c.getresponse(); r.read()
print(r.getheader("Set-Cookie", "").split(";")[0])
PY
)
dockerd=$(pgrep -xo dockerd)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

measure() {
  local pages=$1 curls=()
  for _ in $(seq 1 "$pages"); do
    curl -sN -H "Cookie: $cookie" "http://127.0.0.1:$port/live/status" -o /dev/null \
      --max-time $((window + 10)) -A "dashboard-page $work" &
    curls+=($!)
  done
  sleep 3   # every page has its first snapshot
  local b0 d0 b1 d1
  b0=$(ticks "$pid"); d0=$(ticks "$dockerd")
  sleep "$window"
  b1=$(ticks "$pid"); d1=$(ticks "$dockerd")
  kill "${curls[@]}" 2>/dev/null || true
  wait "${curls[@]}" 2>/dev/null || true
  awk -v p="$pages" -v b=$((b1 - b0)) -v d=$((d1 - d0)) -v hz="$hz" -v w="$window" \
    'BEGIN { printf "%-6s %16.1f %16.1f\n", p, 100 * b / hz / w, 100 * d / hz / w }'
}

printf '%-6s %16s %16s\n' pages "burrow (% core)" "dockerd (% core)"
one=$(measure 1); echo "$one"
ten=$(measure 10); echo "$ten"
awk -v a="$one" -v b="$ten" 'BEGIN { split(a, x, " "); split(b, y, " ");
  printf "10 pages / 1 page: burrow %.1fx, dockerd %.1fx\n", (x[2] > 0 ? y[2] / x[2] : 0), (x[3] > 0 ? y[3] / x[3] : 0) }'
