"""SMTP MX against the real server, with smtplib, raw sockets, `openssl s_client` and swaks.

Checks: delivery is byte-exact apart from the prepended trace fields (RFC 5321 §4.4); unknown users get
550 5.1.1 and relaying 550 5.7.1 (RFC 3463); a bare-LF end-of-data cannot smuggle a second message
(RFC 5321 §2.3.8, §4.1.1.4); STARTTLS (RFC 3207); the SIZE limit answers 552 (RFC 1870).
"""

from __future__ import annotations

import email
import email.policy
import os
import select
import smtplib
import ssl
import subprocess
import time

import pytest

from harness import DOMAIN, fetch_all, make_message, smtp_raw, strip_trace_headers

ALICE = f"annv@{DOMAIN}"
BOB = f"binhtt@{DOMAIN}"
OUTSIDE = "nguoigui@example.org"


def test_deliver_and_read_back_byte_exact(server):
    sent = make_message("Công văn số 12/UBND về lịch họp", OUTSIDE, ALICE, body="Kính gửi: Sở TT&TT.\r\n" * 50)
    with server.smtp() as s:
        assert s.has_extn("8bitmime"), s.esmtp_features
        code, _ = s.mail(OUTSIDE)
        assert code == 250
        code, _ = s.rcpt(ALICE)
        assert code == 250
        code, resp = s.data(sent)
        assert code == 250, resp
    with server.imap(ALICE) as c:
        msgs = fetch_all(c)
    assert len(msgs) == 1, msgs.keys()
    stored = next(iter(msgs.values()))
    prefix = strip_trace_headers(stored, sent)
    assert prefix.lower().startswith(b"return-path: <" + OUTSIDE.encode() + b">\r\n"), prefix
    assert b"\r\nreceived:" in prefix.lower(), prefix


def test_eight_bit_body_and_two_recipients(server):
    body = "Nội dung: Đề nghị các đơn vị báo cáo trước ngày 30/11.\r\n".encode()
    sent = (
        f"From: {OUTSIDE}\r\nTo: {ALICE}, {BOB}\r\nSubject: 8bit\r\nMessage-ID: <8bit@example.org>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    ).encode() + body
    with server.smtp() as s:
        refused = s.sendmail(OUTSIDE, [ALICE, BOB], sent, mail_options=["BODY=8BITMIME"])
    assert refused == {}
    for who in (ALICE, BOB):
        with server.imap(who) as c:
            msgs = list(fetch_all(c).values())
        assert len(msgs) == 1, who
        strip_trace_headers(msgs[0], sent)


def test_unknown_user_is_550_511(server):
    with server.smtp() as s:
        assert s.mail(OUTSIDE)[0] == 250
        code, msg = s.rcpt(f"khongtontai@{DOMAIN}")
        assert code == 550, msg
        assert msg.startswith(b"5.1.1"), msg
        # The session goes on: a known recipient is still accepted.
        assert s.rcpt(ALICE)[0] == 250


def test_relay_is_550_571(server):
    with server.smtp() as s:
        assert s.mail(OUTSIDE)[0] == 250
        code, msg = s.rcpt("someone@example.com")
        assert code == 550, msg
        assert msg.startswith(b"5.7.1"), msg
    with server.imap(ALICE) as c:
        assert fetch_all(c) == {}


@pytest.mark.parametrize(
    "terminator",
    [b"\n.\n", b"\r\n.\n", b"\n.\r\n"],
    ids=["lf-dot-lf", "crlf-dot-lf", "lf-dot-crlf"],
)
def test_bare_lf_cannot_smuggle_a_second_message(server, terminator):
    sock, r = smtp_raw(server.ports["smtp"])
    with sock:
        sock.sendall(f"MAIL FROM:<{OUTSIDE}>\r\n".encode())
        assert r.smtp_reply()[0] == 250
        sock.sendall(f"RCPT TO:<{ALICE}>\r\n".encode())
        assert r.smtp_reply()[0] == 250
        sock.sendall(b"DATA\r\n")
        assert r.smtp_reply()[0] == 354
        payload = (
            b"From: <" + OUTSIDE.encode() + b">\r\nSubject: legit\r\n\r\nfirst body"
            + terminator
            + b"MAIL FROM:<admin@" + DOMAIN.encode() + b">\r\n"
            + b"RCPT TO:<" + ALICE.encode() + b">\r\n"
            + b"DATA\r\n"
            + b"From: <admin@" + DOMAIN.encode() + b">\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n"
            + b".\r\n"
        )
        sock.sendall(payload)
        replies = []
        # Collect whatever the server answers until it is quiet; a vulnerable server answers five times.
        try:
            while True:
                replies.append(r.smtp_reply(timeout=2.0))
        except (TimeoutError, ConnectionError):
            pass
        try:
            sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
    codes = [c for c, _ in replies]
    assert codes, "no reply to the end of DATA"
    assert 354 not in codes, f"a second DATA was started: {replies}"
    with server.imap(ALICE) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) <= 1, f"{len(msgs)} messages stored: {msgs}"
    for m in msgs:
        parsed = email.message_from_bytes(m, policy=email.policy.compat32)
        assert parsed["Subject"] == "legit", m
        assert b"smuggled body" in m, "accepted message lost part of its data"
    if codes[0] == 250:
        assert len(msgs) == 1


def test_starttls_with_smtplib_verifies_certificate(server):
    ctx = ssl.create_default_context(cafile=str(server.cert))
    sent = make_message("qua STARTTLS", OUTSIDE, ALICE)
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname="client.example.org", timeout=30) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s._host = "localhost"  # the name to verify the certificate against (SAN localhost)
        code, _ = s.starttls(context=ctx)
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS still offered inside TLS (RFC 3207 §4.2)"
        assert s.sendmail(OUTSIDE, [ALICE], sent) == {}
    with server.imap(ALICE) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    strip_trace_headers(msgs[0], sent)


def _expect(proc, want: bytes, timeout: float = 15.0) -> bytes:
    """Reads s_client's stdout until a final SMTP reply line starting with `want`; returns everything read."""
    seen = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk
        for line in seen.split(b"\n"):
            if line.startswith(want + b" "):
                return seen
    raise AssertionError(f"expected {want!r}, got {seen!r}")


def test_starttls_with_openssl_s_client(server):
    proc = subprocess.Popen(
        [
            "openssl", "s_client", "-quiet", "-crlf", "-starttls", "smtp",
            "-connect", f"127.0.0.1:{server.ports['smtp']}",
            "-CAfile", str(server.cert), "-verify_hostname", "localhost", "-verify_return_error",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        def say(line: str, want: bytes) -> bytes:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
            return _expect(proc, want)

        say("EHLO client.example.org", b"250")
        say(f"MAIL FROM:<{OUTSIDE}>", b"250")
        say(f"RCPT TO:<{ALICE}>", b"250")
        say("DATA", b"354")
        say("Subject: qua openssl\n\nthan thu\n.", b"250")
        proc.stdin.write(b"QUIT\n")
        proc.stdin.close()
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with server.imap(ALICE) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    assert msgs[0].endswith(b"Subject: qua openssl\r\n\r\nthan thu\r\n"), msgs[0]


def test_swaks_attachment_round_trip(server, tmp_path):
    attachment = os.urandom(150_000)
    path = tmp_path / "cong-van-12.pdf"
    path.write_bytes(attachment)
    r = subprocess.run(
        [
            "swaks", "--server", f"127.0.0.1:{server.ports['smtp']}",
            "--from", OUTSIDE, "--to", ALICE,
            "--header", "Subject: kem tep dinh kem",
            "--body", "Xem tep dinh kem.",
            "--attach-type", "application/pdf", "--attach", f"@{path}",
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with server.imap(ALICE) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    parsed = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert parsed["Subject"] == "kem tep dinh kem"
    parts = [p for p in parsed.iter_attachments()]
    assert len(parts) == 1, [p.get_content_type() for p in parsed.walk()]
    assert parts[0].get_filename() == "cong-van-12.pdf"
    assert parts[0].get_content() == attachment


LIMIT = 20_000


def test_size_limit_552(make_server):
    server = make_server(env={"CONGVU_SMTP_MAX_MESSAGE_SIZE": str(LIMIT)})
    big = make_message("qua lon", OUTSIDE, ALICE, body="x" * (3 * LIMIT))
    small = make_message("vua du", OUTSIDE, ALICE)
    # With SIZE declared (smtplib adds size= when SIZE is advertised): refused at MAIL FROM.
    with server.smtp() as s:
        assert s.has_extn("size")
        assert int(s.esmtp_features["size"]) == LIMIT, s.esmtp_features
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail(OUTSIDE, [ALICE], big)
        assert e.value.smtp_code == 552, e.value
    # Without SIZE: the data is read and then refused with 552; the session stays usable.
    sock, r = smtp_raw(server.ports["smtp"])
    with sock:
        for cmd, want in ((f"MAIL FROM:<{OUTSIDE}>", 250), (f"RCPT TO:<{ALICE}>", 250), ("DATA", 354)):
            sock.sendall(cmd.encode() + b"\r\n")
            code, lines = r.smtp_reply()
            assert code == want, lines
        sock.sendall(big + b".\r\n")
        code, lines = r.smtp_reply(timeout=30)
        assert code == 552, lines
        for cmd, want in ((f"MAIL FROM:<{OUTSIDE}>", 250), (f"RCPT TO:<{ALICE}>", 250), ("DATA", 354)):
            sock.sendall(cmd.encode() + b"\r\n")
            code, lines = r.smtp_reply()
            assert code == want, lines
        sock.sendall(small + b".\r\n")
        code, lines = r.smtp_reply()
        assert code == 250, lines
        sock.sendall(b"QUIT\r\n")
    with server.imap(ALICE) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    strip_trace_headers(msgs[0], small)
