#!/usr/bin/env bash
# Figures for the walking skeleton: release binary size, wasm+JS size
# (gzipped), and the idle resident memory of a running server.
# Usage: bench/skeleton.sh   (after `cargo leptos build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/burrow
site=target/site/pkg
[ -x "$bin" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

echo "release binary:        $(kb "$(size "$bin")")"
stripped=$(mktemp); strip -o "$stripped" "$bin"; echo "release binary stripped: $(kb "$(size "$stripped")")"; rm -f "$stripped"
wasm=$(ls "$site"/*.wasm | head -1); js=$(ls "$site"/*.js | head -1); css=$(ls "$site"/*.css | head -1)
echo "wasm:                  $(kb "$(size "$wasm")") raw, $(kb "$(gz "$wasm")") gzipped"
echo "js:                    $(kb "$(size "$js")") raw, $(kb "$(gz "$js")") gzipped"
echo "css:                   $(kb "$(size "$css")") raw, $(kb "$(gz "$css")") gzipped"

data=$(mktemp -d); port=$((20000 + RANDOM % 20000))
BURROW_LISTEN=127.0.0.1:$port BURROW_DATA_DIR=$data BURROW_LOG=warn "$bin" & pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/setup" >/dev/null
for _ in 1 2 3 4 5; do curl -fsS "http://127.0.0.1:$port/pkg/burrow.css" >/dev/null; done
sleep 2
echo "idle RSS after startup and a page render: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
