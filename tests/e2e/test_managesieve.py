"""ManageSieve (RFC 5804) through the real server, with sieve-connect (Debian's Perl client) as the peer
nobody here wrote, plus raw-socket checks of what a client library would hide: refused scripts name their
line, the forwarding policy (R-POL-6) refuses redirects outside government domains, quotas and bad input."""

import base64
import os
import socket
import ssl
import subprocess

import pytest

from harness import DOMAIN, PASSWORD, USED_KEYS, free_ports

AN = f"annv@{DOMAIN}"

FILTER = """require ["fileinto", "imap4flags", "vacation"];
# Công văn của UBND tỉnh vào thư mục riêng
if address :domain :is "from" "ubnd.example.gov.vn" {
    fileinto :flags "\\\\Flagged" "Công văn";
}
vacation :days 3 "Tôi nghỉ phép đến 30/11.";
"""


@pytest.fixture
def srv(make_server):
    s = make_server(start=False)
    keys = USED_KEYS + ("managesieve",)
    s.ports = dict(zip(keys, free_ports(len(keys))))
    s.start()
    return s


def sieve_connect(srv, *args: str, password: str = PASSWORD, user: str = AN) -> subprocess.CompletedProcess:
    """Runs sieve-connect over STARTTLS, trusting the server's own certificate."""
    r_fd, w_fd = os.pipe()
    os.write(w_fd, (password + "\n").encode())
    os.close(w_fd)
    try:
        return subprocess.run(
            ["sieve-connect", "--server", "127.0.0.1", "--port", str(srv.ports["managesieve"]), "--user", user,
             "--authmech", "PLAIN", "--tlscafile", str(srv.cert), "--tlshostname", f"mail.{srv.domain}",
             "--passwordfd", str(r_fd), *args],
            capture_output=True, text=True, timeout=60, pass_fds=(r_fd,),
        )
    finally:
        os.close(r_fd)


class Raw:
    """A line-level ManageSieve client on a real socket (STARTTLS, then PLAIN)."""

    def __init__(self, srv, login: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", srv.ports["managesieve"]), timeout=30)
        self.f = self.sock.makefile("rb")
        self.greeting = self.until_status()
        if login:
            self.send(b"STARTTLS\r\n")
            assert self.until_status()[-1].startswith(b"OK")
            ctx = ssl.create_default_context(cafile=str(srv.cert))
            ctx.check_hostname = False
            self.sock = ctx.wrap_socket(self.sock, server_hostname=f"mail.{srv.domain}")
            self.f = self.sock.makefile("rb")
            self.caps = self.until_status()
            creds = base64.b64encode(f"\0{AN}\0{PASSWORD}".encode())
            self.send(b'AUTHENTICATE "PLAIN" "' + creds + b'"\r\n')
            assert self.until_status()[-1].startswith(b"OK"), "login"

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_status(self) -> list[bytes]:
        lines = []
        while True:
            line = self.f.readline()
            assert line, f"connection closed after {lines}"
            lines.append(line.rstrip(b"\r\n"))
            if line[:2] in (b"OK", b"NO") or line[:3] == b"BYE":
                return lines

    def put(self, name: str, script: bytes) -> bytes:
        self.send(f'PUTSCRIPT "{name}" {{{len(script)}+}}\r\n'.encode() + script + b"\r\n")
        return self.until_status()[-1]


def test_sieve_connect_upload_list_activate_download_delete(srv, tmp_path):
    local = tmp_path / "loc.sieve"
    local.write_text(FILTER, encoding="utf-8")
    up = sieve_connect(srv, "--upload", "--localsieve", str(local), "--remotesieve", "loc")
    assert up.returncode == 0, up.stderr
    act = sieve_connect(srv, "--activate", "--remotesieve", "loc")
    assert act.returncode == 0, act.stderr
    listed = sieve_connect(srv, "--list")
    assert listed.returncode == 0, listed.stderr
    assert "loc" in listed.stdout and "ACTIVE" in listed.stdout.upper(), listed.stdout
    back = tmp_path / "back.sieve"
    down = sieve_connect(srv, "--download", "--remotesieve", "loc", "--localsieve", str(back))
    assert down.returncode == 0, down.stderr
    assert back.read_bytes() == FILTER.encode(), "the script comes back byte for byte"
    # The active script cannot be deleted; after deactivating it can.
    assert sieve_connect(srv, "--delete", "--remotesieve", "loc").returncode != 0
    assert sieve_connect(srv, "--deactivate").returncode == 0
    assert sieve_connect(srv, "--delete", "--remotesieve", "loc").returncode == 0
    assert "loc" not in sieve_connect(srv, "--list").stdout
    # A wrong password is refused.
    assert sieve_connect(srv, "--list", password="wrong-Password-1").returncode != 0


def test_refusals_name_the_problem(srv):
    c = Raw(srv)
    assert any(b'"SIEVE"' in l and b"vacation" in l for l in c.caps)
    assert not any(b"STARTTLS" in l for l in c.caps), "no STARTTLS offered inside TLS"
    # A syntax error names its line.
    status = c.put("bad", b"keep;\r\nif header :contains \"subject\" {\r\n")
    assert status.startswith(b"NO") and b"line 2" in status, status
    # An extension used without require.
    status = c.put("bad", b'fileinto "X";\r\n')
    assert status.startswith(b"NO") and b'require \\"fileinto\\"' in status, status
    # Forwarding outside government domains (R-POL-6), also hidden in a branch.
    status = c.put("fw", b'if true { redirect "an.nguyen@gmail.com"; }\r\n')
    assert status.startswith(b"NO") and b"government" in status, status
    assert c.put("fw", b'redirect "chanhvp@bacgiang.gov.vn";\r\n').startswith(b"OK")
    # CHECKSCRIPT checks without storing.
    body = b'redirect "x@yahoo.com";'
    c.send(b"CHECKSCRIPT {%d+}\r\n%s\r\n" % (len(body), body))
    assert c.until_status()[-1].startswith(b"NO")
    # Unknown names and the active script.
    c.send(b'SETACTIVE "none"\r\n')
    assert c.until_status()[-1].startswith(b"NO (NONEXISTENT)")
    c.send(b'SETACTIVE "fw"\r\n')
    assert c.until_status()[-1].startswith(b"OK")
    c.send(b'DELETESCRIPT "fw"\r\n')
    assert c.until_status()[-1].startswith(b"NO (ACTIVE)")
    c.send(b'HAVESPACE "big" 10000000\r\n')
    assert c.until_status()[-1].startswith(b"NO (QUOTA/MAXSIZE)")
    # An oversized literal is drained and refused; the session goes on.
    big = b"#" * (70 * 1024)
    assert c.put("big", big).startswith(b"NO (QUOTA/MAXSIZE)")
    c.send(b"LISTSCRIPTS\r\n")
    lines = c.until_status()
    assert lines[-1].startswith(b"OK") and b'"fw" ACTIVE' in lines
    c.send(b'GETSCRIPT "fw"\r\n')
    lines = c.until_status()
    assert lines[0] == b"{37}" and lines[1] == b'redirect "chanhvp@bacgiang.gov.vn";'
    c.send(b"LOGOUT\r\n")
    assert c.until_status()[-1].startswith(b"OK")


def test_no_login_in_clear_text_from_a_non_loopback_policy(make_server):
    s = make_server(start=False, env={"CONGVU_IMAP_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK": "false"})
    keys = USED_KEYS + ("managesieve",)
    s.ports = dict(zip(keys, free_ports(len(keys))))
    s.start()
    c = Raw(s, login=False)
    assert b'"SASL" ""' in c.greeting and any(b"STARTTLS" in l for l in c.greeting)
    creds = base64.b64encode(f"\0{AN}\0{PASSWORD}".encode())
    c.send(b'AUTHENTICATE "PLAIN" "' + creds + b'"\r\n')
    assert c.until_status()[-1].startswith(b"NO (ENCRYPT-NEEDED)")
    c.send(b"LISTSCRIPTS\r\n")
    assert c.until_status()[-1].startswith(b"NO")


def test_scripts_run_at_delivery(srv):
    """The active script files, flags, redirects inside the province and answers once per sender while away."""
    binh = f"binhtt@{DOMAIN}"
    imap = srv.imap(AN)
    assert imap.create('"C&APQ-ng v&AQM-n"')[0] == "OK"  # "Công văn" in modified UTF-7
    c = Raw(srv)
    script = (
        'require ["fileinto", "imap4flags", "vacation", "copy"];\r\n'
        'if header :contains "subject" "[CV]" { fileinto :flags "\\\\Flagged" "Công văn"; stop; }\r\n'
        f'if header :contains "subject" "chuyen" {{ redirect :copy "{binh}"; }}\r\n'
        'if header :contains "subject" "nghi" { vacation :days 2 "Tôi nghỉ phép."; }\r\n'
    ).encode()
    assert c.put("loc", script).startswith(b"OK")
    c.send(b'SETACTIVE "loc"\r\n')
    assert c.until_status()[-1].startswith(b"OK")

    def send(subject: str, sender: str = "vanthu@ubnd.example.gov.vn") -> None:
        msg = f"From: <{sender}>\r\nTo: <{AN}>\r\nSubject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@x>\r\n\r\nNoi dung.\r\n"
        with srv.smtp() as s:
            s.sendmail(sender, [AN], msg.encode())

    send("[CV] so 123")
    send("chuyen tiep")
    send("nghi phep 1", sender=binh)
    send("nghi phep 2", sender=binh)

    typ, _ = imap.select('"C&APQ-ng v&AQM-n"')
    assert typ == "OK"
    typ, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"[CV] so 123" in data[0][1] and b"\\Flagged" in data[0][0], data
    imap.select("INBOX")
    typ, data = imap.search(None, "ALL")
    subjects = []
    for n in data[0].split():
        _, d = imap.fetch(n, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects.append(d[0][1].decode().strip())
    assert not any("[CV]" in s for s in subjects), "fileinto without :copy leaves INBOX alone"
    assert any("chuyen tiep" in s for s in subjects), "redirect :copy keeps a copy"
    # Binh got the redirected copy, and exactly one vacation reply for two messages.
    b = srv.imap(binh)
    b.select("INBOX")
    found = []
    _, data = b.search(None, "ALL")
    for n in data[0].split():
        _, d = b.fetch(n, "(BODY.PEEK[HEADER])")
        found.append(d[0][1].decode("utf-8", "replace"))
    assert sum("chuyen tiep" in h for h in found) == 1, found
    replies = [h for h in found if "Auto-Submitted: auto-replied" in h]
    assert len(replies) == 1, found
    assert "In-Reply-To: <nghi.phep.1@x>" in replies[0]
