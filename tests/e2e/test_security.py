"""Abnormal use of a mailbox (issue 6 stage 8, R-POL-9) and the metrics (R-OPS-5), through the real binary.

- Failed-login backoff shared by every service: five wrong IMAP passwords from one address make that
  login wait there; meanwhile even the right password is refused without a check, by IMAP
  (`NO [UNAVAILABLE]`), SMTP AUTH (`454 4.7.0`) and POP3 (`-ERR [AUTH]`) with a sentence saying to wait;
  after the wait the right password works. One `security.bruteforce` event is audited.
- A login from a network the mailbox never used (127.0.1.2 after 127.0.0.1, with
  `[security] alert_loopback = true`: Linux routes all of 127/8 to loopback) records
  `security.new_network`, and the user and the operator get a notice mail in Vietnamese and English.
- A burst over submission above `[security] send_anomaly_floor` records `security.send_anomaly`, the
  mailbox's further remote mail is held (`congvu queue list` says held), and
  `congvu queue release --address` lets it go (audited as `queue.release`).
- `GET /metrics` on `[listen] http` shows per-check pipeline timings, verdicts and logins.
"""

from __future__ import annotations

import imaplib
import json
import poplib
import re
import smtplib
import socket
import time
import urllib.error
import urllib.request

import pytest

from harness import (
    DOMAIN,
    PASSWORD,
    USED_KEYS,
    fetch_all,
    free_ports,
    make_message,
    run_cli,
    unverified_context,
    wait_for_count,
)

AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"
POSTMASTER = f"postmaster@{DOMAIN}"
FAST = {
    # Short waits so the test sees the end of one; thresholds stay the defaults (5 per login and address).
    "CONGVU_SECURITY_LOGIN_BACKOFF_BASE": "4s",
    "CONGVU_SECURITY_LOGIN_BACKOFF_MAX": "8s",
    "CONGVU_SECURITY_NOTICE_INTERVAL": "1s",
}


class BoundIMAP4(imaplib.IMAP4):
    """imaplib from a chosen loopback source address (127.0.1.2 is another /24 than 127.0.0.1)."""

    def __init__(self, host: str, port: int, source: str, timeout: float = 30.0):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


def cli(srv, *args: str, expect: int = 0):
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:], env=srv.env())
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def audit(srv, action: str) -> list[dict]:
    return [e for e in json.loads(cli(srv, "audit", "list", "--json").stdout) if e["action"] == action]


def imap_login(srv, address: str, password: str, source: str = "127.0.0.1") -> str:
    """'OK', or the refusal text."""
    c = BoundIMAP4("127.0.0.1", srv.ports["imap"], source)
    try:
        c.login(address, password)
        c.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        c.shutdown()
        return str(e)


def test_failed_logins_back_off_for_every_service_then_the_password_works(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, env=FAST)
    assert imap_login(srv, AN, PASSWORD) == "OK"
    for _ in range(5):
        refusal = imap_login(srv, AN, "Sai-Mat-Khau-1!")
        assert "AUTHENTICATIONFAILED" in refusal, refusal
    # Waiting now: the right password is refused without a check, with the sentence.
    refusal = imap_login(srv, AN, PASSWORD)
    assert "[UNAVAILABLE]" in refusal and re.search(r"wait \d+ seconds", refusal), refusal

    smtp = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30)
    smtp.starttls(context=unverified_context())
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtp.login(AN, PASSWORD)
    assert e.value.smtp_code == 454, e.value
    assert b"4.7.0" in e.value.smtp_error and b"wait" in e.value.smtp_error, e.value
    smtp.close()

    pop = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    pop.user(AN)
    with pytest.raises(poplib.error_proto) as e:
        pop.pass_(PASSWORD)
    text = e.value.args[0].decode()
    assert text.startswith("-ERR [AUTH]") and "wait" in text, text
    pop.close()

    # Another mailbox from the same address is not held back (30 failures per address needed).
    srv.add_mailbox("binhtt")
    assert imap_login(srv, BINH, PASSWORD) == "OK"

    # After the wait (4 s; refusals while waiting do not lengthen it) the right password works.
    deadline = time.monotonic() + 30
    while (answer := imap_login(srv, AN, PASSWORD)) != "OK":
        assert "[UNAVAILABLE]" in answer, answer
        assert time.monotonic() < deadline, f"still refused: {answer}"
        time.sleep(0.5)

    bursts = audit(srv, "security.bruteforce")
    assert len(bursts) == 1, bursts
    assert bursts[0]["actor"] == AN and "imap: 5 failed logins" in bursts[0]["detail"], bursts
    assert len(audit(srv, "login.failed")) == 5, "waiting refusals are not audited one by one"


def notices(srv, address: str, password: str) -> list[bytes]:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    c.login(address, password)
    try:
        return [m for m in fetch_all(c).values() if b"X-Congvu-Security-Event:" in m]
    finally:
        c.logout()


def test_login_from_a_new_network_is_told_to_the_user_and_the_operator(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, env={**FAST, "CONGVU_SECURITY_ALERT_LOOPBACK": "true"})
    # The first login ever only seeds the known networks; the same /24 again is nothing new.
    assert imap_login(srv, AN, PASSWORD, "127.0.0.1") == "OK"
    assert imap_login(srv, AN, PASSWORD, "127.0.0.9") == "OK"
    assert audit(srv, "security.new_network") == []
    assert imap_login(srv, AN, PASSWORD, "127.0.1.2") == "OK"

    events = audit(srv, "security.new_network")
    assert len(events) == 1, events
    assert events[0]["source_ip"] == "127.0.1.2" and "127.0.1.0/24" in events[0]["detail"], events

    assert wait_for_count(srv, AN, 1) == 1
    [mine] = notices(srv, AN, PASSWORD)
    assert b"X-Congvu-Security-Event: security.new_network" in mine
    text = mine.decode()
    assert "127.0.1.2" in text and "mạng chưa từng dùng" in text and "English:" in text, text
    assert "Operator detail" not in text

    # The operator (postmaster, an operator account) gets its copy with the detail.
    deadline = time.monotonic() + 15
    while not (theirs := notices(srv, POSTMASTER, srv.postmaster_password)):
        assert time.monotonic() < deadline, "no notice for the operator"
        time.sleep(0.3)
    assert "127.0.1.0/24" in theirs[0].decode()


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_sending_burst_holds_remote_mail_until_released_and_metrics(make_server):
    srv = make_server(
        mailboxes={"annv": "Nguyễn Văn An"},
        start=False,
        env={
            **FAST,
            "CONGVU_SECURITY_SEND_ANOMALY_FLOOR": "3",
            # Remote mail goes to a relay that is not there: it stays queued either way.
            "CONGVU_OUTBOUND_RELAY_HOST": "127.0.0.1",
            "CONGVU_OUTBOUND_RELAY_PORT": str(free_ports(1)[0]),
        },
    )
    keys = USED_KEYS + ("http",)
    srv.ports = dict(zip(keys, free_ports(len(keys))))
    srv.start()

    remote = "vanthu@other-province.example"
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.starttls(context=unverified_context())
        s.login(AN, PASSWORD)
        for i in range(3):
            s.sendmail(AN, [AN], make_message(f"Báo cáo {i}", AN, AN))
        assert audit(srv, "security.send_anomaly") == []
        # The fourth message of the hour is above the floor: anomaly, and its remote copy is held.
        s.sendmail(AN, [remote], make_message("Gửi ra ngoài", AN, remote))

    events = audit(srv, "security.send_anomaly")
    assert len(events) == 1 and "4 messages this hour" in events[0]["detail"], events
    listing = cli(srv, "queue", "list").stdout
    assert f"hold\t{AN}" in listing and f"{remote}\theld ({AN})" in listing, listing
    [entry] = json.loads(cli(srv, "queue", "list", "--json").stdout)
    assert entry["held_for"] == AN
    # A retry is no way round the hold: refused with how to lift it, and nothing audited.
    r = cli(srv, "queue", "retry", str(entry["id"]), expect=2)
    assert f"held with the outbound mail of {AN}" in r.stderr, r.stderr
    assert f"queue release --address {AN}" in r.stderr, r.stderr
    assert audit(srv, "queue.retry") == []
    assert f"{remote}\theld ({AN})" in cli(srv, "queue", "list").stdout

    # The user is told (delivered locally with the other three).
    assert wait_for_count(srv, AN, 4) >= 4
    assert any(b"security.send_anomaly" in m for m in notices(srv, AN, PASSWORD))

    released = json.loads(cli(srv, "queue", "release", "--address", AN, "--json").stdout)
    assert released == {"address": AN, "released": 1}
    listing = cli(srv, "queue", "list").stdout
    assert "held" not in listing and "hold\t" not in listing, listing
    assert len(audit(srv, "queue.release")) == 1
    r = cli(srv, "queue", "release", "--address", AN, expect=2)
    assert "is not held" in r.stderr

    status, text = http_get(srv.ports["http"], "/metrics")
    assert status == 200, text
    for check in ("hop-count", "header-sanity"):
        assert re.search(rf'congvu_pipeline_check_seconds_count\{{check="{check}"\}} [1-9]', text), text
    assert re.search(r'congvu_messages_total\{source="submission",verdict="accept"\} [1-9]', text), text
    assert re.search(r'congvu_logins_total\{result="ok",service="smtp"\} 1\b', text), text
    assert re.search(r"congvu_queue_recipients\{state=\"pending\"\} 1\b", text), text
    assert "congvu_queue_held_messages 0" in text
    assert 'congvu_security_events_total{kind="security.send_anomaly"} 1' in text
