"""mbsync (isync) against the real binary over IMAPS (issue 3 "How it is checked").

- 300 varied messages (gen_mbox.py: Vietnamese RFC 2047 headers, 8bit/QP/base64 bodies, attachments, nested
  message/rfc822, threads) are APPENDed (APPEND stores the bytes exactly, no trace headers), then mbsync pulls
  INBOX into an empty Maildir: every message arrives byte-identical (Maildir keeps LF line ends, so the sent
  CRLF bytes with CRLF→LF are compared, after removing the one X-TUID field mbsync adds for itself).
- 300 other messages in a local Maildir are pushed to a new remote folder (mbsync creates it) and fetched
  with imaplib: byte-identical to the local files with LF→CRLF.
- Flags sync both ways (\\Seen, \\Flagged); a deletion on either side reaches the other.

mbsync verifies the server certificate against the installation's own self-signed certificate
(`CertificateFile`; its SANs include 127.0.0.1) and logs in with LOGIN inside TLS.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import DOMAIN, PASSWORD, fetch_all, quote

GEN_MBOX = Path(os.environ.get("CONGVU_PEERS", "/work/shared/peers")) / "gen_mbox.py"
USER = f"annv@{DOMAIN}"
COUNT = 300

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None, reason="isync (mbsync) is not installed")


def generate(tmp: Path) -> list[bytes]:
    """2 × COUNT messages from gen_mbox.py, as CRLF bytes.

    gen_mbox's .docx attachments are random bytes behind a zip signature: the attachment policy (R-POL-3)
    rightly refuses them as unreadable archives on APPEND, so those messages are left out.
    """
    assert GEN_MBOX.is_file(), f"{GEN_MBOX} is missing"
    out = tmp / "sample.mbox"
    subprocess.run([sys.executable, str(GEN_MBOX), str(out), str(8 * COUNT // 3)], check=True, capture_output=True)
    box = mailbox.mbox(out)
    msgs = [box.get_bytes(k).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for k in box.keys()]
    box.close()
    msgs = [m for m in msgs if b"wordprocessingml" not in m][: 2 * COUNT]
    assert len(msgs) == 2 * COUNT
    return msgs


def write_config(srv, tmp: Path) -> Path:
    conf = tmp / "mbsyncrc"
    conf.write_text(
        f"""
IMAPAccount congvu
Host 127.0.0.1
Port {srv.ports["imaps"]}
User {USER}
Pass {PASSWORD}
SSLType IMAPS
CertificateFile {srv.cert}
AuthMechs LOGIN
Timeout 60

IMAPStore remote
Account congvu

MaildirStore local
Path {tmp}/mail/
Inbox {tmp}/mail/INBOX
SubFolders Verbatim

MaildirStore outbox
Path {tmp}/outbox/
Inbox {tmp}/outbox/INBOX
SubFolders Verbatim

Channel inbox
Far :remote:INBOX
Near :local:INBOX
Create Near
Sync All
Expunge Both
SyncState *

Channel push
Far :remote:Pushed
Near :outbox:INBOX
Create Far
Sync All
Expunge Both
SyncState *
""",
        encoding="utf-8",
    )
    return conf


def mbsync(conf: Path, channel: str) -> None:
    r = subprocess.run(["mbsync", "-c", str(conf), channel], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"mbsync {channel} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"


def without_tuid(message: bytes) -> bytes:
    """The message without the one `X-TUID:` header field mbsync itself inserts into messages it stores
    (its own bookkeeping to recognise what it propagated); everything else must be untouched."""
    head, sep, body = message.partition(b"\n\n")
    lines = head.split(b"\n")
    kept = [ln for ln in lines if not ln.startswith(b"X-TUID: ")]
    assert len(lines) - len(kept) <= 1, head
    return b"\n".join(kept) + sep + body


def maildir_files(folder: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).iterdir() if p.is_file())


def maildir_flags(path: Path) -> str:
    _, _, info = path.name.partition(":2,")
    return info


def set_maildir_flags(path: Path, flags: str) -> Path:
    base = path.name.split(":2,")[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(flags))}"
    path.rename(target)
    return target


def uid_of(path: Path) -> int:
    m = re.search(r",U=(\d+)", path.name)
    assert m, path.name
    return int(m.group(1))


def server_flags(conn, uid: int) -> str:
    typ, data = conn.uid("FETCH", str(uid), "(FLAGS)")
    assert typ == "OK" and data and data[0], data
    return data[0].decode()


def test_mbsync_pull_push_flags_deletions(make_server, tmp_path):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"})
    msgs = generate(tmp_path)
    pulled_src, pushed_src = msgs[:COUNT], msgs[COUNT:]

    # APPEND the first 300 (bytes stored exactly as sent).
    with srv.imap(USER) as c:
        for m in pulled_src:
            typ, data = c.append("INBOX", "", None, m)
            assert typ == "OK", data
        c.logout()

    conf = write_config(srv, tmp_path)
    (tmp_path / "mail").mkdir()

    # Pull into an empty Maildir.
    mbsync(conf, "inbox")
    files = maildir_files(tmp_path / "mail" / "INBOX")
    assert len(files) == COUNT
    got = sorted(without_tuid(p.read_bytes()) for p in files)
    want = sorted(m.replace(b"\r\n", b"\n") for m in pulled_src)
    assert got == want, "pulled messages differ from the ones appended"

    # Push 300 local messages to a new remote folder.
    outbox = tmp_path / "outbox" / "INBOX"
    for sub in ("cur", "new", "tmp"):
        (outbox / sub).mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(pushed_src):
        (outbox / "new" / f"1700000000.{i}_{os.getpid()}.congvu-test").write_bytes(m.replace(b"\r\n", b"\n"))
    mbsync(conf, "push")
    with srv.imap(USER) as c:
        stored = fetch_all(c, "Pushed")
        c.logout()
    assert len(stored) == COUNT
    got = sorted(without_tuid(m.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n") for m in stored.values())
    assert got == sorted(pushed_src), "pushed messages differ on the server"

    # Flags, local → server.
    files = maildir_files(tmp_path / "mail" / "INBOX")
    seen_local = set_maildir_flags(files[0], "S")
    flagged_local = set_maildir_flags(files[1], "FS")
    mbsync(conf, "inbox")
    with srv.imap(USER) as c:
        c.select("INBOX")
        f0 = server_flags(c, uid_of(seen_local))
        assert "\\Seen" in f0 and "\\Flagged" not in f0, f0
        f1 = server_flags(c, uid_of(flagged_local))
        assert "\\Seen" in f1 and "\\Flagged" in f1, f1
        # Flags, server → local: flag one, mark another seen, take \Seen off the first.
        u2, u3 = uid_of(files[2]), uid_of(files[3])
        assert c.uid("STORE", str(u2), "+FLAGS", "(\\Flagged)")[0] == "OK"
        assert c.uid("STORE", str(u3), "+FLAGS", "(\\Seen)")[0] == "OK"
        assert c.uid("STORE", str(uid_of(seen_local)), "-FLAGS", "(\\Seen)")[0] == "OK"
        c.logout()
    mbsync(conf, "inbox")
    by_uid = {uid_of(p): p for p in maildir_files(tmp_path / "mail" / "INBOX")}
    assert maildir_flags(by_uid[u2]) == "F", by_uid[u2].name
    assert maildir_flags(by_uid[u3]) == "S", by_uid[u3].name
    assert maildir_flags(by_uid[uid_of(seen_local)]) == "", by_uid[uid_of(seen_local)].name

    # Deletion, local → server.
    gone_local = by_uid[uid_of(files[4])]
    gone_uid = uid_of(gone_local)
    gone_local.unlink()
    mbsync(conf, "inbox")
    with srv.imap(USER) as c:
        typ, data = c.select("INBOX")
        assert int(data[0]) == COUNT - 1, data
        typ, data = c.uid("SEARCH", f"UID {gone_uid}")
        assert data == [b""], data
        # Deletion, server → local.
        victim = uid_of(files[5])
        assert c.uid("STORE", str(victim), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
        c.logout()
    mbsync(conf, "inbox")
    left = {uid_of(p) for p in maildir_files(tmp_path / "mail" / "INBOX")}
    assert victim not in left and gone_uid not in left and len(left) == COUNT - 2, len(left)
    with srv.imap(USER) as c:
        typ, data = c.status(quote("INBOX"), "(MESSAGES)")
        assert f"MESSAGES {COUNT - 2}".encode() in data[0], data
        c.logout()
