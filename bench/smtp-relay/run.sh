#!/usr/bin/env bash
# bench/smtp-relay — relaying through the outbound queue: congvu against a second Postfix instance, in one run.
#
# Both relays get the same load from bench/smtp-relay/feed.py (SESSIONS parallel SMTP sessions, MSGS messages of
# SIZE bytes, all to one remote address) and both deliver to the SAME final receiver, Postfix's `smtp-sink`,
# which counts the messages it receives. The figure is messages per second from the first submission until the
# sink has counted the last message.
#   congvu:  authenticated submission (STARTTLS + AUTH PLAIN on [listen] submission), [outbound] relay_host =
#            the sink; its own queue (durable, as shipped).
#   Postfix: a second instance (own config and queue under the work dir, `postfix -c DIR`) with relayhost =
#            [127.0.0.1]:SINK and mynetworks = 127.0.0.0/8, fed by plain SMTP without TLS or AUTH (see README:
#            this favours Postfix). Queue settings and fsync as shipped; chroot off (the queue lives in /var/tmp).
# The peer of /work/shared/peers (ports 12xxx) is not touched.
#
# Usage: bench/smtp-relay/run.sh [--sessions N] [--messages N] [--size BYTES]
# Needs root and the postfix package (smtp-sink). Never run in CI.
set -euo pipefail

SESSIONS=20
MSGS=10000
SIZE=10240
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) SESSIONS=$2; shift 2 ;;
    --messages) MSGS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/congvu-target}"
DOMAIN=example.gov.vn
PASS='Passw0rd!x'
SENDER="user001@$DOMAIN"
RCPT="nhan@relay-target.test"
command -v smtp-sink >/dev/null && command -v postfix >/dev/null || { echo "needs the postfix package" >&2; exit 1; }

WORK="$(mktemp -d /var/tmp/congvu-relaybench.XXXXXX)"
SERVE_PID=""; SINK_PID=""; PF=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null || true
  [ -n "$PF" ] && postfix -c "$PF" stop >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && echo "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2; return 1
}
# The sink's running counter (-c): the last number it printed.
sink_count() { tr '\r' '\n' < "$1" | grep -Eo '[0-9]+' | tail -1 || echo 0; }
start_sink() {  # start_sink NAME -> SINK_PORT, SINK_OUT
  SINK_PORT=$(free_port); SINK_OUT="$WORK/sink-$1.out"
  smtp-sink -c -u nobody "127.0.0.1:$SINK_PORT" 256 > "$SINK_OUT" 2>&1 &
  SINK_PID=$!
  wait_port "$SINK_PORT"
}
stop_sink() { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""; }
# wait_sink OUT N TIMEOUT_S: until the sink counted N messages; prints the time it happened.
wait_sink() {
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(sink_count "$1")" -lt "$2" ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "sink: only $(sink_count "$1")/$2 after $3 s" >&2; return 1; fi
    sleep 0.05
  done
  now
}

echo "== $(date -u +%FT%TZ) load: $SESSIONS sessions x $MSGS messages of $SIZE bytes to $RCPT; $(uptime)"

echo "== building congvu (release)"
cargo build --release -q -p congvu --manifest-path "$REPO/Cargo.toml"
BIN="$CARGO_TARGET_DIR/release/congvu"

# ---------------------------------------------------------------- congvu
"$BIN" init --dir "$WORK/srv" --domain "$DOMAIN" > "$WORK/init.out"
"$BIN" mailbox add --config "$WORK/srv/congvu.toml" --address "$SENDER" --password "$PASS" >/dev/null
start_sink congvu
SUB_PORT=$(free_port)
env CONGVU_LISTEN_SUBMISSION="127.0.0.1:$SUB_PORT" CONGVU_LISTEN_SMTP= CONGVU_LISTEN_SUBMISSIONS= \
  CONGVU_LISTEN_IMAP= CONGVU_LISTEN_IMAPS= CONGVU_LISTEN_POP3= CONGVU_LISTEN_POP3S= CONGVU_LISTEN_MANAGESIEVE= \
  CONGVU_LISTEN_HTTP= CONGVU_LISTEN_HTTPS= CONGVU_LISTEN_LDAP= \
  CONGVU_OUTBOUND_RELAY_HOST=127.0.0.1 CONGVU_OUTBOUND_RELAY_PORT="$SINK_PORT" \
  CONGVU_SUBMISSION_MAX_MESSAGES_PER_HOUR=100000000 \
  CONGVU_SECURITY_SEND_ANOMALY_ALERTS=false \
  "$BIN" serve --config "$WORK/srv/congvu.toml" 2> "$WORK/serve.log" &
SERVE_PID=$!
wait_port "$SUB_PORT"
echo "== congvu: feeding submission 127.0.0.1:$SUB_PORT (STARTTLS+AUTH), relay to sink :$SINK_PORT"
c0=$(now)
python3 "$HERE/feed.py" --port "$SUB_PORT" --count "$MSGS" --size "$SIZE" --sessions "$SESSIONS" \
  --sender "$SENDER" --rcpt "$RCPT" --auth "$SENDER" "$PASS" > "$WORK/feed-congvu.out" || {
  echo "congvu feeder: $(cat "$WORK/feed-congvu.out")"; tail -20 "$WORK/serve.log" >&2; exit 1; }
c1=$(now)
c2=$(wait_sink "$SINK_OUT" "$MSGS" 900) || { tail -20 "$WORK/serve.log" >&2; exit 1; }
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""
stop_sink

# ---------------------------------------------------------------- Postfix (second instance)
start_sink postfix
PF="$WORK/postfix-etc"; mkdir -p "$PF"
PF_PORT=$(free_port)
cat > "$PF/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $WORK/postfix-spool
data_directory = $WORK/postfix-data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay-bench.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = $WORK/postfix.log
CF
# master.cf as shipped, minus chroot (the spool is under /var/tmp) and with smtpd on our port.
grep -v '^#' /usr/share/postfix/master.cf.dist | awk -v port="127.0.0.1:$PF_PORT" '
  $1=="smtp" && $2=="inet" { $1=port }
  /^[^ \t]/ && NF>=8 && $5=="y" { $5="n" }
  { print }' > "$PF/master.cf"
mkdir -p "$WORK/postfix-spool" "$WORK/postfix-data"
chmod 755 "$WORK"; chown postfix "$WORK/postfix-data"
postfix -c "$PF" check >/dev/null 2>&1 || true
postfix -c "$PF" start >/dev/null 2>&1 || { echo "postfix did not start:" >&2; tail -5 "$WORK/postfix.log" >&2; exit 1; }
wait_port "$PF_PORT"
echo "== postfix: feeding 127.0.0.1:$PF_PORT (plain SMTP, mynetworks), relayhost sink :$SINK_PORT"
p0=$(now)
python3 "$HERE/feed.py" --port "$PF_PORT" --count "$MSGS" --size "$SIZE" --sessions "$SESSIONS" \
  --sender "$SENDER" --rcpt "$RCPT" > "$WORK/feed-postfix.out" || {
  echo "postfix feeder: $(cat "$WORK/feed-postfix.out")"; tail -20 "$WORK/postfix.log" >&2; exit 1; }
p1=$(now)
p2=$(wait_sink "$SINK_OUT" "$MSGS" 900) || { tail -20 "$WORK/postfix.log" >&2; exit 1; }
postfix -c "$PF" stop >/dev/null 2>&1 || true; PF=""
stop_sink

python3 - "$MSGS" "$c0" "$c1" "$c2" "$p0" "$p1" "$p2" <<'PY'
import sys
m = int(sys.argv[1])
c0, c1, c2, p0, p1, p2 = map(float, sys.argv[2:8])
c, p = m / (c2 - c0), m / (p2 - p0)
print(f"congvu : {m} msgs submitted in {c1-c0:6.1f} s, last at the sink after {c2-c0:6.1f} s -> {c:7.1f} msg/s")
print(f"postfix: {m} msgs submitted in {p1-p0:6.1f} s, last at the sink after {p2-p0:6.1f} s -> {p:7.1f} msg/s")
print(f"ratio congvu/postfix: {c/p:.2f}x")
PY
echo "== $(uptime)"
