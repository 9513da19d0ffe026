#!/usr/bin/env bash
# Installs the external tools the test suites call. Idempotent: each tool is
# installed only when it is missing. Run as root on Debian 12.
set -euo pipefail

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# stack: the rendered Caddyfile is checked with `caddy validate`.
command -v caddy >/dev/null 2>&1 || apt_install caddy
# stack: the compose export is checked with `docker-compose config`.
command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
# stack: every rendered Kubernetes object is checked against the OpenAPI schema
# (the first python3 on PATH, pyenv's, is the one the tests run).
python3 -c 'import kubernetes_validate' >/dev/null 2>&1 || python3 -m pip install --quiet kubernetes-validate
