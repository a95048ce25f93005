"""Units, mailboxes and their lifecycle, requests and the audit log, through the real binary (issue 5).

R-ACC-1 (units), R-ACC-3 (generated addresses), R-ACC-5 (suspend / revoke / restore seen from IMAP and
SMTP), R-ACC-6 (a request filed by a unit IT contact and approved by the operator), R-POL-1 (weak and
reused passwords refused with every rule named), R-POL-10 (the audit chain detects an edited row).
The CLI changes the database while `congvu serve` runs: the servers read accounts per login / RCPT.
"""

from __future__ import annotations

import imaplib
import json
import re
import sqlite3

import pytest

from harness import DOMAIN, PASSWORD, make_message, run_cli, wait_for_count

OUTSIDE = "sender@example.org"


def cli(srv, *args: str, expect: int = 0):
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:], env=srv.env() if srv.ports else None)
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def cli_json(srv, *args: str):
    return json.loads(cli(srv, *args, "--json").stdout)


def printed(stdout: str, label: str) -> str:
    m = re.search(rf"^{label}:\s*(\S+)\s*$", stdout, re.MULTILINE)
    assert m, f"no `{label}: …` line in:\n{stdout}"
    return m.group(1)


def imap_login_fails(srv, address: str) -> bytes:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    try:
        with pytest.raises(imaplib.IMAP4.error) as e:
            c.login(address, srv.passwords[address])
        return str(e.value).encode()
    finally:
        try:
            c.logout()
        except Exception:
            pass


def test_unit_and_person_addresses(make_server):
    srv = make_server(mailboxes={}, start=False)
    r = cli(srv, "unit", "add", "--name", "Sở Thông tin và Truyền thông", "--kind", "department")
    assert printed(r.stdout, "address") == f"stttt@{DOMAIN}"
    unit_pw = printed(r.stdout, "password")
    assert len(unit_pw) >= 8 and unit_pw not in (srv.dir / "data" / "congvu.db").read_bytes().decode("latin-1")

    district = cli_json(srv, "unit", "add", "--name", "Huyện Lục Nam", "--kind", "district")
    division = cli_json(srv, "unit", "add", "--name", "Phòng Nội vụ", "--kind", "division", "--parent", str(district["id"]))
    assert division["address"] == f"pnv.{district['address']}"
    tree = cli_json(srv, "unit", "list")
    depth = {u["name"]: u["depth"] for u in tree}
    assert depth == {"Sở Thông tin và Truyền thông": 0, "Huyện Lục Nam": 0, "Phòng Nội vụ": 1}, tree

    first = cli(srv, "mailbox", "add", "--name", "Nguyễn Văn An", "--unit", "stttt", "--title", "Chuyên viên")
    assert printed(first.stdout, "address") == f"annv@{DOMAIN}"
    assert "password:" in first.stdout
    second = cli_json(srv, "mailbox", "add", "--name", "Nguyễn Văn An", "--unit", f"stttt@{DOMAIN}")
    assert second["address"] == f"annv01@{DOMAIN}"
    shown = cli_json(srv, "mailbox", "show", "--address", f"annv@{DOMAIN}")
    assert shown["title"] == "Chuyên viên" and shown["must_change_password"] is True
    assert shown["unit_name"] == "Sở Thông tin và Truyền thông"
    listed = cli_json(srv, "mailbox", "list", "--unit", "stttt")
    assert {m["address"] for m in listed} == {f"stttt@{DOMAIN}", f"annv@{DOMAIN}", f"annv01@{DOMAIN}"}

    # Unknown kind: a usage error naming the accepted words.
    bad = cli(srv, "unit", "add", "--name", "Gì đó", "--kind", "tinhthanh", expect=2)
    assert "district" in bad.stderr


def test_passwords_are_checked(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, start=False)
    a = f"annv@{DOMAIN}"
    weak = cli(srv, "mailbox", "passwd", "--address", a, "--password", "abc", expect=2)
    for rule in ("8 characters", "uppercase", "digit", "special"):
        assert rule in weak.stderr, weak.stderr
    # The current password counts as used.
    reused = cli(srv, "mailbox", "passwd", "--address", a, "--password", PASSWORD, expect=2)
    assert "last 5" in reused.stderr
    cli(srv, "mailbox", "passwd", "--address", a, "--password", "Moi-Mat-Khau-1")
    cli(srv, "mailbox", "passwd", "--address", a, "--password", PASSWORD, expect=2)
    reset = cli(srv, "mailbox", "reset-password", "--address", a)
    assert printed(reset.stdout, "password")
    assert cli_json(srv, "mailbox", "show", "--address", a)["password_state"] == "must be changed at next login"


def test_suspend_revoke_restore_seen_by_imap_and_smtp(make_server):
    srv = make_server()
    a = f"annv@{DOMAIN}"
    srv.deliver(OUTSIDE, [a], make_message("Trước khi khóa", OUTSIDE, a))
    wait_for_count(srv, a, 1)

    cli(srv, "mailbox", "suspend", "--address", a, "--reason", "nghỉ phép")
    assert imap_login_fails(srv, a)
    # Suspended still receives mail: nothing is lost.
    srv.deliver(OUTSIDE, [a], make_message("Trong khi khóa", OUTSIDE, a))
    cli(srv, "mailbox", "suspend", "--address", a, expect=1)  # not twice

    cli(srv, "mailbox", "revoke", "--address", a, "--reason", "chuyển công tác")
    assert imap_login_fails(srv, a)
    with srv.smtp() as s:
        assert s.mail(OUTSIDE)[0] == 250
        code, msg = s.rcpt(a)
        assert code == 550 and msg.startswith(b"5.2.1"), (code, msg)

    cli(srv, "mailbox", "restore", "--address", a)
    srv.deliver(OUTSIDE, [a], make_message("Sau khi khôi phục", OUTSIDE, a))
    assert wait_for_count(srv, a, 3) == 3  # the content was kept through revocation

    history = cli_json(srv, "mailbox", "show", "--address", a)["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        ("active", "suspended"),
        ("suspended", "revoked"),
        ("revoked", "active"),
    ]


def test_request_filed_by_unit_contact_and_approved(make_server):
    srv = make_server(mailboxes={"binhtt": "Trần Thị Bình", "cuongnv": "Nguyễn Văn Cường"}, start=False)
    operator = f"postmaster@{DOMAIN}"
    district = cli_json(srv, "unit", "add", "--name", "Huyện Lục Nam", "--kind", "district")
    other = cli_json(srv, "unit", "add", "--name", "Sở Y tế", "--kind", "department")
    contact = f"binhtt@{DOMAIN}"
    cli(srv, "unit", "contact", "--unit", district["address"], "--address", contact)

    # Not a contact at all, and a contact outside their unit: refused.
    cli(srv, "request", "file", "--kind", "new-mailbox", "--by", f"cuongnv@{DOMAIN}", "--unit",
        str(district["id"]), "--name", "Trần Thị Thu Hà", expect=1)
    cli(srv, "request", "file", "--kind", "new", "--by", contact, "--unit", str(other["id"]),
        "--name", "Trần Thị Thu Hà", expect=1)

    filed = cli_json(srv, "request", "file", "--kind", "new-mailbox", "--by", contact, "--unit",
                     str(district["id"]), "--name", "Trần Thị Thu Hà", "--reason", "cán bộ mới")
    assert filed["status"] == "pending"
    pending = cli_json(srv, "request", "list", "--status", "pending")
    assert [p["id"] for p in pending] == [filed["id"]]

    # Only the operator approves.
    cli(srv, "request", "approve", str(filed["id"]), "--by", contact, expect=1)
    done = cli_json(srv, "request", "approve", str(filed["id"]), "--by", operator)
    assert done["status"] == "done" and done["result"] == f"hattt@{DOMAIN}" and done["password"]
    cli(srv, "request", "approve", str(filed["id"]), "--by", operator, expect=1)  # decided once
    shown = cli_json(srv, "mailbox", "show", "--address", f"hattt@{DOMAIN}")
    assert shown["unit"] == district["id"]

    # A suspension request, rejected with a reason, changes nothing.
    sus = cli_json(srv, "request", "file", "--kind", "suspend", "--by", contact, "--mailbox", f"hattt@{DOMAIN}")
    cli(srv, "request", "reject", str(sus["id"]), "--by", operator, "--reason", "chưa đủ căn cứ")
    assert cli_json(srv, "mailbox", "show", "--address", f"hattt@{DOMAIN}")["state"] == "active"

    audit = cli_json(srv, "audit", "list")
    created = [e for e in audit if e["action"] == "mailbox.add" and e["target"] == f"hattt@{DOMAIN}"]
    assert len(created) == 1, audit
    assert created[0]["requested_by"] == contact and created[0]["approved_by"] == operator


def test_audit_verify_detects_an_edited_row(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, start=False)
    a = f"annv@{DOMAIN}"
    cli(srv, "mailbox", "suspend", "--address", a, "--reason", "kiểm tra")
    cli(srv, "mailbox", "resume", "--address", a)
    cli(srv, "mailbox", "revoke", "--address", a, "--reason", "nghỉ hưu")
    ok = cli(srv, "audit", "verify")
    assert "intact" in ok.stdout
    entries = cli_json(srv, "audit", "list")
    target = next(e for e in entries if e["action"] == "mailbox.revoke")

    db = sqlite3.connect(srv.dir / "data" / "congvu.db")
    try:
        # The table refuses edits by itself …
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET detail = 'không có gì' WHERE id = ?", (target["id"],))
        # … and an edit made after dropping the guard is caught by the chain.
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET actor = 'ai-do' WHERE id = ?", (target["id"],))
        db.commit()
    finally:
        db.close()
    broken = cli(srv, "audit", "verify", expect=1)
    assert f"entry {target['id']}" in broken.stderr, broken.stderr
