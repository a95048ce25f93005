#!/usr/bin/env bash
# bench/imap/run-mixed.sh — CLIENTS concurrent clients, each on its own mailbox (user001…), doing a mail client's
# mix (list view FETCH, reading a body, flagging, SEARCH, NOOP, re-SELECT, APPEND, delete + EXPUNGE; see
# congvu-bench/src/modes/mixed.rs) for SECONDS against congvu, then the same against the Dovecot peer.
# Prints operations per second and latency percentiles of both, and the ratio congvu/peer;
# target (issue 3): at least 1.5.
#
# Each client's INBOX is filled once with MESSAGES messages (reused by later runs while the count matches;
# APPEND and EXPUNGE in the mix balance, so the count stays).
#
# Usage: bench/imap/run-mixed.sh [--clients N] [--seconds S] [--messages M]
# CONGVU_ONLY=1 runs the load against congvu alone (no ratio; for profiling and quick comparisons).
# Needs root (the peer). Never run in CI.
set -euo pipefail
CLIENTS=50
SECONDS_=60
MESSAGES=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

build
sample_mbox
peer_up
start_congvu
# The mix leaves the count where it was only on average; refill exactly before each run.
populate_both 1 "$CLIENTS" INBOX "$MESSAGES" || {
  echo "== congvu INBOX counts drifted; starting congvu's mailboxes over"
  stop_congvu; rm -rf "$BENCH_DIR/srv/.mailboxes-done"; start_congvu
  populate_both 1 "$CLIENTS" INBOX "$MESSAGES"
}

# Both servers start the load settled: congvu is restarted after the refill (as Dovecot never
# saw its Maildir being written: it indexes it during its run), which also checkpoints the
# refill's write-ahead log into the database; then the writeback of what the refill wrote
# (50,000 fresh files on each side) is waited for.
stop_congvu; start_congvu
sync; sleep 5
echo "== load: $CLIENTS clients x ${SECONDS_}s, $MESSAGES messages per INBOX; uptime: $(uptime)"
"$LOAD" --addr "$CONGVU_IMAP" mixed --clients "$CLIENTS" --seconds "$SECONDS_" --mbox "$MBOX" \
  | tee "$BENCH_DIR/mixed-congvu.out"
[ -n "${CONGVU_ONLY:-}" ] && exit 0
"$LOAD" --addr "$PEER_IMAP" mixed --clients "$CLIENTS" --seconds "$SECONDS_" --mbox "$MBOX" \
  | tee "$BENCH_DIR/mixed-peer.out"

python3 - "$BENCH_DIR/mixed-congvu.out" "$BENCH_DIR/mixed-peer.out" <<'PY'
import sys
def parse(path):
    for line in open(path):
        if line.startswith("RESULT mode=mixed"):
            return dict(p.split("=", 1) for p in line.split()[1:])
    return None
c, p = parse(sys.argv[1]), parse(sys.argv[2])
if not c or not p:
    print("missing result"); sys.exit(1)
print("== result")
for name, r in (("congvu", c), ("dovecot", p)):
    print(f"{name:<8} {float(r['ops_per_s']):>9.1f} ops/s  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  "
          f"p99 {r['p99_ms']} ms  errors {r['errors']}")
ratio = float(c["ops_per_s"]) / float(p["ops_per_s"])
met = ratio >= 1.5 and c["errors"] == "0"
print(f"ratio congvu/dovecot: {ratio:.2f} (target >= 1.5: {'met' if met else 'NOT met'})")
sys.exit(0 if met else 1)
PY
