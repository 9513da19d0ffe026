#!/usr/bin/env bash
# Failed requests during an update, side by side in one run, same images
# (the test kit pushed to Debian's docker-registry on loopback), under the
# same load through Caddy (engine/examples/load.rs: ~RATE requests/s of
# GETs of the API root and the web app, every tenth a POST of 64 KB, one
# slow request held from the start, one WebSocket held open; a new TLS
# connection per request):
#  1. `burrow update apply`, v1 -> v2 of api (which takes API_START_MS to
#     open its port, as Stoat's api does while it connects and migrates)
#     and web: switched without downtime;
#  2. `burrow update apply` of v3, whose web never serves: rolled back;
#  3. `docker-compose pull && docker-compose up -d` with v2 on the compose
#     export of the same stack.
# Usage: bench/zero-downtime.sh   (RATE=100 API_START_MS=5000 SETTLE=10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
testkit/build-images.sh >/dev/null
export DOCKER_CLI_HINTS=false
cargo build -q -p burrow --bin burrow
cargo build -q -p engine --example load
bin=$PWD/target/debug/burrow
load=$PWD/target/debug/examples/load
rate=${RATE:-100}
api_start=${API_START_MS:-5000}
work=$(mktemp -d)
export BURROW_DATA_DIR=$work/data BURROW_LOG=warn
export BURROW_UPDATE_SETTLE_S=${SETTLE:-10} BURROW_UPDATE_DEADLINE_S=60
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  "$bin" down --config "$work/v1.toml" --volumes >/dev/null 2>&1 || true
  (cd "$work/compose" 2>/dev/null && docker-compose -p burrow-bench down -v >/dev/null 2>&1) || true
  [ -n "${registry:-}" ] && kill "$registry" 2>/dev/null
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${BENCH_DEBUG:-}" ] && set -x

start_registry

testkit/push-release.sh "$port" v1 >"$work/v1.json" 2>/dev/null
# One service's image of a release, FROM v1's with LINE added: its pin.
push_one() { # SERVICE TAG [LINE]
  local ref=127.0.0.1:$port/kit/$1:$2
  printf 'FROM %s\nLABEL burrow.test.release=%s\n%s\n' "$(python3 -c "import json,sys; print(json.load(open('$work/v1.json'))['$1'])")" "$2" "${3:-}" \
    | docker build -q -t "$ref" - >/dev/null 2>&1
  docker push -q "$ref" >/dev/null
  docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | grep "^127.0.0.1:$port/kit/$1@"
}
slow="ENV STANDIN_LISTEN_DELAY_MS=$api_start"
# A release pins every image: v1's, with api's and web's replaced.
release() { # API WEB
  python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); i.update(api=sys.argv[2], web=sys.argv[3]); print(json.dumps(i))' \
    "$work/v1.json" "$1" "$2"
}
release "$(push_one api v2 "$slow")" "$(push_one web v2)" >"$work/v2-release.json"
release "$(push_one api v3 "$slow")" "$(push_one web v3 'ENV STANDIN_NEVER_LISTEN=1')" >"$work/v3-release.json"
echo '{"web":{"deadline_s":10}}' >"$work/v3-health.json"

# A stack.toml of the test kit with v1's images and RELEASE's on top.
config() { # OUT [RELEASE_JSON]
  python3 - "$work/v1.json" "${2:-}" "$1" <<'PY'
import json, sys
images = json.load(open(sys.argv[1]))
if sys.argv[2]:
    images.update(json.load(open(sys.argv[2])))
out = []
for line in open("testkit/stack.toml"):
    key = line.split("=")[0].strip().strip('"')
    if key == "name":
        line = 'name = "burrow-bench"\n'
    elif key in images and "=" in line and line.split("=")[1].strip().startswith('"'):
        line = f'{key} = "{images[key]}"\n'
    out.append(line)
open(sys.argv[3], "w").write("".join(out))
PY
}
config "$work/v1.toml"
config "$work/v2.toml" "$work/v2-release.json"

chan=$work/chan
"$bin" release init "$chan" >/dev/null
"$bin" release add "$chan" --version 0.2.0 --images "$work/v2-release.json" --no-backup >/dev/null
"$bin" release sign "$chan" >/dev/null
export BURROW_CHANNEL_URL=file://$chan/channel BURROW_CHANNEL_ROOT=$chan/channel/metadata/1.root.json

# Runs COMMAND... under the load (trusting CA); prints the load's figures.
under_load() { # NAME CA COMMAND...
  local name=$1 ca=$2; shift 2
  rm -f "$work/stop"
  "$load" --config "$work/v1.toml" --ca "$ca" --until "$work/stop" --rate "$rate" \
    --slow-ms 20000 >"$work/$name.load" 2>&1 & local pid=$!
  sleep 2
  local t0; t0=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || true
  local t1; t1=$(date +%s.%N)
  sleep 2
  touch "$work/stop"
  wait "$pid"
  printf '%s (%.0f s)\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$work/report"
  sed 's/^/  /' "$work/$name.load" >>"$work/report"
}

"$bin" apply --config "$work/v1.toml" >"$work/apply.log" 2>&1 || { tail -20 "$work/apply.log"; exit 1; }
docker cp burrow-bench-api:/etc/ssl/certs/burrow-ca.pem "$work/burrow-ca.pem" >/dev/null
under_load "burrow update apply, v1 -> v2 (api, web)" "$work/burrow-ca.pem" "$bin" update apply
"$bin" release add "$chan" --version 0.3.0 --images "$work/v3-release.json" --health "$work/v3-health.json" --no-backup >/dev/null
"$bin" release sign "$chan" >/dev/null
under_load "burrow update apply, v2 -> v3 (web never serves): rolled back" "$work/burrow-ca.pem" "$bin" update apply
grep -h "rolled back\|Rolled back\|completed\|Completed" "$work"/burrow*.log 2>/dev/null | sed 's/^/  burrow: /' | head -4 >>"$work/report" || true
"$bin" down --config "$work/v1.toml" --volumes >/dev/null 2>&1

# docker-compose on the export: v1 up and ready, then v2 pulled and up.
render "$work/v1.toml"
(cd "$work/compose" && docker-compose -p burrow-bench up -d >/dev/null 2>&1)
until ready; do sleep 0.2; done
render "$work/v2.toml"
compose_update() {
  (cd "$work/compose" && docker-compose -p burrow-bench pull -q && docker-compose -p burrow-bench up -d) || return 1
  until ready; do sleep 0.2; done
}
under_load "docker-compose pull && up -d, v1 -> v2 (api, web), until ready" "$work/compose/tls/cert.pem" compose_update

echo "Load: ~$rate requests/s through Caddy; api takes ${api_start} ms to open its port"
cat "$work/report"
