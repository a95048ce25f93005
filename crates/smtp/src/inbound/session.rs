//! One SMTP connection, MX or submission: the RFC 5321 §4.1 command state machine.
//!
//! States: no greeting exchanged (`helo` is `None`) → greeted → in a transaction (`tx` is
//! `Some`, after MAIL) with recipients (after RCPT) → receiving the body (DATA, or BDAT
//! chunks). RSET, EHLO/HELO and the end of every DATA/BDAT LAST end the transaction.
//! A submission session (RFC 6409) has one more state, orthogonal to those: logged in
//! (`login` is `Some`, after AUTH), which MAIL requires. The same code serves both; the
//! [`Mode`] decides what differs (AUTH, relaying, trace headers, the end of DATA).
//!
//! Keeps true:
//! - Commands are read one complete line at a time from the buffered input; the replies to a
//!   pipelined group leave in one write (see `connection`).
//! - After STARTTLS the session starts again from before EHLO with nothing carried over
//!   except the error count (RFC 3207 §4.2), and input pipelined before the handshake is
//!   dropped.
//! - On shutdown a session answers `421 4.3.2` at the next command boundary; a message being
//!   received (DATA, or BDAT chunks before LAST) is finished first so it is not lost.
//! - After `max_errors` failed commands the session answers `421 4.7.0` and closes.
//! - A login never survives the connection and never precedes TLS: AUTH is accepted only
//!   inside TLS, and STARTTLS throws the plain-text session away (nothing to carry).

use std::net::SocketAddr;
use std::sync::Arc;

use congvu_store::AccountId;
use smtp_proto::{Error as ParseError, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::MAX_COMMAND_LINE;
use super::bdat::BdatBody;
use super::connection::{Connection, Filled};
use crate::SmtpContext;
use crate::reply::{Reply, write_reply};

/// The client's greeting.
pub(crate) struct Helo {
    pub(crate) host: String,
    /// EHLO rather than HELO: ESMTP.
    pub(crate) extended: bool,
}

/// Which service a session provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Port 25: mail from other systems for the hosted domains; no AUTH, no relaying.
    Mx,
    /// Ports 587/465 (RFC 6409, RFC 8314): mail from our own users, after TLS and AUTH, to
    /// anyone.
    Submission,
}

/// The account a submission session logged in as (RFC 4954).
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) account: AccountId,
    /// Canonical lowercase address: the login name and the user's own sender address.
    pub(crate) address: String,
}

/// Where an accepted recipient's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A hosted mailbox: stored directly.
    Local(AccountId),
    /// Another mail system: queued for the outbound queue (submission only).
    Remote,
}

/// One accepted recipient.
pub(crate) struct Recipient {
    /// As the client wrote it (for `Received: … for <…>` and the pipeline).
    pub(crate) address: String,
    pub(crate) target: Target,
}

/// A mail transaction, from MAIL to the end of DATA or BDAT LAST.
pub(crate) struct Transaction {
    /// Reverse-path; empty for the null sender `<>`.
    pub(crate) mail_from: String,
    pub(crate) smtputf8: bool,
    pub(crate) rcpts: Vec<Recipient>,
    /// Set once the first BDAT chunk arrived.
    pub(crate) bdat: Option<BdatBody>,
    /// Submission: the envelope sender is a mailbox the login keeps (through a grant), not
    /// the login's own address.
    pub(crate) sent_as_kept: bool,
}

/// What a command asks the session to do next.
pub(crate) enum Step {
    Reply(Reply),
    /// The phase wrote its reply itself (EHLO).
    Written,
    Close,
    /// The client was silent for the idle timeout in the middle of a body.
    Timeout,
    /// `220` to STARTTLS was queued; hand the socket to TLS.
    StartTls,
}

/// How a session ended.
enum End {
    Closed,
    StartTls,
}

pub(crate) struct Session<'a> {
    pub(crate) ctx: &'a SmtpContext,
    pub(crate) peer: SocketAddr,
    pub(crate) mode: Mode,
    pub(crate) tls: bool,
    pub(crate) helo: Option<Helo>,
    pub(crate) tx: Option<Transaction>,
    /// Submission: set by a successful AUTH.
    pub(crate) login: Option<Login>,
    /// Failed AUTH attempts on this connection (see `auth::MAX_AUTH_FAILURES`).
    pub(crate) auth_failures: usize,
    errors: usize,
    pub(crate) shutdown: &'a CancellationToken,
}

/// Serves one accepted MX connection to its end.
pub async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<SmtpContext>,
    shutdown: CancellationToken,
) {
    run_session(stream, peer, ctx, Mode::Mx, false, shutdown).await;
}

/// Serves one accepted connection in `mode` to its end. With `implicit_tls` (port 465,
/// RFC 8314 §3.3) the TLS handshake comes before the greeting.
pub(crate) async fn run_session(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<SmtpContext>,
    mode: Mode,
    implicit_tls: bool,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let idle = ctx.config.idle_timeout;
    if implicit_tls {
        let Some(tls) = ctx.tls.clone() else {
            return; // serve_submission refuses to start without TLS material.
        };
        let Some(stream) = accept_tls(tls, stream, &ctx, peer).await else {
            return;
        };
        let mut conn = Connection::new(stream, idle);
        if greet(&mut conn, &ctx, &shutdown) {
            let mut session = Session::new(&ctx, peer, mode, true, &shutdown);
            // In TLS, STARTTLS is refused, so this run can only end in Closed.
            let _ = session.run(&mut conn).await;
        }
        conn.close().await;
        return;
    }
    let mut conn = Connection::new(stream, idle);
    if !greet(&mut conn, &ctx, &shutdown) {
        conn.close().await;
        return;
    }
    let mut session = Session::new(&ctx, peer, mode, false, &shutdown);
    match session.run(&mut conn).await {
        End::Closed => conn.close().await,
        End::StartTls => {
            let (errors, auth_failures) = (session.errors, session.auth_failures);
            let Some(tls) = ctx.tls.clone() else {
                return; // STARTTLS is only accepted when TLS is configured.
            };
            if conn.flush().await.is_err() {
                return;
            }
            // RFC 3207 §4.2: whatever the client sent after STARTTLS and before the
            // handshake is discarded with the plain-text buffer.
            let tcp = conn.into_stream();
            let Some(stream) = accept_tls(tls, tcp, &ctx, peer).await else {
                return;
            };
            let mut conn = Connection::new(stream, idle);
            let mut session = Session::new(&ctx, peer, mode, true, &shutdown);
            session.errors = errors;
            session.auth_failures = auth_failures;
            // In TLS, STARTTLS is refused, so this run can only end in Closed.
            let _ = session.run(&mut conn).await;
            conn.close().await;
        }
    }
}

/// Queues the `220` greeting, or `421` when shutting down; false when the session must not
/// start.
fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    ctx: &SmtpContext,
    shutdown: &CancellationToken,
) -> bool {
    if shutdown.is_cancelled() {
        write_reply(
            &mut conn.out,
            421,
            "4.3.2",
            "Server shutting down, try again later",
        );
        return false;
    }
    let greeting = format!("{} ESMTP congvu", ctx.config.hostname);
    write_reply(&mut conn.out, 220, "", &greeting);
    true
}

/// The server side of a TLS handshake, bounded by the idle timeout.
async fn accept_tls(
    tls: Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    ctx: &SmtpContext,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let accepted =
        tokio::time::timeout(ctx.config.idle_timeout, TlsAcceptor::from(tls).accept(tcp)).await;
    match accepted {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "smtp tls handshake failed");
            None
        }
        Err(_) => None,
    }
}

impl<'a> Session<'a> {
    fn new(
        ctx: &'a SmtpContext,
        peer: SocketAddr,
        mode: Mode,
        tls: bool,
        shutdown: &'a CancellationToken,
    ) -> Self {
        Session {
            ctx,
            peer,
            mode,
            tls,
            helo: None,
            tx: None,
            login: None,
            auth_failures: 0,
            errors: 0,
            shutdown,
        }
    }

    /// True while a BDAT message is between chunks: shutdown waits for its LAST chunk.
    fn in_bdat(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.bdat.is_some())
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Connection<S>) -> End {
        let mut line: Vec<u8> = Vec::with_capacity(512);
        // After a command line longer than MAX_COMMAND_LINE: its rest is skipped up to LF.
        let mut skipping = false;
        loop {
            if self.shutdown.is_cancelled() && !self.in_bdat() {
                write_reply(
                    &mut conn.out,
                    421,
                    "4.3.2",
                    "Server shutting down, try again later",
                );
                return End::Closed;
            }
            let buffered = conn.buffered();
            let newline = buffered.iter().position(|b| *b == b'\n');
            if skipping {
                match newline {
                    Some(pos) => {
                        conn.consume(pos + 1);
                        skipping = false;
                        continue;
                    }
                    None => {
                        let all = buffered.len();
                        conn.consume(all);
                    }
                }
            } else {
                match newline {
                    Some(pos) if pos < MAX_COMMAND_LINE => {
                        line.clear();
                        line.extend_from_slice(&buffered[..=pos]);
                        conn.consume(pos + 1);
                        let step = self.on_command(&line, conn).await;
                        match self.answer(conn, step) {
                            Some(end) => return end,
                            None => continue,
                        }
                    }
                    _ if buffered.len() >= MAX_COMMAND_LINE => {
                        skipping = true;
                        let step = Step::Reply(Reply::new(500, "5.5.2", "Line too long"));
                        match self.answer(conn, step) {
                            Some(end) => return end,
                            None => continue,
                        }
                    }
                    _ => {}
                }
            }
            let watch = if self.in_bdat() {
                None
            } else {
                Some(self.shutdown)
            };
            match conn.fill(watch).await {
                Ok(Filled::Data) | Ok(Filled::Shutdown) => {}
                Ok(Filled::Eof) | Err(_) => return End::Closed,
                Ok(Filled::Timeout) => {
                    write_reply(
                        &mut conn.out,
                        421,
                        "4.4.2",
                        "Idle timeout, closing connection",
                    );
                    return End::Closed;
                }
            }
        }
    }

    /// Queues the reply of one command and counts failures; returns how the session ends,
    /// if it does.
    fn answer<S>(&mut self, conn: &mut Connection<S>, step: Step) -> Option<End> {
        match step {
            Step::Reply(reply) => {
                reply.write(&mut conn.out);
                if reply.is_error() {
                    self.errors += 1;
                    if self.errors >= self.ctx.config.max_errors {
                        write_reply(
                            &mut conn.out,
                            421,
                            "4.7.0",
                            "Too many errors, closing connection",
                        );
                        return Some(End::Closed);
                    }
                }
                None
            }
            Step::Written => None,
            Step::Close => Some(End::Closed),
            Step::Timeout => {
                write_reply(
                    &mut conn.out,
                    421,
                    "4.4.2",
                    "Idle timeout, closing connection",
                );
                Some(End::Closed)
            }
            Step::StartTls => Some(End::StartTls),
        }
    }

    async fn on_command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        line: &[u8],
        conn: &mut Connection<S>,
    ) -> Step {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => return Step::Reply(parse_error_reply(error)),
        };
        match request {
            Request::Ehlo { host } => self.on_ehlo(&host, true, &mut conn.out),
            Request::Helo { host } => self.on_ehlo(&host, false, &mut conn.out),
            Request::Mail { from } => Step::Reply(self.on_mail(&from).await),
            Request::Rcpt { to } => Step::Reply(self.on_rcpt(&to).await),
            Request::Data => self.on_data(conn).await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.on_bdat(conn, chunk_size, is_last).await,
            Request::StartTls => self.on_starttls(&mut conn.out),
            Request::Rset => {
                self.tx = None;
                Step::Reply(Reply::new(250, "2.0.0", "Ok"))
            }
            Request::Noop { .. } => Step::Reply(Reply::new(250, "2.0.0", "Ok")),
            Request::Quit => {
                write_reply(&mut conn.out, 221, "2.0.0", "Bye");
                Step::Close
            }
            // RFC 5321 §3.5.3: VRFY may be answered 252 to avoid disclosing mailboxes.
            Request::Vrfy { .. } => Step::Reply(Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Request::Help { .. } => Step::Reply(Reply::new(
                214,
                "2.0.0",
                match self.mode {
                    Mode::Mx => {
                        "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS"
                    }
                    Mode::Submission => {
                        "See RFC 6409; commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT"
                    }
                },
            )),
            Request::Auth {
                mechanism,
                initial_response,
            } if self.mode == Mode::Submission => {
                self.on_auth(mechanism, &initial_response, conn).await
            }
            // The MX takes no logins (submission does), and neither offers list expansion,
            // turn-around or URL fetching.
            Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Lhlo { .. } => {
                Step::Reply(Reply::new(502, "5.5.1", "Command not implemented"))
            }
        }
    }
}

/// Maps smtp-proto's parse errors to RFC 5321 §4.2.3 / RFC 3463 replies.
fn parse_error_reply(error: ParseError) -> Reply {
    match error {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "Unknown command"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "Invalid sender address"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "Invalid recipient address")
        }
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            let param: String = param.chars().filter(|c| !c.is_control()).take(64).collect();
            Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        ParseError::ResponseTooLong => Reply::new(500, "5.5.2", "Line too long"),
        // The parser only gets complete lines, so these mean a malformed line.
        ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "Syntax error")
        }
    }
}
