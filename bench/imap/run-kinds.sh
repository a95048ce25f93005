#!/usr/bin/env bash
# bench/imap/run-kinds.sh — the server CPU each kind of command of run-mixed.sh costs congvu: for each kind
# (list, read, flag, search, noop, select, append, expunge) CLIENTS clients send only that command for SECONDS,
# and the script prints operations per second and congvu's CPU time (utime + stime of `congvu serve`, from
# /proc) per operation. A profiling aid for run-mixed.sh, not a comparison: congvu only.
#
# Usage: bench/imap/run-kinds.sh [--clients N] [--seconds S] [--messages M] [KIND...]
# Uses the data of run-mixed.sh (same CONGVU_BENCH_DIR rules; the INBOXes must be filled already). Never run in CI.
set -euo pipefail
CLIENTS=50
SECONDS_=10
MESSAGES=1000
KINDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    *) KINDS+=("$1"); shift ;;
  esac
done
[ "${#KINDS[@]}" -gt 0 ] || KINDS=(list read flag search noop select append expunge)
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

build
sample_mbox
start_congvu
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }
hz=$(getconf CLK_TCK)
echo "== $CLIENTS clients x ${SECONDS_}s per kind; uptime: $(uptime)"
printf '%-8s %10s %14s %10s\n' kind ops/s "CPU µs/op" "p50 ms"
for kind in "${KINDS[@]}"; do
  before=$(cpu_ticks)
  out=$("$LOAD" --addr "$CONGVU_IMAP" mixed --clients "$CLIENTS" --seconds "$SECONDS_" --mbox "$MBOX" --only "$kind")
  after=$(cpu_ticks)
  python3 - "$kind" "$before" "$after" "$hz" <<PY
import sys
kind, before, after, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = next(dict(p.split("=", 1) for p in l.split()[1:]) for l in """$out""".splitlines() if l.startswith("RESULT"))
ops = int(r["ops"])
print(f"{kind:<8} {float(r['ops_per_s']):>10.1f} {(after - before) / hz * 1e6 / max(ops, 1):>14.0f} {r['p50_ms']:>10}")
PY
done
