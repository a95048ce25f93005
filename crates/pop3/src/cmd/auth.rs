//! The AUTHORIZATION state: STLS (RFC 2595 §4), USER/PASS (RFC 1939 §7), AUTH PLAIN
//! (RFC 5034 with RFC 4616), then the maildrop lock (RFC 1939 §8).
//!
//! Keeps true:
//! - No password is taken on an unencrypted connection unless the operator allowed it for
//!   loopback clients: USER, PASS and AUTH answer `-ERR [AUTH]` saying to use STLS first, and
//!   the password is never looked at.
//! - The credentials are judged by `congvu_store::login::check_login`, shared by every
//!   service: Argon2 on the blocking pool, an unknown login costing the same work as a wrong
//!   password with the same sentence, expiry and must-change (`-ERR [AUTH]` with where to
//!   change the password, RFC 3206), app passwords, and an audit entry for each failure.
//! - A failed login costs [`LOGIN_FAILURE_DELAY`]; after [`MAX_LOGIN_FAILURES`] the connection
//!   is closed.
//! - Suspended and revoked accounts are refused (`-ERR [SYS/PERM]`) with a sentence saying
//!   so, only after the password was verified.
//! - The maildrop lock is taken only after the credentials are good; a mailbox already open
//!   in another POP3 session gets `-ERR [IN-USE]` (RFC 2449 §8.1.2).

use congvu_store::login::{LoginRefusal, LoginService, check_login};
use congvu_store::{Account, AccountState};

use crate::command::strip_line_end;
use crate::maildrop::Maildrop;
use crate::reply::{Code, Reply, store_failure};
use crate::sasl::{SaslError, decode_plain};
use crate::session::{Authorization, Next, Session, State};
use crate::{LOGIN_FAILURE_DELAY, MAX_LOGIN_FAILURES};

/// Why a login did not succeed.
enum LoginRefused {
    /// Wrong login or password, or an account that may not log in: counts as a failure.
    Credentials(Reply),
    /// The store failed: not the client's fault.
    Store(Reply),
}

fn plaintext_refused() -> Reply {
    Reply::err_code(
        Code::Auth,
        "Passwords are not accepted on an unencrypted connection; send STLS first, or use \
         the POP3S port.",
    )
}

fn invalid_login() -> Reply {
    Reply::err_code(Code::Auth, "The e-mail address or the password is wrong.")
}

impl Session<'_> {
    pub(crate) fn on_stls(&mut self, out: &mut Vec<u8>) -> Next {
        if self.tls {
            return self.refuse(Reply::err("TLS is already active."), out);
        }
        if self.ctx.tls.is_none() {
            return self.refuse(Reply::err("STLS is not available on this server."), out);
        }
        // RFC 2595 §4: the session starts over; nothing given before the handshake is kept.
        self.state = State::Authorization(Authorization::default());
        Reply::ok("Begin TLS negotiation now.").write_to(out);
        Next::StartTls
    }

    pub(crate) fn on_user(&mut self, name: String, out: &mut Vec<u8>) -> Next {
        if !self.plaintext_auth_allowed() {
            return self.refuse(plaintext_refused(), out);
        }
        if let State::Authorization(auth) = &mut self.state {
            auth.user = Some(name);
        }
        Reply::ok("Now send your password with PASS.").write_to(out);
        Next::Continue
    }

    pub(crate) async fn on_pass(&mut self, password: String, out: &mut Vec<u8>) -> Next {
        if !self.plaintext_auth_allowed() {
            return self.refuse(plaintext_refused(), out);
        }
        let user = match &mut self.state {
            State::Authorization(auth) => auth.user.take(),
            _ => None,
        };
        let Some(user) = user else {
            return self.refuse(
                Reply::err("Send USER with your e-mail address before PASS."),
                out,
            );
        };
        self.log_in(&user, &password, out).await
    }

    pub(crate) async fn on_auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<String>,
        out: &mut Vec<u8>,
    ) -> Next {
        let Some(mechanism) = mechanism else {
            // The RFC 1734 listing form: `AUTH` alone.
            Reply::ok("Supported mechanisms follow").write_to(out);
            out.extend_from_slice(b"PLAIN\r\n");
            out.extend_from_slice(crate::stuffing::TERMINATOR);
            return Next::Continue;
        };
        if mechanism != "PLAIN" {
            return self.refuse(Reply::err("The only supported mechanism is PLAIN."), out);
        }
        if !self.plaintext_auth_allowed() {
            return self.refuse(plaintext_refused(), out);
        }
        match initial {
            Some(initial) => self.on_plain(&initial, out).await,
            None => {
                if let State::Authorization(auth) = &mut self.state {
                    auth.user = None;
                    auth.awaiting_plain = true;
                }
                // RFC 5034 §4: an empty challenge.
                out.extend_from_slice(b"+ \r\n");
                Next::Continue
            }
        }
    }

    /// The line after `+ `: the PLAIN response, or `*` to cancel (RFC 5034 §4).
    pub(crate) async fn on_plain_response(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        if let State::Authorization(auth) = &mut self.state {
            auth.awaiting_plain = false;
        }
        let Ok(line) = std::str::from_utf8(strip_line_end(line)) else {
            return self.refuse(Reply::err(SaslError::BadBase64.sentence()), out);
        };
        if line == "*" {
            return self.refuse(Reply::err("Authentication cancelled."), out);
        }
        self.on_plain(line, out).await
    }

    async fn on_plain(&mut self, response: &str, out: &mut Vec<u8>) -> Next {
        let credentials = match decode_plain(response) {
            Ok(credentials) => credentials,
            Err(error) => return self.refuse(Reply::err(error.sentence()), out),
        };
        if !credentials.authzid.is_empty()
            && !credentials.authzid.eq_ignore_ascii_case(&credentials.login)
        {
            let refusal = Reply::err_code(Code::Auth, "Logging in as another user is not allowed.");
            return self.fail_login(refusal, out).await;
        }
        self.log_in(&credentials.login, &credentials.password, out)
            .await
    }

    /// Checks the credentials, takes the maildrop lock and enters TRANSACTION.
    async fn log_in(&mut self, login: &str, password: &str, out: &mut Vec<u8>) -> Next {
        let account = match self.check_credentials(login, password).await {
            Ok(account) => account,
            Err(LoginRefused::Credentials(reply)) => return self.fail_login(reply, out).await,
            Err(LoginRefused::Store(reply)) => {
                reply.write_to(out);
                return Next::Continue;
            }
        };
        let Some(lock) = self.ctx.locks.try_lock(account.id) else {
            Reply::err_code(
                Code::InUse,
                "This mailbox is already open in another POP3 session; close the other mail \
                 program or wait for it to finish, then try again.",
            )
            .write_to(out);
            return Next::Continue;
        };
        match Maildrop::open(self.ctx.store.as_ref(), account, lock).await {
            Ok(maildrop) => {
                let (count, size) = maildrop.stat();
                Reply::ok(format!(
                    "{} has {count} messages ({size} octets).",
                    maildrop.account.address
                ))
                .write_to(out);
                tracing::info!(peer = %self.peer, account = %maildrop.account.address, "pop3 login");
                self.state = State::Transaction(maildrop);
            }
            Err(reply) => reply.write_to(out),
        }
        Next::Continue
    }

    async fn fail_login(&mut self, reply: Reply, out: &mut Vec<u8>) -> Next {
        self.login_failures += 1;
        tracing::info!(peer = %self.peer, failures = self.login_failures, "pop3 login failed");
        tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
        reply.write_to(out);
        if self.login_failures >= MAX_LOGIN_FAILURES {
            Reply::err_code(
                Code::Auth,
                "Too many failed logins; closing the connection.",
            )
            .write_to(out);
            return Next::Close;
        }
        Next::Continue
    }

    /// The shared login check (`congvu_store::login`), its refusals put as RFC 3206 codes.
    async fn check_credentials(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Account, LoginRefused> {
        let config = &self.ctx.config;
        check_login(
            self.ctx.store.as_ref(),
            &config.login_policy,
            LoginService::Pop3,
            login,
            password,
            None,
            &self.peer.ip().to_string(),
            (config.now)(),
        )
        .await
        .map(|ok| ok.account)
        .map_err(refusal_reply)
    }
}

/// Where a user whose password may not be used is sent.
const CHANGE_PASSWORD: &str = "Change it in webmail or ask your unit IT contact to reset it.";

/// RFC 3206: `[AUTH]` when the credentials are the problem (a wrong, expired or reset
/// password), `[SYS/PERM]` when the mailbox itself may not be used, `[SYS/TEMP]` when the
/// store failed.
fn refusal_reply(refusal: LoginRefusal) -> LoginRefused {
    let credentials = |text: String| LoginRefused::Credentials(Reply::err_code(Code::Auth, text));
    match refusal {
        LoginRefusal::BadCredentials | LoginRefusal::SecondFactorRequired => {
            LoginRefused::Credentials(invalid_login())
        }
        LoginRefusal::AppPasswordRequired => credentials(
            "This mailbox uses two-step login: mail programs must log in with an app \
             password; ask your unit IT contact for one."
                .to_string(),
        ),
        LoginRefusal::Expired => {
            credentials(format!("Your password has expired. {CHANGE_PASSWORD}"))
        }
        LoginRefusal::MustChange => credentials(format!(
            "This password was set by an administrator and must be changed before use. \
             {CHANGE_PASSWORD}"
        )),
        LoginRefusal::Disabled(AccountState::Suspended) => {
            LoginRefused::Credentials(Reply::err_code(
                Code::SysPerm,
                "This mailbox is suspended; please contact your unit IT contact or the \
                 administrator.",
            ))
        }
        LoginRefusal::Disabled(
            AccountState::Revoked | AccountState::Purged | AccountState::Active,
        ) => LoginRefused::Credentials(Reply::err_code(
            Code::SysPerm,
            "This mailbox has been revoked and can no longer be used.",
        )),
        // Waiting after failed logins (R-POL-9): about the credentials, RFC 3206 §4.
        LoginRefusal::Backoff { retry_after } => {
            credentials(LoginRefusal::wait_sentence(retry_after))
        }
        LoginRefusal::Store(error) => LoginRefused::Store(store_failure(&error)),
    }
}
