#!/usr/bin/env bash
# End-to-end check of the test kit without Burrow's Docker deploy:
# render testkit/stack.toml with `burrow render`, add a self-signed pair
# (tls/cert.pem, tls/key.pem), run the exported compose.yml with
# docker-compose (project burrow-testkit), wait for every container, curl
# every route through the real Caddy (loopback only), open the WebSockets,
# then `docker-compose down -v`.
#
#   testkit/smoke-compose.sh [OUT_DIR]       (KEEP=1 leaves the stack running)
#
# Needs: the images (testkit/build-images.sh), target/debug/burrow (or
# $BURROW), docker-compose, openssl, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BURROW=${BURROW:-$ROOT/target/debug/burrow}
PROJECT=burrow-testkit
DOMAIN=stoat.burrow.test
HTTPS_PORT=$(awk -F' *= *' '$1 == "https_port" { print $2 }' testkit/stack.toml)
HTTP_PORT=$(awk -F' *= *' '$1 == "http_port" { print $2 }' testkit/stack.toml)
OUT=${1:-$(mktemp -d /tmp/tk-smoke.XXXXXX)}

die() { echo "smoke: error: $*" >&2; exit 1; }
for t in docker-compose openssl curl python3; do command -v $t >/dev/null || die "$t is missing"; done
[ -x "$BURROW" ] || die "$BURROW missing: cargo build -p burrow (or set BURROW)"

testkit/build-images.sh | grep -v ': up to date' || true

echo "== render into $OUT"
"$BURROW" render --config testkit/stack.toml --out "$OUT" 2>&1 | grep -v '^warning' || true
mkdir -p "$OUT/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
  -keyout "$OUT/tls/key.pem" -out "$OUT/tls/cert.pem" 2>/dev/null
# The backends trust the CA that issued it (here the certificate itself).
cp "$OUT/tls/cert.pem" "$OUT/tls/ca.pem" && chmod 0644 "$OUT/tls/ca.pem"

compose() { docker-compose -p "$PROJECT" -f "$OUT/compose.yml" "$@"; }
cleanup() {
  if [ -z "${KEEP:-}" ]; then
    echo "== docker-compose down -v"
    compose down -v >/dev/null 2>&1 || true
  else
    echo "== KEEP=1: stack left running (docker-compose -p $PROJECT -f $OUT/compose.yml down -v)"
  fi
}
trap cleanup EXIT

echo "== docker-compose up -d"
t0=$(date +%s)
compose up -d 2>&1 | grep -v '^Creating.*\.\.\. *$' | tail -3

# Every service running (healthy where it has a compose health check),
# createbuckets exited 0, within 120 s.
services=$(compose config --services)
while :; do
  pending=()
  for s in $services; do
    id=$(compose ps -q "$s")
    [ -n "$id" ] || { pending+=("$s:absent"); continue; }
    state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    read -r status code health <<<"$state"
    if [ "$s" = createbuckets ]; then
      [ "$status $code" = "exited 0" ] || pending+=("$s:$status/$code")
    elif [ "$status" != running ] || { [ -n "${health:-}" ] && [ "$health" != healthy ]; }; then
      pending+=("$s:$status${health:+/$health}")
    fi
  done
  [ ${#pending[@]} -eq 0 ] && break
  if [ $(( $(date +%s) - t0 )) -gt 120 ]; then
    compose ps
    die "not ready after 120 s: ${pending[*]}"
  fi
  sleep 2
done
echo "== all $(echo "$services" | wc -w) services up after $(( $(date +%s) - t0 ))s"

fail=0
check() { # PATH EXPECTED_STATUS EXPECTED_X_STANDIN EXPECTED_PATH [BODY_GREP]
  local path=$1 want=$2 role=$3 seen=$4 grep_for=${5:-} code hdr body
  hdr=$(mktemp); body=$(mktemp)
  code=$(curl -sk --resolve "$DOMAIN:$HTTPS_PORT:127.0.0.1" -o "$body" -D "$hdr" -w '%{http_code}' \
    "https://$DOMAIN:$HTTPS_PORT$path" || true)
  local got_role got_path
  got_role=$(grep -i '^x-standin:' "$hdr" | cut -d' ' -f2 | tr -d '\r' || true)
  got_path=$(grep -i '^x-standin-path:' "$hdr" | cut -d' ' -f2- | tr -d '\r' || true)
  if [ "$code" = "$want" ] && [ "$got_role" = "$role" ] && [ "$got_path" = "$seen" ] \
     && { [ -z "$grep_for" ] || grep -q -- "$grep_for" "$body" "$hdr"; }; then
    printf 'ok    %-26s %s %-13s saw %s\n' "$path" "$code" "${role:--}" "${seen:--}"
  else
    printf 'FAIL  %-26s got %s %s %s (want %s %s %s %s)\n' "$path" "$code" "${got_role:--}" "${got_path:--}" "$want" "$role" "$seen" "$grep_for"
    fail=1
  fi
  rm -f "$hdr" "$body"
}

echo "== routes through Caddy (https://$DOMAIN:$HTTPS_PORT -> 127.0.0.1)"
check /api/ 200 api / '"revolt":"0.16.2"'
check /api 200 api / "\"ws\":\"wss://$DOMAIN:$HTTPS_PORT/ws\""
check /api/standin/redirect 302 api /standin/redirect 'location: /api/standin/landed'
check /ws 426 events / UpgradeRequired
check /autumn/ 200 autumn / '"bucket":"revolt-uploads"'
check /autumn/standin/redirect 302 autumn /standin/redirect 'location: /autumn/standin/landed'
check /january/ 200 january / '"january"'
check /gifbox/ 200 gifbox / '"gifbox"'
check /livekit/ 200 livekit / OK
check /ingress/ 200 voice-ingress / '"nodes":\["worldwide"\]'
check / 200 web / '<title>Stoat</title>'
check /channels/x 200 web /channels/x '<title>Stoat</title>'
check /.well-known/stoat 200 '' '' "\"api\":\"https://$DOMAIN:$HTTPS_PORT/api\""
check /api/metrics 404 '' ''
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "$DOMAIN:$HTTP_PORT:127.0.0.1" "http://$DOMAIN:$HTTP_PORT/api/")
if [ "$code" = 308 ]; then echo "ok    http://...:$HTTP_PORT/api/ -> 308 to https"; else echo "FAIL  http redirect: $code"; fail=1; fi

echo "== WebSockets through Caddy"
python3 - "$DOMAIN" "$HTTPS_PORT" testkit/stack.secrets.toml <<'EOF' || fail=1
import base64, hashlib, hmac, json, os, socket, ssl, struct, sys, time
domain, port = sys.argv[1], int(sys.argv[2])
secrets = dict(l.split(" = ", 1) for l in open(sys.argv[3]).read().splitlines() if " = " in l)

def livekit_token(grant):
    """A LiveKit access token: HS256 JWT signed with the stack's API secret."""
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    key, secret = json.loads(secrets["livekit_key"]), json.loads(secrets["livekit_secret"])
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps({"iss": key, "sub": "smoke", "exp": int(time.time()) + 60, "video": grant}).encode())
    sig = enc(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"

def ws(path, send, expect_role, expect_reply):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(raw, server_hostname=domain)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    lines = head.decode().split("\r\n")
    hdr = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if expect_role is None:  # refused
        assert not lines[0].startswith("HTTP/1.1 101"), lines[0]
        print(f"ok    wss {path[:26]:<26} {lines[0][9:12]} refused       (no access token)")
        return
    assert lines[0].startswith("HTTP/1.1 101"), lines[0]
    assert hdr.get("sec-websocket-accept") == accept, "bad Sec-WebSocket-Accept"
    assert hdr.get("x-standin") == expect_role, hdr

    def read():
        b0, b1 = s.recv(1)[0], s.recv(1)[0]
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", s.recv(2))[0]
        data = b""
        while len(data) < n:
            data += s.recv(n - len(data))
        return b0 & 0x0F, data

    def write(op, payload):
        m = os.urandom(4)
        s.sendall(bytes([0x80 | op, 0x80 | len(payload)]) + m + bytes(c ^ m[i % 4] for i, c in enumerate(payload)))

    op, greeting = read()
    write(1, send.encode())
    op2, reply = read()
    assert expect_reply in reply.decode(), reply
    write(8, b"\x03\xe8")
    assert read()[0] == 8
    print(f"ok    wss {path[:26]:<26} 101 {expect_role:<13} greeting {greeting.decode()[:60]}")

ws("/ws?version=1&format=json", '{"type":"Ping","data":7}', "events", '"Pong","data":7')
ws("/livekit/rtc", "hello", None, None)
token = livekit_token({"roomJoin": True, "room": "smoke"})
ws(f"/livekit/rtc?access_token={token}", "hello", "livekit", '"echo":"hello"')
EOF

echo "== inside checks"
python3 - <<'EOF' || fail=1
import socket
socket.create_connection(("127.0.0.1", 17881), timeout=3).close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
u.sendto(b"probe", ("127.0.0.1", 17900)); assert u.recvfrom(64)[0] == b"probe"
print("ok    livekit rtc tcp 127.0.0.1:17881 and udp 127.0.0.1:17900 (published)")
EOF
# (Logs captured first: `grep -q` closing the pipe would fail under pipefail.)
lk_logs=$(compose logs --no-color livekit)
if grep -q 'webhook http://voice-ingress:8500/worldwide accepted' <<<"$lk_logs"; then
  echo "ok    livekit webhook reached voice-ingress for node worldwide"
else
  echo "FAIL  livekit webhook"; fail=1
fi
for s in api events autumn gifbox crond pushd voice-ingress; do
  want=$(case $s in api|pushd|voice-ingress) echo 3;; events|autumn|crond) echo 2;; gifbox) echo 1;; esac)
  logs=$(compose logs --no-color "$s")
  got=$(grep -c 'connected to ' <<<"$logs" || true)
  if [ "$got" -ge "$want" ]; then echo "ok    $s connected to its $want dependencies"; else echo "FAIL  $s: $got/$want dependencies"; fail=1; fi
done

[ $fail -eq 0 ] && echo "== smoke: PASS" || { echo "== smoke: FAIL"; exit 1; }
