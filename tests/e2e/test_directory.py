"""The directory (danh bạ, R-ACC-4) through the real binary: the LDAP server read by the real `ldapsearch`
(OpenLDAP's ldap-utils), and `congvu directory export|search` read back by Python's csv module.

The province set up here: UBND tỉnh → Sở Thông tin và Truyền thông (unit mailbox stttt@) with Nguyễn Văn An,
a person whose name holds a comma and double quotes, and a revoked mailbox that must never be listed.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import socket
import subprocess
import unicodedata

import pytest

from harness import DOMAIN, PASSWORD, free_ports, run_cli

BASE = "dc=" + DOMAIN.replace(".", ",dc=")
AN = f"annv@{DOMAIN}"
AN_DN = f"mail={AN},ou=people,{BASE}"
ODD = f"hatt@{DOMAIN}"
ODD_NAME = 'Trần Thị "Bé", Hà'
GONE = f"cuonglv@{DOMAIN}"
# The province's own unit mailbox (initials of "UBND tỉnh Bắc Giang").
TOP = f"utbg@{DOMAIN}"

pytestmark = pytest.mark.skipif(shutil.which("ldapsearch") is None, reason="needs ldap-utils (ldapsearch)")


def cli(srv, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:], env=srv.env() if srv.ports else None)
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def export(srv, fmt: str, *extra: str) -> str:
    """`congvu directory export` as the exact text written (CRLF kept: no universal newlines)."""
    r = subprocess.run([str(srv.binary), "directory", "export", "--config", str(srv.config), "--format", fmt, *extra],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode("utf-8")


def province(make_server, anonymous: bool):
    """A server with the province above and an LDAP listener; not started."""
    srv = make_server(mailboxes={}, start=False, env={"CONGVU_DIRECTORY_LDAP_ANONYMOUS": str(anonymous).lower()})
    top = json.loads(cli(srv, "unit", "add", "--name", "UBND tỉnh Bắc Giang", "--kind", "province", "--json").stdout)
    assert top["address"] == TOP, top
    cli(srv, "unit", "add", "--name", "Sở Thông tin và Truyền thông", "--kind", "department", "--parent", str(top["id"]))
    cli(srv, "mailbox", "add", "--address", AN, "--password", PASSWORD, "--name", "Nguyễn Văn An", "--unit", "stttt",
        "--title", "Chuyên viên", "--phone", "0204 3854 000")
    cli(srv, "mailbox", "add", "--address", ODD, "--password", PASSWORD, "--name", ODD_NAME, "--unit", "stttt",
        "--title", "Phó trưởng phòng, kiêm nhiệm")
    cli(srv, "mailbox", "add", "--address", GONE, "--password", PASSWORD, "--name", "Lê Văn Cường", "--unit", "stttt")
    cli(srv, "mailbox", "revoke", "--address", GONE, "--reason", "nghỉ hưu")
    srv.passwords.update({AN: PASSWORD, ODD: PASSWORD})
    return srv


def start_with_ldap(srv) -> int:
    (port,) = free_ports(1)
    srv.ports = {"ldap": port}
    srv.start()
    return port


def ldapsearch(port: int, *args: str, bind: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=20", "-H", f"ldap://127.0.0.1:{port}"]
    if bind:
        cmd += ["-D", bind[0], "-w", bind[1]]
    return subprocess.run(cmd + list(args), capture_output=True, timeout=60)


def ldif(out: bytes) -> list[dict[str, list[str]]]:
    """Entries of `ldapsearch -LLL -o ldif-wrap=no` output; `attr:: base64` values decoded."""
    entries = []
    for block in out.decode().strip().split("\n\n"):
        if not block.strip():
            continue
        entry: dict[str, list[str]] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode()
            else:
                value = value.strip()
            entry.setdefault(name.lower(), []).append(value)
        entries.append(entry)
    return entries


def found(port: int, flt: str, *attrs: str, bind=(AN_DN, PASSWORD)) -> list[dict[str, list[str]]]:
    r = ldapsearch(port, "-b", BASE, flt, *attrs, bind=bind)
    assert r.returncode == 0, f"ldapsearch {flt} exited {r.returncode}: {r.stderr.decode()}"
    return ldif(r.stdout)


def test_ldapsearch_finds_an_by_name_and_mail_with_a_bind(make_server):
    port = start_with_ldap(province(make_server, anonymous=False))

    for flt in ["(cn=*nguyen*)", "(cn=*Nguyễn*)", "(cn=*NGUYEN VAN*)", f"(mail={AN})", "(mail=an*)",
                unicodedata.normalize("NFD", "(displayName=*Nguyễn Văn*)"),
                "(&(objectClass=inetOrgPerson)(|(givenName=an)(sn=nguyen)))"]:
        entries = found(port, flt)
        assert [e["dn"] for e in entries] == [[AN_DN]], (flt, entries)
    an = found(port, "(cn=*nguyen*)")[0]
    assert an["cn"] == ["Nguyễn Văn An"] and an["displayname"] == ["Nguyễn Văn An"]
    assert an["mail"] == [AN] and an["title"] == ["Chuyên viên"] and an["telephonenumber"] == ["0204 3854 000"]
    assert an["ou"] == ["Sở Thông tin và Truyền thông"] and an["o"] == ["UBND tỉnh Bắc Giang"]
    assert "userpassword" not in an

    # A query with diacritics means them; attribute selection returns only what was asked.
    assert found(port, "(cn=*Nguyên*)") == []
    only = found(port, "(mail=an*)", "mail", "cn")
    assert set(only[0]) == {"dn", "mail", "cn"}, only

    # Everything listed: the unit mailbox under ou=units, the odd name intact, never the revoked one or postmaster.
    everything = found(port, "(mail=*)", "mail", "cn")
    mails = {e["mail"][0] for e in everything}
    assert mails == {TOP, f"stttt@{DOMAIN}", AN, ODD}, mails
    assert any(e["dn"] == [f"mail=stttt@{DOMAIN},ou=units,{BASE}"] for e in everything)
    assert [e["cn"] for e in everything if e["mail"] == [ODD]] == [[ODD_NAME]]

    # Scopes: one level under ou=people is the people; base on the base DN is the base entry alone.
    people = found(port, "(objectClass=*)", "mail", bind=(AN, PASSWORD))  # plain address as bind name
    assert len(people) == 3 + 4, people  # base, two containers, four mailboxes
    r = ldapsearch(port, "-b", f"ou=people,{BASE}", "-s", "one", "(objectClass=*)", "mail", bind=(AN_DN, PASSWORD))
    assert r.returncode == 0 and {e["mail"][0] for e in ldif(r.stdout)} == {AN, ODD}
    r = ldapsearch(port, "-b", f"ou=nobody,{BASE}", "(objectClass=*)", bind=(AN_DN, PASSWORD))
    assert r.returncode == 32, r  # noSuchObject

    # The root DSE tells clients the naming context, without a bind.
    r = ldapsearch(port, "-b", "", "-s", "base", "(objectClass=*)", "namingContexts", "supportedLDAPVersion")
    assert r.returncode == 0, r.stderr
    dse = ldif(r.stdout)[0]
    assert dse["namingcontexts"] == [BASE] and dse["supportedldapversion"] == ["3"]


def test_binds_anonymous_refused_wrong_password_and_read_only(make_server):
    srv = province(make_server, anonymous=False)
    port = start_with_ldap(srv)

    # Anonymous: the bind succeeds (so the root DSE stays readable), the search is refused.
    r = ldapsearch(port, "-b", BASE, "(cn=*nguyen*)")
    assert r.returncode == 50 and r.stdout == b"", (r.returncode, r.stdout, r.stderr)  # insufficientAccessRights
    r = ldapsearch(port, "-b", BASE, "(cn=*nguyen*)", bind=(AN_DN, "Sai-Mat-Khau-1"))
    assert r.returncode == 49, (r.returncode, r.stderr)  # invalidCredentials
    r = ldapsearch(port, "-b", BASE, "(cn=*)", bind=(f"mail={GONE},ou=people,{BASE}", PASSWORD))
    assert r.returncode == 49, "a revoked mailbox cannot bind"
    r = ldapsearch(port, "-b", BASE, "(cn=*)", bind=(AN_DN, ""))
    assert r.returncode == 53, r  # RFC 4513 §5.1.2 unauthenticated bind refused

    # Writes are refused: unwillingToPerform.
    r = subprocess.run(["ldapdelete", "-x", "-H", f"ldap://127.0.0.1:{port}", "-D", AN_DN, "-w", PASSWORD, AN_DN],
                       capture_output=True, timeout=60)
    assert r.returncode == 53, (r.returncode, r.stderr)
    modify = f"dn: {AN_DN}\nchangetype: modify\nreplace: title\ntitle: Giám đốc\n"
    r = subprocess.run(["ldapmodify", "-x", "-H", f"ldap://127.0.0.1:{port}", "-D", AN_DN, "-w", PASSWORD],
                       input=modify.encode(), capture_output=True, timeout=60)
    assert r.returncode == 53, (r.returncode, r.stderr)

    # "Who am I?" after a bind.
    r = subprocess.run(["ldapwhoami", "-x", "-H", f"ldap://127.0.0.1:{port}", "-D", AN_DN, "-w", PASSWORD],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.decode().strip() == f"dn:{AN_DN}", r

    # R-POL-10: the failed binds are in the audit log with their source.
    audit = cli(srv, "audit", "list", "--json").stdout
    assert "ldap: bad credentials" in audit and "ldap: mailbox revoked" in audit and "127.0.0.1" in audit, audit[-2000:]


def test_anonymous_when_configured_and_size_limit(make_server):
    port = start_with_ldap(province(make_server, anonymous=True))
    assert [e["dn"] for e in found(port, "(cn=*nguyen*)", bind=None)] == [[AN_DN]]
    r = ldapsearch(port, "-b", BASE, "-z", "2", "(objectClass=*)", "dn")
    assert r.returncode == 4, (r.returncode, r.stderr)  # sizeLimitExceeded, after two entries
    assert len(ldif(r.stdout)) == 2


def test_malformed_ber_disconnects_only_that_client(make_server):
    port = start_with_ldap(province(make_server, anonymous=True))
    bad_inputs = [
        b"\x30\x03\x02\x01\x01",  # a message ID and no operation
        b"\x30\x05\x02\x01\x01\x04\x00",  # an OCTET STRING where the operation belongs
        b"GET / HTTP/1.1\r\n" + b"X-Padding: " + b"x" * 200 + b"\r\n\r\n",  # not LDAP at all
        b"\x30\x84\x00\x10\x00\x00" + b"\x00" * 140000,  # claims 1 MiB: over the message cap
    ]
    for data in bad_inputs:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            try:
                s.sendall(data)
            except OSError:
                pass  # the server may close before it has read everything
            received = b""
            try:
                while chunk := s.recv(4096):
                    received += chunk
            except ConnectionResetError:
                pass
            # Closed, after at most a Notice of Disconnection (an ExtendedResponse, tag 0x78).
            assert received == b"" or b"\x78" in received, received[:200]
    # The server and its other clients are fine.
    assert [e["dn"] for e in found(port, "(cn=*nguyen*)", bind=None)] == [[AN_DN]]


def test_export_csv_vcard_and_search(make_server):
    srv = province(make_server, anonymous=False)

    raw = export(srv, "csv")
    assert raw.endswith("\r\n") and "$argon2" not in raw, "RFC 4180 CRLF records; never a password hash"
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    by_address = {r["address"]: r for r in rows}
    assert set(by_address) == {TOP, f"stttt@{DOMAIN}", AN, ODD}, rows  # no revoked mailbox, no operator
    an = by_address[AN]
    assert an["display_name"] == "Nguyễn Văn An" and an["kind"] == "person"
    assert an["unit"] == "Sở Thông tin và Truyền thông" and an["unit_address"] == f"stttt@{DOMAIN}"
    assert an["unit_path"] == "UBND tỉnh Bắc Giang / Sở Thông tin và Truyền thông"
    assert an["title"] == "Chuyên viên" and an["phone"] == "0204 3854 000" and an["suspended"] == "no"
    assert by_address[ODD]["display_name"] == ODD_NAME
    assert by_address[ODD]["title"] == "Phó trưởng phòng, kiêm nhiệm"
    assert by_address[f"stttt@{DOMAIN}"]["kind"] == "unit"

    cards_text = export(srv, "vcard")
    physical = cards_text.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in physical), [l for l in physical if len(l.encode()) > 75]
    cards = cards_text.replace("\r\n ", "").split("END:VCARD\r\n")
    cards = [c for c in cards if c.strip()]
    assert len(cards) == 4
    an_card = next(c for c in cards if f"EMAIL;TYPE=work:{AN}" in c)
    lines = an_card.split("\r\n")
    assert "BEGIN:VCARD" in lines and "VERSION:4.0" in lines and "FN:Nguyễn Văn An" in lines
    assert "N:Nguyễn;An;Văn;;" in lines and "TITLE:Chuyên viên" in lines and "TEL;TYPE=work:0204 3854 000" in lines
    assert "ORG:UBND tỉnh Bắc Giang;Sở Thông tin và Truyền thông" in lines
    odd_card = next(c for c in cards if ODD in c)
    assert 'FN:Trần Thị "Bé"\\, Hà' in odd_card.split("\r\n")
    assert "TITLE:Phó trưởng phòng\\, kiêm nhiệm" in odd_card.split("\r\n")
    assert GONE not in cards_text

    # --unit: the unit and what lies below it.
    only = list(csv.DictReader(io.StringIO(export(srv, "csv", "--unit", "stttt"), newline="")))
    assert len(only) == 3
    cli(srv, "directory", "export", "--format", "csv", "--unit", "khongco", expect=1)

    # search: with or without diacritics, decomposed input, by title; JSON for scripts.
    for query in ["nguyen van an", "Nguyễn Văn An", unicodedata.normalize("NFD", "Nguyễn Văn An")]:
        out = cli(srv, "directory", "search", query).stdout
        assert out.splitlines() and all(AN in line for line in out.splitlines()), (query, out)
    hits = json.loads(cli(srv, "directory", "search", "thong tin", "--title", "pho truong", "--json").stdout)
    assert [h["address"] for h in hits] == [ODD], hits
    assert json.loads(cli(srv, "directory", "search", "cuong", "--json").stdout) == []


def test_ldaps_and_starttls_carry_binds_inside_tls(make_server):
    """`[listen] ldaps` speaks TLS from the first byte and the plain listener offers StartTLS (RFC 4511 §4.14):
    the real `ldapsearch`/`ldapwhoami` bind inside TLS; the root DSE advertises StartTLS on the plain port; a
    second StartTLS inside TLS is refused; openssl verifies the certificate on ldaps against the one `init` wrote.
    (OpenLDAP's GnuTLS will not take rcgen's self-signed leaf as its own trust anchor, so the LDAP tools run with
    LDAPTLS_REQCERT=never; openssl does the verifying.)"""
    srv = province(make_server, anonymous=False)
    plain, tls = free_ports(2)
    srv.ports = {"ldap": plain, "ldaps": tls}
    srv.start()
    env = dict(__import__("os").environ, LDAPTLS_REQCERT="never")

    def search(url: str, *extra: str) -> subprocess.CompletedProcess:
        cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=20", "-H", url, *extra,
               "-D", AN_DN, "-w", PASSWORD, "-b", BASE, "(cn=*nguyen*)", "mail"]
        return subprocess.run(cmd, capture_output=True, timeout=60, env=env)

    for url, extra in [(f"ldaps://localhost:{tls}", ()), (f"ldap://localhost:{plain}", ("-ZZ",))]:
        r = search(url, *extra)
        assert r.returncode == 0, f"{url} {extra}: {r.stderr.decode()}"
        assert [e["mail"] for e in ldif(r.stdout)] == [[AN]], r.stdout

    who = subprocess.run(["ldapwhoami", "-x", "-ZZ", "-H", f"ldap://localhost:{plain}", "-D", AN_DN, "-w", PASSWORD],
                         capture_output=True, timeout=60, env=env)
    assert who.returncode == 0 and who.stdout.decode().strip() == f"dn:{AN_DN}", who

    r = ldapsearch(plain, "-b", "", "-s", "base", "(objectClass=*)", "supportedExtension")
    assert r.returncode == 0 and "1.3.6.1.4.1.1466.20037" in ldif(r.stdout)[0]["supportedextension"], r.stdout
    # On ldaps StartTLS makes no sense and is not advertised; asking for it is an error.
    r = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", f"ldaps://localhost:{tls}", "-b", "", "-s", "base",
                        "(objectClass=*)", "supportedExtension"], capture_output=True, timeout=60, env=env)
    assert r.returncode == 0 and "1.3.6.1.4.1.1466.20037" not in r.stdout.decode(), r.stdout
    r = subprocess.run(["ldapwhoami", "-x", "-ZZ", "-H", f"ldaps://localhost:{tls}"], capture_output=True, timeout=60, env=env)
    assert r.returncode != 0 and b"Operations error" in r.stderr, r.stderr

    s = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls}", "-CAfile", str(srv.cert),
                        "-verify_return_error", "-servername", "localhost"],
                       input=b"", capture_output=True, timeout=60)
    assert b"Verify return code: 0 (ok)" in s.stdout, s.stdout[-2000:]
