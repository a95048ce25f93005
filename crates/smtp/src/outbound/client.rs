//! One delivery attempt of one message to the recipients of one domain: try the route's
//! hosts in order, and on the first that answers run one SMTP transaction (RFC 5321 §3.3)
//! with a RCPT per recipient.
//!
//! Built on mail-send's low-level `SmtpClient` (connect, EHLO, STARTTLS, AUTH, and its
//! dot-stuffing `write_message`), but every command goes through `cmd()` so that we read
//! each reply code ourselves: mail-send's `rcpt_to`/`data` turn a reply into Ok/Err and a
//! queue must tell 4xx from 5xx per recipient.
//!
//! Keeps true:
//! - A host that cannot be reached, or fails before MAIL FROM, leads to the next host
//!   (RFC 5321 §5.1); once MAIL FROM was answered, that host's answers are final for this
//!   attempt.
//! - Recipients refused at RCPT keep their own reply; recipients accepted at RCPT share the
//!   reply to the end of DATA (RFC 5321 §4.2.5).
//! - SMTPUTF8 (RFC 6531 §3.4) is asked for only when an address needs it; a server without
//!   it gets a permanent `5.6.7` for such recipients instead of a mangled address.
//! - With a [`SessionPool`], a session that ended its transaction cleanly is kept open for
//!   the next message to the same address under the same TLS policy (RFC 5321 §3.3: a
//!   session may carry many transactions), so a queue full of mail for one destination does
//!   not pay connection, EHLO, STARTTLS and AUTH per message. MAIL and RCPT are pipelined
//!   where the server offers PIPELINING (RFC 2920).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mail_send::{Credentials, SmtpClient};
use smtp_proto::{
    EXT_8BIT_MIME, EXT_PIPELINING, EXT_SMTP_UTF8, EXT_START_TLS, EhloResponse, Response,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::RelayConfig;
use super::route::{Route, RouteHost};

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// 2xx: the remote system took responsibility (RFC 5321 §6.1).
    Delivered { reply: String },
    /// 4xx or no answer: try again later.
    Temporary { reply: String },
    /// 5xx: never going to work.
    Permanent { reply: String },
}

impl RecipientOutcome {
    fn from_reply(reply: &Response<String>) -> RecipientOutcome {
        let text = reply_text(reply);
        match reply.code {
            200..=299 => RecipientOutcome::Delivered { reply: text },
            500..=599 => RecipientOutcome::Permanent { reply: text },
            _ => RecipientOutcome::Temporary { reply: text },
        }
    }
}

/// What happened to each recipient (same order as given) and which host answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainOutcome {
    pub host: Option<String>,
    pub recipients: Vec<RecipientOutcome>,
}

/// A reply as one line: `550 5.1.1 No such user`.
fn reply_text(reply: &Response<String>) -> String {
    let message = reply.message.replace(['\r', '\n'], " ");
    if reply.esc[0] != 0 {
        format!(
            "{} {}.{}.{} {}",
            reply.code, reply.esc[0], reply.esc[1], reply.esc[2], message
        )
    } else {
        format!("{} {}", reply.code, message)
    }
}

/// Why a host gave no per-recipient answers: the next host may do better.
struct HostFailure {
    /// One line starting with a reply code and an RFC 3463 status, as a remote reply would:
    /// the host's own reply when it gave one, else ours (`451 4.4.1 …`).
    reply: String,
    /// A 5xx before any recipient (MAIL FROM): permanent for everyone if it is the last
    /// host's answer.
    permanent: bool,
}

impl HostFailure {
    /// No usable answer (connection refused, timeout, TLS failure): RFC 3463 4.4.1/4.4.2.
    fn transport(what: impl std::fmt::Display) -> HostFailure {
        HostFailure {
            reply: format!("451 4.4.1 {what}"),
            permanent: false,
        }
    }

    /// A reply that ends the session before any recipient: its own code, with context.
    fn reply(reply: &Response<String>, context: &str) -> HostFailure {
        HostFailure {
            reply: format!("{} (in reply to {context})", reply_text(reply)),
            permanent: reply.code / 100 == 5,
        }
    }
}

impl From<mail_send::Error> for HostFailure {
    fn from(e: mail_send::Error) -> Self {
        match e {
            mail_send::Error::UnexpectedReply(reply) => HostFailure::reply(&reply, "a command"),
            mail_send::Error::Timeout => HostFailure::transport("no answer in time"),
            other => HostFailure::transport(other),
        }
    }
}

/// How TLS is handled towards one MX host (DANE, MTA-STS or opportunistic).
#[derive(Clone)]
pub enum HostTls {
    /// STARTTLS when offered, any certificate (RFC 7435).
    Opportunistic,
    /// TLS is mandatory and verified by `connector`; `why` names the policy (for the reply).
    Required {
        connector: Arc<TlsConnector>,
        why: String,
    },
    /// Do not connect at all: the reply says why (e.g. an MX outside the MTA-STS policy).
    Refused { reply: String },
    /// Like opportunistic, but STARTTLS goes through `connector`, which checks and only logs
    /// (MTA-STS `testing` mode, RFC 8461 §5.2).
    Audited { connector: Arc<TlsConnector> },
}

/// Settings for one attempt.
pub struct Attempt<'a> {
    pub helo: &'a str,
    pub mail_from: &'a str,
    pub recipients: &'a [String],
    pub message: &'a [u8],
    pub timeout: Duration,
    pub relay: Option<&'a RelayConfig>,
    /// Accepts any certificate: for opportunistic STARTTLS to MX hosts.
    pub opportunistic_tls: &'a TlsConnector,
    /// Verifies certificates: for a configured relay.
    pub verified_tls: Option<&'a TlsConnector>,
    /// Per route host (same order), its TLS requirement; a missing entry is opportunistic.
    pub host_tls: &'a [HostTls],
    /// Idle sessions to reuse, and where this attempt leaves its session; `None` opens a
    /// new connection and ends it with QUIT every time.
    pub sessions: Option<&'a SessionPool>,
}

/// An open SMTP session, plain or after STARTTLS / implicit TLS.
enum Conn {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

impl Conn {
    async fn cmd(&mut self, line: &str) -> mail_send::Result<Response<String>> {
        match self {
            Conn::Plain(c) => c.cmd(line).await,
            Conn::Tls(c) => c.cmd(line).await,
        }
    }

    async fn transaction(
        &mut self,
        ehlo: &EhloResponse<String>,
        attempt: &Attempt<'_>,
    ) -> Result<Transaction, HostFailure> {
        match self {
            Conn::Plain(c) => transaction(c, ehlo, attempt).await,
            Conn::Tls(c) => transaction(c.as_mut(), ehlo, attempt).await,
        }
    }

    /// RFC 5321 §4.1.4: QUIT ends the session politely; its answer does not matter.
    /// Bounded by a short timeout: a dead peer must not hold a delivery slot.
    async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.cmd("QUIT\r\n")).await;
    }
}

/// What identifies a session that may carry another message: the address, the name it was
/// verified for, and the TLS policy it was set up under (a session opened opportunistically
/// must never carry mail whose domain requires DANE or MTA-STS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    addr: SocketAddr,
    name: String,
    tls: String,
}

impl SessionKey {
    fn new(host: &RouteHost, addr: SocketAddr, tls: &HostTls, attempt: &Attempt<'_>) -> Self {
        // Policies are told apart by their connector: the same Arc means the same verifier
        // (the queue worker keeps one connector per distinct DANE record set).
        let tls = match tls {
            HostTls::Opportunistic | HostTls::Refused { .. } => "opportunistic".to_string(),
            HostTls::Required { connector, why } => {
                format!("required:{why}:{:p}", Arc::as_ptr(connector))
            }
            HostTls::Audited { connector } => format!("audited:{:p}", Arc::as_ptr(connector)),
        };
        let relay = attempt
            .relay
            .map(|r| format!("relay:{}:{}", r.host, r.username.as_deref().unwrap_or("")))
            .unwrap_or_default();
        SessionKey {
            addr,
            name: host.name.clone(),
            tls: format!("{tls};{relay}"),
        }
    }
}

struct IdleSession {
    conn: Conn,
    ehlo: EhloResponse<String>,
    since: Instant,
}

/// Sessions left open after a transaction, so that the next message to the same host skips
/// the connection, greeting, EHLO, STARTTLS and AUTH (RFC 5321 §3.3 allows many
/// transactions per session). A session is kept for `idle` at most; each reuse starts with
/// RSET (§4.1.1.5), which also proves the session is still alive.
pub struct SessionPool {
    idle: Mutex<HashMap<SessionKey, Vec<IdleSession>>>,
    max_idle: Duration,
    max_per_host: usize,
}

impl SessionPool {
    /// `max_idle`: how long an unused session stays open; `max_per_host`: idle sessions kept
    /// per (address, TLS policy).
    pub fn new(max_idle: Duration, max_per_host: usize) -> SessionPool {
        SessionPool {
            idle: Mutex::new(HashMap::new()),
            max_idle,
            max_per_host,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Vec<IdleSession>>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used live-looking session for `key`, if any.
    fn take(&self, key: &SessionKey) -> Option<IdleSession> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        while let Some(session) = list.pop() {
            if session.since.elapsed() < self.max_idle {
                return Some(session);
            }
            // Too old: the server may have closed it already (RFC 5321 §4.5.3.2.7 gives
            // servers 5 minutes, many use less); dropping closes the socket.
        }
        None
    }

    /// Keeps `conn` for reuse, or returns it when there is no room.
    fn put(&self, key: SessionKey, conn: Conn, ehlo: EhloResponse<String>) -> Option<Conn> {
        let mut idle = self.lock();
        let list = idle.entry(key).or_default();
        if list.len() >= self.max_per_host {
            return Some(conn);
        }
        list.push(IdleSession {
            conn,
            ehlo,
            since: Instant::now(),
        });
        None
    }

    /// Ends (with QUIT) every session idle longer than `max_idle`, or all of them when
    /// `all`; the queue worker calls it between rounds and at shutdown.
    pub async fn close_idle(&self, all: bool) {
        let stale: Vec<Conn> = {
            let mut idle = self.lock();
            let mut stale = Vec::new();
            for list in idle.values_mut() {
                let (old, keep): (Vec<_>, Vec<_>) = list
                    .drain(..)
                    .partition(|s| all || s.since.elapsed() >= self.max_idle);
                *list = keep;
                stale.extend(old.into_iter().map(|s| s.conn));
            }
            idle.retain(|_, list| !list.is_empty());
            stale
        };
        for conn in stale {
            conn.quit().await;
        }
    }

    /// Idle sessions currently kept (for tests and logs).
    pub fn idle_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// Tries the route's hosts in order until one gives per-recipient answers.
pub async fn deliver_to_domain(route: &Route, attempt: &Attempt<'_>) -> DomainOutcome {
    let mut last = HostFailure::transport("no host to try");
    let mut last_host = None;
    for (i, host) in route.hosts.iter().enumerate() {
        let tls = attempt.host_tls.get(i).unwrap_or(&HostTls::Opportunistic);
        if let HostTls::Refused { reply } = tls {
            tracing::info!(host = %host.name, %reply, "outbound: host not used");
            last = HostFailure {
                reply: reply.clone(),
                permanent: false,
            };
            last_host = Some(host.name.clone());
            continue;
        }
        for addr in &host.addrs {
            match deliver_to_host(host, *addr, attempt, tls).await {
                Ok(recipients) => {
                    return DomainOutcome {
                        host: Some(host.name.clone()),
                        recipients,
                    };
                }
                Err(failure) => {
                    tracing::info!(host = %host.name, %addr, reply = %failure.reply, "outbound: host failed");
                    last = failure;
                    last_host = Some(host.name.clone());
                }
            }
        }
    }
    let outcome = if last.permanent {
        RecipientOutcome::Permanent { reply: last.reply }
    } else {
        RecipientOutcome::Temporary { reply: last.reply }
    };
    DomainOutcome {
        host: last_host,
        recipients: vec![outcome; attempt.recipients.len()],
    }
}

async fn deliver_to_host(
    host: &RouteHost,
    addr: SocketAddr,
    attempt: &Attempt<'_>,
    tls: &HostTls,
) -> Result<Vec<RecipientOutcome>, HostFailure> {
    let key = attempt
        .sessions
        .map(|_| SessionKey::new(host, addr, tls, attempt));
    if let (Some(pool), Some(key)) = (attempt.sessions, &key) {
        // A kept session was opened under the same key, so under the same TLS policy and
        // verifier; RSET (RFC 5321 §4.1.1.5) clears any half transaction and shows it is alive.
        while let Some(mut idle) = pool.take(key) {
            match idle.conn.cmd("RSET\r\n").await {
                Ok(reply) if reply.code == 250 => {
                    return finish_transaction(idle.conn, idle.ehlo, attempt, pool, key).await;
                }
                Ok(_) => idle.conn.quit().await,
                Err(_) => {} // closed by the server meanwhile: just drop it
            }
        }
    }
    let (conn, ehlo) = open_session(host, addr, attempt, tls).await?;
    match (attempt.sessions, key) {
        (Some(pool), Some(key)) => finish_transaction(conn, ehlo, attempt, pool, &key).await,
        _ => {
            let mut conn = conn;
            let result = conn.transaction(&ehlo, attempt).await;
            conn.quit().await;
            result.map(|t| t.outcomes)
        }
    }
}

/// Runs one transaction on `conn`, then keeps the session in `pool` when it is still in
/// a known state, or ends it.
async fn finish_transaction(
    mut conn: Conn,
    ehlo: EhloResponse<String>,
    attempt: &Attempt<'_>,
    pool: &SessionPool,
    key: &SessionKey,
) -> Result<Vec<RecipientOutcome>, HostFailure> {
    match conn.transaction(&ehlo, attempt).await {
        Ok(t) => {
            if t.reusable {
                if let Some(conn) = pool.put(key.clone(), conn, ehlo) {
                    conn.quit().await;
                }
            } else {
                conn.quit().await;
            }
            Ok(t.outcomes)
        }
        Err(failure) => {
            conn.quit().await;
            Err(failure)
        }
    }
}

/// Connects, reads the greeting, says EHLO, does STARTTLS (or implicit TLS) as `tls` and the
/// relay settings ask, and authenticates to a relay: a session ready for MAIL FROM.
async fn open_session(
    host: &RouteHost,
    addr: SocketAddr,
    attempt: &Attempt<'_>,
    tls: &HostTls,
) -> Result<(Conn, EhloResponse<String>), HostFailure> {
    let mut client = SmtpClient::connect(addr, attempt.timeout).await?;
    // mail-send writes the message and the final ".CRLF" separately; with Nagle's algorithm
    // the small last write waits for the server's delayed ACK (~40 ms per message on Linux).
    // SMTP is request/response, so nothing is gained by delaying our writes.
    if let Err(error) = client.stream.set_nodelay(true) {
        tracing::debug!(%error, "outbound: cannot set TCP_NODELAY");
    }
    let tls_name = host.name.clone();
    if let HostTls::Required { connector, why } = tls {
        greeting(&mut client).await?;
        let ehlo = client.ehlo(attempt.helo).await?;
        // RFC 7672 §2.2 and RFC 8461 §5: no STARTTLS or a failed handshake is a temporary
        // failure, never a reason to send in plain text.
        if !ehlo.has_capability(EXT_START_TLS) {
            Conn::Plain(client).quit().await;
            return Err(HostFailure {
                reply: format!("451 4.7.5 {why}: {} offers no STARTTLS", host.name),
                permanent: false,
            });
        }
        let mut client = client
            .start_tls(connector, &tls_name)
            .await
            .map_err(|e| HostFailure {
                reply: format!("451 4.7.5 {why}: TLS with {} failed: {e}", host.name),
                permanent: false,
            })?;
        let ehlo = client.ehlo(attempt.helo).await?;
        authenticate(&mut client, &ehlo, attempt).await?;
        return Ok((Conn::Tls(Box::new(client)), ehlo));
    }
    if let Some(relay) = attempt.relay.filter(|r| r.implicit_tls) {
        let connector = attempt.verified_tls.unwrap_or(attempt.opportunistic_tls);
        let mut client = client.into_tls(connector, &relay.host).await?;
        greeting(&mut client).await?;
        let ehlo = client.ehlo(attempt.helo).await?;
        authenticate(&mut client, &ehlo, attempt).await?;
        return Ok((Conn::Tls(Box::new(client)), ehlo));
    }
    greeting(&mut client).await?;
    let ehlo = client.ehlo(attempt.helo).await?;
    if ehlo.has_capability(EXT_START_TLS) {
        let connector = match (attempt.relay, tls) {
            (Some(_), _) => attempt.verified_tls.unwrap_or(attempt.opportunistic_tls),
            (None, HostTls::Audited { connector }) => connector.as_ref(),
            (None, _) => attempt.opportunistic_tls,
        };
        let name = attempt.relay.map(|r| r.host.as_str()).unwrap_or(&tls_name);
        let mut client = client.start_tls(connector, name).await?;
        // RFC 3207 §4.2: forget everything learnt before TLS and ask again.
        let ehlo = client.ehlo(attempt.helo).await?;
        authenticate(&mut client, &ehlo, attempt).await?;
        return Ok((Conn::Tls(Box::new(client)), ehlo));
    }
    if let HostTls::Audited { .. } = tls {
        tracing::warn!(host = %host.name, "outbound: MTA-STS testing: the MX offers no STARTTLS (delivering anyway)");
    }
    if attempt.relay.is_some_and(|r| r.username.is_some()) {
        Conn::Plain(client).quit().await;
        return Err(HostFailure::transport(
            "relay offers no STARTTLS; refusing to send the password in clear",
        ));
    }
    authenticate(&mut client, &ehlo, attempt).await?;
    Ok((Conn::Plain(client), ehlo))
}

/// AUTH to a relay that has credentials configured (RFC 4954), once per session.
async fn authenticate<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    ehlo: &EhloResponse<String>,
    attempt: &Attempt<'_>,
) -> Result<(), HostFailure> {
    if let Some(relay) = attempt.relay
        && let (Some(username), Some(password)) = (&relay.username, &relay.password)
    {
        let credentials = Credentials::new(username.clone(), password.clone());
        client
            .authenticate(&credentials, ehlo)
            .await
            .map_err(|e| HostFailure::transport(format!("relay authentication: {e}")))?;
    }
    Ok(())
}

/// RFC 5321 §3.1: the server speaks first; anything but 220 means "not now".
async fn greeting<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
) -> Result<(), HostFailure> {
    let reply = tokio::time::timeout(client.timeout, client.read())
        .await
        .map_err(|_| HostFailure::transport("no greeting in time"))??;
    if reply.code != 220 {
        // Even a 554 greeting only says "not this host now" (RFC 5321 §3.1): try the next.
        let mut failure = HostFailure::reply(&reply, "the connection");
        failure.permanent = false;
        return Err(failure);
    }
    Ok(())
}

fn needs_utf8(s: &str) -> bool {
    !s.is_ascii()
}

/// The per-recipient answers of one transaction, and whether the session is still in a
/// known state (every command answered, no 421) so that it may carry another.
struct Transaction {
    outcomes: Vec<RecipientOutcome>,
    reusable: bool,
}

/// One mail transaction (RFC 5321 §3.3): MAIL FROM, a RCPT per recipient, DATA. With
/// PIPELINING offered (RFC 2920 §3.1) MAIL and the RCPTs go out in one write and their
/// replies are read in order; DATA waits for them, as §3.1 asks of a command that changes
/// what the client does next.
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    ehlo: &EhloResponse<String>,
    attempt: &Attempt<'_>,
) -> Result<Transaction, HostFailure> {
    let smtputf8 =
        needs_utf8(attempt.mail_from) || attempt.recipients.iter().any(|r| needs_utf8(r));
    let server_utf8 = ehlo.has_capability(EXT_SMTP_UTF8);
    if needs_utf8(attempt.mail_from) && !server_utf8 {
        return Err(HostFailure {
            reply: "553 5.6.7 the sender address needs SMTPUTF8, which the server does not offer"
                .into(),
            permanent: true,
        });
    }
    let mut params = String::new();
    if ehlo.has_capability(EXT_8BIT_MIME) && !attempt.message.is_ascii() {
        params.push_str(" BODY=8BITMIME");
    }
    if smtputf8 && server_utf8 {
        params.push_str(" SMTPUTF8");
    }
    let mail = format!("MAIL FROM:<{}>{params}\r\n", attempt.mail_from);
    // Recipients the server can take; the others get their answer here.
    let mut outcomes: Vec<Option<RecipientOutcome>> = attempt
        .recipients
        .iter()
        .map(|rcpt| {
            (needs_utf8(rcpt) && !server_utf8).then(|| RecipientOutcome::Permanent {
                reply: "553 5.6.7 the address needs SMTPUTF8, which the server does not offer"
                    .into(),
            })
        })
        .collect();
    let sendable: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();
    let mut reusable = true;
    if ehlo.has_capability(EXT_PIPELINING) {
        let mut lines = vec![mail];
        lines.extend(
            sendable
                .iter()
                .map(|&i| format!("RCPT TO:<{}>\r\n", attempt.recipients[i])),
        );
        let replies = client.cmds(&lines).await?;
        let Some((mail_reply, rcpt_replies)) = replies.split_first() else {
            return Err(HostFailure::transport("no reply to MAIL FROM"));
        };
        if mail_reply.code / 100 != 2 {
            return Err(HostFailure::reply(mail_reply, "MAIL FROM"));
        }
        for (&i, reply) in sendable.iter().zip(rcpt_replies) {
            reusable &= reply.code != 421;
            outcomes[i] = Some(RecipientOutcome::from_reply(reply));
        }
    } else {
        let reply = client.cmd(mail).await?;
        if reply.code / 100 != 2 {
            return Err(HostFailure::reply(&reply, "MAIL FROM"));
        }
        for &i in &sendable {
            let rcpt = &attempt.recipients[i];
            outcomes[i] = Some(match client.cmd(format!("RCPT TO:<{rcpt}>\r\n")).await {
                Ok(reply) => {
                    reusable &= reply.code != 421;
                    RecipientOutcome::from_reply(&reply)
                }
                Err(e) => {
                    reusable = false;
                    RecipientOutcome::Temporary {
                        reply: format!("RCPT TO: {e}"),
                    }
                }
            });
        }
    }
    let mut outcomes: Vec<RecipientOutcome> = outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or(RecipientOutcome::Temporary {
                reply: "451 4.4.2 no reply to RCPT TO".into(),
            })
        })
        .collect();
    let accepted: Vec<usize> = (0..outcomes.len())
        .filter(|&i| matches!(outcomes[i], RecipientOutcome::Delivered { .. }))
        .collect();
    if accepted.is_empty() {
        return Ok(Transaction { outcomes, reusable });
    }
    let (data_outcome, answered) = send_data(client, attempt.message).await;
    for i in accepted {
        outcomes[i] = data_outcome.clone();
    }
    Ok(Transaction {
        outcomes,
        reusable: reusable && answered,
    })
}

/// DATA and the message (dot-stuffed by mail-send's `write_message`, RFC 5321 §4.5.2).
/// The second value says whether the server answered everything (the session may go on).
async fn send_data<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    message: &[u8],
) -> (RecipientOutcome, bool) {
    let reply = match client.cmd("DATA\r\n").await {
        Ok(reply) => reply,
        Err(e) => {
            let reply = format!("DATA: {e}");
            return (RecipientOutcome::Temporary { reply }, false);
        }
    };
    if reply.code != 354 {
        return match RecipientOutcome::from_reply(&reply) {
            // A 2xx to DATA without 354 is a protocol error: try again later, on a new session.
            RecipientOutcome::Delivered { reply } => (RecipientOutcome::Temporary { reply }, false),
            other => (other, reply.code != 421),
        };
    }
    // write_message always ends with CRLF.CRLF; drop our final CRLF so the body is unchanged.
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    let timeout = client.timeout;
    let sent = tokio::time::timeout(timeout, async {
        client.write_message(body).await?;
        client.read().await
    })
    .await;
    match sent {
        Ok(Ok(reply)) => (RecipientOutcome::from_reply(&reply), reply.code != 421),
        Ok(Err(e)) => {
            let reply = format!("end of DATA: {e}");
            (RecipientOutcome::Temporary { reply }, false)
        }
        Err(_) => {
            let reply = "end of DATA: no answer in time".to_string();
            (RecipientOutcome::Temporary { reply }, false)
        }
    }
}

/// TLS connectors: one that accepts any certificate (opportunistic, see the module doc of
/// `outbound`), and one that verifies against the platform's roots (relays).
pub(crate) fn tls_connectors() -> (Arc<TlsConnector>, Option<Arc<TlsConnector>>) {
    let opportunistic = mail_send::smtp::tls::build_tls_connector(true)
        .map(Arc::new)
        .unwrap_or_else(|_| {
            Arc::new(TlsConnector::from(Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )))
        });
    let verified = mail_send::smtp::tls::build_tls_connector(false)
        .map(Arc::new)
        .map_err(|e| tracing::warn!(error = %e, "outbound: no verified TLS for the relay"))
        .ok();
    (opportunistic, verified)
}
