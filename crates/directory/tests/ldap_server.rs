//! The LDAP server over a real socket and a real SQLite store, spoken to with ldap3_proto's
//! codec as the client's framing: bind rules, search, write refusal, bad BER, shutdown.

use congvu_core::naming::UnitKind;
use congvu_core::password::hash_password;
use congvu_directory::ldap::{self, LdapConfig, LdapContext};
use congvu_store::sqlite::SqliteStore;
use congvu_store::{AccountDetails, AccountKind, NewAccount, NewUnit, Store};
use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter, LdapMsg, LdapOp, LdapResultCode,
    LdapSearchRequest, LdapSearchScope, LdapSubstringFilter,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const BASE: &str = "dc=bacgiang,dc=gov,dc=vn";
const PASSWORD: &str = "Mat-Khau-2024!";

async fn start(
    anonymous: bool,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("meta.db"))
            .await
            .expect("store"),
    );
    let hash = hash_password(PASSWORD, &[1u8; 16]).expect("hash");
    let unit = store
        .create_unit(NewUnit {
            name: "Sở Thông tin và Truyền thông".into(),
            kind: UnitKind::Department,
            parent: None,
            mailbox: Some(NewAccount {
                address: "stttt@bacgiang.gov.vn".into(),
                display_name: "Sở Thông tin và Truyền thông".into(),
                password_hash: hash.clone(),
                kind: AccountKind::Unit,
                created_at: 1,
            }),
            mailbox_details: AccountDetails::default(),
            created_at: 1,
        })
        .await
        .expect("unit");
    store
        .create_account_with_details(
            NewAccount {
                address: "annv@bacgiang.gov.vn".into(),
                display_name: "Nguyễn Văn An".into(),
                password_hash: hash,
                kind: AccountKind::Person,
                created_at: 1,
            },
            AccountDetails {
                unit: Some(unit.id),
                title: "Chuyên viên".into(),
                ..Default::default()
            },
        )
        .await
        .expect("person");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ctx = Arc::new(LdapContext {
        store,
        tls: None,
        config: LdapConfig {
            base_dn: BASE.into(),
            domain: "bacgiang.gov.vn".into(),
            anonymous,
            size_limit: 100,
            idle_timeout: Duration::from_secs(60),
            login_policy: congvu_store::login::LoginPolicy::default(),
        },
        now: || 1_700_000_000,
    });
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ldap::serve(listener, ctx, shutdown.clone()));
    (addr, shutdown, server, dir)
}

async fn connect(addr: std::net::SocketAddr) -> Framed<TcpStream, LdapCodec> {
    Framed::new(
        TcpStream::connect(addr).await.expect("connect"),
        LdapCodec::default(),
    )
}

async fn call(conn: &mut Framed<TcpStream, LdapCodec>, msgid: i32, op: LdapOp) -> Vec<LdapMsg> {
    conn.send(LdapMsg {
        msgid,
        op,
        ctrl: vec![],
    })
    .await
    .expect("send");
    let mut replies = Vec::new();
    loop {
        let reply = tokio::time::timeout(Duration::from_secs(20), conn.next())
            .await
            .expect("an answer in time")
            .expect("connection open")
            .expect("readable");
        let last = !matches!(reply.op, LdapOp::SearchResultEntry(_));
        replies.push(reply);
        if last {
            return replies;
        }
    }
}

fn bind(dn: &str, password: &str) -> LdapOp {
    LdapOp::BindRequest(LdapBindRequest {
        version: 3,
        dn: dn.into(),
        cred: LdapBindCred::Simple(password.into()),
    })
}

fn search(filter: LdapFilter) -> LdapOp {
    LdapOp::SearchRequest(LdapSearchRequest {
        base: BASE.into(),
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit: 0,
        timelimit: 0,
        typesonly: false,
        filter,
        attrs: vec!["cn".into(), "mail".into()],
    })
}

fn code(msg: &LdapMsg) -> LdapResultCode {
    match &msg.op {
        LdapOp::BindResponse(r) => r.res.code.clone(),
        LdapOp::SearchResultDone(r)
        | LdapOp::DelResponse(r)
        | LdapOp::AddResponse(r)
        | LdapOp::ModifyResponse(r) => r.code.clone(),
        other => panic!("not a result: {other:?}"),
    }
}

fn nguyen() -> LdapFilter {
    LdapFilter::Substring(
        "cn".into(),
        LdapSubstringFilter {
            initial: None,
            any: vec!["nguyen".into()],
            final_: None,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_then_search_and_writes_refused() {
    let (addr, shutdown, server, _dir) = start(false).await;
    let mut c = connect(addr).await;

    let r = call(&mut c, 1, search(nguyen())).await;
    assert_eq!(code(&r[0]), LdapResultCode::InsufficentAccessRights);
    let r = call(&mut c, 2, bind("annv@bacgiang.gov.vn", "wrong")).await;
    assert_eq!(code(&r[0]), LdapResultCode::InvalidCredentials);
    let r = call(
        &mut c,
        3,
        bind(
            &format!("mail=annv@bacgiang.gov.vn,ou=people,{BASE}"),
            PASSWORD,
        ),
    )
    .await;
    assert_eq!(code(&r[0]), LdapResultCode::Success);

    let r = call(&mut c, 4, search(nguyen())).await;
    assert_eq!(r.len(), 2, "{r:?}");
    let LdapOp::SearchResultEntry(entry) = &r[0].op else {
        panic!("{r:?}")
    };
    assert_eq!(
        entry.dn,
        format!("mail=annv@bacgiang.gov.vn,ou=people,{BASE}")
    );
    let names: Vec<&str> = entry.attributes.iter().map(|a| a.atype.as_str()).collect();
    assert_eq!(names, ["cn", "mail"]);
    assert_eq!(
        entry.attributes[0].vals,
        [b"Nguy\xe1\xbb\x85n V\xc4\x83n An".to_vec()]
    );
    assert_eq!(code(&r[1]), LdapResultCode::Success);

    let r = call(&mut c, 5, LdapOp::DelRequest(entry.dn.clone())).await;
    assert_eq!(code(&r[0]), LdapResultCode::UnwillingToPerform);

    // The unit mailbox is under ou=units.
    let r = call(
        &mut c,
        6,
        search(LdapFilter::Equality(
            "mail".into(),
            "STTTT@bacgiang.gov.vn".into(),
        )),
    )
    .await;
    let LdapOp::SearchResultEntry(unit) = &r[0].op else {
        panic!("{r:?}")
    };
    assert_eq!(
        unit.dn,
        format!("mail=stttt@bacgiang.gov.vn,ou=units,{BASE}")
    );

    shutdown.cancel();
    // Open connections are told (Notice of Disconnection) and the server drains.
    let notice = tokio::time::timeout(Duration::from_secs(20), c.next())
        .await
        .expect("in time");
    if let Some(Ok(msg)) = notice {
        assert!(matches!(msg.op, LdapOp::ExtendedResponse(_)), "{msg:?}");
    }
    server.await.expect("joined").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ber_closes_only_that_connection() {
    let (addr, shutdown, server, _dir) = start(true).await;
    let mut good = connect(addr).await;

    let mut bad = TcpStream::connect(addr).await.expect("connect");
    // A SEQUENCE holding a message ID and an OCTET STRING where the operation belongs.
    bad.write_all(b"\x30\x05\x02\x01\x01\x04\x00")
        .await
        .expect("write");
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), bad.read_to_end(&mut got))
        .await
        .expect("closed in time")
        .expect("read");
    assert_eq!(
        got.first(),
        Some(&0x30),
        "a Notice of Disconnection: {got:?}"
    );

    let r = call(&mut good, 1, search(nguyen())).await;
    assert_eq!(r.len(), 2, "the other connection still works: {r:?}");
    shutdown.cancel();
    server.await.expect("joined").expect("served");
}
