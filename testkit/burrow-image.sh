#!/usr/bin/env bash
# Builds Burrow's runtime image from a binary this machine built, on an
# empty base (no registry is reachable here for Debian's): the stripped
# binary, the libraries ldd names, the site, the user `burrow` (10001) and
# the environment of the Dockerfile's runtime stage.
# Usage: testkit/burrow-image.sh BINARY SITE_DIR TAG
set -euo pipefail
bin=$1 site=$2 tag=$3
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
r=$ctx/rootfs
mkdir -p "$r/usr/local/bin" "$r/etc" "$r/tmp" "$r/data" "$r/usr/share/burrow"
chmod 1777 "$r/tmp"
objcopy --strip-debug "$bin" "$r/usr/local/bin/burrow"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$r$(dirname "$lib")"
  cp -L "$lib" "$r$lib"
done
cp -r "$site" "$r/usr/share/burrow/site"
printf 'root:x:0:0::/:/sbin/nologin\nburrow:x:10001:10001::/data:/sbin/nologin\n' > "$r/etc/passwd"
printf 'root:x:0:\nburrow:x:10001:\n' > "$r/etc/group"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY --chown=10001:10001 rootfs/ /
ENV BURROW_LISTEN=0.0.0.0:8443 BURROW_DATA_DIR=/data BURROW_SITE_ROOT=/usr/share/burrow/site
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/burrow"]
CMD ["serve"]
DOCKERFILE
docker build -q -t "$tag" "$ctx" >/dev/null
