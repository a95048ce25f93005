"""End-to-end harness: builds nothing, starts the real `congvu` binary and talks to it with real clients.

What it keeps true:
- Every server runs in its own temporary directory made by `congvu init`, on loopback ports found free by
  binding port 0, with every listener the tests do not use disabled (`CONGVU_LISTEN_<KEY>=`).
- Nothing waits by sleeping when it can poll: `wait_listening` and `wait_for_count` poll with a deadline
  and fail with the server's stderr attached.
- A server that is stopped with SIGTERM must exit 0 (DESIGN.md: "drains and exits 0"); `stop()` asserts it.

Only the Python standard library is used here.
"""

from __future__ import annotations

import base64
import imaplib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DOMAIN = "example.gov.vn"
HOSTNAME = f"mail.{DOMAIN}"
# R-POL-1: lowercase, uppercase, digit and special character, at least 10 (admin length, so it fits both).
PASSWORD = "Mat-Khau-2024!"

# Every listener key of the fixed interface (DESIGN.md "The operator's interface").
LISTEN_KEYS = (
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "managesieve",
    "http",
    "https",
    "ldap",
    "ldaps",
)
# The ones the end-to-end tests talk to; the rest are disabled so an unfinished listener cannot stop start-up.
USED_KEYS = ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
CMD_TIMEOUT = 60.0


def free_ports(n: int) -> list[int]:
    """Returns n distinct loopback ports that were free a moment ago (all held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def run_cli(binary: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs one `congvu` command to completion and returns it (text mode, both streams captured)."""
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=CMD_TIMEOUT,
        env=env,
        cwd=cwd,
    )


def parse_init_password(stdout: str) -> str:
    m = re.search(r"^\s*password:\s*(\S+)\s*$", stdout, re.MULTILINE)
    assert m, f"`congvu init` printed no `password: <pw>` line:\n{stdout}"
    return m.group(1)


def unverified_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Server:
    """One `congvu serve` process over one `congvu init` directory."""

    binary: Path
    dir: Path
    extra_env: dict = field(default_factory=dict)
    ports: dict = field(default_factory=dict)
    passwords: dict = field(default_factory=dict)
    postmaster_password: str = ""
    proc: subprocess.Popen | None = None
    starts: int = 0
    # The hosted domain given to `congvu init` (two servers with different domains deliver to each other).
    domain: str = DOMAIN

    @property
    def config(self) -> Path:
        return self.dir / "congvu.toml"

    @property
    def blob_dir(self) -> Path:
        return self.dir / "data" / "blobs"

    @property
    def cert(self) -> Path:
        return self.dir / "tls" / "cert.pem"

    @property
    def stderr_path(self) -> Path:
        return self.dir / f"serve-{self.starts}.stderr"

    def env(self) -> dict:
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        for key in LISTEN_KEYS:
            env[f"CONGVU_LISTEN_{key.upper()}"] = (
                f"127.0.0.1:{self.ports[key]}" if key in self.ports else ""
            )
        env.update(self.extra_env)
        return env

    # --- set-up -------------------------------------------------------------------------------

    def init(self) -> subprocess.CompletedProcess:
        r = run_cli(self.binary, "init", "--dir", str(self.dir), "--domain", self.domain)
        assert r.returncode == 0, f"congvu init failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        self.postmaster_password = parse_init_password(r.stdout)
        self.passwords[f"postmaster@{self.domain}"] = self.postmaster_password
        return r

    def add_mailbox(self, local: str, name: str | None = None, password: str = PASSWORD) -> str:
        address = f"{local}@{self.domain}"
        args = ["mailbox", "add", "--config", str(self.config), "--address", address, "--password", password]
        if name:
            args += ["--name", name]
        r = run_cli(self.binary, *args)
        assert r.returncode == 0, f"mailbox add {address} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        self.passwords[address] = password
        return address

    # --- process ------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.ports:
            self.ports = dict(zip(USED_KEYS, free_ports(len(USED_KEYS))))
        self.starts += 1
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=self.env(),
        )
        err.close()
        self.wait_listening()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = set(self.ports.values())
        while pending and time.monotonic() < deadline:
            code = self.proc.poll()
            assert code is None, f"congvu serve exited with {code} during start-up:\n{self.stderr()}"
            pending = {p for p in pending if not port_accepts(p)}
            if pending:
                time.sleep(0.05)
        assert not pending, f"ports {sorted(pending)} not accepting after {START_TIMEOUT}s:\n{self.stderr()}"

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-20000:]
        except OSError:
            return "<no stderr>"

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"congvu serve did not exit within {timeout}s of the signal:\n{self.stderr()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops the server with `sig` and asserts exit code 0."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            self.proc = None
            assert code in (None, 0), f"congvu serve had already exited with {code}:\n{self.stderr()}"
            return
        self.send_signal(sig)
        code = self.wait_exit()
        self.proc = None
        assert code == 0, f"congvu serve exited {code} after {signal.Signals(sig).name}:\n{self.stderr()}"

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None

    # --- clients ------------------------------------------------------------------------------

    def smtp(self, timeout: float = 30.0) -> smtplib.SMTP:
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], local_hostname="client.example.org", timeout=timeout)
        s.ehlo()
        return s

    def imap(self, address: str, timeout: float = 30.0) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=timeout)
        typ, _ = c.login(address, self.passwords[address])
        assert typ == "OK"
        return c

    def deliver(self, sender: str, rcpts: list[str], data: bytes) -> None:
        with self.smtp() as s:
            refused = s.sendmail(sender, rcpts, data)
            assert refused == {}, refused


# --- message and IMAP helpers --------------------------------------------------------------------


def make_message(subject: str, sender: str, to: str, body: str = "Kính gửi các đơn vị.\r\n", msgid: str | None = None) -> bytes:
    """A small RFC 5322 message, CRLF line ends, ASCII headers (RFC 2047 subject), base64 UTF-8 body."""
    enc_subject = "=?UTF-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    msgid = msgid or f"<{time.time_ns()}.{os.getpid()}@client.example.org>"
    body_b64 = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n")
    head = (
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: {enc_subject}\r\n"
        f"Message-ID: {msgid}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
    )
    return head.encode() + body_b64.encode()


def strip_trace_headers(stored: bytes, sent: bytes) -> bytes:
    """Asserts `stored` is `sent` with only Return-Path/Received (and, for MX mail, the receiver's
    Authentication-Results and the spam score's X-Spam-Score/X-Spam-Status) fields prepended; returns the prefix.
    X-Spam-Flag is not allowed: the plain test messages must not be scored as spam (R-POL-5)."""
    assert stored.endswith(sent), (
        f"stored message does not end with the bytes sent\n--- stored head ---\n{stored[:2000]!r}"
    )
    prefix = stored[: len(stored) - len(sent)]
    names = []
    for line in prefix.split(b"\r\n")[:-1] if prefix else []:
        if line[:1] in (b" ", b"\t"):
            assert names, f"continuation line with no field before it: {line!r}"
            continue
        name, colon, _ = line.partition(b":")
        assert colon, f"prepended line is not a header field: {line!r}"
        names.append(name.strip().lower())
    assert not prefix or prefix.endswith(b"\r\n"), f"prepended header block does not end in CRLF: {prefix!r}"
    allowed = {b"return-path", b"received", b"authentication-results", b"x-spam-score", b"x-spam-status"}
    assert set(names) <= allowed, f"unexpected prepended fields: {names}"
    return prefix


def status_messages(conn: imaplib.IMAP4, folder: str = "INBOX") -> int:
    typ, data = conn.status(quote(folder), "(MESSAGES)")
    assert typ == "OK", data
    m = re.search(rb"MESSAGES (\d+)", data[0])
    assert m, data
    return int(m.group(1))


def wait_for_count(server: Server, address: str, count: int, folder: str = "INBOX", timeout: float = 15.0) -> int:
    """Polls STATUS until the folder holds at least `count` messages; returns the count seen."""
    deadline = time.monotonic() + timeout
    n = -1
    with server.imap(address) as c:
        while time.monotonic() < deadline:
            n = status_messages(c, folder)
            if n >= count:
                return n
            time.sleep(0.1)
    raise AssertionError(f"{address} {folder}: {n} messages after {timeout}s, expected {count}")


def fetch_all(conn: imaplib.IMAP4, folder: str = "INBOX") -> dict[int, bytes]:
    """UID -> full message bytes (BODY.PEEK[]) of every message in the folder."""
    typ, data = conn.select(quote(folder), readonly=True)
    assert typ == "OK", data
    if int(data[0]) == 0:
        return {}
    typ, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            m = re.search(rb"UID (\d+)", item[0])
            assert m, item[0]
            out[int(m.group(1))] = item[1]
    return out


def quote(name: str) -> str:
    """An IMAP quoted string for an ASCII (or already modified-UTF-7) mailbox name."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mutf7(name: str) -> str:
    """RFC 3501 §5.1.3 modified UTF-7, as IMAP4rev1 clients send mailbox names."""
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def decode_mutf7(name: str) -> str:
    def repl(m):
        s = m.group(1)
        if not s:
            return "&"
        s = s.replace(",", "/")
        s += "=" * (-len(s) % 4)
        return base64.b64decode(s).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", repl, name)


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.+)$')


def list_folders(conn: imaplib.IMAP4, return_opts: str = "") -> dict[str, set[str]]:
    """Decoded folder name -> set of attributes (lower-cased), from LIST "" "*" [RETURN (...)]."""
    typ, data = conn.list('""', '"*"' + (f" RETURN ({return_opts})" if return_opts else ""))
    assert typ == "OK", data
    out = {}
    items = iter(data)
    for item in items:
        if not item:
            continue  # the empty rest-of-line imaplib leaves after a literal
        if isinstance(item, tuple):  # name sent as a literal
            head, lit = item
            m = LIST_RE.match(head.strip() + b" X")
            assert m, head
            raw = lit
        else:
            m = LIST_RE.match(item)
            assert m, item
            raw = m.group("name")
            if raw.startswith(b'"'):
                raw = raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        text = raw.decode("utf-8")
        name = decode_mutf7(text) if "&" in text else text
        out[name] = {a.lower() for a in m.group("attrs").decode().split()}
    return out


class LineReader:
    """Reads CRLF lines from a raw socket with a deadline (for IDLE and SMTP transcripts)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def line(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete line within {timeout}s; have {self.buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; have {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def smtp_reply(self, timeout: float = 10.0) -> tuple[int, list[bytes]]:
        """One (possibly multi-line) SMTP reply: (code, lines)."""
        lines = []
        while True:
            line = self.line(timeout)
            lines.append(line)
            assert re.match(rb"^\d{3}[ -]", line), f"not an SMTP reply line: {line!r}"
            if line[3:4] == b" ":
                return int(line[:3]), lines

    def until_tagged(self, tag: bytes, timeout: float = 10.0) -> list[bytes]:
        lines = []
        while True:
            line = self.line(timeout)
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines


def smtp_raw(port: int) -> tuple[socket.socket, LineReader]:
    """A raw SMTP connection past the greeting and EHLO."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    r = LineReader(sock)
    code, lines = r.smtp_reply()
    assert code == 220, lines
    sock.sendall(b"EHLO client.example.org\r\n")
    code, lines = r.smtp_reply()
    assert code == 250, lines
    return sock, r


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total
