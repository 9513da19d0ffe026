#!/usr/bin/env bash
# Update figures, side by side in one run, same images (the test kit pushed
# to Debian's docker-registry on loopback, so every image is pinned by a
# real digest):
#  1. v1 -> v2 of the whole stack: `burrow update apply` from a signed
#     channel (pull by digest, backup, parked containers, settle, commit)
#     vs `docker-compose pull && docker-compose up -d` on the compose export
#     of the same two image sets, waited until every container is ready;
#  2. v2 -> v3, whose web never serves: from the moment Burrow gives up on
#     it (its health check fails, or the deadline passes) to the previous
#     containers healthy again;
#  3. a check of the channel that finds nothing new ("up to date").
# Usage: bench/update.sh   (settle and deadline: SETTLE=10 DEADLINE=30)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
testkit/build-images.sh >/dev/null
[ -x target/debug/burrow ] || cargo build -q -p burrow
bin=$PWD/target/debug/burrow
work=$(mktemp -d)
export BURROW_DATA_DIR=$work/data BURROW_LOG=warn
export BURROW_UPDATE_SETTLE_S=${SETTLE:-10} BURROW_UPDATE_DEADLINE_S=${DEADLINE:-30}
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
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

start_registry

push=testkit/push-release.sh
$push "$port" v1 >"$work/v1.json"
$push "$port" v2 >"$work/v2.json"
$push "$port" v3 web 'ENV STANDIN_NEVER_LISTEN=1' >"$work/v3.json"

# A stack.toml of the test kit with an image set (the bench's own name).
config() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
images = json.load(open(sys.argv[1]))
out = []
for line in open("testkit/stack.toml"):
    key = line.split("=")[0].strip().strip('"')
    if key == "name":
        line = 'name = "burrow-bench"\n'
    elif key in images and "=" in line and line.split("=")[1].strip().startswith('"'):
        line = f'{key} = "{images[key]}"\n'
    out.append(line)
open(sys.argv[2], "w").write("".join(out))
PY
}
config "$work/v1.json" "$work/v1.toml"
config "$work/v2.json" "$work/v2.toml"

chan=$work/chan
"$bin" release init "$chan" >/dev/null
"$bin" release add "$chan" --version 0.2.0 --images "$work/v2.json" --no-backup >/dev/null
"$bin" release sign "$chan" >/dev/null
export BURROW_CHANNEL_URL=file://$chan/channel BURROW_CHANNEL_ROOT=$chan/channel/metadata/1.root.json

echo "settle ${BURROW_UPDATE_SETTLE_S}s, health deadline ${BURROW_UPDATE_DEADLINE_S}s"
"$bin" apply --config "$work/v1.toml" >"$work/apply.log" 2>&1 || { tail -20 "$work/apply.log"; exit 1; }
t0=$(now); "$bin" update apply >"$work/v2.log" 2>&1 || { tail -20 "$work/v2.log"; exit 1; }; t1=$(now)
t2=$(now); "$bin" update check >/dev/null 2>&1; t3=$(now)

"$bin" release add "$chan" --version 0.3.0 --images "$work/v3.json" --no-backup >/dev/null
"$bin" release sign "$chan" >/dev/null
t4=$(now); BURROW_LOG=warn "$bin" update apply 2>"$work/v3.log" >/dev/null || true; t5=$(now)
failed_at=$(sed -n 's/^\(\S*\).*update step failed.*/\1/p' "$work/v3.log" | sed 's/\x1b\[[0-9;]*m//g' | head -1)
failed=$(date -d "$failed_at" +%s.%N 2>/dev/null || echo "$t4")
"$bin" down --config "$work/v1.toml" --volumes >/dev/null 2>&1

# docker-compose on the export: v1 up and ready, then v2 pulled and up.
render "$work/v1.toml"
(cd "$work/compose" && docker-compose -p burrow-bench up -d >/dev/null 2>&1)
until ready; do sleep 0.2; done
render "$work/v2.toml"
t6=$(now)
(cd "$work/compose" && docker-compose -p burrow-bench pull -q >"$work/pull.log" 2>&1 && docker-compose -p burrow-bench up -d >"$work/up.log" 2>&1) || { cat "$work"/pull.log "$work"/up.log 2>/dev/null | tail -n 8; docker ps -a --filter label=com.docker.compose.project=burrow-bench --format "{{.ID}} {{.Names}} {{.Status}}"; for c in $(docker ps -aq --filter label=com.docker.compose.project=burrow-bench); do docker inspect -f "{{.Name}} {{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}" $c; done | grep -v " $" | tail -5; exit 1; }
until ready; do sleep 0.2; done
t7=$(now)

printf '\n%-58s %8s\n' "v1 -> v2, whole stack" "seconds"
printf '%-58s %8s\n' "burrow update apply (incl. ${BURROW_UPDATE_SETTLE_S}s settle)" "$(secs "$t0" "$t1")"
printf '%-58s %8s\n' "burrow update apply, less the settle" "$(awk -v a="$t0" -v b="$t1" -v s="$BURROW_UPDATE_SETTLE_S" 'BEGIN { printf "%.1f", b - a - s }')"
printf '%-58s %8s\n' "docker-compose pull && up -d, until all ready" "$(secs "$t6" "$t7")"
printf '%-58s %8s\n' "v2 -> v3 failing: failure seen -> v2 healthy again" "$(secs "$failed" "$t5")"
printf '%-58s %8s\n' "v2 -> v3 failing: whole update" "$(secs "$t4" "$t5")"
printf '%-58s %8s\n' "update check, nothing new" "$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.3f", b - a }')"
echo "(docker-compose has no rollback: a failing v3 would stay half up)"
