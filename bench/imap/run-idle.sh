#!/usr/bin/env bash
# bench/imap/run-idle.sh — memory per idle IMAP client: CONNECTIONS TLS connections (IMAPS) that each LOGIN, SELECT
# INBOX and IDLE, held open; the server's PSS (/proc/PID/smaps_rollup) is read before and after, and the difference
# divided by the number of connections. Target (issue 3): under 25 KB per connection for congvu.
#
# Before the "before" figure, a warm-up batch of WARMUP connections comes and goes, so that memory the allocator
# keeps after the first logins (Argon2 needs 19 MiB per login in flight) counts as baseline, not per connection.
#
# The peer: Dovecot keeps one imap process per connection and, for TLS, one imap-login process proxying it; as
# shipped it allows 100 login processes, so it is measured with PEER_CONNECTIONS (90) and the PSS of every Dovecot
# process summed.
#
# What is in the INBOXes matters: a session keeps its view of the selected folder (56 bytes per message, its own
# copy for folders under 2,000 messages, see README), and run-mixed.sh leaves 1,000+ messages in the INBOX of
# user001..user050. The script prints the INBOX sizes it found; --inbox N first fills every INBOX with exactly N
# messages on both servers (populate_both; a data directory with other counts must be removed first).
#
# Usage: bench/imap/run-idle.sh [--connections N] [--peer-connections N] [--inbox N]
# Needs root (the peer, /proc of other users' processes). Never run in CI.
set -euo pipefail
CONNECTIONS=10000
PEER_CONNECTIONS=90
WARMUP=64
INBOX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) CONNECTIONS=$2; shift 2 ;;
    --peer-connections) PEER_CONNECTIONS=$2; shift 2 ;;
    --inbox) INBOX=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
ulimit -n "$(ulimit -Hn)"

build
peer_up
start_congvu
if [ -n "$INBOX" ]; then
  sample_mbox
  populate_both 1 100 INBOX "$INBOX"
fi

# inbox_sizes ADDR -> "total max" of the INBOX message counts of user001..user100.
inbox_sizes() {
  local i n total=0 max=0
  for i in $(seq 1 100); do
    n=$(count "$1" "$i" INBOX)
    total=$((total + n)); [ "$n" -gt "$max" ] && max=$n
  done
  echo "$total $max"
}
read -r c_total c_max < <(inbox_sizes "$CONGVU_IMAP")
read -r p_total p_max < <(inbox_sizes "$PEER_IMAP")
echo "== INBOX messages over the 100 mailboxes: congvu $c_total (largest $c_max), dovecot $p_total (largest $p_max)"

# measure NAME ADDR N PIDS_CMD -> prints "NAME before after per_conn_kB"
measure() {
  local name=$1 addr=$2 n=$3 pids_cmd=$4 ready="$BENCH_DIR/idle-$1.ready" before after client
  "$LOAD" --addr "$addr" --tls idle --connections "$WARMUP" --users 100 --hold-seconds 1 >/dev/null
  sleep 3
  before=$(pss_of $($pids_cmd))
  rm -f "$ready"
  "$LOAD" --addr "$addr" --tls idle --connections "$n" --users 100 --concurrency 32 --ready-file "$ready" \
    > "$BENCH_DIR/idle-$name.out" &
  client=$!
  while [ ! -s "$ready" ]; do
    kill -0 "$client" 2>/dev/null || { echo "$name: the idle client ended early:"; cat "$BENCH_DIR/idle-$name.out"; return 1; }
    sleep 1
  done
  sleep 3
  after=$(pss_of $($pids_cmd))
  cat "$BENCH_DIR/idle-$name.out" >&2
  kill -INT "$client"; wait "$client" || true
  echo "$name $n $before $after"
}

congvu_pids() { echo "$SERVE_PID"; }
peer_pids() { pgrep -f '^dovecot' || true; }

echo "== load: $CONNECTIONS TLS IDLE connections to congvu, $PEER_CONNECTIONS to dovecot; uptime: $(uptime)"
c=$(measure congvu "$CONGVU_IMAPS" "$CONNECTIONS" congvu_pids)
p=$(measure dovecot "$PEER_IMAPS" "$PEER_CONNECTIONS" peer_pids)
python3 - "$c" "$p" <<'PY'
import sys
print("== result (PSS in kB; per connection = (after - before) / connections)")
per = {}
for line in sys.argv[1:]:
    name, n, before, after = line.split()
    n, before, after = int(n), int(before), int(after)
    per[name] = (after - before) / n
    print(f"{name:<8} {n:>6} connections  before {before:>9} kB  after {after:>9} kB  -> {per[name]:.1f} kB per connection")
met = per["congvu"] < 25
print(f"congvu under 25 KB per TLS IDLE connection: {'met' if met else 'NOT met'}; "
      f"dovecot/congvu per connection: {per['dovecot'] / per['congvu']:.1f}x")
sys.exit(0 if met else 1)
PY
