"""COMPRESS=DEFLATE (RFC 4978) through the real binary, with Python's zlib speaking raw deflate (wbits=-15).

imaplib has no COMPRESS, so this drives a socket by hand: on the plain loopback port and inside TLS on the
IMAPS port. Every response must inflate as soon as it arrives (the server sync-flushes each batch), a message
APPENDed and FETCHed through the compressed stream comes back byte-identical, a second COMPRESS is refused
with NO [COMPRESSIONACTIVE] and an unknown mechanism with BAD.
"""

from __future__ import annotations

import socket
import ssl
import time
import zlib

from harness import DOMAIN, PASSWORD, make_message, unverified_context

USER = f"annv@{DOMAIN}"


class Conn:
    """Line-oriented IMAP over a socket, plain until `compress()`."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(10)
        self.buf = b""
        self.z_in = None
        self.z_out = None
        self.n = 0

    def compress(self) -> None:
        assert not self.buf, "nothing may follow the tagged OK uncompressed"
        self.z_in = zlib.decompressobj(wbits=-15)
        self.z_out = zlib.compressobj(wbits=-15)

    def send(self, data: bytes) -> None:
        if self.z_out:
            data = self.z_out.compress(data) + self.z_out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _more(self) -> None:
        raw = self.sock.recv(65536)  # times out (failing the test) if the server held data back
        assert raw, f"connection closed; buffered: {self.buf[-500:]!r}"
        self.buf += self.z_in.decompress(raw) if self.z_in else raw

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, text: str) -> list[bytes]:
        self.n += 1
        tag = f"c{self.n}"
        self.send(f"{tag} {text}\r\n".encode())
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines


def session(sock: socket.socket) -> Conn:
    c = Conn(sock)
    assert c.line().startswith(b"* OK")
    login = c.cmd(f'LOGIN {USER} "{PASSWORD}"')
    assert b" OK " in login[-1] and b"COMPRESS=DEFLATE" in login[-1], login
    bad = c.cmd("COMPRESS BZIP2")
    assert bad[-1].startswith(b"c2 BAD") and b"DEFLATE" in bad[-1], bad
    ok = c.cmd("COMPRESS DEFLATE")
    assert ok[-1].startswith(b"c3 OK"), ok
    c.compress()

    assert c.cmd("NOOP")[-1].startswith(b"c4 OK")
    again = c.cmd("COMPRESS DEFLATE")
    assert again[-1].startswith(b"c5 NO [COMPRESSIONACTIVE]"), again

    body = "".join(f"Dòng {i}: công văn số {i * 31}/UBND-VP về việc chuyển đổi số.\r\n" for i in range(8000))
    msg = make_message("Nén dữ liệu", USER, USER, body=body)
    c.send(f"a APPEND INBOX {{{len(msg)}}}\r\n".encode())
    assert c.line().startswith(b"+ ")
    c.send(msg + b"\r\n")
    line = c.line()
    while not line.startswith(b"a "):
        line = c.line()
    assert line.startswith(b"a OK [APPENDUID "), line
    uid = int(line.split()[4].rstrip(b"]"))

    assert c.cmd("SELECT INBOX")[-1].startswith(b"c6 OK")
    c.send(f"f UID FETCH {uid} (BODY.PEEK[])\r\n".encode())
    head = c.line()
    assert head.endswith(f"{{{len(msg)}}}\r\n".encode()), head
    assert c.exactly(len(msg)) == msg
    rest = c.line()
    while not rest.startswith(b"f "):
        rest = c.line()
    assert rest.startswith(b"f OK"), rest

    # IDLE inside the compressed stream: the continuation and the EXISTS pushed by another
    # session's APPEND arrive without the client sending anything.
    c.send(b"i IDLE\r\n")
    assert c.line().startswith(b"+ ")
    return c


def test_compress_on_plain_loopback(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    with socket.create_connection(("127.0.0.1", srv.ports["imap"])) as s:
        c = session(s)
        with srv.imap(USER) as other:
            assert other.append("INBOX", "", None, make_message("mới", USER, USER))[0] == "OK"
            other.logout()
        deadline = time.monotonic() + 10
        line = c.line()
        while b"EXISTS" not in line and time.monotonic() < deadline:
            line = c.line()
        assert line == b"* 2 EXISTS\r\n", line
        c.send(b"DONE\r\n")
        assert c.line().startswith(b"i OK")
        assert c.cmd("LOGOUT")[0].startswith(b"* BYE")


def test_compress_inside_tls(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    ctx = unverified_context()
    with socket.create_connection(("127.0.0.1", srv.ports["imaps"])) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            c = session(s)
            c.send(b"DONE\r\n")
            assert c.line().startswith(b"i OK")
            assert c.cmd("LOGOUT")[0].startswith(b"* BYE")


def test_bad_deflate_data_ends_only_that_session(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    with socket.create_connection(("127.0.0.1", srv.ports["imap"])) as s:
        c = Conn(s)
        c.line()
        c.cmd(f'LOGIN {USER} "{PASSWORD}"')
        assert c.cmd("COMPRESS DEFLATE")[-1].startswith(b"c2 OK")
        s.sendall(b"\xff" * 64)  # not a valid deflate block type
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, ssl.SSLError):
            pass
    with srv.imap(USER) as other:
        assert other.noop()[0] == "OK"
        other.logout()
