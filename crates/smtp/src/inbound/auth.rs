//! AUTH (RFC 4954) on submission: PLAIN (RFC 4616) and LOGIN, inside TLS only.
//!
//! Keeps true:
//! - No password is ever accepted outside TLS: before TLS, AUTH answers `530 5.7.0 Must
//!   issue a STARTTLS command first` (RFC 3207 §4, RFC 8314 §3), on loopback too.
//! - AUTH needs EHLO first, is refused during a transaction and after a successful AUTH
//!   (`503 5.5.1`, RFC 4954 §4).
//! - Credentials are judged by `congvu_store::login::check_login`, shared by every service
//!   (Argon2 on the blocking pool with a dummy hash for unknown logins, password expiry and
//!   must-change, app passwords, TOTP, an audit entry per failure), at most
//!   `MAX_CONCURRENT_PASSWORD_CHECKS` at once.
//! - A failure answers `535 5.7.8` (an expired or reset password too, with where to change
//!   it) after [`AUTH_FAILURE_DELAY`]; after [`MAX_AUTH_FAILURES`] on one connection the
//!   session answers `421 4.7.0` and closes.
//! - A suspended or revoked mailbox is refused (`535 5.7.8`) with a sentence saying so, but
//!   only after its password was right (a guesser learns nothing about the state).
//! - Passwords are never logged.

use std::time::Duration;

use congvu_store::AccountState;
use congvu_store::login::{LoginRefusal, LoginService, check_login};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tokio::io::{AsyncRead, AsyncWrite};

use super::connection::{Connection, Filled};
use super::session::{Login, Session, Step};
use crate::reply::{Reply, write_reply};

/// Wait before answering a failed AUTH: slows password guessing on one connection.
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_secs(1);
/// Failed AUTH attempts allowed on one connection before it is closed.
pub const MAX_AUTH_FAILURES: usize = 3;
/// RFC 4954 §4: a line of the AUTH exchange may be up to 12288 octets.
const MAX_AUTH_LINE: usize = 12288;

/// Why an AUTH attempt did not log in.
enum Refusal {
    /// Protocol problem: answered as is, without delay, not counted as a failed login.
    Reply(Reply),
    /// Wrong login or password, or a mailbox that may not log in: delayed and counted.
    Failed(Reply),
    /// The connection ended or timed out during the exchange.
    Step(Step),
}

impl Session<'_> {
    pub(crate) async fn on_auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        mechanism: u64,
        initial: &str,
        conn: &mut Connection<S>,
    ) -> Step {
        if !self.tls {
            return Step::Reply(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            ));
        }
        if !self.helo.as_ref().is_some_and(|h| h.extended) {
            return Step::Reply(Reply::new(503, "5.5.1", "Send EHLO first"));
        }
        if self.login.is_some() {
            return Step::Reply(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.tx.is_some() {
            return Step::Reply(Reply::new(
                503,
                "5.5.1",
                "AUTH is not allowed during a mail transaction",
            ));
        }
        let credentials = match mechanism {
            AUTH_PLAIN => self.plain_credentials(initial, conn).await,
            AUTH_LOGIN => self.login_credentials(initial, conn).await,
            _ => Err(Refusal::Reply(Reply::new(
                504,
                "5.5.4",
                "Unrecognized authentication type; use PLAIN or LOGIN",
            ))),
        };
        let outcome = match credentials {
            Ok((user, password)) => self.check_credentials(&user, &password).await,
            Err(refusal) => Err(refusal),
        };
        match outcome {
            Ok(login) => {
                tracing::info!(peer = %self.peer, login = %login.address, "submission: authenticated");
                self.login = Some(login);
                Step::Reply(Reply::new(235, "2.7.0", "Authentication successful"))
            }
            Err(Refusal::Reply(reply)) => Step::Reply(reply),
            Err(Refusal::Step(step)) => step,
            Err(Refusal::Failed(reply)) => {
                self.auth_failures += 1;
                tracing::info!(peer = %self.peer, failures = self.auth_failures, reason = %reply.text, "submission: authentication failed");
                tokio::time::sleep(AUTH_FAILURE_DELAY).await;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    reply.write(&mut conn.out);
                    write_reply(
                        &mut conn.out,
                        421,
                        "4.7.0",
                        "Too many failed authentication attempts, closing connection",
                    );
                    return Step::Close;
                }
                Step::Reply(reply)
            }
        }
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`, as the initial response or after `334 `.
    async fn plain_credentials<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        initial: &str,
        conn: &mut Connection<S>,
    ) -> Result<(String, String), Refusal> {
        let encoded = if initial.is_empty() {
            write_reply(&mut conn.out, 334, "", "");
            self.read_auth_line(conn).await?
        } else {
            initial.to_string()
        };
        let decoded = decode_response(&encoded)?;
        let mut parts = decoded.split(|b| *b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Reply(Reply::new(
                501,
                "5.5.2",
                "PLAIN response must be [authzid] NUL login NUL password",
            )));
        };
        let user = utf8(authcid)?;
        let password = utf8(password)?;
        // RFC 4616 §2: acting for another identity is not offered; an authzid naming the
        // login itself is the same as none.
        if !authzid.is_empty() && !utf8(authzid)?.trim().eq_ignore_ascii_case(user.trim()) {
            return Err(Refusal::Failed(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid: authorization identity must be empty or the login itself",
            )));
        }
        Ok((user, password))
    }

    /// The LOGIN mechanism: base64 user name and password, each after a `334` prompt
    /// ("Username:", "Password:"); some clients send the user name with AUTH itself.
    async fn login_credentials<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        initial: &str,
        conn: &mut Connection<S>,
    ) -> Result<(String, String), Refusal> {
        let user = if initial.is_empty() {
            write_reply(&mut conn.out, 334, "", "VXNlcm5hbWU6");
            self.read_auth_line(conn).await?
        } else {
            initial.to_string()
        };
        let user = utf8(&decode_response(&user)?)?;
        write_reply(&mut conn.out, 334, "", "UGFzc3dvcmQ6");
        let password = self.read_auth_line(conn).await?;
        let password = utf8(&decode_response(&password)?)?;
        Ok((user, password))
    }

    /// Reads one client line of the exchange (without CRLF). `*` cancels (RFC 4954 §4).
    async fn read_auth_line<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Connection<S>,
    ) -> Result<String, Refusal> {
        loop {
            let buffered = conn.buffered();
            if let Some(pos) = buffered.iter().position(|b| *b == b'\n') {
                let line = buffered[..pos]
                    .strip_suffix(b"\r")
                    .unwrap_or(&buffered[..pos]);
                let line = String::from_utf8_lossy(line).trim().to_string();
                conn.consume(pos + 1);
                if line == "*" {
                    return Err(Refusal::Reply(Reply::new(
                        501,
                        "5.0.0",
                        "Authentication cancelled",
                    )));
                }
                return Ok(line);
            }
            if buffered.len() > MAX_AUTH_LINE {
                // The rest of the line cannot be told from the next command: end here.
                write_reply(
                    &mut conn.out,
                    500,
                    "5.5.6",
                    "Authentication exchange line is too long",
                );
                return Err(Refusal::Step(Step::Close));
            }
            match conn.fill(Some(self.shutdown)).await {
                Ok(Filled::Data) => {}
                Ok(Filled::Shutdown) => {
                    write_reply(
                        &mut conn.out,
                        421,
                        "4.3.2",
                        "Server shutting down, try again later",
                    );
                    return Err(Refusal::Step(Step::Close));
                }
                Ok(Filled::Timeout) => return Err(Refusal::Step(Step::Timeout)),
                Ok(Filled::Eof) | Err(_) => return Err(Refusal::Step(Step::Close)),
            }
        }
    }

    /// The shared login check (`congvu_store::login`), at most
    /// `MAX_CONCURRENT_PASSWORD_CHECKS` at once; the login is the full mailbox address.
    async fn check_credentials(&self, user: &str, password: &str) -> Result<Login, Refusal> {
        let unavailable = || {
            Refusal::Reply(Reply::new(
                454,
                "4.7.0",
                "Temporary authentication failure, try again later",
            ))
        };
        let _permit = self
            .ctx
            .limits
            .password_checks
            .acquire()
            .await
            .map_err(|_| unavailable())?;
        let config = &self.ctx.config;
        let ok = check_login(
            self.ctx.store.as_ref(),
            &config.login_policy,
            LoginService::Smtp,
            user,
            password,
            None,
            &self.peer.ip().to_string(),
            (config.now)(),
        )
        .await
        .map_err(|refusal| refusal_reply(refusal, &user.trim().to_lowercase()))?;
        Ok(Login {
            account: ok.account.id,
            address: ok.account.address,
        })
    }
}

/// Where a user whose password may not be used is sent.
const CHANGE_PASSWORD: &str = "change it in webmail or ask your unit IT contact to reset it";

/// RFC 4954 §6 defines one reply for credentials that do not let the user in, `535 5.7.8`,
/// and every refusal uses it with a sentence saying why. An expired or reset password is a
/// credential the user must replace, so 535 fits (`432 4.7.12` "a password transition is
/// needed" is about moving to another mechanism, not to a new password). For a mailbox
/// disabled by the operator the registry has `525 5.7.13` "user account disabled" (RFC 5248),
/// but it is not in RFC 4954 and clients show a 535's text and ask again more reliably than
/// an unknown code, so 535 with a sentence naming the state is used there too. A failing
/// store is `454 4.7.0` (temporary), not counted as a failed login.
fn refusal_reply(refusal: LoginRefusal, address: &str) -> Refusal {
    let failed = |text: String| Refusal::Failed(Reply::new(535, "5.7.8", text));
    match refusal {
        LoginRefusal::BadCredentials | LoginRefusal::SecondFactorRequired => {
            failed("Authentication credentials invalid".to_string())
        }
        LoginRefusal::AppPasswordRequired => failed(
            "Authentication credentials invalid: this mailbox uses two-step login, mail \
             programs must log in with an app password; ask your unit IT contact for one"
                .to_string(),
        ),
        LoginRefusal::Expired => failed(format!(
            "Authentication credentials invalid: your password has expired; {CHANGE_PASSWORD}"
        )),
        LoginRefusal::MustChange => failed(format!(
            "Authentication credentials invalid: this password was set by an administrator \
             and must be changed before use; {CHANGE_PASSWORD}"
        )),
        LoginRefusal::Disabled(AccountState::Suspended) => failed(format!(
            "Authentication refused: the mailbox <{address}> is suspended and cannot send mail; \
             ask the mail operator to reactivate it"
        )),
        LoginRefusal::Disabled(
            AccountState::Revoked | AccountState::Purged | AccountState::Active,
        ) => failed(format!(
            "Authentication refused: the mailbox <{address}> has been revoked and can no longer \
             be used"
        )),
        // Waiting after failed logins (R-POL-9): temporary, like RFC 4954's 454 4.7.0, and
        // not counted again by this connection.
        LoginRefusal::Backoff { retry_after } => Refusal::Reply(Reply::new(
            454,
            "4.7.0",
            LoginRefusal::wait_sentence(retry_after),
        )),
        LoginRefusal::Store(error) => {
            tracing::warn!(%error, "submission: login check could not read the store");
            Refusal::Reply(Reply::new(
                454,
                "4.7.0",
                "Temporary authentication failure, try again later",
            ))
        }
    }
}

/// A client response: base64 (RFC 4954 §4), where `=` stands for an empty response.
fn decode_response(text: &str) -> Result<Vec<u8>, Refusal> {
    if text == "=" {
        return Ok(Vec::new());
    }
    decode_base64(text.as_bytes()).ok_or_else(|| {
        Refusal::Reply(Reply::new(
            501,
            "5.5.2",
            "Cannot Base64-decode client response",
        ))
    })
}

fn utf8(bytes: &[u8]) -> Result<String, Refusal> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Refusal::Reply(Reply::new(501, "5.5.2", "Login and password must be UTF-8")))
}

/// Strict RFC 4648 §4 base64 with padding: the length is a multiple of 4, `=` only at the
/// end, no other character. `None` for anything else.
pub(crate) fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.len() / 4;
    for (i, quad) in input.chunks_exact(4).enumerate() {
        let padding = quad.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != quads) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &quad[..4 - padding] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Username:", "VXNlcm5hbWU6"),
            ("Password:", "UGFzc3dvcmQ6"),
        ] {
            assert_eq!(
                decode_base64(encoded.as_bytes()).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        assert_eq!(
            decode_base64(b"AGFuQHRpbmguZ292LnZuAHNlY3JldA==").as_deref(),
            Some(&b"\0an@tinh.gov.vn\0secret"[..])
        );
    }

    #[test]
    fn base64_refuses_malformed_input() {
        for bad in ["Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9v", "=Zm9"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }
}
