#!/usr/bin/env bash
# Deploy figures, side by side in one run, same images (the test kit):
#  1. cold deploy to all-healthy: `burrow apply` vs `docker-compose up -d`
#     on Burrow's own compose export plus waiting until every container is
#     running/healthy (and the one-shot bucket job has exited 0);
#  2. no-op re-apply: `burrow apply` again vs `docker-compose up -d` again;
#  3. log lines per second: Burrow's SSE log stream vs raw `docker logs`.
# Usage: bench/deploy.sh [rounds]   (default 3; builds what it needs)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
testkit/build-images.sh >/dev/null
[ -x target/debug/burrow ] || cargo build -q -p burrow
bin=$PWD/target/debug/burrow
config=$PWD/testkit/stack.toml
work=$(mktemp -d)
export BURROW_DATA_DIR=$work/data BURROW_LOG=warn
trap '"$bin" down --config "$config" --volumes >/dev/null 2>&1 || true;
      (cd "$work/render" 2>/dev/null && docker-compose -p burrow-testkit down -v >/dev/null 2>&1) || true;
      [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Every container of the compose project running (healthy where it has a
# check; the bucket job exited 0).
compose_ready() {
  local ids; ids=$(docker ps -aq --filter label=com.docker.compose.project=burrow-testkit)
  [ -n "$ids" ] || return 1
  for id in $ids; do
    local s; s=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "$id")
    case "$s" in
      *createbuckets*" exited "*" 0") ;;
      *" running healthy "*|*" running none "*) ;;
      *) return 1 ;;
    esac
  done
}

"$bin" render --config "$config" --out "$work/render" >/dev/null 2>&1
# Fair health checks: the export says what a production stack wants (10 s),
# but while deploying Burrow runs a service's check every EXEC_EVERY; give
# docker-compose's checks the same interval, read from Burrow's source.
every=$(sed -n 's/^const EXEC_EVERY: Duration = Duration::from_secs(\([0-9]*\));.*/\1/p' \
  engine/src/deploy/docker/health.rs)
[ -n "$every" ] || { echo "cannot read EXEC_EVERY from engine/src/deploy/docker/health.rs" >&2; exit 1; }
sed -i -E "s/^( *)interval: [0-9]+s$/\1interval: ${every}s/" "$work/render/compose.yml"
grep -q "interval: ${every}s" "$work/render/compose.yml" \
  || { echo "the compose export has no health check interval to align" >&2; exit 1; }
echo "health checks: docker-compose every ${every}s, as Burrow checks while deploying"
mkdir -p "$work/render/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=stoat.burrow.test -addext subjectAltName=DNS:stoat.burrow.test \
  -keyout "$work/render/tls/key.pem" -out "$work/render/tls/cert.pem" >/dev/null 2>&1

printf '%-6s %18s %18s %16s %16s\n' round "burrow cold (s)" "compose cold (s)" "burrow no-op (s)" "compose no-op (s)"
for r in $(seq 1 "$rounds"); do
  "$bin" down --config "$config" --volumes >/dev/null 2>&1 || true
  t0=$(now); "$bin" apply --config "$config" >/dev/null 2>&1; t1=$(now)
  "$bin" apply --config "$config" >/dev/null 2>&1; t2=$(now)
  "$bin" down --config "$config" --volumes >/dev/null 2>&1

  (cd "$work/render" && docker-compose -p burrow-testkit down -v >/dev/null 2>&1 || true)
  t3=$(now)
  (cd "$work/render" && docker-compose -p burrow-testkit up -d >/dev/null 2>&1)
  until compose_ready; do sleep 0.2; done
  t4=$(now)
  (cd "$work/render" && docker-compose -p burrow-testkit up -d >/dev/null 2>&1)
  t5=$(now)
  (cd "$work/render" && docker-compose -p burrow-testkit down -v >/dev/null 2>&1)
  printf '%-6s %18s %18s %16s %16s\n' "$r" "$(secs "$t0" "$t1")" "$(secs "$t3" "$t4")" "$(secs "$t1" "$t2")" "$(secs "$t4" "$t5")"
done
echo "(burrow waits for its own HTTP/TCP probes too; the compose export only has the exec checks Docker can run)"

# Log throughput: deploy, fill the API's log, then read it both ways.
"$bin" apply --config "$config" >/dev/null 2>&1
# The console streams at most the last 5000 lines at once.
lines=${LOG_LINES:-4900}
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' burrow-testkit-api)
python3 - "$ip" "$lines" <<'PY'
import http.client, sys
ip, n = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(ip, 14702, timeout=10)
for i in range(n):
    c.request("GET", f"/bench/{i}")
    c.getresponse().read()
PY
sleep 1
total=$(docker logs burrow-testkit-api 2>&1 | wc -l)
t0=$(now); docker logs burrow-testkit-api >/dev/null 2>&1; t1=$(now)
docker_rate=$(awk -v n="$total" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')

port=$((20000 + RANDOM % 20000))
BURROW_LISTEN=127.0.0.1:$port "$bin" >/dev/null 2>&1 & pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
rate=$(python3 - "$port" "$BURROW_DATA_DIR" "$total" <<'PY'
import http.client, sys, time, urllib.parse
port, data, total = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def post(path, fields, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", port)
    h = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}", "Accept": "application/json"}
    if cookie: h["Cookie"] = cookie
    c.request("POST", path, urllib.parse.urlencode(fields), h)
    r = c.getresponse(); r.read()
    return r.getheader("Set-Cookie", "").split(";")[0]
token = open(f"{data}/setup-token").read().strip() if __import__("os").path.exists(f"{data}/setup-token") else None
pw = "bench password 1234"
cookie = post("/api/setup", {"token": token, "username": "bench", "password": pw, "confirm": pw}) if token else ""
if not cookie:
    cookie = post("/api/login", {"username": "bench", "password": pw})
total = min(total, 5000)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
start = time.time()
c.request("GET", f"/live/logs?service=api&tail={total}", headers={"Cookie": cookie})
r = c.getresponse()
seen = 0
while seen < total - 5 and time.time() - start < 60:
    line = r.fp.readline()
    if not line: break
    if line.startswith(b"data: ["): seen += len(__import__("json").loads(line[6:]))
print(f"{seen / (time.time() - start):.0f}")
PY
)
echo
echo "log lines: $total in the API container's log"
echo "docker logs (raw):       $docker_rate lines/s"
echo "burrow SSE /live/logs:   $rate lines/s (JSON batches over HTTP)"
