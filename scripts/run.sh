#!/usr/bin/env bash
# Builds Burrow (release) with everything it needs and starts it.
# Settings come from BURROW_* variables (see README), e.g.
#   BURROW_LISTEN=0.0.0.0:8443 ./scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:$PATH"   # wasm-opt from npm binaryen
# --split: each page's code is a wasm chunk loaded with the page (lazy
# routes); --precompress: gzip and brotli copies the server sends instead.
cargo leptos build --release --split --precompress
exec target/release/burrow "$@"
