//! STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616,
//! SASL-IR RFC 4959).
//!
//! What it keeps true:
//! - No password is accepted over clear text unless the operator allowed it for loopback
//!   clients: `NO [PRIVACYREQUIRED]` otherwise (RFC 5530).
//! - Argon2 verification runs on the blocking pool, never on a runtime worker.
//! - A failed attempt costs the client `FAILURE_DELAY`, and after `MAX_FAILURES` the
//!   connection is closed, so one connection cannot guess passwords quickly.
//! - Suspended and revoked accounts cannot log in, with a sentence saying why.

use crate::cmd::info::plaintext_auth_allowed;
use crate::conn::{Line, Stream};
use crate::done::Done;
use crate::response::Status;
use crate::session::{Session, State};
use congvu_store::{Account, AccountState};
use imap_codec::AuthenticateDataCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use std::time::Duration;

pub const FAILURE_DELAY: Duration = Duration::from_millis(1500);
pub const MAX_FAILURES: u32 = 3;

pub async fn starttls(session: &mut Session, tag: &str) -> std::io::Result<Option<Done>> {
    let Some(tls) = session.ctx.tls.clone() else {
        return Ok(Some(Done::bad("STARTTLS is not available")));
    };
    if session.io.is_tls() {
        return Ok(Some(Done::bad("TLS is already active")));
    }
    session.io.discard_buffered();
    session
        .io
        .out
        .status(tag, Status::Ok, None, "begin TLS negotiation now");
    session.io.flush().await?;
    let Stream::Plain(tcp) = std::mem::replace(&mut session.io.stream, Stream::Closed) else {
        return Err(std::io::ErrorKind::NotConnected.into());
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            session.io.stream = Stream::Tls(Box::new(stream));
            session.io.discard_buffered();
            Ok(None)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

pub async fn login(
    session: &mut Session,
    username: &[u8],
    password: &[u8],
) -> Result<Account, Done> {
    if !plaintext_auth_allowed(session) {
        return Err(Done::no(
            Some("PRIVACYREQUIRED"),
            "use STARTTLS or port 993 before logging in",
        ));
    }
    verify(session, username, password).await
}

pub async fn authenticate(
    session: &mut Session,
    mechanism: &AuthMechanism<'_>,
    initial: Option<Vec<u8>>,
) -> std::io::Result<Result<Account, Done>> {
    if !matches!(mechanism, AuthMechanism::Plain) {
        return Ok(Err(Done::no(
            Some("CANNOT"),
            "only the PLAIN mechanism is supported",
        )));
    }
    if !plaintext_auth_allowed(session) {
        return Ok(Err(Done::no(
            Some("PRIVACYREQUIRED"),
            "use STARTTLS or port 993 before logging in",
        )));
    }
    let response = match initial {
        Some(r) => r,
        None => {
            session.io.out.text("+ \r\n");
            session.io.flush().await?;
            let line = match session.io.read_line().await? {
                Line::Complete(l) => l,
                Line::TooLong | Line::Eof => return Err(std::io::ErrorKind::InvalidData.into()),
            };
            match AuthenticateDataCodec::default().decode(&line) {
                Ok((_, AuthenticateData::Continue(data))) => data.declassify().to_vec(),
                Ok((_, AuthenticateData::Cancel)) => {
                    return Ok(Err(Done::bad("authentication cancelled")));
                }
                Err(_) => return Ok(Err(Done::bad("invalid base64 in authentication data"))),
            }
        }
    };
    // RFC 4616 §2: [authzid] NUL authcid NUL passwd
    let mut parts = response.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Err(Done::bad("malformed PLAIN response")));
    };
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid) {
        return Ok(Err(Done::no(
            Some("AUTHORIZATIONFAILED"),
            "acting as another user is not allowed",
        )));
    }
    Ok(verify(session, authcid, password).await)
}

async fn verify(session: &mut Session, username: &[u8], password: &[u8]) -> Result<Account, Done> {
    let result = check_credentials(session, username, password).await;
    if result.is_err() {
        session.failed_logins += 1;
        tokio::time::sleep(FAILURE_DELAY).await;
        if session.failed_logins >= MAX_FAILURES {
            session
                .io
                .out
                .untagged("BYE too many failed login attempts");
            session.state = State::Logout;
        }
    }
    result
}

async fn check_credentials(
    session: &Session,
    username: &[u8],
    password: &[u8],
) -> Result<Account, Done> {
    let invalid = || Done::no(Some("AUTHENTICATIONFAILED"), "invalid login or password");
    let (Ok(login), Ok(password)) = (std::str::from_utf8(username), std::str::from_utf8(password))
    else {
        return Err(invalid());
    };
    let login = login.trim().to_lowercase();
    let account = session
        .ctx
        .store
        .account_by_address(&login)
        .await
        .map_err(Done::from)?;
    let Some(account) = account else {
        // Spend the same work as a real check so timing does not reveal which logins exist.
        let password = password.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            congvu_core::password::verify_password(&password, dummy_hash())
        })
        .await;
        return Err(invalid());
    };
    let hash = account.password_hash.clone();
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        congvu_core::password::verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false);
    if !ok {
        return Err(invalid());
    }
    match account.state {
        AccountState::Active => Ok(account),
        AccountState::Suspended => Err(Done::no(
            Some("CONTACTADMIN"),
            "this mailbox is suspended; contact the administrator",
        )),
        AccountState::Revoked => Err(Done::no(
            Some("AUTHENTICATIONFAILED"),
            "this mailbox has been revoked",
        )),
    }
}

/// A real Argon2id hash (of a password nobody knows), verified against when the login does not
/// exist, so both paths cost the same.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        congvu_core::password::hash_password("congvu-no-such-login", &[0x5a; 16])
            .unwrap_or_default()
    })
}
