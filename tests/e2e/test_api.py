"""The JSON API on `[listen] http` through the real binary, with Python's urllib (issue 5 item 6).

Every route is read from the served OpenAPI document; each must have a case in CASES (so a new route
without one fails here), is called by each role its `x-congvu-roles` allows (expecting success) and by
every other role (expecting 403). Also: sessions by cookie and bearer, logout, an expired password giving
a session that may only change the password (R-POL-2), API tokens from `congvu token`, the public
directory page, and the audit log naming the API's actor, role and source IP (R-POL-10).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from harness import DOMAIN, PASSWORD, USED_KEYS, free_ports, run_cli

ROLES = ("operator", "unit-contact", "user")
CONTACT = f"annv@{DOMAIN}"
USER = f"hattt@{DOMAIN}"
TARGET = f"binhlv@{DOMAIN}"


def cli(srv, *args: str, expect: int = 0) -> str:
    r = run_cli(srv.binary, *args[:2], "--config", str(srv.config), *args[2:])
    assert r.returncode == expect, f"congvu {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def http(srv, method: str, path: str, token: str | None = None, body=None, headers: dict | None = None):
    """(status, parsed JSON or text, response headers)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{srv.ports['http']}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    text = raw.decode()
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def login(srv, address: str, password: str = PASSWORD) -> dict:
    status, body, _ = http(srv, "POST", "/api/v1/session", body={"address": address, "password": password})
    assert status == 200, f"login {address}: {status} {body}"
    return body


def api_server(make_server, env: dict | None = None):
    """A server with the API on, a department with a division, an IT contact, a user and a target."""
    srv = make_server(mailboxes={}, start=False, env=env)
    keys = USED_KEYS + ("http",)
    srv.ports = dict(zip(keys, free_ports(len(keys))))
    dept = json.loads(cli(srv, "unit", "add", "--name", "Sở Thông tin và Truyền thông", "--kind", "department", "--json"))
    cli(srv, "unit", "add", "--name", "Phòng Bưu chính", "--kind", "division", "--parent", str(dept["id"]))
    for name, title in (("Nguyễn Văn An", "Trưởng phòng"), ("Trần Thị Thu Hà", "Chuyên viên"), ("Lê Văn Bình", "Kế toán")):
        cli(srv, "mailbox", "add", "--name", name, "--unit", str(dept["id"]), "--title", title)
    for address in (CONTACT, USER, TARGET):
        cli(srv, "mailbox", "passwd", "--address", address, "--password", PASSWORD)
    cli(srv, "unit", "contact", "--unit", str(dept["id"]), "--address", CONTACT)
    srv.start()
    srv.dept_id = dept["id"]
    return srv


def sessions(srv) -> dict:
    return {
        "operator": login(srv, f"postmaster@{DOMAIN}", srv.postmaster_password)["token"],
        "unit-contact": login(srv, CONTACT)["token"],
        "user": login(srv, USER)["token"],
    }


# "METHOD path" -> function(role, srv) giving (path, body), for the call made with that role. The order is
# the order the allowed calls are made in (suspend before resume, file before approve).
CASES = {
    "GET /api/v1/me": lambda role, s: ("/api/v1/me", None),
    "GET /api/v1/directory": lambda role, s: ("/api/v1/directory?q=nguyen", None),
    "GET /api/v1/units": lambda role, s: ("/api/v1/units", None),
    "GET /api/v1/units/{unit}": lambda role, s: (f"/api/v1/units/{s.dept_id}", None),
    "POST /api/v1/units": lambda role, s: ("/api/v1/units", {"name": "Sở Tài chính", "kind": "department"}),
    "GET /api/v1/mailboxes": lambda role, s: (f"/api/v1/mailboxes?unit={s.dept_id}", None),
    "POST /api/v1/mailboxes": lambda role, s: ("/api/v1/mailboxes", {"name": "Đỗ Thị Mai", "unit": str(s.dept_id)}),
    "GET /api/v1/mailboxes/{address}": lambda role, s: (f"/api/v1/mailboxes/{USER}", None),
    "PATCH /api/v1/mailboxes/{address}": lambda role, s: (f"/api/v1/mailboxes/{TARGET}", {"title": "Kế toán trưởng"}),
    "POST /api/v1/mailboxes/{address}/suspend": lambda role, s: (f"/api/v1/mailboxes/{TARGET}/suspend", {"reason": "nghỉ phép"}),
    "POST /api/v1/mailboxes/{address}/resume": lambda role, s: (f"/api/v1/mailboxes/{TARGET}/resume", {}),
    "POST /api/v1/mailboxes/{address}/revoke": lambda role, s: (f"/api/v1/mailboxes/{TARGET}/revoke", {"reason": "nghỉ hưu"}),
    "POST /api/v1/mailboxes/{address}/restore": lambda role, s: (f"/api/v1/mailboxes/{TARGET}/restore", {}),
    "POST /api/v1/mailboxes/{address}/reset-password": lambda role, s: (f"/api/v1/mailboxes/{TARGET}/reset-password", None),
    "POST /api/v1/requests": lambda role, s: ("/api/v1/requests", {"kind": "suspend", "mailbox": TARGET, "reason": "điều chuyển"}),
    "GET /api/v1/requests": lambda role, s: ("/api/v1/requests", None),
    "POST /api/v1/requests/{id}/approve": lambda role, s: (f"/api/v1/requests/{s.request_ids.pop(0)}/approve", None),
    "POST /api/v1/requests/{id}/reject": lambda role, s: (f"/api/v1/requests/{s.request_ids.pop(0)}/reject", {"reason": "chưa đủ căn cứ"}),
    "GET /api/v1/audit": lambda role, s: ("/api/v1/audit", None),
    "GET /api/v1/audit/verify": lambda role, s: ("/api/v1/audit/verify", None),
    "DELETE /api/v1/session": lambda role, s: ("/api/v1/session", None),
    # Last: it changes each role's password.
    "POST /api/v1/me/password": lambda role, s: ("/api/v1/me/password", {
        "current_password": s.postmaster_password if role == "operator" else PASSWORD,
        "new_password": "Đổi-mới-2026x"}),
}
# Who may call each route (R-ACC-6), written here apart from the server's table so that a route given
# the wrong roles there fails here.
OPERATOR, STAFF, EVERYONE = ["operator"], ["operator", "unit-contact"], list(ROLES)
EXPECTED_ROLES = {
    "GET /api/v1/me": EVERYONE,
    "POST /api/v1/me/password": EVERYONE,
    "DELETE /api/v1/session": EVERYONE,
    "GET /api/v1/directory": EVERYONE,
    "GET /api/v1/mailboxes/{address}": EVERYONE,  # a user: only their own (checked by the handler)
    "GET /api/v1/units": STAFF,
    "GET /api/v1/units/{unit}": STAFF,
    "GET /api/v1/mailboxes": STAFF,
    "POST /api/v1/requests": STAFF,
    "GET /api/v1/requests": STAFF,
    "POST /api/v1/units": OPERATOR,
    "POST /api/v1/mailboxes": OPERATOR,
    "PATCH /api/v1/mailboxes/{address}": OPERATOR,
    "POST /api/v1/mailboxes/{address}/suspend": OPERATOR,
    "POST /api/v1/mailboxes/{address}/resume": OPERATOR,
    "POST /api/v1/mailboxes/{address}/revoke": OPERATOR,
    "POST /api/v1/mailboxes/{address}/restore": OPERATOR,
    "POST /api/v1/mailboxes/{address}/reset-password": OPERATOR,
    "POST /api/v1/requests/{id}/approve": OPERATOR,
    "POST /api/v1/requests/{id}/reject": OPERATOR,
    "GET /api/v1/audit": OPERATOR,
    "GET /api/v1/audit/verify": OPERATOR,
}
# Routes anyone may call without logging in; tested on their own below.
PUBLIC = {"POST /api/v1/session", "GET /api/v1/openapi.json"}


def routes_of(doc: dict) -> dict:
    out = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            out[f"{method.upper()} {path}"] = op
    return out


def test_openapi_lists_every_route_with_roles(make_server):
    srv = api_server(make_server)
    status, doc, hdrs = http(srv, "GET", "/api/v1/openapi.json")
    assert status == 200 and hdrs["Content-Type"].startswith("application/json")
    assert doc["openapi"].startswith("3.")
    routes = routes_of(doc)
    assert set(routes) == set(CASES) | PUBLIC, "every route needs a case in CASES (and every case a route)"
    assert set(EXPECTED_ROLES) == set(CASES)
    for key, op in routes.items():
        assert sorted(op["x-congvu-roles"]) == sorted(EXPECTED_ROLES.get(key, [])), key
        assert op.get("x-congvu-public", False) == (key in PUBLIC), key
        assert op["x-congvu-roles"] or key in PUBLIC, f"{key} has no roles"


def test_every_route_refuses_every_wrong_role_and_serves_the_right_ones(make_server):
    srv = api_server(make_server)
    _, doc, _ = http(srv, "GET", "/api/v1/openapi.json")
    routes = routes_of(doc)
    tokens = sessions(srv)
    # Two pending requests for approve and reject, filed by the contact.
    srv.request_ids = []
    for _ in range(2):
        status, r, _ = http(srv, "POST", "/api/v1/requests", tokens["unit-contact"],
                            {"kind": "reset", "mailbox": TARGET, "reason": "quên mật khẩu"})
        assert status == 200, r
        srv.request_ids.append(r["id"])
    wrong_checked = 0
    for key in CASES:
        method, template = key.split(" ", 1)
        allowed = EXPECTED_ROLES[key]
        for role in ROLES:
            if role in allowed:
                continue
            path = template.replace("{unit}", str(srv.dept_id)).replace("{address}", TARGET).replace("{id}", "1")
            status, body, _ = http(srv, method, path, tokens[role], {})
            assert status == 403, f"{key} as {role}: {status} {body}"
            assert "this needs" in body["error"], body
            wrong_checked += 1
    assert wrong_checked >= 20
    for key, case in CASES.items():
        method, _ = key.split(" ", 1)
        for role in EXPECTED_ROLES[key]:
            if key == "POST /api/v1/requests" and role != "unit-contact":
                continue  # one filing (by the contact) is enough; the operator's is the same code
            if key == "DELETE /api/v1/session":
                token = login(srv, CONTACT if role == "unit-contact" else USER if role == "user"
                              else f"postmaster@{DOMAIN}", PASSWORD if role != "operator" else srv.postmaster_password)["token"]
            else:
                token = tokens[role]
            if key == "GET /api/v1/mailboxes/{address}" and role == "user":
                path, body = f"/api/v1/mailboxes/{USER}", None
            else:
                path, body = case(role, srv)
            status, answer, _ = http(srv, method, path, token, body)
            assert status == 200, f"{key} as {role}: {status} {answer}"


def test_calls_do_what_they_say_and_are_audited(make_server):
    srv = api_server(make_server)
    op = login(srv, f"postmaster@{DOMAIN}", srv.postmaster_password)
    assert op["role"] == "operator" and op["restricted"] == ""
    tok = op["token"]
    status, made, _ = http(srv, "POST", "/api/v1/mailboxes", tok, {"name": "Nguyễn Văn An", "unit": str(srv.dept_id)})
    assert status == 200 and made["address"] == f"annv01@{DOMAIN}", made
    assert re.search(r"[A-Z]", made["password"]) and len(made["password"]) >= 10
    # The one-time password works once, for a session that may only change it.
    s = login(srv, made["address"], made["password"])
    assert s["restricted"] == "must-change"
    status, body, _ = http(srv, "GET", "/api/v1/directory?q=nguyen", s["token"])
    assert status == 403 and "POST /api/v1/me/password" in body["error"]

    status, unit, _ = http(srv, "POST", "/api/v1/units", tok, {"name": "Sở Tài nguyên và Môi trường", "kind": "department"})
    assert status == 200 and unit["address"] == f"stnmt@{DOMAIN}", unit
    status, body, _ = http(srv, "POST", "/api/v1/units", tok, {"name": "X", "kind": "no-such-kind"})
    assert status == 422 and "use one of" in body["error"]
    status, body, _ = http(srv, "GET", "/api/v1/mailboxes/nobody@example.gov.vn", tok)
    assert status == 404 and body["error"]

    status, found, _ = http(srv, "GET", "/api/v1/directory?q=tran%20thi", tok)
    assert [e["address"] for e in found] == [USER]
    status, found, _ = http(srv, "GET", "/api/v1/directory?q=k%E1%BA%BF%20to%C3%A1n", tok)  # "kế toán"
    assert [e["address"] for e in found] == [TARGET]

    # A user may read their own mailbox, not another's (the handler's scope under the route's roles).
    user = login(srv, USER)["token"]
    status, body, _ = http(srv, "GET", f"/api/v1/mailboxes/{TARGET}", user)
    assert status == 403 and "own mailbox" in body["error"], body
    status, body, _ = http(srv, "GET", f"/api/v1/mailboxes/{USER}", user)
    assert status == 200 and body["unit_name"] == "Sở Thông tin và Truyền thông" and body["password_state"] == "valid"

    status, moved, _ = http(srv, "POST", f"/api/v1/mailboxes/{TARGET}/suspend", tok, {"reason": "nghỉ phép"})
    assert status == 200 and moved["state"] == "suspended"
    status, body, _ = http(srv, "POST", f"/api/v1/mailboxes/{TARGET}/suspend", tok, {"reason": "lần nữa"})
    assert status == 409, body

    status, entries, _ = http(srv, "GET", "/api/v1/audit", tok)
    suspend = [e for e in entries if e["action"] == "mailbox.suspend"]
    assert suspend and suspend[-1]["actor"] == f"postmaster@{DOMAIN}"
    assert suspend[-1]["role"] == "operator" and suspend[-1]["source_ip"] == "127.0.0.1"
    status, verified, _ = http(srv, "GET", "/api/v1/audit/verify", tok)
    assert verified["ok"] is True and verified["entries"] == len(entries)
    # The CLI reads the same log.
    assert "mailbox.suspend" in cli(srv, "audit", "list")


def test_cookie_session_logout_and_failed_logins(make_server):
    srv = api_server(make_server)
    status, body, _ = http(srv, "POST", "/api/v1/session", body={"address": USER, "password": "Sai-mat-khau-1"})
    assert status == 401 and body["error"] == "the address or the password is wrong"
    status, body, _ = http(srv, "POST", "/api/v1/session", body={"address": USER})
    assert status == 422 and "bad request body" in body["error"], body
    status, body, hdrs = http(srv, "POST", "/api/v1/session", body={"address": USER, "password": PASSWORD})
    cookie = hdrs["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    value = cookie.split(";")[0]
    status, me, _ = http(srv, "GET", "/api/v1/me", headers={"Cookie": value})
    assert status == 200 and me["address"] == USER and me["role"] == "user"
    status, _, _ = http(srv, "DELETE", "/api/v1/session", headers={"Cookie": value})
    assert status == 200
    status, body, _ = http(srv, "GET", "/api/v1/me", headers={"Cookie": value})
    assert status == 401, body
    status, body, _ = http(srv, "GET", "/api/v1/me")
    assert status == 401 and "log in" in body["error"]
    # Brute force: the address is locked after five failures, even for the right password.
    for _ in range(5):
        status, _, _ = http(srv, "POST", "/api/v1/session", body={"address": TARGET, "password": "Sai-mat-khau-1"})
        assert status == 401
    status, body, _ = http(srv, "POST", "/api/v1/session", body={"address": TARGET, "password": PASSWORD})
    assert status == 429 and "try again" in body["error"], body
    failed = [line for line in cli(srv, "audit", "list").splitlines() if "login.failed" in line]
    assert len(failed) >= 6


def test_expired_password_session_may_only_change_it(make_server):
    srv = api_server(make_server, env={"CONGVU_POLICY_USER_PASSWORD_MAX_AGE": "2s"})
    time.sleep(3)
    s = login(srv, USER)
    assert s["restricted"] == "expired", s
    for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/directory?q=an")):
        status, body, _ = http(srv, method, path, s["token"])
        assert status == 403 and "expired" in body["error"] and "POST /api/v1/me/password" in body["error"], body
    status, body, _ = http(srv, "POST", "/api/v1/me/password", s["token"],
                           {"current_password": PASSWORD, "new_password": "abc"})
    assert status == 422
    for rule in ("at least 8 characters", "uppercase", "digit", "special"):
        assert rule in body["error"], body
    status, body, _ = http(srv, "POST", "/api/v1/me/password", s["token"],
                           {"current_password": PASSWORD, "new_password": PASSWORD})
    assert status == 422 and "must differ from the last 5" in body["error"], body
    status, body, _ = http(srv, "POST", "/api/v1/me/password", s["token"],
                           {"current_password": PASSWORD, "new_password": "Mới-hẳn-2026"})
    assert status == 200, body
    # The restricted session ended; the new password logs in.
    status, _, _ = http(srv, "POST", "/api/v1/me/password", s["token"], {"current_password": "x", "new_password": "y"})
    assert status == 401
    login(srv, USER, "Mới-hẳn-2026")


def test_api_tokens_from_the_cli(make_server):
    srv = api_server(make_server)
    out = cli(srv, "token", "create", "--address", CONTACT, "--label", "sao lưu hằng đêm")
    m = re.search(r"^token: (cvt_[0-9a-f]{64})$", out, re.MULTILINE)
    assert m, out
    token = m.group(1)
    status, me, _ = http(srv, "GET", "/api/v1/me", token)
    assert status == 200 and me["address"] == CONTACT and me["role"] == "unit-contact"
    status, units, _ = http(srv, "GET", "/api/v1/units", token)
    assert status == 200 and [u["name"] for u in units] == ["Sở Thông tin và Truyền thông", "Phòng Bưu chính"]
    status, body, _ = http(srv, "POST", "/api/v1/units", token, {"name": "Sở Y tế", "kind": "department"})
    assert status == 403
    status, body, _ = http(srv, "DELETE", "/api/v1/session", token)
    assert status == 409 and "congvu token revoke" in body["error"]
    listed = json.loads(cli(srv, "token", "list", "--json"))
    assert [(t["address"], t["label"]) for t in listed] == [(CONTACT, "sao lưu hằng đêm")]
    assert listed[0]["last_used_at"] is not None
    assert token not in cli(srv, "token", "list")
    cli(srv, "token", "revoke", str(listed[0]["id"]))
    status, _, _ = http(srv, "GET", "/api/v1/me", token)
    assert status == 401
    cli(srv, "token", "revoke", str(listed[0]["id"]), expect=1)
    audit = cli(srv, "audit", "list")
    assert "token.create" in audit and "token.revoke" in audit


@pytest.mark.parametrize("public", [False, True])
def test_public_directory_page(make_server, public):
    srv = api_server(make_server, env={"CONGVU_DIRECTORY_PUBLIC": "true" if public else "false"})
    status, body, hdrs = http(srv, "GET", "/directory")
    if not public:
        assert status == 404
        return
    assert status == 200 and hdrs["Content-Type"].startswith("text/html")
    assert "Sở Thông tin và Truyền thông" in body and f"stttt@{DOMAIN}" in body
    assert "Phòng Bưu chính" in body
    assert USER not in body, "persons are not on the public page"
