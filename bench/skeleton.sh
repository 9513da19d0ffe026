#!/usr/bin/env bash
# Figures for the walking skeleton: release binary size, wasm+JS size
# (gzipped), and the idle resident memory of a running server.
# Usage: bench/skeleton.sh   (after `cargo leptos build --release --split`)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/burrow
site=${SITE:-target/site/pkg}
[ -f "$site/burrow.wasm" ] || { echo "build first: cargo leptos build --release --split" >&2; exit 1; }

size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

css=$site/burrow.css
echo "css:                   $(kb "$(size "$css")") raw, $(kb "$(gz "$css")") gzipped"
# The hydration bundle is split (cargo leptos build --split): the shared
# code loads first, then the chunks of the page opened. Per page: what a
# first visit downloads, gzipped; last, every chunk (each compressed on its
# own, as served) with the shared code.
python3 - "$site" <<'PY'
import glob, gzip, json, os, sys
site = sys.argv[1]
def gz(path):
    with open(path, 'rb') as f:
        return len(gzip.compress(f.read(), 9))
kib = lambda b: f"{b / 1024:.1f} KiB"
shared = [f"{site}/burrow.wasm", f"{site}/burrow.js"] + glob.glob(f"{site}/__wasm_split*.js")
first = sum(gz(p) for p in shared)
print(f"shared (main wasm + JS):  {kib(first)} gzipped, {kib(sum(os.path.getsize(p) for p in shared))} raw")
manifest = glob.glob(f"{site}/__wasm_split_manifest*.json")
if not manifest:
    print("no split manifest: built without --split")
    sys.exit(0)
pages = json.load(open(manifest[0]))
def files_of(view):
    return {f"{site}/{c}.wasm" for c in pages[view]} | set(glob.glob(f"{site}/split_{view}.wasm"))
def short(view):
    return view.strip('_').rsplit('_', 1)[0].removesuffix('_view')
# The signed-in pages sit in the console's frame (a lazy route of its own):
# their first visit loads its chunks too.
frame = [v for v in pages if short(v) == 'console']
outside = {'login', 'login_code', 'setup', 'console'}
for view in sorted(pages, key=short):
    name = short(view)
    files = files_of(view)
    if name not in outside:
        for f in frame:
            files |= files_of(f)
    own = sum(gz(p) for p in files)
    print(f"  first visit of {name:12s} {kib(first + own):>11s}  ({len(files)} chunks, {kib(own)})")
every = glob.glob(f"{site}/chunk_*.wasm") + glob.glob(f"{site}/split_*.wasm")
print(f"all chunks together:     {kib(first + sum(gz(p) for p in every))} gzipped")
PY

# The server's figures need its release build (`--frontend-only` skips it).
if [ ! -x "$bin" ]; then
  echo "no $bin: the server's figures need cargo leptos build --release --split"
  exit 0
fi
echo "release binary:        $(kb "$(size "$bin")")"
stripped=$(mktemp); strip -o "$stripped" "$bin"; echo "release binary stripped: $(kb "$(size "$stripped")")"; rm -f "$stripped"
data=$(mktemp -d); port=$((20000 + RANDOM % 20000))
BURROW_LISTEN=127.0.0.1:$port BURROW_DATA_DIR=$data BURROW_LOG=warn "$bin" & pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/setup" >/dev/null
for _ in 1 2 3 4 5; do curl -fsS "http://127.0.0.1:$port/pkg/burrow.css" >/dev/null; done
sleep 2
echo "idle RSS after startup and a page render: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
