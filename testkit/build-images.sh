#!/usr/bin/env bash
# Builds Burrow's test-kit images without any registry:
#   burrow-testkit/standin-base:dev   FROM scratch + the static `standin` binary
#   burrow-testkit/<service>:dev      base + multi-call links + ENTRYPOINT per service
#   burrow-testkit/caddy:dev          FROM scratch + Debian's real caddy and its libraries
#
# Idempotent and fast: each image is labelled with a hash of its inputs
# (org.burrow.testkit.inputs) and rebuilt only when that hash changes.
# Installs nothing: fails with the fix when a tool is missing.
#
# Env: TESTKIT_TAG (default dev), TESTKIT_FORCE=1 (rebuild all images).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TAG=${TESTKIT_TAG:-dev}
PREFIX=burrow-testkit
TRIPLE=x86_64-unknown-linux-gnu
LABEL=org.burrow.testkit.inputs
export CARGO_TARGET_DIR="$ROOT/target/testkit"
CTX="$CARGO_TARGET_DIR/images"
BIN="$CARGO_TARGET_DIR/$TRIPLE/release/standin"
# The legacy builder (Debian's docker.io 20.10 has no buildx).
export DOCKER_BUILDKIT=0

die() { echo "build-images: error: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---- tools (nothing is installed here; scripts/setup.sh does that)
command -v docker >/dev/null || die "docker is missing: run scripts/setup.sh (Debian package docker.io)"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable: start it (scripts/setup.sh, or: dockerd >/tmp/burrow-dockerd.log 2>&1 &)"
CADDY=$(command -v caddy) || die "caddy is missing: run scripts/setup.sh (Debian package caddy)"
command -v cargo >/dev/null || die "cargo is missing (https://rustup.rs)"
command -v ldd >/dev/null || die "ldd is missing (Debian package libc-bin)"
# Real programs the infrastructure images carry instead of stand-ins.
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" 2>&1 | grep -q '=>' \
  || die "$BUSYBOX (static) is missing: run scripts/setup.sh (Debian package busybox-static)"
REDIS=$(command -v redis-check-rdb) \
  || die "redis-check-rdb (Redis' server binary) is missing: run scripts/setup.sh (Debian package redis-tools)"
REDIS_CLI=$(command -v redis-cli) || die "redis-cli is missing: run scripts/setup.sh (Debian package redis-tools)"
RABBIT_ROOT=${BURROW_TOOLS:-$HOME/.local/share/burrow-tools}/rabbitmq/root
[ -x "$RABBIT_ROOT/usr/lib/rabbitmq/bin/rabbitmq-server" ] && [ -d "$RABBIT_ROOT/usr/lib/erlang" ] \
  || die "RabbitMQ is not unpacked in ${RABBIT_ROOT%/root}: run scripts/setup.sh (Debian packages rabbitmq-server and erlang-*)"
for tool in bash install setpriv getconf; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian packages bash, coreutils, util-linux, libc-bin)"
done
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx "$TRIPLE" \
    || die "Rust target $TRIPLE is missing: rustup target add $TRIPLE"
fi

# ---- the static binary (cargo is a quick no-op when nothing changed)
started=$(now_ms)
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --release --locked \
  --manifest-path testkit/standin/Cargo.toml --target "$TRIPLE" \
  || die "cargo build of testkit/standin failed"
if ldd "$BIN" 2>&1 | grep -q '=>'; then
  die "$BIN is dynamically linked (expected a static binary)"
fi
echo "standin binary: ${BIN#"$ROOT"/} ($(stat -c %s "$BIN") bytes, $(since "$started"))"

# ---- helpers
inputs_hash() { # DIR [EXTRA]: hash of a context directory (content, modes, links) and EXTRA
  { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C "$1" .; printf '%s' "${2:-}"; } \
    | sha256sum | cut -d' ' -f1
}

build() { # IMAGE DIR HASH [--label K=V...]
  local image=$1 dir=$2 hash=$3 current old t0 log
  shift 3
  current=$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ -z "${TESTKIT_FORCE:-}" ]; then
    echo "$image: up to date"
    return
  fi
  old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  t0=$(now_ms)
  log=$(docker build --label "$LABEL=$hash" "$@" -t "$image" "$dir" 2>&1) \
    || { echo "$log" >&2; die "docker build of $image failed"; }
  # Drop the image this one replaces (unless a container still uses it).
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
  echo "$image: built ($(since "$t0"))"
}

link() { # DIR PATH...: multi-call links to the stand-in binary
  local dir=$1; shift
  for p in "$@"; do
    mkdir -p "$dir/rootfs$(dirname "$p")"
    ln -s /usr/local/bin/standin "$dir/rootfs$p"
  done
}

copy_bin() { # ROOTFS SRC DEST: a dynamically linked program and the libraries ldd lists
  local root=$1 src=$2 dest=$3
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$src" "$root$dest"
  copy_libs "$root" "$src"
}

copy_libs() { # ROOTFS FILE...: the libraries ldd lists for each dynamically linked FILE
  local root=$1 libs lib
  shift
  libs=$(for f in "$@"; do ldd "$f" 2>/dev/null || true; done \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
  [ -n "$libs" ] || die "ldd lists no libraries for $*"
  for lib in $libs; do
    [ -e "$lib" ] || die "ldd names $lib for $* but it does not exist"
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # ld.so's canonical path on x86_64 (ldd may print the /lib64 or /lib path).
  if [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
    mkdir -p "$root/lib64"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  fi
}

busybox() { # ROOTFS: Debian's static busybox as /bin/sh and every other applet
  local root=$1 applet
  mkdir -p "$root/bin"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
}

rm -rf "$CTX"
mkdir -p "$CTX"

# ---- base: the binary, users/groups the images expect, /tmp
base="$CTX/standin-base"
mkdir -p "$base/rootfs/usr/local/bin" "$base/rootfs/etc" "$base/rootfs/tmp"
cp "$BIN" "$base/rootfs/usr/local/bin/standin"
chmod 0755 "$base/rootfs/usr/local/bin/standin"
chmod 1777 "$base/rootfs/tmp"
# The users of distroless's :nonroot base (Stoat's backends run as nonroot,
# uid 65532); the infrastructure images add their own service user below.
cat > "$base/rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat > "$base/rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
printf 'hosts: files dns\n' > "$base/rootfs/etc/nsswitch.conf"
cat > "$base/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="burrow-testkit standin base" \
      org.opencontainers.image.description="Static stand-in binary for Burrow's test kit"
ENTRYPOINT ["/usr/local/bin/standin"]
EOF
base_hash=$(inputs_hash "$base")
build "$PREFIX/standin-base:$TAG" "$base" "$base_hash"

# ---- one image per service: ROLE | ENTRYPOINT | CMD | EXPOSE | links | extra Dockerfile lines
# Infrastructure images get a real shell, Debian's busybox (their real
# images have one: Docker exec and the stack's `sh -c` commands work);
# Stoat's backends are distroless. Redis and RabbitMQ are the real servers
# (below).
roles=(
  "database|[\"docker-entrypoint.sh\"]|[\"mongod\"]|27017|/usr/local/bin/docker-entrypoint.sh /usr/bin/mongod /usr/bin/mongosh /usr/bin/mongo|ENV STANDIN_ROLE=database"
  "redis|[\"docker-entrypoint.sh\"]|[\"keydb-server\",\"/etc/keydb/keydb.conf\"]|6379||WORKDIR /data"
  "rabbit|[\"docker-entrypoint.sh\"]|[\"rabbitmq-server\"]|5672||ENV PATH=/usr/lib/rabbitmq/bin:/usr/lib/erlang/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/rabbitmq LANG=C.UTF-8 RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=\"+sbwt none +sbwtdcpu none +sbwtdio none\""
  "minio|[\"standin\",\"minio\"]||9000|/usr/bin/minio|"
  "createbuckets|[\"standin\",\"createbuckets\"]|||/usr/bin/mc|"
  "livekit|[\"standin\",\"livekit\"]||7880|/livekit-server|"
  "api|[\"standin\",\"api\"]||14702||"
  "events|[\"standin\",\"events\"]||14703||"
  "autumn|[\"standin\",\"autumn\"]||14704||"
  "january|[\"standin\",\"january\"]||14705||"
  "gifbox|[\"standin\",\"gifbox\"]||14706||"
  "crond|[\"standin\",\"crond\"]||||"
  "pushd|[\"standin\",\"pushd\"]||||"
  "voice-ingress|[\"standin\",\"voice-ingress\"]||8500||"
  "web|[\"standin\",\"web\"]||5000||"
)
for spec in "${roles[@]}"; do
  IFS='|' read -r role entrypoint cmd expose links extra <<<"$spec"
  dir="$CTX/$role"
  mkdir -p "$dir/rootfs"
  # shellcheck disable=SC2086
  [ -n "$links" ] && link "$dir" $links
  case $role in
    database|redis|rabbit|minio|createbuckets) busybox "$dir/rootfs" ;;
  esac
  case $role in
    database)
      mkdir -p "$dir/rootfs/data/db" "$dir/rootfs/data/configdb" "$dir/rootfs/docker-entrypoint-initdb.d"
      # The stack's health check is `bash -c "mongosh ..."`; its command
      # `install -m 0400 -o mongodb ...` (busybox has no install).
      copy_bin "$dir/rootfs" "$(command -v bash)" /bin/bash
      copy_bin "$dir/rootfs" "$(command -v install)" /usr/bin/install ;;
    redis)
      # Real Redis (Debian's redis-tools: one binary that is the server
      # unless called redis-check-*); KeyDB speaks its protocol and reads
      # the same keydb.conf directives (requirepass, appendonly, dir).
      mkdir -p "$dir/rootfs/data" "$dir/rootfs/etc/keydb"
      copy_bin "$dir/rootfs" "$REDIS" /usr/local/bin/keydb-server
      ln -s keydb-server "$dir/rootfs/usr/local/bin/redis-server"
      copy_bin "$dir/rootfs" "$REDIS_CLI" /usr/local/bin/keydb-cli
      ln -s keydb-cli "$dir/rootfs/usr/local/bin/redis-cli"
      copy_bin "$dir/rootfs" "$(command -v install)" /usr/bin/install
      copy_bin "$dir/rootfs" "$(command -v setpriv)" /usr/bin/setpriv
      # KeyDB's own entrypoint, with util-linux's setpriv for its gosu (by
      # path: busybox sh runs its own applet of that name before PATH).
      cat > "$dir/rootfs/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# An option or a *.conf as the first argument: run the server with it.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- keydb-server "$@"
fi
# As root: give the working directory (/data) to keydb and run as keydb.
if [ "$1" = keydb-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user keydb -exec chown keydb '{}' +
	exec /usr/bin/setpriv --reuid=keydb --regid=keydb --init-groups "$0" "$@"
fi
exec "$@"
EOF
      chmod 0755 "$dir/rootfs/usr/local/bin/docker-entrypoint.sh" ;;
    rabbit)
      # Real RabbitMQ on Debian's Erlang (unpacked by scripts/setup.sh),
      # with the directories and settings of the official image: data,
      # config and log directories world-writable (1777), AMQP on 5672 from
      # any address, logs to the console. RabbitMQ itself creates
      # RABBITMQ_DEFAULT_USER/PASS on its first start.
      mkdir -p "$dir/rootfs/usr/lib" "$dir/rootfs/usr/local/bin" "$dir/rootfs/var/lib/rabbitmq" "$dir/rootfs/var/log/rabbitmq" \
        "$dir/rootfs/etc/rabbitmq/conf.d"
      cp -a "$RABBIT_ROOT/usr/lib/erlang" "$RABBIT_ROOT/usr/lib/rabbitmq" "$dir/rootfs/usr/lib/"
      mapfile -t elves < <(find "$dir/rootfs/usr/lib" -type f \( -perm -u+x -o -name '*.so' \) \
        -exec sh -c 'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \;)
      copy_libs "$dir/rootfs" "${elves[@]}"
      copy_bin "$dir/rootfs" "$(command -v setpriv)" /usr/bin/setpriv
      copy_bin "$dir/rootfs" "$(command -v getconf)" /usr/bin/getconf
      chmod 1777 "$dir/rootfs/var/lib/rabbitmq" "$dir/rootfs/var/log/rabbitmq" \
        "$dir/rootfs/etc/rabbitmq" "$dir/rootfs/etc/rabbitmq/conf.d"
      printf '%s\n' 'loopback_users.guest = false' 'listeners.tcp.default = 5672' \
        'log.console = true' 'log.file = false' >"$dir/rootfs/etc/rabbitmq/rabbitmq.conf"
      # The official image's entrypoint, with setpriv for its gosu.
      cat > "$dir/rootfs/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# As root: give the data directory to rabbitmq and run as rabbitmq.
case "$1" in
rabbitmq*)
	if [ "$(id -u)" = 0 ]; then
		if [ "$1" = rabbitmq-server ]; then
			find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq '{}' +
		fi
		exec /usr/bin/setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
	fi
	;;
esac
exec "$@"
EOF
      chmod 0755 "$dir/rootfs/usr/local/bin/docker-entrypoint.sh" ;;
    minio) mkdir -p "$dir/rootfs/data" ;;
  esac
  # The service user each official image's entrypoint drops to (gosu)
  # after giving it the data directory: mongo and rabbitmq pin 999:999,
  # KeyDB's `useradd -r keydb` gets 999 on its Ubuntu base.
  service_user=
  case $role in
    database) service_user=mongodb ;;
    redis) service_user=keydb ;;
    rabbit) service_user=rabbitmq ;;
  esac
  if [ -n "$service_user" ]; then
    mkdir -p "$dir/rootfs/etc"
    { cat "$base/rootfs/etc/passwd"; echo "$service_user:x:999:999::/data:/sbin/nologin"; } > "$dir/rootfs/etc/passwd"
    { cat "$base/rootfs/etc/group"; echo "$service_user:x:999:"; } > "$dir/rootfs/etc/group"
  fi
  # Stoat's backends: `USER nonroot` on distroless's :nonroot base
  # (crates/*/Dockerfile in stoatchat/stoatchat), working dir /home/nonroot.
  case $role in
    api|events|autumn|january|gifbox|crond|pushd|voice-ingress)
      mkdir -p "$dir/rootfs/home/nonroot"
      extra="USER nonroot
WORKDIR /home/nonroot" ;;
  esac
  # Every tree holds at least this file (COPY of an empty tree fails).
  echo "stand-in for the Stoat stack's $role service (Burrow test kit)" > "$dir/rootfs/.standin-role"
  {
    echo "FROM $PREFIX/standin-base:$TAG"
    echo "COPY rootfs/ /"
    # Few instructions: each one is a container commit in the legacy builder.
    [ -n "$extra" ] && echo "$extra"
    echo "ENTRYPOINT $entrypoint"
    [ -n "$cmd" ] && echo "CMD $cmd"
  } > "$dir/Dockerfile"
  build "$PREFIX/$role:$TAG" "$dir" "$(inputs_hash "$dir" "$base_hash$expose")" \
    --label "org.opencontainers.image.title=burrow-testkit $role" \
    --label "org.burrow.testkit.role=$role" \
    --label "org.burrow.testkit.ports=$expose"
done

# ---- caddy: Debian's dynamically linked caddy with the libraries ldd lists
dir="$CTX/caddy"
mkdir -p "$dir/rootfs/usr/bin" "$dir/rootfs/etc/caddy" "$dir/rootfs/data" "$dir/rootfs/config" \
  "$dir/rootfs/srv" "$dir/rootfs/tmp" "$dir/rootfs/usr/share/caddy"
chmod 1777 "$dir/rootfs/tmp"
copy_bin "$dir/rootfs" "$CADDY" /usr/bin/caddy
cp "$base/rootfs/etc/passwd" "$base/rootfs/etc/group" "$base/rootfs/etc/nsswitch.conf" "$dir/rootfs/etc/"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$dir/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/rootfs/etc/ssl/certs/"
fi
cat > "$dir/rootfs/etc/caddy/Caddyfile" <<'EOF'
# burrow-testkit/caddy default config (the stack mounts its own).
:80 {
	respond "Caddy (burrow-testkit) works" 200
}
EOF
cat > "$dir/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/data \
    XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
WORKDIR /srv
EXPOSE 80 443 443/udp 2019
LABEL org.opencontainers.image.title="burrow-testkit caddy" \
      org.opencontainers.image.description="Debian's caddy on scratch for Burrow's test kit"
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
EOF
build "$PREFIX/caddy:$TAG" "$dir" "$(inputs_hash "$dir" "$("$CADDY" version 2>/dev/null)")"

echo "build-images: done in $(since "$started")"
