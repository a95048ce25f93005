"""Mail between two real `congvu serve` processes, as two provinces' servers: a submission on instance A
(so.example.gov.vn) leaves through A's outbound queue and lands in instance B (huyen.example.gov.vn).

Nothing is faked: DNS is a real dnsmasq on a loopback port serving the MX, A and DKIM TXT records of both
domains, A's `[outbound] dns` points at it and `[outbound] smtp_port` at B's SMTP port; the client is Python's
smtplib (STARTTLS + AUTH on A's submission port) and imaplib; the DKIM signature is checked by dkimpy, a verifier
nobody here wrote, with the key `congvu dkim generate` made and dnsmasq publishes.

Needs dnsmasq (Debian dnsmasq-base) and dkimpy + pynacl (PyPI); both are installed by .ci/run.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import (
    PASSWORD,
    USED_KEYS,
    fetch_all,
    free_ports,
    make_message,
    run_cli,
    unverified_context,
    wait_for_count,
)

SO = "so.example.gov.vn"
HUYEN = "huyen.example.gov.vn"
AN = f"annv@{SO}"
NHAN = f"nhanvt@{HUYEN}"

pytestmark = pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq (dnsmasq-base) not installed")


class Dnsmasq:
    """A dnsmasq child on 127.0.0.1:<port> with only the records given (no upstream, no /etc/hosts)."""

    def __init__(self, records: list[str]):
        self.port = free_ports(1)[0]
        self.proc = subprocess.Popen(
            [
                "dnsmasq",
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--user=root",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                f"--port={self.port}",
                *records,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, f"dnsmasq exited: {self.proc.stderr.read().decode(errors='replace')}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "dnsmasq did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def txt_record(name: str, value: str) -> str:
    """dnsmasq's form of a TXT record: strings of at most 255 octets separated by commas."""
    parts = [value[i : i + 255] for i in range(0, len(value), 255)]
    return f"--txt-record={name}," + ",".join(parts)


def mx_records(domain: str) -> list[str]:
    return [f"--mx-host={domain},mx.{domain},10", f"--host-record=mx.{domain},127.0.0.1"]


@pytest.fixture
def two_provinces(make_server):
    """(A, B, dns): B made first on fixed ports (not started), A's DKIM keys generated and published, dnsmasq
    up, A started with its outbound pointed at dnsmasq and B's SMTP port, then B started."""
    b = make_server(mailboxes={"nhanvt": "Võ Thị Nhân"}, domain=HUYEN, start=False)
    b.ports = dict(zip(USED_KEYS, free_ports(len(USED_KEYS))))
    a = make_server(mailboxes={"annv": "Nguyễn Văn An"}, domain=SO, start=False)
    r = run_cli(a.binary, "dkim", "generate", "--config", str(a.config), "--domain", SO, "--selector", "e2e", "--json")
    assert r.returncode == 0, r.stderr
    keys = json.loads(r.stdout)["keys"]
    assert {k["algorithm"] for k in keys} == {"ed25519", "rsa"}, keys
    records = mx_records(SO) + mx_records(HUYEN) + [txt_record(k["name"], k["value"]) for k in keys]
    dns = Dnsmasq(records)
    a.extra_env.update(
        {
            "CONGVU_OUTBOUND_DNS": f"127.0.0.1:{dns.port}",
            "CONGVU_OUTBOUND_SMTP_PORT": str(b.ports["smtp"]),
            # The far side is a test server on loopback without published MTA-STS or DANE.
            "CONGVU_QUEUE_RETRY_SCHEDULE": "1s",
            "CONGVU_QUEUE_POLL_INTERVAL": "200ms",
        }
    )
    a.start()
    b.start()
    try:
        yield a, b, dns
    finally:
        dns.stop()


def submit(server, sender: str, rcpts: list[str], data: bytes) -> None:
    conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
    try:
        conn.starttls(context=unverified_context())
        conn.login(sender, PASSWORD)
        refused = conn.sendmail(sender, rcpts, data)
        assert refused == {}, refused
    finally:
        conn.quit()


def dkimpy_verify(message: bytes, dns_port: int) -> list[bool]:
    """Verifies every DKIM-Signature of `message` with dkimpy, keys looked up at the test dnsmasq."""
    import dkim
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = dns_port

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        answer = resolver.resolve(name, "TXT")
        return b"".join(b"".join(rd.strings) for rd in answer)

    count = message.count(b"DKIM-Signature:")
    d = dkim.DKIM(message)
    out = []
    for i in range(count):
        try:
            out.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
        except dkim.ValidationError:
            out.append(False)
    return out


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]


def queue_list(server) -> list[dict]:
    r = run_cli(server.binary, "queue", "list", "--config", str(server.config), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_ok(server, *args: str) -> str:
    r = run_cli(server.binary, *args[:2], "--config", str(server.config), *args[2:])
    assert r.returncode == 0, f"congvu {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_submitted_mail_reaches_the_other_province_signed(two_provinces):
    a, b, dns = two_provinces
    pytest.importorskip("dkim")
    msg = make_message("Công văn gửi huyện", AN, NHAN, msgid="<cv-1@so.example.gov.vn>")
    submit(a, AN, [NHAN], msg)
    assert wait_for_count(b, NHAN, 1, timeout=60) == 1
    with b.imap(NHAN) as c:
        stored = list(fetch_all(c).values())[0]
    assert stored.endswith(msg), "the body and the client's headers arrive unchanged"
    names = header_names(stored)
    # B's trace on top, then A's signatures, then A's own Received (RFC 5321 §4.4: newest first).
    received = [n for n in names if n == "received"]
    assert len(received) >= 2, names
    fields = re.findall(rb"^Received:.*?(?=\r\n\S)", stored, re.MULTILINE | re.DOTALL)
    assert f"by mail.{HUYEN}".encode() in fields[0], fields[0]
    assert f"mail.{SO}".encode() in fields[0], f"B's Received names A's EHLO: {fields[0]!r}"
    assert f"by mail.{SO}".encode() in fields[1] and b"ESMTPSA" in fields[1], fields[1]
    last_received = len(names) - 1 - names[::-1].index("received")
    assert names.index("received") < names.index("dkim-signature") < last_received, names
    assert dkimpy_verify(stored, dns.port) == [True, True]
    # The check can fail: a changed body breaks both signatures.
    assert dkimpy_verify(stored + b"PS. them dong nay\r\n", dns.port) == [False, False]
    # Delivered messages leave A's queue.
    deadline = time.monotonic() + 15
    while queue_list(a):
        assert time.monotonic() < deadline, queue_list(a)
        time.sleep(0.2)


def test_unknown_far_recipient_bounces_to_the_sender(two_provinces):
    a, b, _ = two_provinces
    ghost = f"khongco@{HUYEN}"
    submit(a, AN, [ghost], make_message("Gửi nhầm địa chỉ", AN, ghost, msgid="<cv-2@so.example.gov.vn>"))
    assert wait_for_count(a, AN, 1, timeout=60) == 1
    with a.imap(AN) as c:
        bounce = list(fetch_all(c).values())[0]
    parsed = email.message_from_bytes(bounce, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/report", parsed["Content-Type"]
    assert parsed.get_param("report-type") == "delivery-status"
    assert parsed["To"] and AN in parsed["To"]
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts][:2] == ["text/plain", "message/delivery-status"], parts
    status = parts[1].as_bytes()
    assert f"Final-Recipient: rfc822; {ghost}".encode() in status, status
    assert b"Action: failed" in status and b"Status: 5.1.1" in status, status
    assert f"Remote-MTA: dns; mx.{HUYEN}".encode() in status, status
    assert b"<cv-2@so.example.gov.vn>" in bounce, "the original's headers come back"
    # No message at B, none left queued at A, no bounce of the bounce.
    with b.imap(NHAN) as c:
        assert fetch_all(c) == {}
    time.sleep(1)
    assert wait_for_count(a, AN, 1) == 1
    assert queue_list(a) == []


def test_far_side_down_keeps_the_message_queued_until_it_is_back(two_provinces):
    a, b, _ = two_provinces
    b.stop()
    submit(a, AN, [NHAN], make_message("Chờ máy chủ huyện", AN, NHAN, msgid="<cv-3@so.example.gov.vn>"))
    deadline = time.monotonic() + 60
    while True:
        entries = queue_list(a)
        rcpts = [r for e in entries for r in e["recipients"]]
        if rcpts and rcpts[0]["attempts"] >= 2:
            break
        assert time.monotonic() < deadline, entries
        time.sleep(0.3)
    assert len(entries) == 1 and entries[0]["mail_from"] == AN, entries
    r = rcpts[0]
    assert r["address"] == NHAN and r["status"] == "pending", r
    assert r["last_error"] and r["last_error"].startswith("4"), r
    with a.imap(AN) as c:
        assert fetch_all(c) == {}, "a delay is not a bounce"
    # The operator's retry and delete are audited, naming the message and its recipients.
    run_ok(a, "queue", "retry", str(entries[0]["id"]))
    submit(a, AN, [NHAN], make_message("Gửi nhầm, xoá khỏi hàng đợi", AN, NHAN, msgid="<cv-4@so.example.gov.vn>"))
    [dropped] = [e for e in queue_list(a) if e["id"] != entries[0]["id"]]
    run_ok(a, "queue", "delete", str(dropped["id"]))
    actions = {e["action"]: e for e in json.loads(run_ok(a, "audit", "list", "--json"))}
    assert actions["queue.retry"]["target"] == f"queue #{entries[0]['id']}", actions
    assert actions["queue.delete"]["target"] == f"queue #{dropped['id']}", actions
    assert NHAN in actions["queue.delete"]["detail"], actions
    b.start()
    assert wait_for_count(b, NHAN, 1, timeout=60) == 1
    deadline = time.monotonic() + 15
    while queue_list(a):
        assert time.monotonic() < deadline, queue_list(a)
        time.sleep(0.2)
