//! One POP3 connection: the RFC 1939 §3 state machine, AUTHORIZATION → TRANSACTION → UPDATE.
//!
//! Commands are handled in `cmd/`; they write status lines into the reply buffer and say what
//! the session does next ([`Next`]), but never touch the socket, so only this file does I/O.
//!
//! Keeps true:
//! - A command runs only in the state RFC 1939 allows it in: the TRANSACTION commands take the
//!   [`Maildrop`], which exists only in [`State::Transaction`].
//! - The UPDATE state is entered only by QUIT from TRANSACTION. End of input, a timeout, an
//!   I/O error, too many errors and a server shutdown all close without it, so nothing is
//!   deleted (RFC 1939 §6).
//! - After STLS the session continues in AUTHORIZATION with nothing carried over but the
//!   failure counts; input pipelined before the handshake is dropped (RFC 2595 §4).
//! - After [`crate::MAX_LOGIN_FAILURES`] failed logins or [`MAX_ERRORS`] bad commands the connection
//!   is closed.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, parse_command};
use crate::conn::{Connection, Input};
use crate::maildrop::Maildrop;
use crate::reply::{Code, Reply};
use crate::stuffing::{TERMINATOR, line_boundary_after, stuff_lines};
use crate::{
    MAX_AUTH_LINE, MAX_COMMAND_LINE, MAX_ERRORS, Pop3Context, TLS_HANDSHAKE_TIMEOUT, TlsMode,
};

/// How much of a message is stuffed into the reply buffer before it is written out.
const SEND_CHUNK: usize = 64 * 1024;

/// Before login.
#[derive(Debug, Default)]
pub(crate) struct Authorization {
    /// The name given by USER, waiting for PASS.
    pub(crate) user: Option<String>,
    /// `AUTH PLAIN` without an initial response was answered with `+ `; the next line is
    /// the response (RFC 5034 §4).
    pub(crate) awaiting_plain: bool,
}

pub(crate) enum State {
    Authorization(Authorization),
    Transaction(Maildrop),
    /// QUIT from TRANSACTION: the marked messages are being removed.
    Update(Maildrop),
}

/// The state without its data, to choose a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Authorization,
    Transaction,
    Update,
}

/// What the session does after a command.
pub(crate) enum Next {
    Continue,
    /// Send `data` (or its first `len` bytes) as a multi-line body after the status line
    /// already written; then, for RETR, mark the message seen.
    SendMessage {
        data: Arc<Vec<u8>>,
        len: usize,
        mark_seen: Option<congvu_store::Uid>,
    },
    /// `+OK` to STLS is written; hand the socket to TLS.
    StartTls,
    Close,
}

/// How a run over one stream ended.
enum End {
    Closed,
    StartTls,
}

pub(crate) struct Session<'a> {
    pub(crate) ctx: &'a Pop3Context,
    pub(crate) peer: SocketAddr,
    pub(crate) tls: bool,
    pub(crate) state: State,
    pub(crate) login_failures: u32,
    errors: u32,
    shutdown: &'a CancellationToken,
}

/// Serves one accepted connection to its end.
pub(crate) async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Pop3Context>,
    mode: TlsMode,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let idle = ctx.config.idle_timeout;
    let mut session = Session::new(&ctx, peer, &shutdown);
    match mode {
        TlsMode::Implicit => {
            let Some(tls) = handshake(&ctx, stream, peer).await else {
                return;
            };
            session.tls = true;
            let mut conn = Connection::new(tls, idle);
            session.greet(&mut conn.out);
            let _ = session.run(&mut conn).await;
            session.release();
            conn.close().await;
        }
        TlsMode::Stls => {
            let mut conn = Connection::new(stream, idle);
            session.greet(&mut conn.out);
            match session.run(&mut conn).await {
                End::Closed => {
                    session.release();
                    conn.close().await;
                }
                End::StartTls => {
                    if conn.flush().await.is_err() {
                        return;
                    }
                    let Some(tls) = handshake(&ctx, conn.into_stream(), peer).await else {
                        return;
                    };
                    session.tls = true;
                    let mut conn = Connection::new(tls, idle);
                    // In TLS, STLS is refused, so this run can only end in Closed.
                    let _ = session.run(&mut conn).await;
                    session.release();
                    conn.close().await;
                }
            }
        }
    }
}

async fn handshake(
    ctx: &Pop3Context,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let tls = ctx.tls.clone()?;
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "pop3 tls handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "pop3 tls handshake timed out");
            None
        }
    }
}

impl<'a> Session<'a> {
    fn new(ctx: &'a Pop3Context, peer: SocketAddr, shutdown: &'a CancellationToken) -> Self {
        Session {
            ctx,
            peer,
            tls: false,
            state: State::Authorization(Authorization::default()),
            login_failures: 0,
            errors: 0,
            shutdown,
        }
    }

    /// Drops the maildrop (and its lock) without UPDATE, before the last reply is flushed:
    /// a client slow to read its final reply must not keep the mailbox locked.
    fn release(&mut self) {
        self.state = State::Authorization(Authorization::default());
    }

    fn greet(&self, out: &mut Vec<u8>) {
        if self.shutdown.is_cancelled() {
            shutting_down().write_to(out);
            return;
        }
        Reply::ok(format!("{} POP3 server ready", self.ctx.config.hostname)).write_to(out);
    }

    fn awaiting_plain(&self) -> bool {
        matches!(&self.state, State::Authorization(a) if a.awaiting_plain)
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Connection<S>) -> End {
        if self.shutdown.is_cancelled() {
            return End::Closed;
        }
        loop {
            if self.shutdown.is_cancelled() {
                shutting_down().write_to(&mut conn.out);
                return End::Closed;
            }
            let awaiting_plain = self.awaiting_plain();
            let limit = if awaiting_plain {
                MAX_AUTH_LINE
            } else {
                MAX_COMMAND_LINE
            };
            let input = match conn.read_line(limit, Some(self.shutdown)).await {
                Ok(input) => input,
                Err(error) => {
                    tracing::debug!(peer = %self.peer, %error, "pop3 connection failed");
                    return End::Closed;
                }
            };
            let next = match input {
                Input::Line(line) if awaiting_plain => {
                    self.on_plain_response(&line, &mut conn.out).await
                }
                Input::Line(line) => self.on_line(&line, &mut conn.out).await,
                Input::TooLong => {
                    if let State::Authorization(auth) = &mut self.state {
                        auth.awaiting_plain = false;
                    }
                    self.refuse(
                        Reply::err(format!(
                            "The line is too long; commands are at most {limit} octets."
                        )),
                        &mut conn.out,
                    )
                }
                Input::Eof => return End::Closed,
                Input::Timeout => {
                    Reply::err(
                        "The connection was idle too long and is closed; nothing was deleted.",
                    )
                    .write_to(&mut conn.out);
                    return End::Closed;
                }
                Input::Shutdown => continue,
            };
            match next {
                Next::Continue => {}
                Next::SendMessage {
                    data,
                    len,
                    mark_seen,
                } => {
                    // Flushed before \Seen is set: the client has the whole message by then.
                    if send_message(conn, &data, len).await.is_err() || conn.flush().await.is_err()
                    {
                        return End::Closed;
                    }
                    if let Some(uid) = mark_seen {
                        self.mark_seen(uid).await;
                    }
                }
                Next::StartTls => return End::StartTls,
                Next::Close => return End::Closed,
            }
        }
    }

    async fn on_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        let command = match parse_command(line) {
            Ok(command) => command,
            Err(error) => return self.refuse(Reply::err(error.sentence()), out),
        };
        let phase = match &self.state {
            State::Authorization(_) => Phase::Authorization,
            State::Transaction(_) => Phase::Transaction,
            State::Update(_) => Phase::Update,
        };
        match (phase, command) {
            (_, Command::Capa) => {
                self.write_capabilities(out);
                Next::Continue
            }
            (Phase::Authorization, Command::Quit) => {
                Reply::ok(format!("{} signing off", self.ctx.config.hostname)).write_to(out);
                Next::Close
            }
            (Phase::Authorization, Command::Stls) => self.on_stls(out),
            (Phase::Authorization, Command::User(name)) => self.on_user(name, out),
            (Phase::Authorization, Command::Pass(password)) => self.on_pass(password, out).await,
            (Phase::Authorization, Command::Auth { mechanism, initial }) => {
                self.on_auth(mechanism, initial, out).await
            }
            (Phase::Authorization, _) => self.refuse(
                Reply::err("Please log in first (USER and PASS, or AUTH PLAIN)."),
                out,
            ),
            (Phase::Transaction, Command::Quit) => self.on_quit(out).await,
            (Phase::Transaction, Command::Noop) => {
                Reply::ok("").write_to(out);
                Next::Continue
            }
            (Phase::Transaction, Command::Stat) => self.reply_or_refuse(out, |s, o| s.on_stat(o)),
            (Phase::Transaction, Command::List(n)) => {
                self.reply_or_refuse(out, |s, o| s.on_list(n, o))
            }
            (Phase::Transaction, Command::Uidl(n)) => {
                self.reply_or_refuse(out, |s, o| s.on_uidl(n, o))
            }
            (Phase::Transaction, Command::Retr(n)) => match self.on_retr(n, out).await {
                Ok(next) => next,
                Err(reply) => self.refuse(reply, out),
            },
            (Phase::Transaction, Command::Top(n, lines)) => {
                match self.on_top(n, lines, out).await {
                    Ok(next) => next,
                    Err(reply) => self.refuse(reply, out),
                }
            }
            (Phase::Transaction, Command::Dele(n)) => {
                self.reply_or_refuse(out, |s, o| s.on_dele(n, o))
            }
            (Phase::Transaction, Command::Rset) => self.reply_or_refuse(out, |s, o| s.on_rset(o)),
            (Phase::Transaction, Command::Stls) => {
                self.refuse(Reply::err("STLS is only allowed before login."), out)
            }
            (Phase::Transaction, Command::User(_) | Command::Pass(_) | Command::Auth { .. }) => {
                self.refuse(Reply::err("You are already logged in."), out)
            }
            // QUIT closes the session as soon as UPDATE ends, so no command gets here.
            (Phase::Update, _) => Next::Close,
        }
    }

    /// Runs a handler that either wrote its reply (`Ok`) or returns a refusal to count.
    fn reply_or_refuse(
        &mut self,
        out: &mut Vec<u8>,
        handler: impl FnOnce(&mut Self, &mut Vec<u8>) -> Result<(), Reply>,
    ) -> Next {
        match handler(self, out) {
            Ok(()) => Next::Continue,
            Err(reply) => self.refuse(reply, out),
        }
    }

    /// Writes a refusal and counts it; closes after too many.
    pub(crate) fn refuse(&mut self, reply: Reply, out: &mut Vec<u8>) -> Next {
        reply.write_to(out);
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            Reply::err("Too many errors; closing the connection.").write_to(out);
            return Next::Close;
        }
        Next::Continue
    }

    /// The maildrop, in the TRANSACTION state.
    pub(crate) fn maildrop(&self) -> Option<&Maildrop> {
        match &self.state {
            State::Transaction(maildrop) => Some(maildrop),
            _ => None,
        }
    }

    pub(crate) fn maildrop_mut(&mut self) -> Option<&mut Maildrop> {
        match &mut self.state {
            State::Transaction(maildrop) => Some(maildrop),
            _ => None,
        }
    }

    /// Whether USER/PASS and AUTH may be used now (RFC 2595 §2.1: no clear-text password on
    /// an unencrypted connection unless the operator allowed it for loopback clients).
    pub(crate) fn plaintext_auth_allowed(&self) -> bool {
        self.tls
            || (self.ctx.config.allow_plaintext_auth_on_loopback
                && self.peer.ip().to_canonical().is_loopback())
    }
}

fn shutting_down() -> Reply {
    Reply::err_code(
        Code::SysTemp,
        "The server is shutting down; nothing was deleted, please try again in a minute.",
    )
}

/// Writes a multi-line body in chunks of whole lines, then the terminator.
async fn send_message<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    data: &[u8],
    len: usize,
) -> std::io::Result<()> {
    let data = &data[..len.min(data.len())];
    let mut start = 0;
    while start < data.len() {
        let end = line_boundary_after(data, start + SEND_CHUNK);
        stuff_lines(&data[start..end], &mut conn.out);
        start = end;
        if conn.out.len() >= SEND_CHUNK {
            conn.flush().await?;
        }
    }
    conn.out.extend_from_slice(TERMINATOR);
    Ok(())
}
