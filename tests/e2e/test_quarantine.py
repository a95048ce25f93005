"""Quarantine, purge and operator forwarding through the real binary (issue 6 items 4, 6, 9).

- R-POL-7 / R-POL-3: mail from outside with a state-secret mark is accepted (250), kept out of every mailbox,
  listed by `congvu quarantine list`, announced to the postmaster by mail, then released into the recipient's INBOX
  or deleted; each action is in the audit log.
- R-POL-7 purge: `congvu purge --message-id` removes every copy, an open IMAP session sees EXPUNGE on NOOP, and the
  report names each place; `--hash` removes a held copy from the quarantine.
- R-POL-6: `congvu mailbox forward` refuses targets outside the government domains (exit 2) and, inside them,
  delivers a copy to the target while the mailbox keeps its own.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import smtplib
import time
from email.message import EmailMessage

from harness import DOMAIN, fetch_all, run_cli

AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"
CHINH = f"chinhlv@{DOMAIN}"
POSTMASTER = f"postmaster@{DOMAIN}"
OUTSIDE = "nguoigui@example.org"


def letter(subject: str, body: str, to: str = BINH, msgid: str | None = None) -> bytes:
    m = EmailMessage()
    m["From"] = OUTSIDE
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = msgid or f"<{time.time_ns()}@example.org>"
    m.set_content(body)
    return m.as_bytes(policy=email.policy.SMTP)


def send_mx(server, rcpts: list[str], data: bytes) -> tuple[int, bytes]:
    """One transaction on port 25; returns the reply to the end of DATA."""
    with server.smtp() as s:
        code, _ = s.mail(OUTSIDE)
        assert code == 250
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
        return s.data(data)


def cli(server, *args: str):
    return run_cli(server.binary, *args, "--config", str(server.config))


def cli_json(server, *args: str):
    r = cli(server, *args, "--json")
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def inbox_count(server, address: str) -> int:
    c = server.imap(address)
    try:
        typ, data = c.select("INBOX", readonly=True)
        assert typ == "OK", data
        return int(data[0])
    finally:
        c.logout()


def wait_count(server, address: str, want: int) -> None:
    deadline = time.monotonic() + 20
    while (n := inbox_count(server, address)) != want:
        assert time.monotonic() < deadline, f"{address}: {n} messages, expected {want}"
        time.sleep(0.1)


def blob_on_disk(server, hash_hex: str) -> bool:
    return (server.blob_dir / hash_hex[:2] / hash_hex).is_file()


def audit_actions(server) -> list[dict]:
    return cli_json(server, "audit", "list")


def test_secret_mark_held_listed_alerted_released_and_deleted(server):
    code, text = send_mx(server, [BINH], letter("[TỐI MẬT] Kế hoạch phòng thủ", "Kính gửi anh Bình.", msgid="<mat-1@example.org>"))
    assert code == 250, text
    assert inbox_count(server, BINH) == 0

    held = cli_json(server, "quarantine", "list")
    assert len(held) == 1, held
    q = held[0]
    assert q["mail_from"] == OUTSIDE and q["recipients"] == [BINH], q
    assert "TỐI MẬT" in q["reason"] and "R-POL-7" in q["reason"], q
    assert q["message_id"] == "mat-1@example.org" and q["source"] == "mx", q
    # The plain listing has the id, sender, recipients and reason on one line.
    r = cli(server, "quarantine", "list")
    assert r.returncode == 0 and re.search(rf"^{q['id']}\t[^\t]+\t{OUTSIDE}\t{BINH}\t.*TỐI MẬT", r.stdout, re.M), r.stdout

    # The operator was told by mail: which message, from whom, to whom, why.
    with server.imap(POSTMASTER) as c:
        alerts = [email.message_from_bytes(m, policy=email.policy.default) for m in fetch_all(c).values()]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert f"#{q['id']}" in str(alert["Subject"]), alert["Subject"]
    body = alert.get_content()
    for needle in (OUTSIDE, BINH, "TỐI MẬT", "<mat-1@example.org>", f"quarantine release --config FILE {q['id']}"):
        assert needle in body, (needle, body)

    # Release: into the recipient's INBOX, exactly the message that came in.
    r = cli(server, "quarantine", "release", str(q["id"]))
    assert r.returncode == 0 and f"delivered: {BINH}" in r.stdout, (r.stdout, r.stderr)
    assert inbox_count(server, BINH) == 1
    with server.imap(BINH) as c:
        (stored,) = fetch_all(c).values()
    assert b"mat-1@example.org" in stored and "Kính gửi anh Bình.".encode() in stored.replace(b"=\r\n", b"")
    assert cli_json(server, "quarantine", "list") == []
    # Released once: a second release is refused and delivers nothing.
    r = cli(server, "quarantine", "release", str(q["id"]))
    assert r.returncode == 1 and "no quarantined message" in r.stderr, (r.returncode, r.stderr)

    # Another one is deleted: gone from the quarantine, never delivered.
    code, text = send_mx(server, [BINH, AN], letter("[TỐI MẬT] Danh sách", "Đóng dấu mật.", msgid="<mat-2@example.org>"))
    assert code == 250, text
    (q2,) = cli_json(server, "quarantine", "list")
    assert q2["recipients"] == [BINH, AN], q2
    assert blob_on_disk(server, q2["blob"])
    deleted = cli_json(server, "quarantine", "delete", str(q2["id"]))
    assert deleted["deleted"] is True
    # Nothing else holds it: the file goes too.
    assert not blob_on_disk(server, q2["blob"])
    assert cli_json(server, "quarantine", "list") == []
    assert inbox_count(server, BINH) == 1 and inbox_count(server, AN) == 0

    entries = audit_actions(server)
    release = [e for e in entries if e["action"] == "quarantine.release"]
    delete = [e for e in entries if e["action"] == "quarantine.delete"]
    assert len(release) == 1 and release[0]["target"] == f"quarantine #{q['id']}", release
    assert BINH in release[0]["detail"] and release[0]["role"] == "operator", release
    assert len(delete) == 1 and delete[0]["target"] == f"quarantine #{q2['id']}", delete
    r = cli(server, "audit", "verify")
    assert r.returncode == 0, r.stderr


def test_unknown_quarantine_id_is_an_error(server):
    r = cli(server, "quarantine", "delete", "4242")
    assert r.returncode == 1 and "no quarantined message with id 4242" in r.stderr, (r.returncode, r.stderr)


def test_purge_removes_every_copy_and_open_sessions_see_it(make_server):
    server = make_server(mailboxes={"annv": "Nguyễn Văn An", "binhtt": "Trần Thị Bình", "chinhlv": "Lê Văn Chính"})
    keep = letter("Lịch họp", "Họp lúc 8 giờ.", to=AN, msgid="<giu-lai@example.org>")
    leaked = letter("Báo cáo tháng", "Số liệu nội bộ.", to=AN, msgid="<ro-ri@example.org>")
    assert send_mx(server, [AN], keep)[0] == 250
    assert send_mx(server, [AN, BINH, CHINH], leaked)[0] == 250
    for who, n in ((AN, 2), (BINH, 1), (CHINH, 1)):
        assert inbox_count(server, who) == n

    watcher = server.imap(AN)
    try:
        typ, data = watcher.select("INBOX")
        assert typ == "OK" and int(data[0]) == 2, data

        r = cli(server, "purge", "--message-id", "<ro-ri@example.org>")
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert re.search(r"^[1-9]\d* message files \(\d+ bytes\) removed from disk$", r.stdout, re.M), r.stdout
        removed = re.findall(r"^removed: (\S+)\t(\S+)\tuid (\d+)$", r.stdout, re.M)
        assert sorted((m, f) for m, f, _ in removed) == sorted([(AN, "INBOX"), (BINH, "INBOX"), (CHINH, "INBOX")]), r.stdout
        assert ("annv@" + DOMAIN, "INBOX", "2") in removed, removed

        # The open session learns of it (RFC 9051 §7.5.1: sequence number 2 went). The purge ran in
        # another process (the CLI): the server notices such commits within a second
        # (store::sqlite::heads::WATCH_INTERVAL), so NOOP is repeated for up to 5 s.
        deadline = time.monotonic() + 5
        while True:
            typ, _ = watcher.noop()
            assert typ == "OK"
            typ, expunged = watcher.response("EXPUNGE")
            if expunged != [None] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert expunged == [b"2"], expunged
        typ, data = watcher.uid("SEARCH", "ALL")
        assert typ == "OK" and data[0].split() == [b"1"], data
    finally:
        watcher.logout()
    assert inbox_count(server, AN) == 1 and inbox_count(server, BINH) == 0 and inbox_count(server, CHINH) == 0

    (entry,) = [e for e in audit_actions(server) if e["action"] == "message.purge"]
    assert entry["target"] == "message-id <ro-ri@example.org>", entry
    for who in (AN, BINH, CHINH):
        assert f"{who} INBOX uid" in entry["detail"], entry

    # Nothing left: a second purge says so (exit 1) and writes no entry.
    r = cli(server, "purge", "--message-id", "ro-ri@example.org")
    assert r.returncode == 1 and "in no mailbox" in r.stderr, (r.returncode, r.stderr)
    assert len([e for e in audit_actions(server) if e["action"] == "message.purge"]) == 1


def test_purge_by_hash_takes_a_held_message_out_of_the_quarantine(server):
    assert send_mx(server, [BINH], letter("[TỐI MẬT] Phương án", "Mật.", msgid="<mat-3@example.org>"))[0] == 250
    (q,) = cli_json(server, "quarantine", "list")
    assert blob_on_disk(server, q["blob"])
    report = cli_json(server, "purge", "--hash", q["blob"])
    assert report["quarantined"] == [q["id"]] and report["copies"] == [], report
    assert report["files_removed"] >= 1 and not blob_on_disk(server, q["blob"]), report
    assert cli_json(server, "quarantine", "list") == []
    r = cli(server, "purge", "--hash", "xyz")
    assert r.returncode == 2 and "64 hexadecimal digits" in r.stderr, (r.returncode, r.stderr)


def test_forwarding_only_inside_government_domains(server):
    r = cli(server, "mailbox", "forward", "--address", AN, "--to", "someone@gmail.com")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "someone@gmail.com" in r.stderr and "R-POL-6" in r.stderr and "gov.vn" in r.stderr, r.stderr
    assert cli_json(server, "mailbox", "forward", "--address", AN)["forwards"] == []
    r = cli(server, "mailbox", "forward", "--address", AN, "--to", f"khongco@{DOMAIN}")
    assert r.returncode == 2 and "no such mailbox" in r.stderr, (r.returncode, r.stderr)

    r = cli(server, "mailbox", "forward", "--address", AN, "--to", BINH)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert cli_json(server, "mailbox", "show", "--address", AN)["forwards"] == [BINH]
    r = cli(server, "mailbox", "show", "--address", AN)
    assert f"forward: {BINH}" in r.stdout, r.stdout

    assert send_mx(server, [AN], letter("Giấy mời", "Mời anh dự họp.", to=AN, msgid="<moi-hop@example.org>"))[0] == 250
    wait_count(server, AN, 1)
    wait_count(server, BINH, 1)
    with server.imap(BINH) as c:
        (copy,) = fetch_all(c).values()
    assert b"moi-hop@example.org" in copy

    # Undone: the next letter stays with annv only.
    r = cli(server, "mailbox", "forward", "--address", AN, "--remove", BINH)
    assert r.returncode == 0, r.stderr
    assert cli_json(server, "mailbox", "forward", "--address", AN)["forwards"] == []
    assert send_mx(server, [AN], letter("Giấy mời 2", "Lần hai.", to=AN))[0] == 250
    wait_count(server, AN, 2)
    assert inbox_count(server, BINH) == 1

    actions = [(e["action"], e["target"], e["detail"]) for e in audit_actions(server)]
    assert ("mailbox.forward.add", AN, f"to {BINH}") in actions, actions
    assert ("mailbox.forward.remove", AN, f"to {BINH}") in actions, actions
    assert not any("gmail" in d for _, _, d in actions), actions
