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
# tests that need real peers, a registry for the real-pull test, and the real
# programs the test kit's images carry (Redis' server and CLI, busybox).
packages=(chromium docker.io caddy python3-aiosmtpd docker-compose pebble openssl docker-registry iproute2 python3-venv redis-tools busybox-static)
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

# kubernetes-validate (PyPI), in its own virtualenv: every Kubernetes object
# Burrow sends and ships is checked against the API's schema, strictly.
KV_VERSION=1.37.0
KV=${BURROW_TOOLS:-$HOME/.local/share/burrow-tools}/kubernetes-validate
if [ "$("$KV/bin/kubernetes-validate" --version 2>/dev/null | awk '{print $NF}')" != "$KV_VERSION" ]; then
  log "pip: installing kubernetes-validate $KV_VERSION into $KV"
  rm -rf "$KV"
  /usr/bin/python3 -m venv "$KV"
  "$KV/bin/pip" install -q "kubernetes-validate==$KV_VERSION"
fi

# RabbitMQ and the Erlang it runs on, for the test kit's rabbit image: Debian's
# packages unpacked into a directory, not installed (installing starts a
# broker on this machine). Unpacked again when the list or a version changes.
RABBIT_PKGS=(rabbitmq-server erlang-base erlang-asn1 erlang-crypto erlang-eldap erlang-ftp
  erlang-inets erlang-mnesia erlang-os-mon erlang-parsetools erlang-public-key
  erlang-runtime-tools erlang-snmp erlang-ssl erlang-syntax-tools erlang-tftp erlang-tools
  erlang-xmerl)
RABBIT_DIR=${BURROW_TOOLS:-$HOME/.local/share/burrow-tools}/rabbitmq
rabbit_want=$(apt-cache policy "${RABBIT_PKGS[@]}" 2>/dev/null \
  | awk '/^[a-z]/ { p = $1 } /Candidate:/ { print p, $2 }')
if [ -z "$rabbit_want" ] || [ "$(grep -c ' (none)$' <<<"$rabbit_want")" -gt 0 ] \
   || [ "$(cat "$RABBIT_DIR/packages" 2>/dev/null)" != "$rabbit_want" ]; then
  log "apt: unpacking RabbitMQ and Erlang into $RABBIT_DIR"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "${RABBIT_PKGS[@]}" >/dev/null 2>&1) || {
    as_root apt-get update -q
    (cd "$tmp" && apt-get download -q "${RABBIT_PKGS[@]}" >/dev/null)
  }
  rabbit_want=$(apt-cache policy "${RABBIT_PKGS[@]}" | awk '/^[a-z]/ { p = $1 } /Candidate:/ { print p, $2 }')
  rm -rf "$RABBIT_DIR"
  mkdir -p "$RABBIT_DIR/root"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$RABBIT_DIR/root"; done
  rm -rf "$RABBIT_DIR/root/usr/share" "$tmp"
  printf '%s\n' "$rabbit_want" >"$RABBIT_DIR/packages"
fi

# npm packages: Playwright (driving Debian's Chromium) and binaryen's
# wasm-opt for release builds.
if [ ! -x end2end/node_modules/.bin/playwright ] || [ ! -x end2end/node_modules/.bin/wasm-opt ] \
   || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then
  log "npm: installing end2end packages"
  (cd end2end && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
fi

# A Docker daemon for the deploy tests, also listening on loopback with TLS
# and client certificates (dockerd --tlsverify, as Docker's "Protect the
# Docker daemon socket" sets it up) for the tests of Burrow's Docker-over-TLS
# target. The test kit's CA, server and client certificates are made once.
DOCKER_TLS_DIR=/var/lib/burrow-testkit/docker-tls
DOCKER_TLS_ADDR=127.0.0.1:2376
if [ ! -s "$DOCKER_TLS_DIR/key.pem" ]; then
  log "docker: making the test kit's Docker TLS certificates in $DOCKER_TLS_DIR"
  as_root mkdir -p "$DOCKER_TLS_DIR"
  tmp=$(mktemp -d)
  (
    cd "$tmp"
    ec() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
    ec -x509 -days 3650 -keyout ca-key.pem -out ca.pem -subj "/CN=Burrow test kit Docker CA"
    ec -keyout server-key.pem -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    ec -keyout key.pem -out client.csr -subj "/CN=burrow"
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out cert.pem 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
  )
  as_root cp "$tmp"/*.pem "$DOCKER_TLS_DIR/"
  as_root chmod 0600 "$DOCKER_TLS_DIR"/ca-key.pem "$DOCKER_TLS_DIR"/server-key.pem
  # The tests (run as this user) read the client's files.
  as_root chown "$(id -u)" "$DOCKER_TLS_DIR"/key.pem "$DOCKER_TLS_DIR"/cert.pem "$DOCKER_TLS_DIR"/ca.pem
  rm -rf "$tmp"
fi
docker_tls_up() {
  docker -H "tcp://$DOCKER_TLS_ADDR" --tlsverify --tlscacert "$DOCKER_TLS_DIR/ca.pem" \
    --tlscert "$DOCKER_TLS_DIR/cert.pem" --tlskey "$DOCKER_TLS_DIR/key.pem" version >/dev/null 2>&1
}
if docker info >/dev/null 2>&1 && ! docker_tls_up; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    log "docker: adding the TLS listener to the systemd unit (drop-in)"
    as_root mkdir -p /etc/systemd/system/docker.service.d
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// -H tcp://%s --tlsverify --tlscacert %s/ca.pem --tlscert %s/server-cert.pem --tlskey %s/server-key.pem\n' \
      "$DOCKER_TLS_ADDR" "$DOCKER_TLS_DIR" "$DOCKER_TLS_DIR" "$DOCKER_TLS_DIR" \
      | as_root tee /etc/systemd/system/docker.service.d/burrow-testkit-tls.conf >/dev/null
    as_root systemctl daemon-reload
    as_root systemctl restart docker
  else
    log "docker: restarting dockerd with the TLS listener"
    as_root kill "$(cat /var/run/docker.pid)"
    for _ in $(seq 1 60); do [ -e /var/run/docker.pid ] || break; sleep 0.5; done
  fi
fi
if ! docker info >/dev/null 2>&1; then
  log "docker: starting dockerd"
  (as_root dockerd -H unix:///var/run/docker.sock -H "tcp://$DOCKER_TLS_ADDR" --tlsverify \
    --tlscacert "$DOCKER_TLS_DIR/ca.pem" --tlscert "$DOCKER_TLS_DIR/server-cert.pem" \
    --tlskey "$DOCKER_TLS_DIR/server-key.pem" >/tmp/burrow-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/burrow-dockerd.log" >&2; exit 1; }
fi
docker_tls_up || { echo "dockerd does not answer with TLS on $DOCKER_TLS_ADDR; see /tmp/burrow-dockerd.log" >&2; exit 1; }

# Tools the stack renderer's tests validate against (added by that work).
if [ -x scripts/setup-test-tools.sh ]; then
  scripts/setup-test-tools.sh
fi
