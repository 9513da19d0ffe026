#!/usr/bin/env bash
# Pushes every test-kit image as TAG to the registry on 127.0.0.1:PORT
# (each `FROM` the local stand-in of testkit/stack.toml, labelled with the
# tag; SERVICE's Dockerfile gets LINE added) and prints the JSON map of
# service to the reference the registry pinned it by: a release's
# `images`, for `burrow release add --images`.
# Usage: testkit/push-release.sh PORT TAG [SERVICE LINE]
set -euo pipefail
cd "$(dirname "$0")/.."
port=$1 tag=$2 odd=${3:-} line=${4:-}
services="database redis rabbit minio createbuckets livekit api events autumn january gifbox crond pushd voice-ingress web caddy"
printf '{'
sep=
for s in $services; do
  img=$(sed -n "s/^\"\\{0,1\\}$s\"\\{0,1\\} = \"\\(.*\\)\"/\\1/p" testkit/stack.toml)
  ref=127.0.0.1:$port/kit/$s:$tag
  { printf 'FROM %s\nLABEL burrow.test.release=%s\n' "$img" "$tag"
    if [ "$s" = "$odd" ]; then printf '%s\n' "$line"; fi; } | docker build -q -t "$ref" - >/dev/null
  docker push -q "$ref" >/dev/null
  pinned=$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | grep "^127.0.0.1:$port/kit/$s@")
  printf '%s"%s":"%s"' "$sep" "$s" "$pinned"
  sep=,
done
printf '}\n'
