# Shared by the update benchmarks (sourced; they set $work, $bin, $port).

# Debian's docker-registry on 127.0.0.1:$port, storing under $work;
# returns once it answers. Its pid is $registry.
start_registry() {
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/registry" "$port" >"$work/registry.yml"
  /usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 & registry=$!
  until curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do sleep 0.1; done
}

# Whether every container of compose project burrow-bench is ready
# (createbuckets exited 0, the rest running and healthy or without a check).
ready() {
  local ids s id; ids=$(docker ps -aq --filter label=com.docker.compose.project=burrow-bench)
  [ -n "$ids" ] || return 1
  for id in $ids; do
    s=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "$id")
    case "$s" in
      *createbuckets*" exited "*" 0") ;;
      *" running healthy "*|*" running none "*) ;;
      *) return 1 ;;
    esac
  done
}

# The compose export of stack.toml $1 in $work/compose, with a self-signed
# certificate for the kit's domain (also its CA, tls/ca.pem) and compose's
# health checks every second. One stack.toml path for every version: its
# secrets file sits beside it, so a later version is rendered with the
# secrets the first one's data was made with.
render() {
  cp "$1" "$work/compose-stack.toml"
  "$bin" render --config "$work/compose-stack.toml" --out "$work/compose" >/dev/null 2>&1
  mkdir -p "$work/compose/tls"
  [ -f "$work/compose/tls/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -days 2 -subj /CN=stoat.burrow.test -addext subjectAltName=DNS:stoat.burrow.test \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/compose/tls/key.pem" -out "$work/compose/tls/cert.pem" >/dev/null 2>&1
  cp "$work/compose/tls/cert.pem" "$work/compose/tls/ca.pem"
  sed -i -E 's/^( *)interval: [0-9]+s$/\1interval: 1s/' "$work/compose/compose.yml"
}
