//! The POP3 server against Python's poplib, a real client: login, STAT, LIST, UIDL across
//! sessions, TOP, RETR byte for byte, DELE with and without QUIT, the maildrop lock, STLS,
//! implicit TLS and AUTH PLAIN.

mod common;

use common::{Options, Server, start, tls_config};
use congvu_pop3::TlsMode;

const M1: &str = "From: an@tinh.gov.vn\r\nTo: binh@tinh.gov.vn\r\nSubject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o?=\r\n\r\nDòng một\r\n.dòng bắt đầu bằng dấu chấm\r\n..\r\n.\r\nhết\r\n";
const M2: &str = "Subject: second\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";
const M3: &str = "Subject: third\r\n\r\nonly the top\r\nof this one\r\n";

async fn with_three_messages(options: Options) -> (Server, Vec<u32>) {
    let s = start(options).await;
    let mut uids = Vec::new();
    for m in [M1, M2, M3] {
        uids.push(s.deliver("binh", m.as_bytes()).await);
    }
    (s, uids)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn user_pass_stat_list_uidl_top_retr() {
    let (s, uids) = with_three_messages(Options::default()).await;
    let uidvalidity = s.inbox("binh").await.uidvalidity;
    let out = s
        .python(
            r#"
p = poplib.POP3(HOST, PORT, timeout=30)
print("LOGIN", login(p, "binh").decode())
print("STAT", p.stat())
resp, lines, _ = p.list()
print("LIST", [l.decode() for l in lines])
print("LIST2", p.list(2).decode())
resp, lines, _ = p.uidl()
print("UIDL", [l.decode() for l in lines])
print("UIDL3", p.uidl(3).decode())
resp, lines, _ = p.top(2, 1)
print("TOP", hexlines(lines))
resp, lines, _ = p.top(3, 0)
print("TOP0", hexlines(lines))
resp, lines, octets = p.retr(1)
print("RETR1", resp.decode(), hexlines(lines))
resp, lines, octets = p.retr(2)
print("RETR2", hexlines(lines))
print("BAD", err(lambda: p.retr(4)))
print("QUIT", p.quit().decode())
"#,
        )
        .await;
    let sizes: Vec<usize> = [M1, M2, M3].iter().map(|m| m.len()).collect();
    let total: usize = sizes.iter().sum();
    let expected = [
        "LOGIN +OK binh@tinh.gov.vn has 3 messages".to_string(),
        format!("STAT (3, {total})"),
        format!(
            "LIST ['1 {}', '2 {}', '3 {}']",
            sizes[0], sizes[1], sizes[2]
        ),
        format!("LIST2 +OK 2 {}", sizes[1]),
        format!(
            "UIDL ['1 {v}.{}', '2 {v}.{}', '3 {v}.{}']",
            uids[0],
            uids[1],
            uids[2],
            v = uidvalidity
        ),
        format!("UIDL3 +OK 3 {uidvalidity}.{}", uids[2]),
        format!("TOP {}", hex("Subject: second\r\n\r\nline 1\r\n")),
        format!("TOP0 {}", hex("Subject: third\r\n\r\n")),
        format!("RETR1 +OK {} octets {}", sizes[0], hex(M1)),
        format!("RETR2 {}", hex(M2)),
        "BAD -ERR There is no message 4; this mailbox has 3 messages.".to_string(),
        "QUIT +OK pop.tinh.gov.vn signing off; 0 messages deleted, 3 left.".to_string(),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "got {line:?}\nwanted {want:?}"
        );
    }
    // RETR marked 1 and 2 seen; TOP did not mark 3.
    let state = s.inbox_state("binh").await;
    assert_eq!(
        state,
        vec![
            (uids[0], true, false),
            (uids[1], true, false),
            (uids[2], false, false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dele_is_honoured_only_at_quit_and_uidl_is_stable() {
    let (s, uids) = with_three_messages(Options::default()).await;
    let out = s
        .python(
            r#"
p = poplib.POP3(HOST, PORT, timeout=30)
login(p, "binh")
first = p.uidl()[1]
print("DELE", p.dele(1).decode())
print("AGAIN", err(lambda: p.dele(1)))
print("RETR", err(lambda: p.retr(1)))
print("STAT", p.stat())
# Drop the connection without QUIT: nothing may be deleted.
p.sock.close()

p = poplib.POP3(HOST, PORT, timeout=30)
login(p, "binh")
print("SAME", p.uidl()[1] == first)
print("STAT", p.stat())
p.dele(1)
p.dele(2)
print("RSET", p.rset().decode())
print("STAT", p.stat())
p.dele(2)
print("QUIT", p.quit().decode())

p = poplib.POP3(HOST, PORT, timeout=30)
login(p, "binh")
print("LEFT", [l.decode().split()[1] for l in p.uidl()[1]])
p.quit()
"#,
        )
        .await;
    let uidvalidity = s.inbox("binh").await.uidvalidity;
    let expected = [
        "DELE +OK Message 1 will be deleted when you QUIT.".to_string(),
        "AGAIN -ERR Message 1 is already deleted.".to_string(),
        "RETR -ERR Message 1 is already deleted.".to_string(),
        format!("STAT (2, {})", M2.len() + M3.len()),
        "SAME True".to_string(),
        format!("STAT (3, {})", M1.len() + M2.len() + M3.len()),
        "RSET +OK Nothing will be deleted; the mailbox has 3 messages".to_string(),
        format!("STAT (3, {})", M1.len() + M2.len() + M3.len()),
        "QUIT +OK pop.tinh.gov.vn signing off; 1 messages deleted, 2 left.".to_string(),
        format!(
            "LEFT ['{uidvalidity}.{}', '{uidvalidity}.{}']",
            uids[0], uids[2]
        ),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "got {line:?}\nwanted {want:?}"
        );
    }
    // Message 2 is expunged from the store, not just flagged.
    let state = s.inbox_state("binh").await;
    assert_eq!(
        state.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![uids[0], uids[2]]
    );
    assert!(state.iter().all(|m| !m.2), "no message left \\Deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_session_gets_in_use() {
    let (s, _) = with_three_messages(Options::default()).await;
    let out = s
        .python(
            r#"
p1 = poplib.POP3(HOST, PORT, timeout=30)
login(p1, "binh")
p2 = poplib.POP3(HOST, PORT, timeout=30)
print("SECOND", err(lambda: login(p2, "binh")))
p3 = poplib.POP3(HOST, PORT, timeout=30)
print("OTHER", login(p3, "an").decode())
p3.quit()
p1.quit()
print("AFTER", login(p2, "binh").decode())
p2.quit()
"#,
        )
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("SECOND -ERR [IN-USE] This mailbox is already open"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("OTHER +OK an@tinh.gov.vn has 0 messages"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("AFTER +OK binh@tinh.gov.vn has 3 messages"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stls_then_login_and_no_password_before_tls() {
    let (tls, _) = tls_config();
    let (s, _) = with_three_messages(Options {
        tls: Some(tls),
        mode: TlsMode::Stls,
        allow_plaintext_auth_on_loopback: false,
        ..Options::default()
    })
    .await;
    let out = s
        .python(
            r#"
p = poplib.POP3(HOST, PORT, timeout=30)
print("CAPA", sorted(p.capa().keys()))
print("USER", err(lambda: p.user("binh@tinh.gov.vn")))
print("AUTH", err(lambda: p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0binh@tinh.gov.vn\0x").decode())))
print("STLS", p.stls(context=unverified()).decode())
print("CAPA", sorted(p.capa().keys()))
print("LOGIN", login(p, "binh").decode())
print("STAT", p.stat()[0])
p.quit()
"#,
        )
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "CAPA ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'STLS', 'TOP', 'UIDL']",
            "USER -ERR [AUTH] Passwords are not accepted on an unencrypted connection; send STLS first, or use the POP3S port.",
            "AUTH -ERR [AUTH] Passwords are not accepted on an unencrypted connection; send STLS first, or use the POP3S port.",
            "STLS +OK Begin TLS negotiation now.",
            "CAPA ['AUTH-RESP-CODE', 'IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER']",
            "LOGIN +OK binh@tinh.gov.vn has 3 messages (242 octets).",
            "STAT 3",
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_listener() {
    let (tls, _) = tls_config();
    let (s, _) = with_three_messages(Options {
        tls: Some(tls),
        mode: TlsMode::Implicit,
        allow_plaintext_auth_on_loopback: false,
        ..Options::default()
    })
    .await;
    let out = s
        .python(
            r#"
p = poplib.POP3_SSL(HOST, PORT, timeout=30, context=unverified())
print(p.getwelcome().decode())
print("STLS" in p.capa())
print(login(p, "binh").decode())
resp, lines, _ = p.retr(2)
print(hexlines(lines))
p.quit()
"#,
        )
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "+OK pop.tinh.gov.vn POP3 server ready",
            "False",
            "+OK binh@tinh.gov.vn has 3 messages (242 octets).",
            hex(M2).as_str(),
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_plain_with_initial_response_and_continuation() {
    let (s, _) = with_three_messages(Options::default()).await;
    let out = s
        .python(
            r#"
def plain(authzid, login, password):
    return base64.b64encode(authzid.encode() + b"\0" + login.encode() + b"\0" + password.encode()).decode()

p = poplib.POP3(HOST, PORT, timeout=30)
print("IR", p._shortcmd("AUTH PLAIN " + plain("", "binh@tinh.gov.vn", PASSWORD)).decode())
p.quit()

p = poplib.POP3(HOST, PORT, timeout=30)
p._putcmd("AUTH PLAIN")
print("CONT", p._getline()[0].decode())
print("RESP", p._shortcmd(plain("binh@tinh.gov.vn", "Binh@Tinh.gov.vn", PASSWORD)).decode())
p.quit()

p = poplib.POP3(HOST, PORT, timeout=30)
print("WRONG", err(lambda: p._shortcmd("AUTH PLAIN " + plain("", "binh@tinh.gov.vn", "sai"))))
print("OTHER", err(lambda: p._shortcmd("AUTH PLAIN " + plain("an@tinh.gov.vn", "binh@tinh.gov.vn", PASSWORD))))
p._putcmd("AUTH PLAIN")
p._getline()
print("CANCEL", err(lambda: p._shortcmd("*")))
print("MECH", err(lambda: p._shortcmd("AUTH CRAM-MD5")))
print("LIST", p._longcmd("AUTH")[1])
p.quit()
"#,
        )
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "IR +OK binh@tinh.gov.vn has 3 messages (242 octets).",
            "CONT + ",
            "RESP +OK binh@tinh.gov.vn has 3 messages (242 octets).",
            "WRONG -ERR [AUTH] The e-mail address or the password is wrong.",
            "OTHER -ERR [AUTH] Logging in as another user is not allowed.",
            "CANCEL -ERR Authentication cancelled.",
            "MECH -ERR The only supported mechanism is PLAIN.",
            "LIST [b'PLAIN']",
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_message_is_streamed_intact() {
    let s = start(Options::default()).await;
    // Over 1 MB: many send chunks, dot lines at every position, and one 200 KB line.
    let mut raw = String::from("Subject: large\r\n\r\n");
    for i in 0..20_000 {
        if i % 7 == 0 {
            raw.push_str(".\r\n");
        }
        raw.push_str(&format!(".line {i} của báo cáo dài\r\n"));
    }
    raw.push_str(&"x".repeat(200_000));
    raw.push_str("\r\nend\r\n");
    s.deliver("binh", raw.as_bytes()).await;
    let out = s
        .python(
            r#"
p = poplib.POP3(HOST, PORT, timeout=30)
login(p, "binh")
poplib._MAXLINE = 1 << 20
resp, lines, octets = p.retr(1)
print(resp.decode())
print(hexlines(lines))
p.quit()
"#,
        )
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], format!("+OK {} octets", raw.len()));
    assert!(
        lines[1] == hex(&raw),
        "RETR differs from the stored message"
    );
}
