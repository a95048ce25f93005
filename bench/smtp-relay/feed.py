#!/usr/bin/env python3
"""bench/smtp-relay feeder: sends COUNT messages of SIZE bytes over SESSIONS parallel SMTP sessions.

Each session connects once and sends its share of the messages one after another (RSET-free:
one transaction follows the previous). With --auth USER PASS it does STARTTLS (certificate not
checked: a self-signed bench certificate) and AUTH, as a mail program submitting on 587 does.
Prints the number of messages accepted; exits 1 if any was refused.
"""
import argparse
import smtplib
import ssl
import sys
import threading

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--count", type=int, default=10000)
p.add_argument("--size", type=int, default=10240)
p.add_argument("--sessions", type=int, default=20)
p.add_argument("--sender", required=True)
p.add_argument("--rcpt", required=True)
p.add_argument("--auth", nargs=2, metavar=("USER", "PASS"))
a = p.parse_args()

line = "Kinh gui cac don vi truc thuoc: bao cao so lieu tuan nay theo mau dinh kem.\r\n"
# Whole CRLF lines only: a cut between CR and LF would be a bare CR, which servers refuse.
body = line * max(1, a.size // len(line))
accepted = 0
errors = []
lock = threading.Lock()


def worker(index, n):
    global accepted
    ok = 0
    try:
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=300)
        s.ehlo("feeder.bench")
        if a.auth:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo("feeder.bench")
            s.login(*a.auth)
        for i in range(n):
            msg = (
                f"From: <{a.sender}>\r\nTo: <{a.rcpt}>\r\nSubject: bench {index}-{i}\r\n"
                f"Message-ID: <bench-{index}-{i}@feeder.bench>\r\n"
                "Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n\r\n" + body
            )
            s.sendmail(a.sender, [a.rcpt], msg.encode())
            ok += 1
        s.quit()
    except Exception as e:  # noqa: BLE001 - reported, counted as not accepted
        with lock:
            errors.append(f"session {index}: {e!r}")
    with lock:
        accepted += ok


share = [a.count // a.sessions + (1 if i < a.count % a.sessions else 0) for i in range(a.sessions)]
threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(share)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for e in errors[:5]:
    print(e, file=sys.stderr)
print(accepted)
sys.exit(1 if accepted < a.count else 0)
