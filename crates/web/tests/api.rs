//! The JSON API through a real TCP socket: the real router (`congvu_web::router`) on a
//! loopback port, a real SQLite store, and HTTP/1.1 written by hand, so nothing of the
//! server is bypassed. Covers login, sessions and their limits, the role of every route
//! (from `auth::ROUTES`), the restricted session of a must-change password, the scope of a
//! unit IT contact, and the public directory page.

use congvu_core::naming::{NamingStyle, UnitKind};
use congvu_core::password::hash_password;
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountKind, NewAccount, Store};
use congvu_web::WebConfig;
use congvu_web::auth::{Access, LoginLimits, ROUTES};
use congvu_web::ops::{Env, Ops, OpsSettings, Who};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const OPERATOR_PW: &str = "Vận-hành-2026";
const PW: &str = "Mật-khẩu-9x";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
fn random_password() -> String {
    format!("Ot-{}a9", rand_hex())
}
fn rand_hex() -> String {
    let b: [u8; 8] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn random_salt() -> [u8; 16] {
    rand::random()
}

struct Server {
    addr: SocketAddr,
    ops: Ops,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    /// Unit ids: the department and a division under it, and an unrelated department.
    dept: i64,
    other_dept: i64,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(config: WebConfig) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let ops = Ops {
        store: store.clone(),
        settings: OpsSettings {
            domains: vec!["bacgiang.gov.vn".into()],
            naming: NamingStyle::BacGiang,
            password_history: 5,
            revoked_retention: 365 * 86400,
            user_max_age: 180 * 86400,
            admin_max_age: 90 * 86400,
        },
        env: Env {
            now,
            random_password,
            random_salt,
        },
    };
    let who = Who::cli(None);
    let account = |address: &str, name: &str, kind: AccountKind, pw: &str| NewAccount {
        address: address.into(),
        display_name: name.into(),
        password_hash: hash_password(pw, &random_salt()).expect("hash"),
        kind,
        created_at: now(),
    };
    store
        .create_account(account(
            "postmaster@bacgiang.gov.vn",
            "Quản trị",
            AccountKind::Operator,
            OPERATOR_PW,
        ))
        .await
        .expect("operator");
    let (dept, _, _) = ops
        .add_unit(
            "Sở Thông tin và Truyền thông",
            UnitKind::Department,
            None,
            &who,
        )
        .await
        .expect("dept");
    let (division, _, _) = ops
        .add_unit("Phòng Bưu chính", UnitKind::Division, Some(&dept), &who)
        .await
        .expect("division");
    let (other, _, _) = ops
        .add_unit("Sở Tài chính", UnitKind::Department, None, &who)
        .await
        .expect("other");
    // The contact and the user get passwords they chose (not one-time ones).
    for (name, unit, pw) in [
        ("Nguyễn Văn An", &dept, PW),
        ("Trần Thị Thu Hà", &division, PW),
        ("Lê Văn Bình", &other, PW),
    ] {
        let (a, _) = ops
            .add_person(name, unit, "Chuyên viên", "", &who)
            .await
            .expect("person");
        ops.set_password(&a.address, pw, &who)
            .await
            .expect("set password");
    }
    let contact = ops.account("annv@bacgiang.gov.vn").await.expect("annv");
    store
        .add_unit_contact(dept.id, contact.id)
        .await
        .expect("contact");

    let app = congvu_web::router(ops.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(congvu_web::serve(listener, app, stop.clone()));
    Server {
        addr,
        ops,
        stop,
        _dir: dir,
        dept: dept.id,
        other_dept: other.id,
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: Value,
    text: String,
}

/// One HTTP/1.1 request on its own connection.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Answer {
    call_raw(
        addr,
        method,
        path,
        auth.map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default(),
        body,
    )
    .await
}

async fn call_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: String,
    body: Option<Value>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let content = if body.is_empty() && method == "GET" {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}{content}\r\n{body}"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let raw = String::from_utf8(raw).expect("utf-8 answer");
    let (head, text) = raw.split_once("\r\n\r\n").expect("head and body");
    let status = head[9..12].parse().expect("status");
    Answer {
        status,
        headers: head.to_string(),
        body: serde_json::from_str(text).unwrap_or(Value::Null),
        text: text.to_string(),
    }
}

async fn login(addr: SocketAddr, address: &str, password: &str) -> String {
    let a = call(
        addr,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"address": address, "password": password})),
    )
    .await;
    assert_eq!(a.status, 200, "login {address}: {}", a.text);
    a.body["token"].as_str().expect("token").to_string()
}

fn concrete(path: &str) -> String {
    path.replace("{unit}", "1")
        .replace("{address}", "annv@bacgiang.gov.vn")
        .replace("{id}", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_cookie_and_logout() {
    let s = start(WebConfig::default()).await;
    let bad = call(
        s.addr,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"address": "annv@bacgiang.gov.vn", "password": "sai"})),
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "the address or the password is wrong");
    let garbage = call_raw(s.addr, "POST", "/api/v1/session", String::new(), None).await;
    assert_eq!(garbage.status, 400, "{}", garbage.text);
    assert!(
        garbage.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("bad request body")
    );

    let ok = call(
        s.addr,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"address": "ANNV@bacgiang.gov.vn", "password": PW})),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["role"], "unit-contact");
    let token = ok.body["token"].as_str().expect("token");
    assert_eq!(token.len(), 64);
    let cookie_line = ok
        .headers
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .expect("cookie");
    for part in ["congvu_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie_line.contains(part), "{cookie_line}");
    }
    // The session works as a bearer token and as a cookie.
    let me = call(s.addr, "GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["address"], "annv@bacgiang.gov.vn");
    let by_cookie = call_raw(
        s.addr,
        "GET",
        "/api/v1/me",
        format!("Cookie: x=1; congvu_session={token}\r\n"),
        None,
    )
    .await;
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.text);
    // Only the hash is stored.
    let stored = s
        .ops
        .store
        .list_api_credentials(congvu_store::ApiCredentialKind::Session, None)
        .await
        .expect("list");
    assert!(stored.iter().all(|c| c.token_hash != token));

    let none = call(s.addr, "GET", "/api/v1/me", None, None).await;
    assert_eq!(none.status, 401);
    let forged = call(s.addr, "GET", "/api/v1/me", Some(&"0".repeat(64)), None).await;
    assert_eq!(forged.status, 401);

    let out = call(s.addr, "DELETE", "/api/v1/session", Some(token), None).await;
    assert_eq!(out.status, 200);
    let after = call(s.addr, "GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(after.status, 401, "a logged-out session is dead");

    // Suspending the mailbox ends what its sessions may do.
    let token = login(s.addr, "hattt@bacgiang.gov.vn", PW).await;
    let op = login(s.addr, "postmaster@bacgiang.gov.vn", OPERATOR_PW).await;
    let susp = call(
        s.addr,
        "POST",
        "/api/v1/mailboxes/hattt@bacgiang.gov.vn/suspend",
        Some(&op),
        Some(json!({"reason": "nghỉ phép"})),
    )
    .await;
    assert_eq!(susp.status, 200, "{}", susp.text);
    assert_eq!(susp.body["state"], "suspended");
    let me = call(s.addr, "GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.status, 403);
    let again = call(
        s.addr,
        "POST",
        "/api/v1/mailboxes/hattt@bacgiang.gov.vn/suspend",
        Some(&op),
        Some(json!({})),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);
    // The audit log names the operator, the role and the source IP.
    let audit = s.ops.store.list_audit().await.expect("audit");
    let e = audit
        .iter()
        .find(|e| e.entry.action == "mailbox.suspend")
        .expect("audited");
    assert_eq!(e.entry.actor, "postmaster@bacgiang.gov.vn");
    assert_eq!(e.entry.role, "operator");
    assert_eq!(e.entry.source_ip, "127.0.0.1");
    assert!(audit.iter().any(|e| e.entry.action == "login.failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_wrong_role() {
    let s = start(WebConfig::default()).await;
    let user = login(s.addr, "hattt@bacgiang.gov.vn", PW).await;
    let contact = login(s.addr, "annv@bacgiang.gov.vn", PW).await;
    let mut checked = 0;
    for (method, path, access) in ROUTES {
        let wrong: Vec<&str> = match access {
            Access::Operator => vec![&user, &contact],
            Access::Staff => vec![&user],
            _ => vec![],
        };
        for token in wrong {
            let a = call(
                s.addr,
                method.as_str(),
                &concrete(path),
                Some(token),
                Some(json!({})),
            )
            .await;
            assert_eq!(a.status, 403, "{method} {path}: {}", a.text);
            assert!(
                a.body["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("this needs"),
                "{}",
                a.text
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked}");

    // The OpenAPI document lists exactly the routes of the table, each with its roles.
    let doc = call(s.addr, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let mut listed = Vec::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            assert!(op["x-congvu-roles"].is_array(), "{method} {path}");
            listed.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut table: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    listed.sort();
    table.sort();
    assert_eq!(listed, table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_sees_and_files_for_their_units_only() {
    let s = start(WebConfig::default()).await;
    let contact = login(s.addr, "annv@bacgiang.gov.vn", PW).await;
    let units = call(s.addr, "GET", "/api/v1/units", Some(&contact), None).await;
    let names: Vec<&str> = units
        .body
        .as_array()
        .expect("units")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["Sở Thông tin và Truyền thông", "Phòng Bưu chính"]);
    let list = call(s.addr, "GET", "/api/v1/mailboxes", Some(&contact), None).await;
    let addresses: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["address"].as_str())
        .collect();
    assert!(
        addresses.contains(&"hattt@bacgiang.gov.vn")
            && !addresses.contains(&"binhlv@bacgiang.gov.vn"),
        "{addresses:?}"
    );
    let other = call(
        s.addr,
        "GET",
        &format!("/api/v1/mailboxes?unit={}", s.other_dept),
        Some(&contact),
        None,
    )
    .await;
    assert_eq!(other.status, 403);
    let theirs = call(
        s.addr,
        "GET",
        "/api/v1/mailboxes/binhlv@bacgiang.gov.vn",
        Some(&contact),
        None,
    )
    .await;
    assert_eq!(theirs.status, 403, "{}", theirs.text);
    // A user sees only themselves.
    let user = login(s.addr, "hattt@bacgiang.gov.vn", PW).await;
    assert_eq!(
        call(
            s.addr,
            "GET",
            "/api/v1/mailboxes/hattt@bacgiang.gov.vn",
            Some(&user),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            s.addr,
            "GET",
            "/api/v1/mailboxes/annv@bacgiang.gov.vn",
            Some(&user),
            None
        )
        .await
        .status,
        403
    );

    // Filing outside their units is refused; inside, the operator approves and it is done.
    let outside = call(s.addr, "POST", "/api/v1/requests", Some(&contact), Some(json!({"kind": "new-mailbox", "unit": s.other_dept.to_string(), "name": "Phạm Văn Cường"}))).await;
    assert_eq!(outside.status, 403, "{}", outside.text);
    let filed = call(s.addr, "POST", "/api/v1/requests", Some(&contact), Some(json!({"kind": "new-mailbox", "unit": s.dept.to_string(), "name": "Phạm Văn Cường", "title": "Chuyên viên"}))).await;
    assert_eq!(filed.status, 200, "{}", filed.text);
    let id = filed.body["id"].as_i64().expect("id");
    let op = login(s.addr, "postmaster@bacgiang.gov.vn", OPERATOR_PW).await;
    let done = call(
        s.addr,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "done");
    assert_eq!(done.body["result"], "cuongpv@bacgiang.gov.vn");
    assert!(
        done.body["password"]
            .as_str()
            .is_some_and(|p| p.len() >= 10)
    );
    let twice = call(
        s.addr,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        Some(&op),
        None,
    )
    .await;
    assert_eq!(twice.status, 409);

    // The directory finds names without diacritics, for any logged-in user.
    let found = call(
        s.addr,
        "GET",
        "/api/v1/directory?q=nguyen%20van",
        Some(&user),
        None,
    )
    .await;
    assert_eq!(found.status, 200);
    let names: Vec<&str> = found
        .body
        .as_array()
        .expect("found")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["Nguyễn Văn An"]);
    let exact = call(
        s.addr,
        "GET",
        "/api/v1/directory?q=H%C3%A0",
        Some(&user),
        None,
    )
    .await;
    let names: Vec<&str> = exact
        .body
        .as_array()
        .expect("exact")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["Trần Thị Thu Hà"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_must_change_password_session_may_only_change_it() {
    let s = start(WebConfig::default()).await;
    let op = login(s.addr, "postmaster@bacgiang.gov.vn", OPERATOR_PW).await;
    let reset = call(
        s.addr,
        "POST",
        "/api/v1/mailboxes/hattt@bacgiang.gov.vn/reset-password",
        Some(&op),
        None,
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let one_time = reset.body["password"]
        .as_str()
        .expect("password")
        .to_string();
    let session = call(
        s.addr,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"address": "hattt@bacgiang.gov.vn", "password": one_time})),
    )
    .await;
    assert_eq!(session.status, 200);
    assert_eq!(session.body["restricted"], "must-change");
    let token = session.body["token"].as_str().expect("token");
    let me = call(s.addr, "GET", "/api/v1/me", Some(token), None).await;
    assert_eq!(me.status, 403);
    assert!(
        me.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("POST /api/v1/me/password"),
        "{}",
        me.text
    );
    let weak = call(
        s.addr,
        "POST",
        "/api/v1/me/password",
        Some(token),
        Some(json!({"current_password": one_time, "new_password": "abc"})),
    )
    .await;
    assert_eq!(weak.status, 422);
    let error = weak.body["error"].as_str().unwrap_or("");
    for rule in ["at least 8 characters", "uppercase", "digit", "special"] {
        assert!(error.contains(rule), "{rule} missing in {error}");
    }
    let reused = call(
        s.addr,
        "POST",
        "/api/v1/me/password",
        Some(token),
        Some(json!({"current_password": one_time, "new_password": PW})),
    )
    .await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert!(
        reused.text.contains("must differ from the last 5"),
        "{}",
        reused.text
    );
    let changed = call(
        s.addr,
        "POST",
        "/api/v1/me/password",
        Some(token),
        Some(json!({"current_password": one_time, "new_password": "Mới-toanh-2026"})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let fresh = login(s.addr, "hattt@bacgiang.gov.vn", "Mới-toanh-2026").await;
    assert_eq!(
        call(s.addr, "GET", "/api/v1/me", Some(&fresh), None)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_address_out() {
    let s = start(WebConfig {
        login_limits: LoginLimits {
            per_address: 3,
            per_ip: 100,
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(600),
            delay_step: Duration::ZERO,
        },
        ..WebConfig::default()
    })
    .await;
    for _ in 0..3 {
        let a = call(
            s.addr,
            "POST",
            "/api/v1/session",
            None,
            Some(json!({"address": "annv@bacgiang.gov.vn", "password": "sai"})),
        )
        .await;
        assert_eq!(a.status, 401);
    }
    // Locked now, even with the right password; another address is not.
    let locked = call(
        s.addr,
        "POST",
        "/api/v1/session",
        None,
        Some(json!({"address": "annv@bacgiang.gov.vn", "password": PW})),
    )
    .await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    assert!(
        locked.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("try again in 10 minutes")
    );
    login(s.addr, "hattt@bacgiang.gov.vn", PW).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_directory_page_is_escaped_and_optional() {
    let off = start(WebConfig::default()).await;
    let a = call(off.addr, "GET", "/directory", None, None).await;
    assert_eq!(a.status, 404);
    let on = start(WebConfig {
        public_directory: true,
        ..WebConfig::default()
    })
    .await;
    on.ops
        .add_unit(
            "Hội <b>Nông dân</b> & \"bạn\"",
            UnitKind::Association,
            None,
            &Who::cli(None),
        )
        .await
        .expect("unit");
    let page = call(on.addr, "GET", "/directory", None, None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers
            .to_lowercase()
            .contains("content-type: text/html")
    );
    assert!(page.text.contains("Sở Thông tin và Truyền thông"));
    assert!(page.text.contains("mailto:stttt@bacgiang.gov.vn"));
    assert!(
        page.text
            .contains("Hội &lt;b&gt;Nông dân&lt;/b&gt; &amp; &quot;bạn&quot;"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<b>"));
    assert!(!page.text.contains("annv@"), "persons are not published");
}
