"""The operator's interface (DESIGN.md): `init`, `mailbox add`, configuration errors, signals, `demo`.

Exit codes: 0 success, 2 usage or configuration error naming the key, 1 other failure.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
import tomllib

from harness import (
    DOMAIN,
    LISTEN_KEYS,
    PASSWORD,
    fetch_all,
    free_ports,
    make_message,
    parse_init_password,
    port_accepts,
    run_cli,
    smtp_raw,
    strip_trace_headers,
)


def test_init_writes_config_tls_data_and_prints_password(congvu_bin, tmp_path):
    d = tmp_path / "prov"
    r = run_cli(congvu_bin, "init", "--dir", str(d), "--domain", "bacgiang.gov.vn", "--hostname", "thu.bacgiang.gov.vn")
    assert r.returncode == 0, r.stderr
    pw = parse_init_password(r.stdout)
    # R-POL-1, administrator rule: at least 10 characters with lower, upper, digit and special.
    assert len(pw) >= 10 and re.search(r"[a-z]", pw) and re.search(r"[A-Z]", pw) and re.search(r"\d", pw)
    assert re.search(r"[^A-Za-z0-9]", pw), pw
    assert r.stdout.count(pw) == 1, "the password is printed once"
    assert "postmaster@bacgiang.gov.vn" in r.stdout + r.stderr
    with open(d / "congvu.toml", "rb") as f:
        cfg = tomllib.load(f)
    assert set(cfg.get("listen", {})) <= set(LISTEN_KEYS), cfg.get("listen")
    assert pw not in (d / "congvu.toml").read_text(), "the password must not be written in clear"
    for p in ("tls/cert.pem", "tls/key.pem", "data/congvu.db"):
        assert (d / p).is_file(), p
    assert (d / "data" / "blobs").is_dir()
    assert stat.S_IMODE((d / "tls" / "key.pem").stat().st_mode) & 0o077 == 0, "private key readable by others"
    out = subprocess.run(
        ["openssl", "x509", "-in", str(d / "tls" / "cert.pem"), "-noout", "-subject", "-ext", "subjectAltName"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    san = out.stdout
    for want in ("DNS:thu.bacgiang.gov.vn", "DNS:localhost", "IP Address:127.0.0.1"):
        assert want in san, san


def test_init_default_hostname(congvu_bin, tmp_path):
    r = run_cli(congvu_bin, "init", "--dir", str(tmp_path / "x"), "--domain", DOMAIN)
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "x" / "tls" / "cert.pem"), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, timeout=30,
    )
    assert f"DNS:mail.{DOMAIN}" in out.stdout, out.stdout


def test_mailbox_add_errors(make_server):
    server = make_server(mailboxes={}, start=False)
    cfg = str(server.config)

    def add(address: str, password: str = PASSWORD, *extra: str):
        return run_cli(server.binary, "mailbox", "add", "--config", cfg, "--address", address, "--password", password, *extra)

    ok = add(f"annv@{DOMAIN}", PASSWORD, "--name", "Nguyễn Văn An")
    assert ok.returncode == 0, ok.stderr
    bad = add("khong hop le@@" + DOMAIN)
    assert bad.returncode == 2, (bad.returncode, bad.stderr)
    assert bad.stderr.strip(), "a bad address needs a message"
    dup = add(f"annv@{DOMAIN}")
    assert dup.returncode == 1, (dup.returncode, dup.stderr)
    assert "annv@" + DOMAIN in dup.stderr or "exist" in dup.stderr.lower() or "tồn tại" in dup.stderr.lower(), dup.stderr
    weak = add(f"binhtt@{DOMAIN}", "abc")
    assert weak.returncode != 0, "R-POL-1: a weak password is refused"
    assert add(f"binhtt@{DOMAIN}").returncode == 0, "the refused weak password left a half-made mailbox"
    server.passwords[f"annv@{DOMAIN}"] = PASSWORD
    server.start()
    with server.imap(f"annv@{DOMAIN}"):
        pass


def test_postmaster_receives_and_logs_in(server):
    pm = f"postmaster@{DOMAIN}"
    msg = make_message("gửi postmaster", "ai@example.org", pm)
    server.deliver("ai@example.org", [pm], msg)  # RFC 5321 §4.5.1: postmaster must be accepted
    with server.imap(pm) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    strip_trace_headers(msgs[0], msg)


def _serve_expect_config_error(server, env: dict) -> str:
    r = subprocess.run(
        [str(server.binary), "serve", "--config", str(server.config)],
        capture_output=True, text=True, timeout=30, env={**server.env(), **env},
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    return r.stderr


def test_config_error_exit_2_names_the_key(make_server):
    server = make_server(mailboxes={}, start=False)
    server.ports = dict(zip(("smtp", "imap", "imaps"), free_ports(3)))
    err = _serve_expect_config_error(server, {"CONGVU_LISTEN_SMTP": "khong-phai-dia-chi"})
    assert "smtp" in err.lower(), err
    err = _serve_expect_config_error(server, {"CONGVU_SMTP_MAX_MESSAGE_SIZE": "nhieu-lam"})
    assert "max_message_size" in err.lower(), err
    # The same mistake in the file.
    text = server.config.read_text()
    bad = 'max_literal = "vo-han"'
    if re.search(r"(?m)^max_literal\s*=", text):
        text = re.sub(r"(?m)^max_literal\s*=.*$", bad, text)
    elif re.search(r"(?m)^\[imap\]\s*$", text):
        text = re.sub(r"(?m)^\[imap\]\s*$", "[imap]\n" + bad, text, count=1)
    else:
        text += "\n[imap]\n" + bad + "\n"
    server.config.write_text(text)
    err = _serve_expect_config_error(server, {})
    assert "max_literal" in err.lower(), err


def test_sigterm_and_sigint_exit_0(make_server):
    server = make_server(mailboxes={})
    server.stop(signal.SIGTERM)  # asserts exit 0
    server.start()
    server.stop(signal.SIGINT)


def test_sigterm_finishes_inflight_transaction(server):
    rcpt = f"annv@{DOMAIN}"
    msg = make_message("đang gửi dở khi dừng", "ai@example.org", rcpt)
    sock, r = smtp_raw(server.ports["smtp"])
    with sock:
        for cmd, want in (("MAIL FROM:<ai@example.org>", 250), (f"RCPT TO:<{rcpt}>", 250), ("DATA", 354)):
            sock.sendall(cmd.encode() + b"\r\n")
            code, lines = r.smtp_reply()
            assert code == want, lines
        half = len(msg) // 2
        sock.sendall(msg[:half])
        server.send_signal(signal.SIGTERM)
        # It stops accepting: new connections are refused soon (bounded poll), while ours goes on.
        deadline = time.monotonic() + 10
        while port_accepts(server.ports["imap"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not port_accepts(server.ports["imap"]), "still accepting after SIGTERM"
        sock.sendall(msg[half:] + b".\r\n")
        code, lines = r.smtp_reply(timeout=20)
        assert code == 250, lines
        sock.sendall(b"QUIT\r\n")
        try:
            r.smtp_reply()
        except (ConnectionError, TimeoutError, socket.timeout):
            pass
    assert server.wait_exit() == 0, server.stderr()
    server.proc = None
    server.start()
    with server.imap(rcpt) as c:
        msgs = list(fetch_all(c).values())
    assert len(msgs) == 1
    strip_trace_headers(msgs[0], msg)


def test_demo_serves_on_printed_loopback_ports(congvu_bin, tmp_path):
    out = open(tmp_path / "demo.out", "wb")
    proc = subprocess.Popen([str(congvu_bin), "demo"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        ports: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            text = (tmp_path / "demo.out").read_text(errors="replace")
            ports = [int(p) for p in re.findall(r"(?:127\.0\.0\.1|localhost):(\d{2,5})", text)]
            ports = ports or [int(p) for p in re.findall(r"(?i)\b(?:port|cổng)\s*:?\s*(\d{4,5})\b", text)]
            if ports and all(port_accepts(p) for p in ports):
                break
            time.sleep(0.1)
        text = (tmp_path / "demo.out").read_text(errors="replace")
        assert proc.poll() is None, f"demo exited {proc.returncode}:\n{text}"
        assert ports, f"demo printed no loopback ports:\n{text}"
        assert all(port_accepts(p) for p in ports), f"not all printed ports accept:\n{text}"
        assert (tmp_path / "congvu-demo").is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
