"""IMAP against the real server with imaplib, raw sockets (IDLE) and curl.

Checks RFC 9051 / RFC 3501 behaviour real clients rely on: LOGIN, LIST with RFC 6154 special-use attributes,
mailbox names in modified UTF-7 (RFC 3501 §5.1.3) with Vietnamese text, APPEND/FETCH byte equality,
STORE/FLAGS, COPY, MOVE (RFC 6851), EXPUNGE, SEARCH, IMAPS, STARTTLS, IDLE (RFC 2177).
"""

from __future__ import annotations

import imaplib
import re
import socket
import subprocess

import pytest

from harness import (
    DOMAIN,
    LineReader,
    decode_mutf7,
    encode_mutf7,
    fetch_all,
    list_folders,
    make_message,
    quote,
    status_messages,
    unverified_context,
)

ALICE = f"annv@{DOMAIN}"
OUTSIDE = "nguoigui@example.org"
FOLDER_VI = "Công văn đến"
FOLDER_VI_2 = "Công văn đi"


def append(c: imaplib.IMAP4, folder: str, msg: bytes, flags: str = "") -> int:
    """APPENDs and returns the new UID (from APPENDUID when given, else by searching)."""
    typ, data = c.append(quote(folder), flags or None, None, msg)
    assert typ == "OK", data
    m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
    if m:
        return int(m.group(1))
    c.select(quote(folder))
    typ, data = c.uid("SEARCH", "ALL")
    return max(int(x) for x in data[0].split())


def uid_flags(c: imaplib.IMAP4, uid: int) -> set[str]:
    typ, data = c.uid("FETCH", str(uid), "(FLAGS)")
    assert typ == "OK", data
    m = re.search(rb"FLAGS \(([^)]*)\)", data[0])
    assert m, data
    # \Recent is session state of IMAP4rev1 (gone in rev2); the tests look at stored flags only.
    return set(m.group(1).decode().split()) - {"\\Recent"}


def test_login_good_and_bad(server):
    with server.imap(ALICE) as c:
        typ, caps = c.capability()
        assert typ == "OK"
        caps = caps[0].upper().split()
        assert any(x in caps for x in (b"IMAP4REV1", b"IMAP4REV2")), caps
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(ALICE, "Sai-Mat-Khau-1!")
    c.logout()


def test_list_special_use(server):
    with server.imap(ALICE) as c:
        typ, caps = c.capability()
        caps = caps[0].upper().split()
        assert b"SPECIAL-USE" in caps, caps
        # RFC 6154 §2: RETURN (SPECIAL-USE) needs LIST-EXTENDED; otherwise the attributes come with plain LIST
        # (which is what clients without LIST-EXTENDED, and RFC 9051 §6.3.9 servers, rely on).
        folders = list_folders(c, "SPECIAL-USE" if b"LIST-EXTENDED" in caps else "")
    assert "INBOX" in folders, folders
    wanted = {"\\sent": "Sent", "\\drafts": "Drafts", "\\junk": "Junk", "\\trash": "Trash", "\\archive": "Archive"}
    for attr, name in wanted.items():
        holders = [n for n, attrs in folders.items() if attr in attrs]
        assert holders == [name], f"{attr}: {holders} in {folders}"


def test_create_rename_delete_vietnamese_folder(server):
    with server.imap(ALICE) as c:
        typ, data = c.create(quote(encode_mutf7(FOLDER_VI)))
        assert typ == "OK", data
        assert FOLDER_VI in list_folders(c)
        typ, data = c.select(quote(encode_mutf7(FOLDER_VI)))
        assert typ == "OK" and int(data[0]) == 0, data
        c.close()
        typ, data = c.rename(quote(encode_mutf7(FOLDER_VI)), quote(encode_mutf7(FOLDER_VI_2)))
        assert typ == "OK", data
        names = list_folders(c)
        assert FOLDER_VI_2 in names and FOLDER_VI not in names, names
        typ, data = c.delete(quote(encode_mutf7(FOLDER_VI_2)))
        assert typ == "OK", data
        names = list_folders(c)
        assert FOLDER_VI_2 not in names and FOLDER_VI not in names, names
        # Deleting what no longer exists is a NO, not a crash.
        typ, _ = c.delete(quote(encode_mutf7(FOLDER_VI_2)))
        assert typ == "NO"


def test_mutf7_round_trip_helper():
    # The helper itself, against RFC 3501 §5.1.3's own example.
    assert encode_mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert decode_mutf7(encode_mutf7(FOLDER_VI)) == FOLDER_VI


def test_select_append_fetch_equal_bytes(server):
    msg = make_message("Giấy mời họp giao ban", OUTSIDE, ALICE, body="Thời gian: 8h00.\r\n" * 200)
    with server.imap(ALICE) as c:
        typ, data = c.select("INBOX")
        assert typ == "OK" and int(data[0]) == 0, data
        uid = append(c, "INBOX", msg, "(\\Seen)")
        typ, data = c.select("INBOX")
        assert int(data[0]) == 1, data
        typ, data = c.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[] FLAGS)")
        assert typ == "OK", data
        assert data[0][1] == msg
        meta = b" ".join(x[0] if isinstance(x, tuple) else x for x in data)
        assert re.search(rb"RFC822.SIZE %d\b" % len(msg), meta), meta
        assert uid_flags(c, uid) == {"\\Seen"}
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK"
        assert data[0][1].lower().startswith(b"message-id: <"), data


def test_flags_store(server):
    with server.imap(ALICE) as c:
        uid = append(c, "INBOX", make_message("co", OUTSIDE, ALICE))
        c.select("INBOX")
        assert uid_flags(c, uid) == set()
        typ, _ = c.uid("STORE", str(uid), "+FLAGS", "(\\Flagged \\Seen)")
        assert typ == "OK"
        assert uid_flags(c, uid) == {"\\Flagged", "\\Seen"}
        typ, _ = c.uid("STORE", str(uid), "-FLAGS.SILENT", "(\\Seen)")
        assert typ == "OK"
        assert uid_flags(c, uid) == {"\\Flagged"}
        typ, _ = c.uid("STORE", str(uid), "FLAGS", "($Label1)")
        assert typ == "OK"
        assert uid_flags(c, uid) == {"$Label1"}
    # Flags are stored, not per session.
    with server.imap(ALICE) as c:
        c.select("INBOX")
        assert uid_flags(c, uid) == {"$Label1"}


def test_copy_move_expunge(server):
    target = encode_mutf7(FOLDER_VI)
    with server.imap(ALICE) as c:
        assert c.create(quote(target))[0] == "OK"
        msgs = [make_message(f"thu {i}", OUTSIDE, ALICE, body=f"so {i}\r\n") for i in range(3)]
        for m in msgs:
            append(c, "INBOX", m)
        c.select("INBOX")
        typ, data = c.uid("SEARCH", "ALL")
        uids = [int(x) for x in data[0].split()]
        assert len(uids) == 3
        # COPY the first: both folders hold it.
        typ, data = c.uid("COPY", str(uids[0]), quote(target))
        assert typ == "OK", data
        assert status_messages(c, target) == 1
        # MOVE the second: it leaves INBOX.
        c.untagged_responses.pop("EXPUNGE", None)
        typ, data = c.uid("MOVE", str(uids[1]), quote(target))
        assert typ == "OK", data
        assert c.untagged_responses.pop("EXPUNGE", None) == [b"2"]  # RFC 6851 §3.3
        typ, data = c.uid("SEARCH", "ALL")
        assert [int(x) for x in data[0].split()] == [uids[0], uids[2]]
        # EXPUNGE the third.
        assert c.uid("STORE", str(uids[2]), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
        typ, data = c.expunge()
        assert typ == "OK"
        assert data == [b"2"], data  # sequence number of the expunged message
        typ, data = c.uid("SEARCH", "ALL")
        assert [int(x) for x in data[0].split()] == [uids[0]]
        c.close()
        moved = fetch_all(c, target)
        assert sorted(moved.values()) == sorted([msgs[0], msgs[1]])
        assert list(fetch_all(c, "INBOX").values()) == [msgs[0]]


def test_search(server):
    with server.imap(ALICE) as c:
        a = append(c, "INBOX", make_message("Báo cáo tháng 11", "ketoan@example.org", ALICE), "(\\Seen)")
        b = append(c, "INBOX", make_message("Giấy mời", "vanthu@example.org", ALICE))
        c.select("INBOX")

        def search(*crit) -> set[int]:
            typ, data = c.uid("SEARCH", *crit)
            assert typ == "OK", data
            return {int(x) for x in data[0].split()}

        assert search("ALL") == {a, b}
        assert search("UNSEEN") == {b}
        assert search("SEEN") == {a}
        assert search("FROM", "ketoan") == {a}
        assert search("HEADER", "Message-ID", "client.example.org") == {a, b}
        c.literal = "cáo tháng".encode()
        typ, data = c.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT")
        assert typ == "OK", data
        assert {int(x) for x in data[0].split()} == {a}
        assert search("SUBJECT", "khongcodau") == set()


def test_imaps(server):
    c = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=unverified_context(), timeout=10)
    try:
        assert c.login(ALICE, server.passwords[ALICE])[0] == "OK"
        assert "INBOX" in list_folders(c)
    finally:
        c.logout()


def test_starttls(server):
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    try:
        assert "STARTTLS" in c.capabilities
        typ, _ = c.starttls(ssl_context=unverified_context())
        assert typ == "OK"
        assert "STARTTLS" not in c.capabilities
        assert c.login(ALICE, server.passwords[ALICE])[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
    finally:
        c.logout()


def test_idle_push_on_smtp_delivery(server):
    sock = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10)
    r = LineReader(sock)
    with sock:
        assert r.line().startswith(b"* OK")
        pw = server.passwords[ALICE].replace("\\", "\\\\").replace('"', '\\"')
        sock.sendall(f'a1 LOGIN "{ALICE}" "{pw}"\r\n'.encode())
        assert r.until_tagged(b"a1")[-1].startswith(b"a1 OK")
        sock.sendall(b"a2 SELECT INBOX\r\n")
        lines = r.until_tagged(b"a2")
        assert lines[-1].startswith(b"a2 OK"), lines
        assert b"* 0 EXISTS" in lines, lines
        sock.sendall(b"a3 IDLE\r\n")
        assert r.line().startswith(b"+"), "no continuation for IDLE"
        server.deliver(OUTSIDE, [ALICE], make_message("đẩy ngay", OUTSIDE, ALICE))
        got = []
        while b"* 1 EXISTS" not in got:
            got.append(r.line(timeout=5.0))  # raises TimeoutError when no push arrives in time
        sock.sendall(b"DONE\r\n")
        assert r.until_tagged(b"a3")[-1].startswith(b"a3 OK")
        sock.sendall(b"a4 LOGOUT\r\n")
        assert r.until_tagged(b"a4")[-1].startswith(b"a4 OK")


def test_curl_list_and_fetch(server):
    msg = make_message("qua curl", OUTSIDE, ALICE)
    server.deliver(OUTSIDE, [ALICE], msg)
    base = f"imap://127.0.0.1:{server.ports['imap']}"
    user = ["--user", f"{ALICE}:{server.passwords[ALICE]}", "--max-time", "20", "-sS"]
    r = subprocess.run(["curl", *user, f"{base}/"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    listing = r.stdout.decode()
    assert re.search(r"\* LIST \([^)]*\) \S+ \"?INBOX\"?", listing), listing
    assert "Sent" in listing
    r = subprocess.run(["curl", *user, f"{base}/INBOX;MAILINDEX=1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(msg), r.stdout[:500]
