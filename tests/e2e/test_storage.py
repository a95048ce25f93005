"""Storage properties seen from outside: single-instance blobs and crash safety of acknowledged mail.

- DESIGN.md "Storage": a body is stored once however many mailboxes hold it (a circular to 40 units grows the
  blob directory by one message, not 40).
- DESIGN.md "Durability": a 250 to DATA means the message and its index entry are on stable storage. A kill -9
  in the middle of concurrent sends loses no acknowledged message, duplicates none, and leaves nothing half-visible.
"""

from __future__ import annotations

import base64
import os
import re
import smtplib
import threading
import time

from harness import DOMAIN, dir_size, fetch_all, make_message, status_messages, strip_trace_headers

OUTSIDE = "vanphong@example.org"


def test_circular_to_40_mailboxes_is_stored_once(make_server):
    locals_ = {f"donvi{i:02d}": f"Đơn vị {i:02d}" for i in range(1, 41)}
    server = make_server(mailboxes=locals_, env={"CONGVU_SMTP_MAX_RECIPIENTS": "100"})
    rcpts = [f"{x}@{DOMAIN}" for x in locals_]
    # Incompressible content, so a compressing blob store cannot hide 40 copies either.
    body = base64.encodebytes(os.urandom(550_000)).decode()
    msg = make_message("Thông báo gửi 40 đơn vị", OUTSIDE, "donvi01@" + DOMAIN, body=body)
    size = len(msg)
    assert 0.95e6 < size < 1.1e6
    before = dir_size(server.blob_dir)
    with server.smtp(timeout=120) as s:
        assert s.sendmail(OUTSIDE, rcpts, msg) == {}
    grown = dir_size(server.blob_dir) - before
    assert 0.5 * size <= grown <= 2 * size, f"blob directory grew by {grown} bytes for one {size}-byte message"
    for who in (rcpts[0], rcpts[17], rcpts[-1]):
        with server.imap(who) as c:
            msgs = list(fetch_all(c).values())
        assert len(msgs) == 1, who
        strip_trace_headers(msgs[0], msg)
    for who in rcpts:
        with server.imap(who) as c:
            assert status_messages(c) == 1, who


THREADS = 8
ACKED_BEFORE_KILL = 60  # kill once this many messages are acknowledged
PER_THREAD_MAX = 400


def test_kill9_during_concurrent_send_loses_no_acknowledged_message(make_server):
    server = make_server()
    rcpt = f"annv@{DOMAIN}"
    acked: dict[str, bytes] = {}
    attempted: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()

    def sender(t: int) -> None:
        try:
            s = server.smtp(timeout=20)
        except OSError:
            return
        try:
            for i in range(PER_THREAD_MAX):
                if stop.is_set():
                    return
                key = f"crash-{t:02d}-{i:04d}"
                # ~8 KB so the kill lands inside DATA now and then.
                msg = make_message(key, OUTSIDE, rcpt, body=f"{key}\r\n" * 500, msgid=f"<{key}@example.org>")
                with lock:
                    attempted[key] = msg
                try:
                    s.sendmail(OUTSIDE, [rcpt], msg)
                except (smtplib.SMTPException, OSError):
                    return
                with lock:
                    acked[key] = msg
                    if len(acked) >= ACKED_BEFORE_KILL:
                        enough.set()
        finally:
            try:
                s.close()
            except OSError:
                pass

    threads = [threading.Thread(target=sender, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    assert enough.wait(timeout=120), f"only {len(acked)} messages acknowledged in 120 s:\n{server.stderr()}"
    server.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
        assert not th.is_alive()
    # Every 250 a thread recorded was read from the socket, so the server sent it before it died.

    server.start()
    with server.imap(rcpt) as c:
        stored = fetch_all(c)
        count = status_messages(c)
    assert count == len(stored), f"STATUS says {count}, FETCH returned {len(stored)}"
    seen: dict[str, int] = {}
    for uid, raw in stored.items():
        m = re.search(rb"Message-ID: <(crash-\d\d-\d{4})@example.org>", raw)
        assert m, f"UID {uid}: stored message with no known Message-ID: {raw[:300]!r}"
        key = m.group(1).decode()
        seen[key] = seen.get(key, 0) + 1
        assert key in attempted, f"UID {uid}: {key} was never sent"
        strip_trace_headers(raw, attempted[key])  # complete, byte for byte
    print(f"kill -9: {len(attempted)} attempted, {len(acked)} acknowledged, {len(seen)} stored after restart")
    duplicates = {k: n for k, n in seen.items() if n > 1}
    assert not duplicates, f"stored more than once: {duplicates}"
    missing = sorted(set(acked) - set(seen))
    assert not missing, f"{len(missing)} acknowledged messages lost after kill -9: {missing[:10]}"
    # The restarted server still takes mail.
    server.deliver(OUTSIDE, [rcpt], make_message("sau khi khởi động lại", OUTSIDE, rcpt))
    with server.imap(rcpt) as c:
        assert status_messages(c) == count + 1


def test_restart_keeps_mail_and_uids(server):
    rcpt = f"binhtt@{DOMAIN}"
    msg = make_message("còn sau khi khởi động lại", OUTSIDE, rcpt)
    server.deliver(OUTSIDE, [rcpt], msg)
    with server.imap(rcpt) as c:
        before = fetch_all(c)
        typ, data = c.status("INBOX", "(UIDVALIDITY UIDNEXT)")
        status_before = data[0]
    server.stop()
    t0 = time.monotonic()
    server.start()
    assert time.monotonic() - t0 < 30
    with server.imap(rcpt) as c:
        assert fetch_all(c) == before
        typ, data = c.status("INBOX", "(UIDVALIDITY UIDNEXT)")
        assert data[0] == status_before
