"""The one login check of every protocol, through the real binary (issue 5, R-POL-2, R-POL-10).

An expired password (`[policy] user_password_max_age = "2s"`) and a reset one are refused by IMAP
(`NO [EXPIRED]`), POP3 (`-ERR [AUTH]`) and SMTP AUTH (`535 5.7.8`) with a sentence saying where to
change it; an app password works over IMAP (LOGIN and AUTHENTICATE LOGIN) while the main password of
a mailbox with TOTP is refused; every failure is in `congvu audit list`; a password entering its
warning window gets a warning mail in INBOX from postmaster.
"""

from __future__ import annotations

import imaplib
import json
import poplib
import re
import smtplib
import time

import pytest

from harness import DOMAIN, PASSWORD, run_cli, unverified_context, wait_for_count

AN = f"annv@{DOMAIN}"


def cli(srv, *args: str, expect: int = 0):
    # `--config` goes after the command words: two ("audit list"), three ("mailbox totp enable").
    words = 3 if args[1] in ("app-password", "totp") else 2
    r = run_cli(srv.binary, *args[:words], "--config", str(srv.config), *args[words:], env=srv.env() if srv.ports else None)
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def printed(stdout: str, label: str) -> str:
    m = re.search(rf"^{label}:\s*(\S+)\s*$", stdout, re.MULTILINE)
    assert m, f"no `{label}: …` line in:\n{stdout}"
    return m.group(1)


def imap_refusal(srv, address: str, password: str) -> str:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    try:
        with pytest.raises(imaplib.IMAP4.error) as e:
            c.login(address, password)
        return str(e.value)
    finally:
        c.shutdown()


def pop3_refusal(srv, address: str, password: str) -> str:
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    try:
        p.user(address)
        with pytest.raises(poplib.error_proto) as e:
            p.pass_(password)
        return e.value.args[0].decode()
    finally:
        p.close()


def smtp_refusal(srv, address: str, password: str) -> smtplib.SMTPAuthenticationError:
    s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30)
    try:
        s.starttls(context=unverified_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(address, password)
        return e.value
    finally:
        s.close()


def audit(srv) -> list[dict]:
    return json.loads(cli(srv, "audit", "list", "--json").stdout)


def test_expired_password_refused_everywhere(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, env={"CONGVU_POLICY_USER_PASSWORD_MAX_AGE": "2s"})
    time.sleep(2.5)

    imap = imap_refusal(srv, AN, PASSWORD)
    assert "[EXPIRED]" in imap and "webmail" in imap, imap
    pop = pop3_refusal(srv, AN, PASSWORD)
    assert pop.startswith("-ERR [AUTH]") and "expired" in pop and "webmail" in pop, pop
    smtp = smtp_refusal(srv, AN, PASSWORD)
    assert smtp.smtp_code == 535 and b"5.7.8" in smtp.smtp_error and b"expired" in smtp.smtp_error, smtp

    # A wrong password is still only a wrong password: nothing about the expiry leaks.
    wrong = imap_refusal(srv, AN, "Sai-Mat-Khau-1!")
    assert "[AUTHENTICATIONFAILED]" in wrong and "expired" not in wrong, wrong

    # The administrator's password ages on its own clock (90 days by default): still fine.
    postmaster = f"postmaster@{DOMAIN}"
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert c.login(postmaster, srv.passwords[postmaster])[0] == "OK"
    c.logout()

    failed = [e for e in audit(srv) if e["action"] == "login.failed"]
    details = {e["detail"] for e in failed}
    assert {"imap: password expired", "pop3: password expired", "smtp: password expired"} <= details, details
    assert "imap: bad credentials" in details
    assert all(e["actor"] == AN and e["source_ip"] == "127.0.0.1" for e in failed), failed
    assert all(PASSWORD not in json.dumps(e) for e in failed)


def test_reset_password_must_be_changed(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    one_time = printed(cli(srv, "mailbox", "reset-password", "--address", AN).stdout, "password")

    imap = imap_refusal(srv, AN, one_time)
    assert "[EXPIRED]" in imap and "must be changed" in imap, imap
    pop = pop3_refusal(srv, AN, one_time)
    assert pop.startswith("-ERR [AUTH]") and "must be changed" in pop, pop
    smtp = smtp_refusal(srv, AN, one_time)
    assert smtp.smtp_code == 535 and b"5.7.8" in smtp.smtp_error, smtp

    # Once the user has chosen a new password, it works again.
    cli(srv, "mailbox", "passwd", "--address", AN, "--password", "Mat-Khau-Moi-9")
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert c.login(AN, "Mat-Khau-Moi-9")[0] == "OK"
    c.logout()
    details = [e["detail"] for e in audit(srv) if e["action"] == "login.failed"]
    assert "imap: password must be changed" in details, details


def test_app_password_with_totp(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    app = printed(cli(srv, "mailbox", "app-password", "add", "--address", AN, "--label", "điện thoại").stdout, "password")
    assert app != PASSWORD and len(app) >= 20
    listed = json.loads(cli(srv, "mailbox", "app-password", "list", "--address", AN, "--json").stdout)
    assert [p["label"] for p in listed] == ["điện thoại"] and listed[0]["last_used_at"] is None
    # The app password is stored only as a hash.
    assert app.encode() not in (srv.dir / "data" / "congvu.db").read_bytes()

    totp = cli(srv, "mailbox", "totp", "enable", "--address", AN)
    assert printed(totp.stdout, "otpauth").startswith("otpauth://totp/")
    assert re.fullmatch(r"[A-Z2-7]{32}", printed(totp.stdout, "secret"))

    # With TOTP on, the main password no longer opens the mailbox from a mail program.
    refused = imap_refusal(srv, AN, PASSWORD)
    assert "[AUTHENTICATIONFAILED]" in refused and "app password" in refused, refused
    smtp = smtp_refusal(srv, AN, PASSWORD)
    assert smtp.smtp_code == 535 and b"app password" in smtp.smtp_error, smtp

    # The app password works with LOGIN and with AUTHENTICATE LOGIN (what Outlook sends).
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert "AUTH=LOGIN" in c.capabilities, c.capabilities
    assert c.login(AN, app)[0] == "OK"
    c.logout()
    answers = iter([AN, app])
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert c.authenticate("LOGIN", lambda challenge: next(answers))[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30)
    s.starttls(context=unverified_context())
    assert s.login(AN, app)[0] == 235
    s.quit()

    listed = json.loads(cli(srv, "mailbox", "app-password", "list", "--address", AN, "--json").stdout)
    assert listed[0]["last_used_at"] is not None

    # Revoked: the device is locked out; TOTP off: the main password works again.
    cli(srv, "mailbox", "app-password", "revoke", "--address", AN, "--label", "điện thoại")
    assert "[AUTHENTICATIONFAILED]" in imap_refusal(srv, AN, app)
    cli(srv, "mailbox", "totp", "disable", "--address", AN)
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert c.login(AN, PASSWORD)[0] == "OK"
    c.logout()

    entries = audit(srv)
    actions = [e["action"] for e in entries]
    for action in ("mailbox.app-password.add", "mailbox.totp.enable", "mailbox.app-password.revoke", "mailbox.totp.disable"):
        assert action in actions, actions
    details = [e["detail"] for e in entries if e["action"] == "login.failed"]
    assert "imap: main password refused: TOTP on, app password required" in details, details
    assert all(app not in json.dumps(e) for e in entries)


def test_expiry_warning_mail_arrives(make_server):
    # 60 s of validity: password_state warns in the last half (30 s), which is within the 1-day
    # threshold, so one "1 day" warning is due from 30 s after the mailbox was made; the task looks
    # every second here (every hour by default).
    srv = make_server(
        mailboxes={"annv": "Nguyễn Văn An"},
        env={"CONGVU_POLICY_USER_PASSWORD_MAX_AGE": "60s", "CONGVU_POLICY_EXPIRY_WARNING_INTERVAL": "1s"},
    )
    made = time.time()
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    assert c.login(AN, PASSWORD)[0] == "OK"
    c.select("INBOX")
    assert c.search(None, "ALL")[1] == [b""], "no warning before the window"
    c.logout()
    time.sleep(max(0.0, made + 31 - time.time()))
    assert wait_for_count(srv, AN, 1, timeout=15) == 1
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    c.login(AN, PASSWORD)
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    raw = data[0][1].decode("utf-8")
    c.logout()
    assert f"<postmaster@{DOMAIN}>" in raw
    assert "hết hạn trong 1 ngày" in raw and "English: the password of" in raw, raw
    # One warning per threshold: later passes do not send it again.
    time.sleep(3)
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    c.login(AN, PASSWORD)
    c.select("INBOX")
    assert len(c.search(None, "ALL")[1][0].split()) == 1
    c.logout()
