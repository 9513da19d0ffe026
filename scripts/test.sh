#!/usr/bin/env bash
# Runs every check and test Burrow has, installing what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/end2end/node_modules/.bin:${BURROW_TOOLS:-$HOME/.local/share/burrow-tools}/kubernetes-validate/bin:$PATH"
# A service switched without downtime drains its old container for 30 s by
# default; the tests' deploys need 1 s (the switch's own test sets its own).
export BURROW_DRAIN_S=${BURROW_DRAIN_S:-1}
# No incremental caches: a run from a fresh clone gains nothing from them
# and they were half of its target directory (CI ran out of disk space
# compiling the tests). Set CARGO_INCREMENTAL=1 for repeated local runs.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# What Burrow-made Docker objects exist before the tests, to show at the end
# that the tests left nothing of their own behind (a leftover test-kit volume
# keeps a database initialised with that run's secrets, and the next run's
# deploy with fresh secrets fails its health check).
inventory() {
  { docker ps -aq --no-trunc --filter label=burrow.stack | sed 's/^/container /'
    docker volume ls -q --filter label=burrow.stack | sed 's/^/volume /'
    docker volume ls -q --filter label=com.docker.compose.project=burrow-testkit | sed 's/^/volume /'
    docker network ls -q --no-trunc --filter label=burrow.stack | sed 's/^/network /'
  } | sort -u
}
before=$(inventory)

# Free space, said up front: a run from a fresh clone writes about 5 GB
# under target/ (4.3 GB measured), plus the test kit's images.
printf 'disk: %s free for %s\n' "$(df -h --output=avail . | tail -1 | tr -d ' ')" "$PWD"

step "format"
cargo fmt --all --check

# Built first: the tests below reuse its compiled dependencies.
step "build the site and server (cargo leptos build --split)"
# --split: each page's code is a wasm chunk of its own (lazy routes).
cargo leptos build --split

step "test-kit images (stand-ins for every service + Debian's caddy)"
testkit/build-images.sh

step "test-kit stand-in unit tests"
CARGO_TARGET_DIR=target/testkit cargo test --quiet --locked --manifest-path testkit/standin/Cargo.toml

step "compose export on the test kit (docker-compose up, every route, down -v)"
BURROW=target/debug/burrow testkit/smoke-compose.sh

step "Burrow's own compose file (docker-compose config)"
docker-compose -f manifests/compose.yml config -q

step "unit and integration tests"
if [ -z "${KUBECONFIG:-}" ]; then
  echo "note: KUBECONFIG is not set, so the real-cluster tests (engine/tests/preflight/real_cluster.rs: the kit validated, then deployed and run) do nothing; set it to a cluster to run them"
fi
cargo test --workspace --exclude frontend   # frontend is the wasm entry only; with it, app would be built with ssr+hydrate together

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "end-to-end tests in Chromium (JavaScript off and on)"
(cd end2end && BURROW_BIN=target/debug/burrow npx playwright test)

step "nothing left behind"
left=$(comm -13 <(printf '%s\n' "$before") <(inventory) | sed '/^$/d')
# A stack network no container is on any more that the daemon will not
# remove ("has active endpoints", asked for 10 s): Docker 20.10 sometimes
# keeps counting an endpoint of a removed container, until dockerd
# restarts. Such a network is said, not failed: the tests did remove what
# was on it. A network the daemon does remove here was left by the tests:
# it still fails, like any container or volume left.
for net in $(printf '%s\n' "$left" | sed -n 's/^network //p'); do
  [ "$(docker network inspect -f '{{len .Containers}}' "$net" 2>/dev/null)" = 0 ] || continue
  name=$(docker network inspect -f '{{.Name}}' "$net")
  refused=
  for _ in $(seq 40); do
    why=$(docker network rm "$net" 2>&1 >/dev/null) && { refused=; break; }
    case "$why" in *"has active endpoints"*) refused=1 ;; *) refused=; break ;; esac
    sleep 0.25
  done
  if [ -n "$refused" ]; then
    echo "note: network $name has no container, but Docker 20.10 keeps an endpoint of a removed one and will not remove it until dockerd restarts" >&2
    left=$(printf '%s\n' "$left" | grep -v "^network $net$" || true)
  fi
done
if [ -n "$left" ]; then
  echo "the tests left these Docker objects behind:" >&2
  printf '%s\n' "$left" | sed 's/^/  /' >&2
  exit 1
fi

step "all tests passed"
