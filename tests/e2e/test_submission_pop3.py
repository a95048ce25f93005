"""Submission (587 STARTTLS, 465 implicit TLS) and POP3 (110 STLS, 995) through the real binary, with
Python's smtplib and poplib and swaks: clients nobody here wrote."""

from __future__ import annotations

import poplib
import shutil
import smtplib
import subprocess

import pytest

from harness import DOMAIN, PASSWORD, make_message, unverified_context, wait_for_count

AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"


def submit(server, sender: str, rcpts: list[str], data: bytes, implicit: bool = False) -> None:
    if implicit:
        conn = smtplib.SMTP_SSL("127.0.0.1", server.ports["submissions"], context=unverified_context(), timeout=30)
    else:
        conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
        conn.starttls(context=unverified_context())
    try:
        conn.login(sender, PASSWORD)
        conn.sendmail(sender, rcpts, data)
    finally:
        conn.quit()


def test_submission_starttls_delivers_locally(server):
    msg = make_message("Báo cáo tuần qua submission", AN, BINH, msgid="<sub-587@example.gov.vn>")
    submit(server, AN, [BINH], msg)
    assert wait_for_count(server, BINH, 1) == 1
    imap = server.imap(BINH)
    imap.select("INBOX")
    _, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (RECEIVED MESSAGE-ID)])")
    headers = data[0][1]
    assert b"<sub-587@example.gov.vn>" in headers
    assert b"ESMTPSA" in headers, headers


def test_submission_implicit_tls(server):
    submit(server, AN, [BINH], make_message("Qua cổng 465", AN, BINH), implicit=True)
    assert wait_for_count(server, BINH, 1) == 1


def test_auth_is_refused_before_tls(server):
    conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
    try:
        conn.ehlo("client.example")
        assert "auth" not in conn.esmtp_features, conn.esmtp_features
        code, text = conn.docmd("AUTH", "PLAIN AGFubnZAZXhhbXBsZS5nb3Yudm4AeA==")
        assert code == 530, (code, text)
        code, text = conn.docmd("MAIL", f"FROM:<{AN}>")
        assert code == 530, (code, text)
    finally:
        conn.close()


def test_sending_as_someone_else_is_refused(server):
    conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
    conn.starttls(context=unverified_context())
    conn.login(AN, PASSWORD)
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            conn.sendmail(BINH, [BINH], make_message("giả mạo", BINH, BINH))
        assert refused.value.smtp_code == 550
        assert b"5.7.1" in refused.value.smtp_error
        assert BINH.encode() in refused.value.smtp_error
    finally:
        conn.close()


def test_wrong_password_is_535(server):
    conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
    conn.starttls(context=unverified_context())
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            conn.login(AN, "Sai-mat-khau-1")
        assert failed.value.smtp_code == 535
    finally:
        conn.close()


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by .ci/run")
def test_swaks_auth_plain_over_starttls(server):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{server.ports['submission']}", "--tls", "--auth", "PLAIN",
         "--auth-user", AN, "--auth-password", PASSWORD, "--from", AN, "--to", BINH,
         "--header", "Subject: swaks qua submission"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_for_count(server, BINH, 1) == 1


def pop3(server, address: str) -> poplib.POP3:
    conn = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=30)
    conn.stls(context=unverified_context())
    conn.user(address)
    conn.pass_(PASSWORD)
    return conn


def test_pop3_retrieves_what_smtp_delivered_and_uidl_matches_imap(server):
    sent = make_message("Thư cho POP3", AN, BINH, body="Nội dung thư.\r\n.dòng bắt đầu bằng dấu chấm\r\n")
    server.deliver(AN, [BINH], sent)
    assert wait_for_count(server, BINH, 1) == 1

    conn = pop3(server, BINH)
    try:
        count, _size = conn.stat()
        assert count == 1
        _, lines, _ = conn.retr(1)
        stored = b"\r\n".join(lines) + b"\r\n"
        assert stored.endswith(sent), stored[-200:]
        _, uidl, _ = conn.uidl()
        uid_token = uidl[0].split()[1]
    finally:
        conn.quit()

    imap = server.imap(BINH)
    typ, data = imap.status("INBOX", "(UIDVALIDITY)")
    uidvalidity = data[0].split(b"UIDVALIDITY ")[1].rstrip(b")")
    imap.select("INBOX")
    _, uids = imap.uid("SEARCH", None, "ALL")
    assert uid_token == uidvalidity + b"." + uids[0].split()[0]


def test_pop3_dele_is_honoured_only_at_quit(server):
    server.deliver(AN, [BINH], make_message("xóa tôi", AN, BINH))
    assert wait_for_count(server, BINH, 1) == 1
    conn = pop3(server, BINH)
    conn.dele(1)
    conn.close()  # dropped without QUIT: nothing is deleted
    assert wait_for_count(server, BINH, 1) == 1
    conn = pop3(server, BINH)
    conn.dele(1)
    conn.quit()
    assert wait_for_count(server, BINH, 0) == 0


def test_pop3s_and_lock_against_a_second_session(server):
    first = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=unverified_context(), timeout=30)
    first.user(AN)
    first.pass_(PASSWORD)
    try:
        second = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=unverified_context(), timeout=30)
        second.user(AN)
        with pytest.raises(poplib.error_proto) as busy:
            second.pass_(PASSWORD)
        assert b"IN-USE" in busy.value.args[0]
        second.close()
    finally:
        first.quit()
