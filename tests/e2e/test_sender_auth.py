"""Sender authentication of inbound MX mail (SPF RFC 7208, DKIM RFC 6376, DMARC RFC 7489), end to end.

Nothing is faked: a real dnsmasq on a loopback port serves the SPF, DKIM and DMARC TXT records of the test
domains (`--local=/test/`, so every other name under .test is NXDOMAIN); `broken.test` is forwarded to a UDP
peer that answers every query with SERVFAIL; the server's `[outbound] dns` points at dnsmasq. Messages are
signed by dkimpy with a key made here by openssl, sent with smtplib from 127.0.0.1 and read back with imaplib.

Needs dnsmasq (Debian dnsmasq-base), openssl and dkimpy (PyPI).
"""

from __future__ import annotations

import base64
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import threading

import pytest

from harness import fetch_all, make_message, wait_for_count
from test_outbound import Dnsmasq, txt_record

pytestmark = [
    pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq (dnsmasq-base) not installed"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
]

BINH = "binhtt@example.gov.vn"
SELECTOR = "e2e"


class ServfailServer:
    """A UDP DNS peer that answers every query with RCODE 2 (SERVFAIL, RFC 1035 §4.1.1)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(query) < 12:
                continue
            self.queries += 1
            (tid, flags) = struct.unpack(">HH", query[:4])
            # QR=1, the query's opcode and RD, RA=1, RCODE=2; the question section echoed back.
            reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 2
            qdcount = struct.unpack(">H", query[4:6])[0]
            self.sock.sendto(struct.pack(">HHHHHH", tid, reply_flags, qdcount, 0, 0, 0) + query[12:], peer)

    def stop(self) -> None:
        self.sock.close()


def dkim_key(tmp_path) -> tuple[bytes, str]:
    """(private key PEM, DKIM key record) for a fresh 2048-bit RSA key."""
    key = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key.read_bytes(), f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def sign(message: bytes, domain: str, private_pem: bytes) -> bytes:
    import dkim

    signature = dkim.sign(
        message,
        SELECTOR.encode(),
        domain.encode(),
        private_pem,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return signature + message


@pytest.fixture
def authenticated_mx(make_server, tmp_path):
    """(server, dnsmasq): dnsmasq serving the records of the test domains, the server resolving through it."""
    pytest.importorskip("dkim")
    private_pem, key_record = dkim_key(tmp_path)
    servfail = ServfailServer()
    records = [
        "--local=/test/",
        f"--server=/broken.test/127.0.0.1#{servfail.port}",
        # good.test: mail from 127.0.0.1, signed, strict policy.
        txt_record("good.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt_record(f"{SELECTOR}._domainkey.good.test", key_record),
        txt_record("_dmarc.good.test", "v=DMARC1; p=reject"),
        # reject.test / quarantine.test: 127.0.0.1 is not theirs and they sign nothing.
        txt_record("reject.test", "v=spf1 ip4:192.0.2.1 -all"),
        txt_record("_dmarc.reject.test", "v=DMARC1; p=reject"),
        txt_record("quarantine.test", "v=spf1 ip4:192.0.2.1 -all"),
        txt_record("_dmarc.quarantine.test", "v=DMARC1; p=quarantine"),
    ]
    dns = Dnsmasq(records)
    try:
        srv = make_server(env={"CONGVU_OUTBOUND_DNS": f"127.0.0.1:{dns.port}"})
        srv.dkim_private = private_pem
        srv.servfail = servfail
        yield srv
    finally:
        dns.stop()
        servfail.stop()


def send(server, sender: str, data: bytes) -> tuple[int, bytes]:
    """MAIL FROM sender, RCPT TO Bình, DATA; returns the DATA reply (code, text)."""
    s = smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname="mx.good.test", timeout=60)
    try:
        s.ehlo()
        code, text = s.mail(sender)
        assert code == 250, (code, text)
        code, text = s.rcpt(BINH)
        assert code == 250, (code, text)
        return s.data(data)
    finally:
        s.quit()


def auth_results(raw: bytes) -> str:
    """The Authentication-Results field on top of a stored message, unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    m = re.search(r"^Authentication-Results:(.*?)(?=\r\n\S)", head + "\r\nX", re.MULTILINE | re.DOTALL)
    assert m, head
    return " ".join(m.group(1).split())


def test_signed_mail_from_an_authorised_address_passes_everything(authenticated_mx):
    srv = authenticated_mx
    msg = sign(make_message("Công văn đã ký", "an@good.test", BINH), "good.test", srv.dkim_private)
    code, text = send(srv, "an@good.test", msg)
    assert code == 250, (code, text)
    assert wait_for_count(srv, BINH, 1) == 1
    with srv.imap(BINH) as c:
        stored = list(fetch_all(c).values())[0]
    assert stored.endswith(msg)
    # RFC 5321 §4.4: Return-Path stays first; our Authentication-Results right under it, above the Received.
    first, second = stored.split(b"\r\n", 2)[:2]
    assert first.startswith(b"Return-Path: <an@good.test>"), stored[:300]
    assert second.startswith(b"Authentication-Results: mail.example.gov.vn;"), stored[:300]
    ar = auth_results(stored)
    assert "spf=pass" in ar and "smtp.mailfrom=an@good.test" in ar, ar
    assert "dkim=pass" in ar and "header.d=good.test" in ar and f"header.s={SELECTOR}" in ar, ar
    assert "dmarc=pass" in ar and "header.from=good.test" in ar, ar


def test_a_changed_body_breaks_the_signature_and_spf_still_aligns(authenticated_mx):
    srv = authenticated_mx
    msg = sign(make_message("Sửa sau khi ký", "an@good.test", BINH), "good.test", srv.dkim_private)
    code, text = send(srv, "an@good.test", msg + b"PS. them dong nay\r\n")
    assert code == 250, (code, text)
    assert wait_for_count(srv, BINH, 1) == 1
    with srv.imap(BINH) as c:
        ar = auth_results(list(fetch_all(c).values())[0])
    assert "dkim=fail" in ar and "spf=pass" in ar and "dmarc=pass" in ar, ar


def test_dmarc_reject_failure_is_refused_at_data(authenticated_mx):
    srv = authenticated_mx
    code, text = send(srv, "ke-gia-mao@reject.test", make_message("Giả mạo", "giamdoc@reject.test", BINH))
    assert code == 550, (code, text)
    assert text.startswith(b"5.7.1"), text
    assert b"reject.test" in text and b"p=reject" in text, text
    assert "Thư bị từ chối".encode() in text and b"Message refused" in text, text
    with srv.imap(BINH) as c:
        assert fetch_all(c) == {} and fetch_all(c, "Junk") == {}


def test_dmarc_quarantine_failure_lands_in_junk(authenticated_mx):
    srv = authenticated_mx
    code, text = send(srv, "ai@quarantine.test", make_message("Khuyến mãi", "ai@quarantine.test", BINH))
    assert code == 250, (code, text)
    assert wait_for_count(srv, BINH, 1, folder="Junk") == 1
    with srv.imap(BINH) as c:
        assert fetch_all(c) == {}, "nothing in INBOX"
        ar = auth_results(list(fetch_all(c, "Junk").values())[0])
    assert "spf=fail" in ar and "dmarc=fail" in ar and "header.from=quarantine.test" in ar, ar
    assert "dkim=none" in ar, ar


def test_servfail_defers_instead_of_guessing(authenticated_mx):
    srv = authenticated_mx
    code, text = send(srv, "an@broken.test", make_message("DNS hỏng", "an@broken.test", BINH))
    assert code == 451, (code, text)
    assert text.startswith(b"4.4.3") and b"broken.test" in text and b"try again later" in text, text
    assert srv.servfail.queries > 0, "the SERVFAIL came from the broken domain's server"
    with srv.imap(BINH) as c:
        assert fetch_all(c) == {}


def test_domains_without_records_are_delivered_as_none(authenticated_mx):
    srv = authenticated_mx
    msg = make_message("Không có SPF", "an@norecords.test", BINH)
    code, text = send(srv, "an@norecords.test", msg)
    assert code == 250, (code, text)
    assert wait_for_count(srv, BINH, 1) == 1
    with srv.imap(BINH) as c:
        ar = auth_results(list(fetch_all(c).values())[0])
    assert "spf=none" in ar and "dkim=none" in ar and "dmarc=none" in ar, ar


def test_forged_results_with_our_authserv_id_are_removed(authenticated_mx):
    """RFC 8601 §5: a receiver MUST remove fields from outside that claim its authserv-id. A spammer's
    "dmarc=pass" under our name (any case, folded, after a comment) must not reach the reader; a field
    of another authserv-id (a relay's results) stays; the DKIM signature is checked on the message as sent."""
    srv = authenticated_mx
    forged = (
        b"Authentication-Results: mail.example.gov.vn; spf=pass smtp.mailfrom=an@good.test;\r\n"
        b"\tdkim=pass header.d=good.test; dmarc=pass (forged-one)\r\n"
        b"Authentication-Results: (forged-two) MAIL.Example.Gov.VN;\r\n\tdmarc=pass\r\n"
        b"Authentication-Results: relay.example.net; spf=pass smtp.mailfrom=an@good.test\r\n"
    )
    signed = sign(make_message("Kết quả giả", "an@good.test", BINH), "good.test", srv.dkim_private)
    code, text = send(srv, "an@good.test", forged + signed)
    assert code == 250, (code, text)
    assert wait_for_count(srv, BINH, 1) == 1
    with srv.imap(BINH) as c:
        stored = list(fetch_all(c).values())[0]
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert b"forged-one" not in head and b"forged-two" not in head, head.decode()
    ours = re.findall(rb"^Authentication-Results: mail\.example\.gov\.vn;", head, re.MULTILINE | re.IGNORECASE)
    assert len(ours) == 1, head.decode()
    assert b"\r\nAuthentication-Results: relay.example.net; spf=pass" in head, head.decode()
    assert stored.endswith(signed), "nothing else of the message changed"
    ar = auth_results(stored)
    assert "dkim=pass" in ar and "dmarc=pass" in ar, ar
