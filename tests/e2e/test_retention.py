"""Purging a revoked mailbox after `[policy] revoked_retention` (issue 5, R-ACC-5).

With a retention of a few seconds and the server's sweep every second: a revoked mailbox is kept
(its content restorable) until the retention runs out; `congvu mailbox purge` refuses before then
with the date; afterwards the server purges it by itself. A purged mailbox is a tombstone: `show`
says purged, IMAP login is refused, MX mail is refused with 550 5.1.1, the message file only it
held is gone from disk while a message another mailbox also holds stays readable there, the purge
is in the audit log, and the address is never given to the next person of the same name.
"""

from __future__ import annotations

import imaplib
import json
import smtplib
import time

import pytest

from harness import DOMAIN, PASSWORD, make_message, run_cli

AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"


def cli(srv, *args: str, expect: int = 0):
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:], env=srv.env())
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def blob_files(srv) -> set[str]:
    return {p.name for p in srv.blob_dir.glob("??/*") if p.is_file()}


def state(srv, address: str) -> str:
    return json.loads(cli(srv, "mailbox", "show", "--address", address, "--json").stdout)["state"]


def test_revoked_mailbox_is_purged_after_retention(make_server):
    srv = make_server(
        mailboxes={"annv": "Nguyễn Văn An", "binhtt": "Trần Thị Bình"},
        env={"CONGVU_POLICY_REVOKED_RETENTION": "4s", "CONGVU_POLICY_PURGE_INTERVAL": "1s"},
    )
    before = blob_files(srv)
    srv.deliver("guest@example.org", [AN], make_message("Chỉ gửi anh An", "guest@example.org", AN))
    only_an = blob_files(srv) - before
    assert len(only_an) == 1, only_an
    srv.deliver("guest@example.org", [AN, BINH], make_message("Gửi cả hai", "guest@example.org", AN))
    shared = blob_files(srv) - before - only_an
    assert len(shared) == 1, shared

    cli(srv, "mailbox", "revoke", "--address", AN, "--reason", "chuyển công tác")
    early = cli(srv, "mailbox", "purge", "--address", AN, expect=1)
    assert "cannot be purged before" in early.stderr, early.stderr
    assert state(srv, AN) == "revoked"
    assert only_an <= blob_files(srv), "content is kept during the retention period"

    deadline = time.monotonic() + 20
    while state(srv, AN) != "purged":
        assert time.monotonic() < deadline, f"not purged by the sweep:\n{srv.stderr()}"
        time.sleep(0.5)

    # The files go right after the purge's transaction (garbage collection).
    while only_an & blob_files(srv):
        assert time.monotonic() < deadline, "the file only the purged mailbox held is deleted"
        time.sleep(0.2)
    assert shared <= blob_files(srv), "a message another mailbox holds stays"
    with srv.imap(BINH) as c:
        c.select("INBOX")
        typ, data = c.search(None, "ALL")
        assert typ == "OK" and len(data[0].split()) == 1
        typ, data = c.fetch(b"1", "(BODY.PEEK[])")
        assert typ == "OK" and "Gửi cả hai".encode() not in data[0][1]  # RFC 2047 encoded
        assert b"Subject:" in data[0][1]

    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(AN, PASSWORD)
    c.shutdown()

    with srv.smtp() as s:
        s.mail("guest@example.org")
        code, text = s.rcpt(AN)
        assert code == 550 and b"5.1.1" in text, (code, text)

    entries = json.loads(cli(srv, "audit", "list", "--json").stdout)
    purges = [e for e in entries if e["action"] == "mailbox.purge" and e["target"] == AN]
    assert len(purges) == 1, entries
    assert "retention" in purges[0]["actor"] and "2 messages removed" in purges[0]["detail"], purges[0]

    again = cli(srv, "mailbox", "purge", "--address", AN, expect=1)
    assert "purged" in again.stderr, again.stderr

    unit = json.loads(cli(srv, "unit", "add", "--name", "Văn phòng UBND", "--kind", "other", "--json").stdout)
    added = cli(srv, "mailbox", "add", "--name", "Nguyễn Văn An", "--unit", str(unit["id"]))
    assert AN not in added.stdout and f"annv01@{DOMAIN}" in added.stdout, added.stdout
