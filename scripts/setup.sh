#!/usr/bin/env bash
# Installs, idempotently, everything Burrow needs to build, run and test on a
# Debian 12 machine: system packages, the wasm target, cargo-leptos,
# wasm-bindgen-cli, the end-to-end test's npm packages, a running Docker
# daemon. Each step runs only when its tool is missing or the wrong version.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages (Debian): browser for end-to-end tests, Docker engine,
# Caddy (proxy config validation), an SMTP server and an ACME server for the
# tests that need real peers, and a registry for the real-pull test.
packages=(chromium docker.io caddy python3-aiosmtpd docker-compose pebble openssl docker-registry)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Rust: the wasm target for the hydration bundle.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos, built without its downloader (it uses the tools on PATH).
if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "cargo: installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~15 minutes once)"
  # From outside the repository: its .cargo/config.toml flags are for
  # Burrow's own crates, not for the tools.
  (cd / && cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" --features no_downloads)
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
wbg=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg" ]; then
  log "cargo: installing wasm-bindgen-cli $wbg"
  (cd / && cargo install wasm-bindgen-cli --version "$wbg")
fi

# npm packages: Playwright (driving Debian's Chromium) and binaryen's
# wasm-opt for release builds.
if [ ! -x end2end/node_modules/.bin/playwright ] || [ ! -x end2end/node_modules/.bin/wasm-opt ] \
   || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then
  log "npm: installing end2end packages"
  (cd end2end && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
fi

# A Docker daemon for the deploy tests.
if ! docker info >/dev/null 2>&1; then
  log "docker: starting dockerd"
  (as_root dockerd >/tmp/burrow-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/burrow-dockerd.log" >&2; exit 1; }
fi

# Tools the stack renderer's tests validate against (added by that work).
if [ -x scripts/setup-test-tools.sh ]; then
  scripts/setup-test-tools.sh
fi
