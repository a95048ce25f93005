//! STARTTLS (RFC 9051 §6.2.1), LOGIN (§6.2.3) and AUTHENTICATE (§6.2.2) with PLAIN (RFC 4616)
//! and LOGIN (draft-murchison-sasl-login, what Outlook uses), SASL-IR (RFC 4959).
//!
//! What it keeps true:
//! - No password is accepted over clear text unless the operator allowed it for loopback
//!   clients: `NO [PRIVACYREQUIRED]` otherwise (RFC 5530).
//! - The credentials are judged by `congvu_store::login::check_login`, the one check every
//!   service shares (expiry, must-change, suspended/revoked, app passwords, TOTP, audit of
//!   failures); this file only maps its answer to RFC 5530 response codes.
//! - A failed attempt costs the client `FAILURE_DELAY`, and after `MAX_FAILURES` the
//!   connection is closed, so one connection cannot guess passwords quickly.
//! - Every refusal says in a sentence what the user can do about it.

use crate::cmd::info::plaintext_auth_allowed;
use crate::conn::{Line, Stream};
use crate::done::Done;
use crate::response::Status;
use crate::session::{Session, State};
use congvu_store::login::{LoginRefusal, LoginService, check_login};
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
    if !matches!(mechanism, AuthMechanism::Plain | AuthMechanism::Login) {
        return Ok(Err(Done::no(
            Some("CANNOT"),
            "only the PLAIN and LOGIN mechanisms are supported",
        )));
    }
    if !plaintext_auth_allowed(session) {
        return Ok(Err(Done::no(
            Some("PRIVACYREQUIRED"),
            "use STARTTLS or port 993 before logging in",
        )));
    }
    if matches!(mechanism, AuthMechanism::Login) {
        return authenticate_login(session, initial).await;
    }
    let response = match initial {
        Some(r) => r,
        None => match read_response(session, "").await? {
            Ok(r) => r,
            Err(done) => return Ok(Err(done)),
        },
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

/// The LOGIN mechanism: the user name, then the password, each base64 after a challenge
/// (draft-murchison-sasl-login §2: the challenges are "User Name" and "Password", which
/// clients ignore; we send the customary "Username:"/"Password:"). With SASL-IR the initial
/// response is the user name.
async fn authenticate_login(
    session: &mut Session,
    initial: Option<Vec<u8>>,
) -> std::io::Result<Result<Account, Done>> {
    let username = match initial {
        Some(u) => u,
        None => match read_response(session, "VXNlcm5hbWU6").await? {
            Ok(u) => u,
            Err(done) => return Ok(Err(done)),
        },
    };
    let password = match read_response(session, "UGFzc3dvcmQ6").await? {
        Ok(p) => p,
        Err(done) => return Ok(Err(done)),
    };
    Ok(verify(session, &username, &password).await)
}

/// Sends a continuation request with `challenge` (base64, may be empty) and reads the
/// client's base64 answer; `*` cancels (RFC 9051 §6.2.2).
async fn read_response(
    session: &mut Session,
    challenge: &str,
) -> std::io::Result<Result<Vec<u8>, Done>> {
    session.io.out.text(&format!("+ {challenge}\r\n"));
    session.io.flush().await?;
    let line = match session.io.read_line().await? {
        Line::Complete(l) => l,
        Line::TooLong | Line::Eof => return Err(std::io::ErrorKind::InvalidData.into()),
    };
    Ok(match AuthenticateDataCodec::default().decode(&line) {
        Ok((_, AuthenticateData::Continue(data))) => Ok(data.declassify().to_vec()),
        Ok((_, AuthenticateData::Cancel)) => Err(Done::bad("authentication cancelled")),
        Err(_) => Err(Done::bad("invalid base64 in authentication data")),
    })
}

async fn verify(session: &mut Session, username: &[u8], password: &[u8]) -> Result<Account, Done> {
    let result = check_credentials(session, username, password).await;
    // A store failure (NO [UNAVAILABLE]) is not the client's fault: no delay, not counted.
    if result
        .as_ref()
        .is_err_and(|done| done.code.as_deref() != Some("UNAVAILABLE"))
    {
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
    // Not UTF-8: no such login, but the shared check still spends the work and audits it.
    let login = std::str::from_utf8(username).unwrap_or("");
    let password = String::from_utf8_lossy(password);
    let ctx = &session.ctx;
    check_login(
        ctx.store.as_ref(),
        &ctx.config.login_policy,
        LoginService::Imap,
        login,
        &password,
        None,
        &session.io.peer.ip().to_string(),
        (ctx.config.now)(),
    )
    .await
    .map(|ok| ok.account)
    .map_err(refusal_reply)
}

/// Where a user whose password may not be used is sent.
const CHANGE_PASSWORD: &str = "change it in webmail or ask your unit IT contact to reset it";

/// RFC 5530 response codes for each refusal of the shared login check.
fn refusal_reply(refusal: LoginRefusal) -> Done {
    match refusal {
        LoginRefusal::BadCredentials | LoginRefusal::SecondFactorRequired => {
            Done::no(Some("AUTHENTICATIONFAILED"), "invalid login or password")
        }
        LoginRefusal::AppPasswordRequired => Done::no(
            Some("AUTHENTICATIONFAILED"),
            "this mailbox uses two-step login: mail programs must log in with an app \
             password; ask your unit IT contact for one",
        ),
        // RFC 5530 §3: EXPIRED, "the client or user should get a new passphrase".
        LoginRefusal::Expired => Done::no(
            Some("EXPIRED"),
            format!("your password has expired; {CHANGE_PASSWORD}"),
        ),
        LoginRefusal::MustChange => Done::no(
            Some("EXPIRED"),
            format!(
                "this password was set by an administrator and must be changed before use; {CHANGE_PASSWORD}"
            ),
        ),
        // RFC 5530 §3: CONTACTADMIN, "the user should contact the system administrator".
        LoginRefusal::Disabled(AccountState::Suspended) => Done::no(
            Some("CONTACTADMIN"),
            "this mailbox is suspended; contact your unit IT contact or the administrator",
        ),
        LoginRefusal::Disabled(
            AccountState::Revoked | AccountState::Purged | AccountState::Active,
        ) => Done::no(
            Some("CONTACTADMIN"),
            "this mailbox has been revoked and can no longer be used; contact the administrator",
        ),
        // RFC 5530 §3: UNAVAILABLE, temporary: the source must wait after failed logins
        // (R-POL-9), so a mail program should try later rather than ask for the password.
        LoginRefusal::Backoff { retry_after } => Done::no(
            Some("UNAVAILABLE"),
            LoginRefusal::wait_sentence(retry_after),
        ),
        LoginRefusal::Store(error) => Done::from(error),
    }
}
