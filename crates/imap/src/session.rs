//! One IMAP connection: the RFC 9051 §3 state machine (Not Authenticated → Authenticated →
//! Selected → Logout), command framing with bounded literals, and dispatch to `cmd/`.
//!
//! What it keeps true:
//! - A command runs only in the states RFC 9051 §6 allows; the selected folder exists only
//!   inside `State::Selected`, so selected-state commands cannot run without one.
//! - Literals are accepted (`+` continuation) only after their size is checked: APPEND up to
//!   APPENDLIMIT (`NO [TOOBIG]` otherwise, RFC 7889), any other command up to `MAX_COMMAND`.
//! - Untagged updates of the selected folder are sent before the tagged response, and EXPUNGE
//!   never during FETCH, STORE or SEARCH by sequence number (RFC 9051 §7.5.1).
//! - Shutdown is noticed between commands: the current command finishes, then `* BYE`.

use crate::cmd;
use crate::conn::{Io, Line, Stream, line_command, line_tag, literal_announcement};
use crate::done::{CmdResult, Done};
use crate::esearch::{self, Saved, SearchReturn};
use crate::rawargs;
use crate::response::Status;
use crate::selected::Selected;
use crate::{ImapContext, PRE_AUTH_TIMEOUT, TlsMode};
use congvu_store::Account;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command, CommandBody, SelectParameter};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Bound on a whole command other than APPEND, literals included (long SEARCH or LOGIN literals
/// are small; anything larger is an attack on memory).
pub const MAX_COMMAND: u64 = 1 << 20;

/// Bound on the literals of a command sent before login.
pub const PRE_AUTH_LITERAL: u64 = 8 * 1024;

/// A TLS handshake that does not finish in this time is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub enum State {
    NotAuthenticated,
    Authenticated(Account),
    Selected(Account, Selected),
    Logout,
}

/// What framing produced.
enum Incoming {
    Command(Vec<u8>),
    /// A command refused before its literal was read.
    Refused(String, Done),
    /// The connection must end with this BYE text.
    Close(&'static str),
    Eof,
}

pub struct Session {
    pub ctx: Arc<ImapContext>,
    pub io: Io,
    pub state: State,
    pub failed_logins: u32,
    pub shutdown: CancellationToken,
    /// The RETURN options of the SEARCH being run (`esearch.rs` cuts them out before parsing).
    pub search_return: Option<SearchReturn>,
}

pub async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ImapContext>,
    mode: TlsMode,
    shutdown: CancellationToken,
) {
    let _ = tcp.set_nodelay(true);
    let stream = match (mode, &ctx.tls) {
        (TlsMode::Implicit, Some(tls)) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "imap tls handshake failed");
                    return;
                }
                Err(_) => return,
            }
        }
        _ => Stream::Plain(tcp),
    };
    let mut session = Session {
        ctx,
        io: Io::new(stream, peer),
        state: State::NotAuthenticated,
        failed_logins: 0,
        shutdown,
        search_return: None,
    };
    // In a block: a local that lives across the awaits below stays in the session's future
    // (and its heap text with it) for as long as the connection lasts.
    {
        let caps = cmd::info::capabilities(&session);
        let greeting = format!(
            "OK [CAPABILITY {caps}] {} congvu IMAP ready",
            session.ctx.config.hostname
        );
        session.io.out.untagged(&greeting);
    }
    if session.io.flush().await.is_err() {
        return;
    }
    if let Err(e) = session.command_loop().await {
        tracing::debug!(%peer, error = %e, "imap session ended with an i/o error");
    }
}

impl Session {
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated(_) | State::Selected(..))
    }

    async fn command_loop(&mut self) -> std::io::Result<()> {
        loop {
            if self.shutdown.is_cancelled() {
                self.io.out.untagged("BYE server shutting down");
                return self.io.flush().await;
            }
            let limit = if self.is_authenticated() {
                self.ctx.config.idle_timeout
            } else {
                PRE_AUTH_TIMEOUT
            };
            let shutdown = self.shutdown.clone();
            let incoming = tokio::select! {
                _ = shutdown.cancelled() => continue,
                r = tokio::time::timeout(limit, self.read_command()) => r,
            };
            match incoming {
                Err(_) => {
                    // RFC 9051 §5.4: autologout after inactivity.
                    self.io.out.untagged("BYE autologout: idle for too long");
                    return self.io.flush().await;
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Incoming::Eof)) => return Ok(()),
                Ok(Ok(Incoming::Close(text))) => {
                    self.io.out.untagged(&format!("BYE {text}"));
                    return self.io.flush().await;
                }
                Ok(Ok(Incoming::Refused(tag, done))) => {
                    self.io
                        .out
                        .status(&tag, done.status, done.code.as_deref(), &done.text);
                }
                Ok(Ok(Incoming::Command(bytes))) => self.execute(&bytes).await?,
            }
            self.io.flush().await?;
            if matches!(self.state, State::Logout) {
                return Ok(());
            }
        }
    }

    /// Reads one complete command: a line, and each literal it announces once accepted.
    async fn read_command(&mut self) -> std::io::Result<Incoming> {
        let mut message = Vec::new();
        let mut first_line: Option<Vec<u8>> = None;
        loop {
            let line = match self.io.read_line().await? {
                Line::Complete(l) => l,
                Line::TooLong => return Ok(Incoming::Close("command line too long")),
                Line::Eof => return Ok(Incoming::Eof),
            };
            if first_line.is_none() {
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue; // empty lines between commands are harmless
                }
                first_line = Some(line.clone());
            }
            message.extend_from_slice(&line);
            let Some(lit) = literal_announcement(&line) else {
                return Ok(Incoming::Command(message));
            };
            let head = first_line.as_deref().unwrap_or_default();
            let tag = line_tag(head).unwrap_or_else(|| "*".to_string());
            let is_append = line_command(head) == "APPEND";
            // Before login nothing may send a message-sized literal (LOGIN needs a few bytes).
            let allowed = if is_append && self.is_authenticated() {
                // Each message up to APPENDLIMIT, and a MULTIAPPEND's messages together too.
                let budget = self.ctx.config.max_literal.saturating_add(MAX_COMMAND);
                self.ctx
                    .config
                    .max_literal
                    .min(budget.saturating_sub(message.len() as u64))
            } else if !self.is_authenticated() {
                PRE_AUTH_LITERAL.saturating_sub(message.len() as u64)
            } else {
                MAX_COMMAND.saturating_sub(message.len() as u64)
            };
            if lit.length > allowed {
                if !lit.sync {
                    // RFC 7888 §4: a non-synchronising literal cannot be refused; close instead.
                    return Ok(Incoming::Close("literal too large"));
                }
                let done = if is_append && self.is_authenticated() {
                    Done::no(
                        Some("TOOBIG"),
                        format!(
                            "message larger than APPENDLIMIT {}",
                            self.ctx.config.max_literal
                        ),
                    )
                } else {
                    Done::bad("literal too large for this command")
                };
                return Ok(Incoming::Refused(tag, done));
            }
            if lit.sync {
                self.io.out.text("+ Ready for literal data\r\n");
                self.io.flush().await?;
            }
            let len = usize::try_from(lit.length).unwrap_or(usize::MAX);
            if !self.io.read_literal(len, &mut message).await? {
                return Ok(Incoming::Eof);
            }
        }
    }

    /// Applies the rewrites of `esearch.rs` (`$` and `RETURN (…)`); the rewritten command
    /// or a BAD for the client.
    fn rewrite(&mut self, bytes: &[u8]) -> Result<(Vec<u8>, Option<SearchReturn>), Done> {
        let mut bytes = bytes.to_vec();
        let (name, uid) = esearch::command_name(&bytes);
        if let State::Selected(_, sel) = &self.state
            && matches!(
                name.as_str(),
                "SEARCH" | "FETCH" | "STORE" | "COPY" | "MOVE" | "EXPUNGE"
            )
        {
            let seqs: Vec<u32> = sel
                .saved
                .iter()
                .filter_map(|u| sel.index_of(*u).map(|i| i as u32 + 1))
                .collect();
            let rewritten = if name == "SEARCH" {
                esearch::substitute_dollar(&bytes, Saved::SearchKey(&sel.saved))
            } else if uid {
                esearch::substitute_dollar(&bytes, Saved::Uids(&sel.saved))
            } else if seqs.is_empty() {
                // No message numbers can be written for "none": ask for a UID that cannot
                // exist instead, which answers nothing, as RFC 5182 §2.1 wants.
                esearch::substitute_dollar(&bytes, Saved::Uids(&[])).map(|mut r| {
                    if let Some(space) = r.iter().position(|&b| b == b' ') {
                        r.splice(space + 1..space + 1, b"UID ".iter().copied());
                    }
                    r
                })
            } else {
                esearch::substitute_dollar(&bytes, Saved::Seqs(&seqs))
            };
            if let Some(r) = rewritten {
                bytes = r;
            }
        }
        match esearch::take_return(&bytes)? {
            Some((rest, ret)) => Ok((rest, Some(ret))),
            None => Ok((bytes, None)),
        }
    }

    /// Reports changes of the selected folder (RFC 9051 §7.5.1 decides `allow_expunge`).
    async fn sync_selected(&mut self, allow_expunge: bool) {
        if let State::Selected(_, sel) = &mut self.state
            && let Err(e) = sel
                .sync(self.ctx.store.as_ref(), &mut self.io.out, allow_expunge)
                .await
        {
            tracing::warn!(error = %e, "imap folder sync failed");
        }
    }

    /// Commands whose extended forms imap-codec does not parse: LIST-EXTENDED (RFC 5258),
    /// CREATE-SPECIAL-USE (RFC 6154) and MULTIAPPEND (RFC 3502). None when the command is not
    /// one of them.
    async fn execute_raw(&mut self, bytes: &[u8]) -> Option<Done> {
        let (name, uid) = esearch::command_name(bytes);
        if uid
            || !matches!(
                name.as_str(),
                "LIST"
                    | "CREATE"
                    | "APPEND"
                    | "MYRIGHTS"
                    | "GETACL"
                    | "LISTRIGHTS"
                    | "SETACL"
                    | "DELETEACL"
            )
        {
            return None;
        }
        let account = match &self.state {
            State::Authenticated(a) | State::Selected(a, _) => a.clone(),
            _ => return None,
        };
        let args = match rawargs::parse(bytes) {
            Ok(a) => a,
            // imap-codec reports the syntax error of the commands it knows.
            Err(e) if matches!(name.as_str(), "LIST" | "CREATE" | "APPEND") => {
                tracing::debug!(error = %e, "raw arguments");
                return None;
            }
            Err(e) => return Some(Done::bad(format!("syntax error: {e}"))),
        };
        let ctx = self.ctx.clone();
        let result = if matches!(
            name.as_str(),
            "MYRIGHTS" | "GETACL" | "LISTRIGHTS" | "SETACL" | "DELETEACL"
        ) {
            cmd::acl::run(&ctx, &mut self.io.out, &account, &name, &args).await
        } else if name == "LIST" && cmd::list::is_extended(&args) {
            cmd::list::list_extended(&ctx, &mut self.io.out, &account, &args).await
        } else if name == "APPEND"
            && args
                .iter()
                .filter(|a| matches!(a, rawargs::Arg::Lit(_)))
                .count()
                > 1
        {
            let peer = self.io.peer;
            cmd::multiappend::multiappend(&ctx, &self.io.out, &account, peer, &args).await
        } else if name == "CREATE" && matches!(args.get(1), Some(rawargs::Arg::List(_))) {
            cmd::mailbox::create_special_use(&ctx, &self.io.out, &account, &args).await
        } else {
            return None;
        };
        Some(result.unwrap_or_else(|e| e))
    }

    async fn execute(&mut self, original: &[u8]) -> std::io::Result<()> {
        let (bytes, search_return) = match self.rewrite(original) {
            Ok(r) => r,
            Err(done) => {
                let tag = line_tag(original).unwrap_or_else(|| "*".to_string());
                self.io.out.status(&tag, done.status, None, &done.text);
                return Ok(());
            }
        };
        self.search_return = search_return;
        if let Some(done) = self.execute_raw(&bytes).await {
            self.sync_selected(true).await;
            let tag = line_tag(&bytes).unwrap_or_else(|| "*".to_string());
            self.io
                .out
                .status(&tag, done.status, done.code.as_deref(), &done.text);
            return Ok(());
        }
        let bytes = bytes.as_slice();
        let command = match CommandCodec::default().decode(bytes) {
            Ok((b"", command)) => command,
            _ => {
                let tag = line_tag(bytes).unwrap_or_else(|| "*".to_string());
                let what = line_command(bytes);
                if what == "COMPRESS" && self.is_authenticated() {
                    let done = cmd::compress::refused();
                    self.io.out.status(&tag, done.status, None, &done.text);
                    return Ok(());
                }
                self.io.out.status(
                    &tag,
                    Status::Bad,
                    None,
                    &format!("syntax error in {what} command"),
                );
                return Ok(());
            }
        };
        let tag = command.tag.as_ref().to_string();
        let name = command.body.name();
        let sync = sync_after(&command.body);
        let done = self.dispatch(&tag, command).await?;
        if let Some(allow_expunge) = sync {
            self.sync_selected(allow_expunge).await;
        }
        if let Some(done) = done {
            tracing::debug!(command = name, status = ?done.status, "imap command");
            self.io
                .out
                .status(&tag, done.status, done.code.as_deref(), &done.text);
        }
        Ok(())
    }

    /// Runs a command and returns its tagged response (None when the command wrote it itself).
    async fn dispatch(&mut self, tag: &str, command: Command<'_>) -> std::io::Result<Option<Done>> {
        use CommandBody as C;
        let ctx = self.ctx.clone();
        let result: CmdResult = match (command.body, &mut self.state) {
            (C::Capability, _) => {
                let caps = cmd::info::capabilities(self);
                self.io.out.untagged(&format!("CAPABILITY {caps}"));
                Ok(Done::ok("CAPABILITY completed"))
            }
            (C::Noop, _) => Ok(Done::ok("NOOP completed")),
            (C::Logout, _) => {
                self.io.out.untagged("BYE logging out");
                self.state = State::Logout;
                Ok(Done::ok("LOGOUT completed"))
            }
            (C::Id { .. }, _) => {
                self.io.out.untagged("ID (\"name\" \"congvu\")");
                Ok(Done::ok("ID completed"))
            }
            (C::StartTLS, State::NotAuthenticated) => return cmd::auth::starttls(self, tag).await,
            (C::Login { username, password }, State::NotAuthenticated) => {
                let login =
                    cmd::auth::login(self, username.as_ref(), password.declassify().as_ref()).await;
                self.finish_auth(login)
            }
            (
                C::Authenticate {
                    mechanism,
                    initial_response,
                },
                State::NotAuthenticated,
            ) => {
                let initial = initial_response.map(|r| r.declassify().to_vec());
                let login = cmd::auth::authenticate(self, &mechanism, initial).await?;
                self.finish_auth(login)
            }
            (C::StartTLS | C::Login { .. } | C::Authenticate { .. }, _) => {
                Err(Done::bad("already authenticated"))
            }
            (_, State::NotAuthenticated) => Err(Done::bad("log in first")),
            (_, State::Logout) => Err(Done::bad("logging out")),

            // ---- authenticated or selected ----
            (C::Enable { capabilities }, _) => {
                Ok(cmd::info::enable(&mut self.io.out, capabilities.as_ref()))
            }
            (C::Namespace, _) => {
                // RFC 2342: personal "", no other users, unit mailboxes under "Shared/".
                self.io
                    .out
                    .untagged("NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))");
                Ok(Done::ok("NAMESPACE completed"))
            }
            (
                C::Select {
                    mailbox,
                    parameters,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                let account = a.clone();
                self.select(&account, &mailbox, false, &parameters).await
            }
            (
                C::Examine {
                    mailbox,
                    parameters,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                let account = a.clone();
                self.select(&account, &mailbox, true, &parameters).await
            }
            (C::Create { mailbox }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::mailbox::create(&ctx, &self.io.out, a, &mailbox).await
            }
            (C::Delete { mailbox }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::mailbox::delete(&ctx, &self.io.out, a, &mailbox).await
            }
            (C::Rename { from, to }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::mailbox::rename(&ctx, &self.io.out, a, &from, &to).await
            }
            (C::Subscribe { mailbox }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::mailbox::subscribe(&ctx, &self.io.out, a, &mailbox, true).await
            }
            (C::Unsubscribe { mailbox }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::mailbox::subscribe(&ctx, &self.io.out, a, &mailbox, false).await
            }
            (
                C::List {
                    reference,
                    mailbox_wildcard,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                cmd::list::list(
                    &ctx,
                    &mut self.io.out,
                    a,
                    &reference,
                    &mailbox_wildcard,
                    false,
                )
                .await
            }
            (
                C::Lsub {
                    reference,
                    mailbox_wildcard,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                cmd::list::list(
                    &ctx,
                    &mut self.io.out,
                    a,
                    &reference,
                    &mailbox_wildcard,
                    true,
                )
                .await
            }
            (
                C::Status {
                    mailbox,
                    item_names,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                cmd::status::status(&ctx, &mut self.io.out, a, &mailbox, item_names.as_ref()).await
            }
            (
                C::Append {
                    mailbox,
                    flags,
                    date,
                    message,
                },
                State::Authenticated(a) | State::Selected(a, _),
            ) => {
                let peer = self.io.peer;
                cmd::append::append(
                    &ctx,
                    &self.io.out,
                    a,
                    peer,
                    &mailbox,
                    &flags,
                    date.as_ref(),
                    &message,
                )
                .await
            }
            (C::GetQuotaRoot { mailbox }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::quota::get_quota_root(&ctx, &mut self.io.out, a, &mailbox).await
            }
            (C::GetQuota { root }, State::Authenticated(a) | State::Selected(a, _)) => {
                cmd::quota::get_quota(&ctx, &mut self.io.out, a, root.as_ref()).await
            }
            (C::SetQuota { .. }, State::Authenticated(_) | State::Selected(..)) => Err(Done::no(
                Some("NOPERM"),
                "quotas are set by the operator's configuration",
            )),
            (C::Idle, _) => return cmd::idle::idle(self, tag).await,
            // RFC 4978, once logged in. With this arm every command imap-codec decodes has one,
            // so there is no catch-all: the compiler names any the decoder learns later.
            (C::Compress { .. }, _) => return cmd::compress::compress(self, tag).await,
            (_, State::Authenticated(_)) => Err(Done::bad("select a mailbox first")),

            // ---- selected ----
            (C::Check, State::Selected(..)) => Ok(Done::ok("CHECK completed")),
            (C::Unselect, State::Selected(a, _)) => {
                let account = a.clone();
                self.state = State::Authenticated(account);
                Ok(Done::ok("UNSELECT completed"))
            }
            (C::Close, State::Selected(a, sel)) => {
                // RFC 9051 §6.4.1: CLOSE expunges silently unless the folder is read-only.
                if !sel.read_only
                    && sel.rights.has('e')
                    && let Err(e) = ctx.store.expunge(sel.folder.id, None).await
                {
                    return Ok(Some(Done::from(e)));
                }
                let account = a.clone();
                self.state = State::Authenticated(account);
                Ok(Done::ok("CLOSE completed"))
            }
            (C::Expunge, State::Selected(_, sel)) => {
                cmd::copy::expunge(&ctx, &mut self.io.out, sel, None).await
            }
            (C::ExpungeUid { sequence_set }, State::Selected(_, sel)) => {
                cmd::copy::expunge(&ctx, &mut self.io.out, sel, Some(&sequence_set)).await
            }
            (
                C::Search {
                    charset,
                    criteria,
                    uid,
                },
                State::Selected(_, sel),
            ) => {
                let ret = self.search_return.take();
                match charset.as_ref().map(|c| c.as_ref().to_ascii_uppercase()) {
                    None => {}
                    Some(c) if c == "UTF-8" || c == "US-ASCII" => {}
                    // RFC 9051 §6.4.4: an unsupported charset is refused with the ones we take.
                    Some(_) => {
                        sel.saved.clear(); // RFC 5182 §2.1: a failed SEARCH empties `$`
                        return Ok(Some(Done::no(
                            Some("BADCHARSET (UTF-8 US-ASCII)"),
                            "only UTF-8 searches are supported",
                        )));
                    }
                }
                cmd::search::search(
                    &ctx,
                    &mut self.io.out,
                    sel,
                    criteria.as_ref(),
                    cmd::search::Answer { tag, uid, ret },
                )
                .await
            }
            (
                C::Sort {
                    sort_criteria,
                    charset,
                    search_criteria,
                    uid,
                },
                State::Selected(_, sel),
            ) => {
                if let Err(done) = check_charset(charset.as_ref()) {
                    return Ok(Some(done));
                }
                cmd::sort::sort(
                    &ctx,
                    &mut self.io.out,
                    sel,
                    sort_criteria.as_ref(),
                    search_criteria.as_ref(),
                    uid,
                )
                .await
            }
            (
                C::Thread {
                    algorithm,
                    charset,
                    search_criteria,
                    uid,
                },
                State::Selected(_, sel),
            ) => {
                if let Err(done) = check_charset(charset.as_ref()) {
                    return Ok(Some(done));
                }
                cmd::thread::thread(
                    &ctx,
                    &mut self.io.out,
                    sel,
                    &algorithm,
                    search_criteria.as_ref(),
                    uid,
                )
                .await
            }
            (
                C::Fetch {
                    sequence_set,
                    macro_or_item_names,
                    uid,
                    modifiers,
                },
                State::Selected(_, sel),
            ) => {
                cmd::fetch::fetch(
                    &ctx,
                    &mut self.io,
                    sel,
                    &sequence_set,
                    &macro_or_item_names,
                    uid,
                    &modifiers,
                )
                .await?
            }
            (
                C::Store {
                    sequence_set,
                    kind,
                    response,
                    flags,
                    uid,
                    modifiers,
                },
                State::Selected(_, sel),
            ) => {
                cmd::store::store(
                    &ctx,
                    &mut self.io.out,
                    sel,
                    &sequence_set,
                    cmd::store::Change {
                        kind: &kind,
                        response: &response,
                        flags: &flags,
                        modifiers: &modifiers,
                    },
                    uid,
                )
                .await
            }
            (
                C::Copy {
                    sequence_set,
                    mailbox,
                    uid,
                },
                State::Selected(a, sel),
            ) => {
                cmd::copy::copy(
                    &ctx,
                    &mut self.io.out,
                    a,
                    sel,
                    &sequence_set,
                    &mailbox,
                    uid,
                    false,
                )
                .await
            }
            (
                C::Move {
                    sequence_set,
                    mailbox,
                    uid,
                },
                State::Selected(a, sel),
            ) => {
                cmd::copy::copy(
                    &ctx,
                    &mut self.io.out,
                    a,
                    sel,
                    &sequence_set,
                    &mailbox,
                    uid,
                    true,
                )
                .await
            }
        };
        Ok(Some(result.unwrap_or_else(|e| e)))
    }

    async fn select(
        &mut self,
        account: &Account,
        mailbox: &imap_codec::imap_types::mailbox::Mailbox<'_>,
        read_only: bool,
        parameters: &[SelectParameter],
    ) -> CmdResult {
        // RFC 9051 §6.3.2: a SELECT that fails leaves no folder selected; RFC 7162 §3.2.11
        // (and RFC 9051 §7.1) say so with OK [CLOSED] when one was.
        if matches!(self.state, State::Selected(..)) {
            self.io
                .out
                .untagged("OK [CLOSED] previous mailbox is now closed");
        }
        self.state = State::Authenticated(account.clone());
        let (selected, done) = cmd::select::select(
            &self.ctx,
            &mut self.io.out,
            account,
            mailbox,
            read_only,
            parameters,
        )
        .await?;
        self.state = State::Selected(account.clone(), selected);
        Ok(done)
    }

    fn finish_auth(&mut self, login: Result<Account, Done>) -> CmdResult {
        match login {
            Ok(account) => {
                tracing::info!(login = %account.address, peer = %self.io.peer, "imap login");
                self.state = State::Authenticated(account);
                let caps = cmd::info::capabilities(self);
                Ok(Done::ok_code(format!("CAPABILITY {caps}"), "logged in"))
            }
            Err(done) => Err(done),
        }
    }
}

/// RFC 5256 §3 / RFC 9051 §6.4.4: only UTF-8 (and its subset US-ASCII) is taken.
fn check_charset(charset: &str) -> Result<(), Done> {
    if charset.eq_ignore_ascii_case("UTF-8") || charset.eq_ignore_ascii_case("US-ASCII") {
        Ok(())
    } else {
        Err(Done::no(
            Some("BADCHARSET (UTF-8 US-ASCII)"),
            "only UTF-8 is supported",
        ))
    }
}

/// Whether to report folder changes after a command, and whether EXPUNGE may be among them
/// (RFC 9051 §7.5.1: not after FETCH, STORE or SEARCH by sequence number).
fn sync_after(body: &CommandBody<'_>) -> Option<bool> {
    match body {
        CommandBody::Fetch { uid: false, .. }
        | CommandBody::Store { uid: false, .. }
        | CommandBody::Search { uid: false, .. }
        | CommandBody::Sort { uid: false, .. }
        | CommandBody::Thread { uid: false, .. } => Some(false),
        CommandBody::Idle
        | CommandBody::Select { .. }
        | CommandBody::Examine { .. }
        | CommandBody::Logout => None,
        _ => Some(true),
    }
}
