"""`congvu mailbox grant / grants / revoke-grant` through the real binary, seen from IMAP (issue 3 §2).

A unit mailbox granted to a keeper appears in the keeper's LIST as `Shared/<unit address>/INBOX` and can be
selected with the keeper's own login; rights are RFC 4314 letters (others refused with exit 2 and a sentence);
unknown mailboxes and users are refused with exit 2; every change is in the audit log; after revoke-grant the
folder is gone from LIST and SELECT answers NO.
"""

from __future__ import annotations

import imaplib
import json

from harness import DOMAIN, list_folders, make_message, quote, run_cli, wait_for_count

UNIT = f"stttt@{DOMAIN}"
AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"
SHARED_INBOX = f"Shared/{UNIT}/INBOX"


def cli(srv, *args: str, expect: int = 0):
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:], env=srv.env() if srv.ports else None)
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def cli_json(srv, *args: str):
    return json.loads(cli(srv, *args, "--json").stdout)


def test_grant_list_select_revoke(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An", "binhtt": "Trần Thị Bình"}, start=False)
    unit = cli_json(srv, "unit", "add", "--name", "Sở Thông tin và Truyền thông", "--kind", "department")
    assert unit["address"] == UNIT

    # Refusals, each exit 2 with a sentence naming the problem, before anything is stored.
    bad = cli(srv, "mailbox", "grant", "--mailbox", "stttt", "--to", AN, "--rights", "lrz", expect=2)
    assert "'z' is not a right" in bad.stderr and "lrswipkxtea" in bad.stderr, bad.stderr
    bad = cli(srv, "mailbox", "grant", "--mailbox", "stttt", "--to", AN, "--rights", "lrcd", expect=2)
    assert "'c' is not a right" in bad.stderr, bad.stderr
    bad = cli(srv, "mailbox", "grant", "--mailbox", "khongco", "--to", AN, "--rights", "lr", expect=2)
    assert "no such mailbox or unit" in bad.stderr, bad.stderr
    bad = cli(srv, "mailbox", "grant", "--mailbox", "stttt", "--to", f"ai@{DOMAIN}", "--rights", "lr", expect=2)
    assert f"no mailbox ai@{DOMAIN}" in bad.stderr, bad.stderr
    bad = cli(srv, "mailbox", "grant", "--mailbox", UNIT, "--to", UNIT, "--rights", "lr", expect=2)
    assert "own mailbox" in bad.stderr, bad.stderr
    assert cli_json(srv, "mailbox", "grants", "--mailbox", "stttt") == []

    # Grant by unit local part, then widen with +letters by unit address.
    g = cli_json(srv, "mailbox", "grant", "--mailbox", "stttt", "--to", "annv", "--rights", "lr")
    assert g == {"mailbox": UNIT, "to": AN, "rights": "lr", "previous": "", "imap_name": SHARED_INBOX}, g
    r = cli(srv, "mailbox", "grant", "--mailbox", UNIT, "--to", AN, "--rights", "+sw")
    assert "lrsw" in r.stdout, r.stdout
    assert cli_json(srv, "mailbox", "grants", "--mailbox", UNIT) == [{"mailbox": UNIT, "to": AN, "rights": "lrsw"}]
    assert cli_json(srv, "mailbox", "grants", "--to", AN) == [{"mailbox": UNIT, "to": AN, "rights": "lrsw"}]
    audit = [e for e in cli_json(srv, "audit", "list") if e["action"] == "mailbox.grant"]
    assert [e["target"] for e in audit] == [UNIT, UNIT], audit
    assert AN in audit[-1]["detail"] and '"lrsw"' in audit[-1]["detail"], audit[-1]

    srv.start()
    msg = make_message("Công văn số 12", "vanthu@example.org", UNIT)
    srv.deliver("vanthu@example.org", [UNIT], msg)

    # STATUS on the shared name with the keeper's login (polled, as the other tests wait for delivery).
    assert wait_for_count(srv, AN, 1, folder=SHARED_INBOX) == 1
    with srv.imap(AN) as c:
        folders = list_folders(c)
        assert SHARED_INBOX in folders, folders
        typ, data = c.select(quote(SHARED_INBOX))
        assert typ == "OK" and int(data[0]) == 1, data
        typ, data = c.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1].endswith(msg), data
        c.logout()

    # Someone without a grant does not see it and cannot select it.
    with srv.imap(BINH) as c:
        assert SHARED_INBOX not in list_folders(c)
        typ, data = c.select(quote(SHARED_INBOX))
        assert typ == "NO", data
        c.logout()

    # revoke-grant while the server runs: the next LIST and SELECT no longer see the folder.
    r = cli(srv, "mailbox", "revoke-grant", "--mailbox", "stttt", "--to", AN)
    assert "no longer holds rights" in r.stdout, r.stdout
    with srv.imap(AN) as c:
        assert SHARED_INBOX not in list_folders(c)
        typ, data = c.select(quote(SHARED_INBOX))
        assert typ == "NO", data
        c.logout()
    assert cli_json(srv, "mailbox", "grants", "--mailbox", "stttt") == []
    again = cli(srv, "mailbox", "revoke-grant", "--mailbox", "stttt", "--to", AN, expect=2)
    assert "nothing to revoke" in again.stderr, again.stderr
    actions = [e["action"] for e in cli_json(srv, "audit", "list")]
    assert actions.count("mailbox.revoke-grant") == 1, actions


def test_keeper_with_insert_right_appends_into_unit_mailbox(make_server):
    srv = make_server(mailboxes={"annv": "Nguyễn Văn An"}, start=False)
    cli_json(srv, "unit", "add", "--name", "Sở Thông tin và Truyền thông", "--kind", "department")
    cli(srv, "mailbox", "grant", "--mailbox", UNIT, "--to", AN, "--rights", "lrsi")
    srv.start()
    with srv.imap(AN) as c:
        typ, data = c.append(quote(SHARED_INBOX), "", imaplib.Time2Internaldate(0), make_message("nháp", AN, UNIT))
        assert typ == "OK", data
        c.logout()
    # Read-only now: APPEND is refused with NOPERM, the message already there stays.
    cli(srv, "mailbox", "grant", "--mailbox", UNIT, "--to", AN, "--rights", "-i")
    with srv.imap(AN) as c:
        typ, data = c.append(quote(SHARED_INBOX), "", imaplib.Time2Internaldate(0), make_message("x", AN, UNIT))
        assert typ == "NO" and b"NOPERM" in data[0], data
        c.logout()
    assert wait_for_count(srv, AN, 1, folder=SHARED_INBOX) == 1
