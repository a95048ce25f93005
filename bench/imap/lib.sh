# bench/imap/lib.sh — shared by run-bigfolder.sh, run-mixed.sh and run-idle.sh (sourced, not run).
#
# Starts congvu (release build, data under $BENCH_DIR, reused between runs) and makes sure the
# Postfix + Dovecot peer (../shared/peers) is up. Both keep their durability on: congvu fsyncs
# every commit (DESIGN.md "Durability"; there is no switch), Dovecot runs as shipped
# (fsync_mode = optimized: mail files and indexes fsynced at each transaction).

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEERS="${CONGVU_PEERS:-$REPO/../shared/peers}"
[ -d "$PEERS" ] || PEERS=/work/shared/peers
PEERS_DIR="${CONGVU_PEERS_DIR:-/var/tmp/congvu-peers}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/congvu-target}"
BENCH_DIR="${CONGVU_BENCH_DIR:-/var/tmp/congvu-bench-imap}"
DOMAIN=example.gov.vn
PASS='Passw0rd!x'
PEER_IMAP=127.0.0.1:12143
PEER_IMAPS=127.0.0.1:12993
# CONGVU_BIN / CONGVU_BENCH_BIN: use these binaries and skip the build (to compare two builds).
BIN="${CONGVU_BIN:-$CARGO_TARGET_DIR/release/congvu}"
LOAD="${CONGVU_BENCH_BIN:-$CARGO_TARGET_DIR/release/congvu-bench}"
MBOX="$BENCH_DIR/sample.mbox"
# Messages above 32 KiB (attachments) are left out: a third of gen_mbox.py's messages, but 85%
# of its bytes; with them 100k messages are 4.5 GB per server and take most of an hour to load.
MAX_SIZE=32768
SERVE_PID=""

mkdir -p "$BENCH_DIR"

stop_congvu() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true
  fi
  SERVE_PID=""
}
trap stop_congvu EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2; return 1
}
user() { printf 'user%03d@%s' "$1" "$DOMAIN"; }

# PSS in kB of a set of processes (needs root for other users' processes).
pss_of() {
  local total=0 p v
  for p in "$@"; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

build() {
  [ -n "${CONGVU_BIN:-}" ] && { echo "== using $BIN (no build)"; return 0; }
  echo "== building congvu and congvu-bench (release)"
  cargo build --release -q -p congvu -p congvu-bench --manifest-path "$REPO/Cargo.toml"
}

sample_mbox() {
  if [ ! -s "$MBOX" ]; then
    echo "== generating $MBOX (2000 messages, gen_mbox.py)"
    python3 "$PEERS/gen_mbox.py" "$MBOX.tmp" 2000 >/dev/null && mv "$MBOX.tmp" "$MBOX"
  fi
}

peer_up() {
  if ! ss -ltn "sport = :12143" | grep -q LISTEN || ! ss -ltn "sport = :12993" | grep -q LISTEN; then
    echo "== starting the peer (peer-start.sh)"
    "$PEERS/peer-start.sh"
  fi
}

# The peer's Maildir folder directory of a user: peer_maildir N FOLDER (INBOX or a name).
peer_maildir() {
  local base="$PEERS_DIR/vmail/$DOMAIN/$(printf 'user%03d' "$1")/Maildir"
  if [ "$2" = INBOX ]; then echo "$base"; else echo "$base/.$2"; fi
}

# congvu: one data dir made once (init + 100 mailboxes), then served on fresh ports.
start_congvu() {
  local srv="$BENCH_DIR/srv"
  if [ ! -s "$srv/.mailboxes-done" ]; then
    rm -rf "$srv"
    echo "== congvu: init + 100 mailboxes in $srv"
    "$BIN" init --dir "$srv" --domain "$DOMAIN" > "$BENCH_DIR/init.out"
    for i in $(seq 1 100); do
      "$BIN" mailbox add --config "$srv/congvu.toml" --address "$(user "$i")" --password "$PASS" >/dev/null
    done
    echo done > "$srv/.mailboxes-done"
  fi
  IMAP_PORT=$(free_port); IMAPS_PORT=$(free_port)
  while [ "$IMAPS_PORT" = "$IMAP_PORT" ]; do IMAPS_PORT=$(free_port); done
  ulimit -n "$(ulimit -Hn)"
  env CONGVU_LISTEN_IMAP="127.0.0.1:$IMAP_PORT" CONGVU_LISTEN_IMAPS="127.0.0.1:$IMAPS_PORT" \
    CONGVU_LISTEN_SMTP= CONGVU_LISTEN_SUBMISSION= CONGVU_LISTEN_SUBMISSIONS= CONGVU_LISTEN_POP3= \
    CONGVU_LISTEN_POP3S= CONGVU_LISTEN_MANAGESIEVE= CONGVU_LISTEN_HTTP= CONGVU_LISTEN_HTTPS= CONGVU_LISTEN_LDAP= \
    "$BIN" serve --config "$srv/congvu.toml" 2> "$BENCH_DIR/serve.log" &
  SERVE_PID=$!
  wait_port "$IMAP_PORT"; wait_port "$IMAPS_PORT"
  CONGVU_IMAP=127.0.0.1:$IMAP_PORT
  CONGVU_IMAPS=127.0.0.1:$IMAPS_PORT
}

# Messages in a folder: count ADDR N FOLDER (0 when the folder does not exist).
count() {
  python3 - "$1" "$(user "$2")" "$PASS" "$3" <<'PY'
import imaplib, re, sys
host, port = sys.argv[1].split(":")
c = imaplib.IMAP4(host, int(port), timeout=600)
c.login(sys.argv[2], sys.argv[3])
typ, data = c.status('"%s"' % sys.argv[4], "(MESSAGES)")
print(int(re.search(rb"MESSAGES (\d+)", data[0]).group(1)) if typ == "OK" else 0)
c.logout()
PY
}

# Fills FOLDER of users FIRST..FIRST+USERS-1 with COUNT messages on both servers, unless they
# already hold exactly that many: congvu by pipelined APPEND, the peer by writing its Maildir.
populate_both() {
  local first=$1 users=$2 folder=$3 n=$4 i need_c=0 need_p=0
  for i in $(seq "$first" $((first + users - 1))); do
    [ "$(count "$CONGVU_IMAP" "$i" "$folder")" = "$n" ] || need_c=1
    [ "$(count "$PEER_IMAP" "$i" "$folder")" = "$n" ] || need_p=1
  done
  if [ $need_p = 1 ]; then
    echo "== peer: writing $n messages into $folder of $users users (Maildir)"
    for i in $(seq "$first" $((first + users - 1))); do
      local dir; dir=$(peer_maildir "$i" "$folder")
      rm -rf "$dir/cur" "$dir/new" "$dir/tmp" "$dir"/dovecot*
      "$LOAD" populate --mbox "$MBOX" --max-size $MAX_SIZE --count "$n" --first-user "$i" --maildir "$dir"
      chown -R vmail:vmail "$PEERS_DIR/vmail/$DOMAIN"
    done
  fi
  if [ $need_c = 1 ]; then
    echo "== congvu: APPENDing $n messages into $folder of $users users"
    for i in $(seq "$first" $((first + users - 1))); do
      if [ "$(count "$CONGVU_IMAP" "$i" "$folder")" != 0 ]; then
        echo "congvu $(user "$i") $folder holds a different number of messages; delete $BENCH_DIR/srv to start over" >&2
        return 1
      fi
    done
    "$LOAD" --addr "$CONGVU_IMAP" populate --mbox "$MBOX" --max-size $MAX_SIZE --count "$n" \
      --folder "$folder" --first-user "$first" --users "$users" --connections 8
  fi
}
