#!/usr/bin/env bash
# bench/smtp-relay — relaying through the outbound queue: congvu against a second Postfix instance, in one run.
#
# Both relays get the same load from the same feeder, `congvu-bench smtp-feed` (Rust; `--feeder py` for the older
# bench/smtp-relay/feed.py): SESSIONS parallel SMTP sessions, MSGS messages of SIZE bytes, all to one remote
# address. Both deliver to the SAME final receiver, Postfix's `smtp-sink`,
# which counts the messages it receives. The figure is messages per second from the first submission until the
# sink has counted the last message.
#   congvu:  authenticated submission (STARTTLS + AUTH PLAIN on [listen] submission), [outbound] relay_host =
#            the sink; its own queue (durable, as shipped).
#   Postfix: a second instance (own config and queue under the work dir, `postfix -c DIR`) with relayhost =
#            [127.0.0.1]:SINK, fed like congvu: STARTTLS (its own ECDSA P-256 self-signed certificate, like
#            congvu's) + AUTH PLAIN checked by Dovecot SASL (the auth socket of the /work/shared/peers Dovecot,
#            same user and password); relaying only for authenticated clients. `--postfix-plain`: the older,
#            unequal condition (plain SMTP, no AUTH, relaying for mynetworks = 127.0.0.0/8).
#            Queue settings and fsync as shipped; chroot off (the queue lives in /var/tmp).
# The peer of /work/shared/peers (ports 12xxx) is not touched.
#
# Usage: bench/smtp-relay/run.sh [--sessions N] [--messages N] [--size BYTES] [--feeder rust|py] [--postfix-plain]
# PERF=1: `perf record -g` on congvu serve while it is fed and drains (perf.data kept in the work dir).
# Needs root and the postfix package (smtp-sink). Never run in CI.
set -euo pipefail

SESSIONS=20
MSGS=10000
SIZE=10240
FEEDER=rust
PF_AUTH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sessions) SESSIONS=$2; shift 2 ;;
    --messages) MSGS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --feeder) FEEDER=$2; shift 2 ;;
    --postfix-plain) PF_AUTH=""; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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

echo "== building congvu and congvu-bench (release)"
# NO_BUILD=1: use the binaries already in $CARGO_TARGET_DIR/release (repeat runs on a shared machine).
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p congvu -p congvu-bench --manifest-path "$REPO/Cargo.toml"
BIN="$CARGO_TARGET_DIR/release/congvu"
# feed PORT OUT [--auth USER PASS]: the load, from the chosen feeder; prints the accepted count into OUT.
feed() {
  local port=$1 out=$2; shift 2
  if [ "$FEEDER" = py ]; then
    python3 "$HERE/feed.py" --port "$port" --count "$MSGS" --size "$SIZE" --sessions "$SESSIONS" \
      --sender "$SENDER" --rcpt "$RCPT" "$@" > "$out"
  else
    local tls=()
    [ "${1:-}" = --auth ] && tls=(--starttls --auth-user "$2" --password "$3")
    "$CARGO_TARGET_DIR/release/congvu-bench" --addr "127.0.0.1:$port" smtp-feed --count "$MSGS" --size "$SIZE" \
      --sessions "$SESSIONS" --sender "$SENDER" --rcpt "$RCPT" "${tls[@]}" > "$out" 2> "$out.err" || {
      cat "$out.err" >> "$out"; return 1; }
  fi
}

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
PERF_PID=""
if [ -n "${PERF:-}" ]; then
  KEEP_WORK=1
  perf record -g -F 499 -o "$WORK/perf.data" -p "$SERVE_PID" 2> "$WORK/perf.err" &
  PERF_PID=$!
  sleep 1
fi
echo "== feeder: $FEEDER"
echo "== congvu: feeding submission 127.0.0.1:$SUB_PORT (STARTTLS+AUTH), relay to sink :$SINK_PORT"
c0=$(now)
feed "$SUB_PORT" "$WORK/feed-congvu.out" --auth "$SENDER" "$PASS" || {
  echo "congvu feeder: $(cat "$WORK/feed-congvu.out")"; tail -20 "$WORK/serve.log" >&2; exit 1; }
c1=$(now)
c2=$(wait_sink "$SINK_OUT" "$MSGS" 900) || { tail -20 "$WORK/serve.log" >&2; exit 1; }
[ -n "$PERF_PID" ] && { kill -INT "$PERF_PID"; wait "$PERF_PID" || true; echo "== perf data: $WORK/perf.data"; }
# CPU seconds congvu used from start-up to the last message at the sink (utime + stime, /proc/PID/stat).
CONGVU_CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SERVE_PID/stat")
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
if [ -n "$PF_AUTH" ]; then
  # Parity with congvu's submission: STARTTLS with an ECDSA P-256 self-signed certificate (congvu init makes
  # one with rcgen's default, P-256), AUTH only over TLS, relaying only for authenticated clients. Dovecot
  # SASL through the peer's auth socket (an absolute path works because chroot is off).
  SASL_SOCKET=/var/spool/postfix/private/auth
  [ -S "$SASL_SOCKET" ] || { echo "no Dovecot auth socket at $SASL_SOCKET: start /work/shared/peers/peer-start.sh, or use --postfix-plain" >&2; exit 1; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -keyout "$PF/key.pem" -out "$PF/cert.pem" 2>/dev/null
  cat >> "$PF/main.cf" <<CF
smtpd_tls_cert_file = $PF/cert.pem
smtpd_tls_key_file = $PF/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $SASL_SOCKET
smtpd_relay_restrictions = permit_sasl_authenticated, reject
CF
fi
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
p0=$(now)
if [ -n "$PF_AUTH" ]; then
  echo "== postfix: feeding 127.0.0.1:$PF_PORT (STARTTLS+AUTH, Dovecot SASL), relayhost sink :$SINK_PORT"
  feed "$PF_PORT" "$WORK/feed-postfix.out" --auth "$SENDER" "$PASS"
else
  echo "== postfix: feeding 127.0.0.1:$PF_PORT (plain SMTP, mynetworks), relayhost sink :$SINK_PORT"
  feed "$PF_PORT" "$WORK/feed-postfix.out"
fi || {
  echo "postfix feeder: $(cat "$WORK/feed-postfix.out")"; tail -20 "$WORK/postfix.log" >&2; exit 1; }
p1=$(now)
p2=$(wait_sink "$SINK_OUT" "$MSGS" 900) || { tail -20 "$WORK/postfix.log" >&2; exit 1; }
postfix -c "$PF" stop >/dev/null 2>&1 || true; PF=""
stop_sink

python3 - "$MSGS" "$c0" "$c1" "$c2" "$p0" "$p1" "$p2" "$CONGVU_CPU" <<'PY'
import sys
m = int(sys.argv[1])
c0, c1, c2, p0, p1, p2, cpu = map(float, sys.argv[2:9])
c, p = m / (c2 - c0), m / (p2 - p0)
print(f"congvu : {m} msgs submitted in {c1-c0:6.1f} s, last at the sink after {c2-c0:6.1f} s -> {c:7.1f} msg/s"
      f" (server CPU {cpu:.1f} s, {cpu / m * 1e6:.0f} us/msg)")
print(f"postfix: {m} msgs submitted in {p1-p0:6.1f} s, last at the sink after {p2-p0:6.1f} s -> {p:7.1f} msg/s")
print(f"ratio congvu/postfix: {c/p:.2f}x")
PY
echo "== $(uptime)"
