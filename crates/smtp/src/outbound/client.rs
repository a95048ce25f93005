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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_send::{Credentials, SmtpClient};
use smtp_proto::{EXT_8BIT_MIME, EXT_SMTP_UTF8, EXT_START_TLS, EhloResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

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
    let mut client = SmtpClient::connect(addr, attempt.timeout).await?;
    let tls_name = host.name.clone();
    if let HostTls::Required { connector, why } = tls {
        greeting(&mut client).await?;
        let ehlo = client.ehlo(attempt.helo).await?;
        // RFC 7672 §2.2 and RFC 8461 §5: no STARTTLS or a failed handshake is a temporary
        // failure, never a reason to send in plain text.
        if !ehlo.has_capability(EXT_START_TLS) {
            let _ = client.cmd("QUIT\r\n").await;
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
        return session(&mut client, &ehlo, attempt).await;
    }
    if let Some(relay) = attempt.relay.filter(|r| r.implicit_tls) {
        let connector = attempt.verified_tls.unwrap_or(attempt.opportunistic_tls);
        let mut client = client.into_tls(connector, &relay.host).await?;
        greeting(&mut client).await?;
        let ehlo = client.ehlo(attempt.helo).await?;
        return session(&mut client, &ehlo, attempt).await;
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
        return session(&mut client, &ehlo, attempt).await;
    }
    if let HostTls::Audited { .. } = tls {
        tracing::warn!(host = %host.name, "outbound: MTA-STS testing: the MX offers no STARTTLS (delivering anyway)");
    }
    if attempt.relay.is_some_and(|r| r.username.is_some()) {
        return Err(HostFailure::transport(
            "relay offers no STARTTLS; refusing to send the password in clear",
        ));
    }
    session(&mut client, &ehlo, attempt).await
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

async fn session<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    ehlo: &EhloResponse<String>,
    attempt: &Attempt<'_>,
) -> Result<Vec<RecipientOutcome>, HostFailure> {
    if let Some(relay) = attempt.relay
        && let (Some(username), Some(password)) = (&relay.username, &relay.password)
    {
        let credentials = Credentials::new(username.clone(), password.clone());
        client
            .authenticate(&credentials, ehlo)
            .await
            .map_err(|e| HostFailure::transport(format!("relay authentication: {e}")))?;
    }
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
    let reply = client
        .cmd(format!("MAIL FROM:<{}>{params}\r\n", attempt.mail_from))
        .await?;
    if reply.code / 100 != 2 {
        let _ = client.cmd("QUIT\r\n").await;
        return Err(HostFailure::reply(&reply, "MAIL FROM"));
    }
    let mut outcomes = Vec::with_capacity(attempt.recipients.len());
    let mut accepted = Vec::new();
    for (i, rcpt) in attempt.recipients.iter().enumerate() {
        if needs_utf8(rcpt) && !server_utf8 {
            outcomes.push(RecipientOutcome::Permanent {
                reply: "553 5.6.7 the address needs SMTPUTF8, which the server does not offer"
                    .into(),
            });
            continue;
        }
        let outcome = match client.cmd(format!("RCPT TO:<{rcpt}>\r\n")).await {
            Ok(reply) => RecipientOutcome::from_reply(&reply),
            Err(e) => RecipientOutcome::Temporary {
                reply: format!("RCPT TO: {e}"),
            },
        };
        if matches!(outcome, RecipientOutcome::Delivered { .. }) {
            accepted.push(i);
        }
        outcomes.push(outcome);
    }
    if accepted.is_empty() {
        let _ = client.cmd("QUIT\r\n").await;
        return Ok(outcomes);
    }
    let data_outcome = send_data(client, attempt.message).await;
    for i in accepted {
        outcomes[i] = data_outcome.clone();
    }
    let _ = client.cmd("QUIT\r\n").await;
    Ok(outcomes)
}

/// DATA and the message (dot-stuffed by mail-send's `write_message`, RFC 5321 §4.5.2).
async fn send_data<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    message: &[u8],
) -> RecipientOutcome {
    let reply = match client.cmd("DATA\r\n").await {
        Ok(reply) => reply,
        Err(e) => {
            return RecipientOutcome::Temporary {
                reply: format!("DATA: {e}"),
            };
        }
    };
    if reply.code != 354 {
        return match RecipientOutcome::from_reply(&reply) {
            // A 2xx to DATA without 354 is a protocol error: try again later.
            RecipientOutcome::Delivered { reply } => RecipientOutcome::Temporary { reply },
            other => other,
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
        Ok(Ok(reply)) => RecipientOutcome::from_reply(&reply),
        Ok(Err(e)) => RecipientOutcome::Temporary {
            reply: format!("end of DATA: {e}"),
        },
        Err(_) => RecipientOutcome::Temporary {
            reply: "end of DATA: no answer in time".into(),
        },
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
