//! One LDAP connection: read a message, answer it, until Unbind, an error, idle time-out or
//! shutdown (RFC 4511 §4).
//!
//! State: who is bound (nobody, anonymous, or a mailbox) and how many binds failed. A
//! search is allowed when bound as a mailbox, or anonymously when configuration allows it;
//! the root DSE is always readable. An anonymous bind always succeeds (RFC 4513 §5.1.1), so
//! that discovery works; what anonymity may read is decided per operation.

use super::dn::Dn;
use super::filter::{Truth, evaluate, too_deep};
use super::tree::{Node, Tree, canonical};
use super::{LdapContext, MAX_BER_DEPTH, MAX_BIND_FAILURES, MAX_MESSAGE, TLS_HANDSHAKE_TIMEOUT};
use congvu_store::login::{LoginRefusal, LoginService, check_login};
use futures_util::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapCompareRequest, LdapExtendedRequest,
    LdapExtendedResponse, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult,
    LdapResultCode, LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

/// RFC 4532 "Who am I?".
const OID_WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
/// RFC 4511 §4.14.1 StartTLS.
pub(super) const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
/// Audit entries name at most this much of what was typed as a bind name.
const MAX_AUDITED_NAME: usize = 320;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    Nobody,
    Anonymous,
    /// A mailbox, by address, with the DN it bound as.
    Mailbox {
        address: String,
        dn: String,
    },
}

struct Session {
    ctx: Arc<LdapContext>,
    peer: SocketAddr,
    bound: Bound,
    failures: u32,
    /// Whether the connection is inside TLS (ldaps, or after StartTLS).
    tls: bool,
}

/// What to do after answering one message.
enum Next {
    Continue,
    Close,
    /// StartTLS was accepted: the TLS handshake comes next (RFC 4511 §4.14.2).
    StartTls,
}

pub(super) async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<LdapContext>,
    shutdown: CancellationToken,
    implicit_tls: bool,
) {
    tracing::debug!(%peer, implicit_tls, "ldap connection");
    let mut session = Session {
        ctx,
        peer,
        bound: Bound::Nobody,
        failures: 0,
        tls: false,
    };
    let stream = if implicit_tls {
        stream
    } else {
        match session.serve(stream, &shutdown).await {
            // StartTLS was accepted: the same connection goes on inside TLS.
            Some(stream) => stream,
            None => return,
        }
    };
    let Some(tls) = session.ctx.tls.clone() else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "ldap TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "ldap TLS handshake timed out");
            return;
        }
    };
    session.tls = true;
    session.serve(stream, &shutdown).await;
}

impl Session {
    /// Answers messages on `stream` until Unbind, an error, idle time-out or shutdown (`None`),
    /// or until StartTLS was accepted: then the stream is handed back for the handshake.
    async fn serve<S>(&mut self, stream: S, shutdown: &CancellationToken) -> Option<S>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let peer = self.peer;
        let (read, write) = tokio::io::split(stream);
        let mut reader =
            FramedRead::new(read, LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_BER_DEPTH)));
        let mut writer = FramedWrite::new(
            write,
            LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_BER_DEPTH)),
        );
        let idle = self.ctx.config.idle_timeout;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = writer
                        .send(notice(LdapResultCode::Unavailable, "the server is shutting down"))
                        .await;
                    return None;
                }
                next = tokio::time::timeout(idle, reader.next()) => next,
            };
            let msg = match next {
                Err(_) => {
                    tracing::debug!(%peer, "ldap connection idle; closing");
                    return None;
                }
                Ok(None) => return None,
                Ok(Some(Err(error))) => {
                    // Malformed BER, an unknown operation, or a message over MAX_MESSAGE: the
                    // stream cannot be resynchronised, so only this connection ends.
                    tracing::warn!(%peer, %error, "ldap: unreadable message; disconnecting");
                    let _ = writer
                        .send(notice(
                            LdapResultCode::ProtocolError,
                            "unreadable LDAP message (malformed BER or too large)",
                        ))
                        .await;
                    return None;
                }
                Ok(Some(Ok(msg))) => msg,
            };
            let mut replies = Vec::new();
            let next = self.answer(msg, &mut replies).await;
            for reply in replies {
                if let Err(error) = writer.feed(reply).await {
                    tracing::debug!(%peer, %error, "ldap write failed");
                    return None;
                }
            }
            if writer.flush().await.is_err() {
                return None;
            }
            match next {
                Next::Continue => {}
                Next::Close => return None,
                Next::StartTls => {
                    let parts = reader.into_parts();
                    // RFC 4511 §4.14.1: nothing may follow the request until its response;
                    // bytes already here would be read as if they had come through TLS.
                    if !parts.read_buf.is_empty() {
                        tracing::warn!(%peer, "ldap: data sent after StartTLS before the handshake; disconnecting");
                        return None;
                    }
                    return Some(parts.io.unsplit(writer.into_inner()));
                }
            }
        }
    }

    async fn answer(&mut self, msg: LdapMsg, out: &mut Vec<LdapMsg>) -> Next {
        let id = msg.msgid;
        match msg.op {
            LdapOp::BindRequest(req) => return self.bind(id, req, out).await,
            LdapOp::UnbindRequest => return Next::Close,
            LdapOp::SearchRequest(req) => self.search(id, req, out).await,
            LdapOp::CompareRequest(req) => self.compare(id, req, out).await,
            // RFC 4511 §4.11: no answer to an abandon; our searches finish before the next read.
            LdapOp::AbandonRequest(_) => {}
            LdapOp::ExtendedRequest(req) => {
                let start_tls = req.name == OID_STARTTLS && !self.tls && self.ctx.tls.is_some();
                out.push(self.extended(id, &req));
                if start_tls {
                    return Next::StartTls;
                }
            }
            LdapOp::AddRequest(_) => out.push(read_only(id, LdapOp::AddResponse)),
            LdapOp::ModifyRequest(_) => out.push(read_only(id, LdapOp::ModifyResponse)),
            LdapOp::DelRequest(_) => out.push(read_only(id, LdapOp::DelResponse)),
            LdapOp::ModifyDNRequest(_) => out.push(read_only(id, LdapOp::ModifyDNResponse)),
            // Responses are what servers send, never receive.
            _ => {
                tracing::warn!(peer = %self.peer, "ldap: a response sent to the server; disconnecting");
                out.push(notice(
                    LdapResultCode::ProtocolError,
                    "a client may not send responses",
                ));
                return Next::Close;
            }
        }
        Next::Continue
    }

    // ---- bind (RFC 4511 §4.2, RFC 4513 §5) ----

    async fn bind(&mut self, id: i32, req: LdapBindRequest, out: &mut Vec<LdapMsg>) -> Next {
        // §4.2.1: a bind first moves the connection to anonymous.
        self.bound = Bound::Nobody;
        let reply = |code, text: &str| LdapMsg {
            msgid: id,
            op: LdapOp::BindResponse(LdapBindResponse {
                res: result(code, text),
                saslcreds: None,
            }),
            ctrl: vec![],
        };
        if req.version != 3 {
            out.push(reply(
                LdapResultCode::ProtocolError,
                "only LDAP version 3 is supported",
            ));
            return Next::Continue;
        }
        let password = match req.cred {
            LdapBindCred::Simple(password) => password,
            LdapBindCred::SASL(_) | LdapBindCred::Unsupported => {
                out.push(reply(
                    LdapResultCode::AuthMethodNotSupported,
                    "only simple binds are supported",
                ));
                return Next::Continue;
            }
        };
        match (req.dn.trim().is_empty(), password.is_empty()) {
            // RFC 4513 §5.1.1: anonymous. The bind itself succeeds even when anonymous
            // reading is off, so that tools which bind anonymously before reading the root
            // DSE can still discover the naming context; searches then get
            // insufficientAccessRights.
            (true, true) => {
                self.bound = Bound::Anonymous;
                out.push(reply(LdapResultCode::Success, ""));
                return Next::Continue;
            }
            // RFC 4513 §5.1.2: a name without a password is an unauthenticated bind, which
            // servers should refuse rather than treat as a login.
            (false, true) => {
                out.push(reply(
                    LdapResultCode::UnwillingToPerform,
                    "unauthenticated bind (a name without a password) is not allowed",
                ));
                return Next::Continue;
            }
            _ => {}
        }
        // RFC 4513 §6.3.4 / §5.1.2: no password in clear text over the network. Loopback is
        // exempt (a local tool, the tests), as for IMAP and POP3.
        if !self.tls && !self.peer.ip().is_loopback() {
            out.push(reply(
                LdapResultCode::ConfidentialityRequired,
                "a password bind needs TLS: use ldaps or StartTLS first",
            ));
            return Next::Continue;
        }
        let address = self.bind_address(&req.dn);
        match self
            .check_password(address.as_deref(), &req.dn, &password)
            .await
        {
            Ok(address) => {
                self.failures = 0;
                let dn = req.dn.trim().to_string();
                tracing::info!(peer = %self.peer, %address, "ldap bind");
                self.bound = Bound::Mailbox { address, dn };
                out.push(reply(LdapResultCode::Success, ""));
                Next::Continue
            }
            Err(BindError::Unavailable) => {
                out.push(reply(
                    LdapResultCode::Unavailable,
                    "storage unavailable, try again",
                ));
                Next::Continue
            }
            Err(BindError::Refused(reason)) => {
                self.failures += 1;
                tracing::info!(peer = %self.peer, reason, "ldap bind refused");
                out.push(reply(
                    LdapResultCode::InvalidCredentials,
                    "wrong name or password",
                ));
                if self.failures >= MAX_BIND_FAILURES {
                    out.push(notice(
                        LdapResultCode::Unavailable,
                        "too many failed binds; reconnect to try again",
                    ));
                    return Next::Close;
                }
                Next::Continue
            }
        }
    }

    /// The mailbox a bind name means: a plain address, or a DN whose first RDN is
    /// `mail=ADDRESS` or `uid=LOCAL` (completed with the domain), under our base or alone.
    fn bind_address(&self, name: &str) -> Option<String> {
        let name = name.trim();
        if !name.contains('=') {
            return name.contains('@').then(|| name.to_lowercase());
        }
        let dn = Dn::parse(name).ok()?;
        let base = Dn::parse(&self.ctx.config.base_dn).ok()?;
        let rest = dn.parent();
        if !rest.is_root() && !rest.is_within(&base) {
            return None;
        }
        match dn.first()? {
            ("mail", value) if value.contains('@') => Some(value.to_string()),
            ("uid", value) if value.contains('@') => Some(value.to_string()),
            ("uid", value) if !value.is_empty() => {
                Some(format!("{value}@{}", self.ctx.config.domain))
            }
            _ => None,
        }
    }

    /// An active mailbox with this password. An unknown name costs the same Argon2 work as a
    /// known one, so timing does not tell which mailboxes exist.
    /// The shared login check (`store::login`): the same rules as IMAP and SMTP — expired or
    /// reset passwords, suspended and revoked mailboxes, app passwords — and it writes the
    /// `login.failed` audit entry itself. A DN that names no mailbox is checked as typed, so
    /// it costs the same time and is audited too.
    async fn check_password(
        &self,
        address: Option<&str>,
        name: &str,
        password: &str,
    ) -> Result<String, BindError> {
        let login = address.unwrap_or(name);
        let login: String = login.chars().take(MAX_AUDITED_NAME).collect();
        match check_login(
            self.ctx.store.as_ref(),
            &self.ctx.config.login_policy,
            LoginService::Ldap,
            &login,
            password,
            None,
            &self.peer.ip().to_string(),
            (self.ctx.now)(),
        )
        .await
        {
            Ok(ok) => Ok(ok.account.address),
            Err(LoginRefusal::Store(_)) => Err(BindError::Unavailable),
            Err(refusal) => Err(BindError::Refused(refusal.reason())),
        }
    }

    fn may_read(&self) -> bool {
        match self.bound {
            Bound::Mailbox { .. } => true,
            Bound::Anonymous | Bound::Nobody => self.ctx.config.anonymous,
        }
    }

    // ---- search (RFC 4511 §4.5) ----

    async fn search(&self, id: i32, req: LdapSearchRequest, out: &mut Vec<LdapMsg>) {
        let done = |code, text: &str| LdapMsg {
            msgid: id,
            op: LdapOp::SearchResultDone(result(code, text)),
            ctrl: vec![],
        };
        let Ok(base) = Dn::parse(&req.base) else {
            out.push(done(
                LdapResultCode::InvalidDNSyntax,
                "the search base is not a DN",
            ));
            return;
        };
        if too_deep(&req.filter) {
            out.push(done(
                LdapResultCode::UnwillingToPerform,
                "the filter is nested too deeply",
            ));
            return;
        }
        let selection = Selection::new(&req.attrs, req.typesonly);
        if base.is_root() && req.scope == LdapSearchScope::Base {
            let tree = Tree::new(&self.ctx.config.base_dn, &self.ctx.config.domain, &[]);
            let dse = tree.root_dse(!self.tls && self.ctx.tls.is_some());
            if evaluate(&req.filter, &dse) == Truth::True {
                out.push(entry_msg(id, &dse, &selection, true));
            }
            out.push(done(LdapResultCode::Success, ""));
            return;
        }
        if !self.may_read() {
            out.push(done(
                LdapResultCode::InsufficentAccessRights,
                "anonymous reading is off: bind with your mail address and password",
            ));
            return;
        }
        let entries = match crate::entries(&*self.ctx.store).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(%error, "ldap: reading the directory failed");
                out.push(done(
                    LdapResultCode::Unavailable,
                    "storage unavailable, try again",
                ));
                return;
            }
        };
        let tree = Tree::new(&self.ctx.config.base_dn, &self.ctx.config.domain, &entries);
        // Levels below the root DSE: the base entry is 1, the containers 2, mailboxes 3.
        let level = |dn: &Dn| {
            if dn.is_root() {
                0
            } else {
                dn.0.len() + 1 - tree.base.0.len().min(dn.0.len())
            }
        };
        let base_level = level(&base);
        let limit = match usize::try_from(req.sizelimit) {
            Ok(n) if n > 0 => n.min(self.ctx.config.size_limit),
            _ => self.ctx.config.size_limit,
        };
        if !base.is_root() && !tree.exists(&base) {
            out.push(LdapMsg {
                msgid: id,
                op: LdapOp::SearchResultDone(LdapResult {
                    code: LdapResultCode::NoSuchObject,
                    matcheddn: tree.matched(&base),
                    message: format!("there is no entry {}", req.base),
                    referral: vec![],
                }),
                ctrl: vec![],
            });
            return;
        }
        let mut sent = 0usize;
        for node in tree.nodes() {
            if !node.dn.is_within(&base) {
                continue;
            }
            let in_scope = match req.scope {
                LdapSearchScope::Base => node.dn == base,
                LdapSearchScope::OneLevel => level(&node.dn) == base_level + 1,
                LdapSearchScope::Subtree => true,
                LdapSearchScope::Children => node.dn != base,
            };
            if !in_scope || evaluate(&req.filter, &node) != Truth::True {
                continue;
            }
            if sent == limit {
                out.push(done(
                    LdapResultCode::SizeLimitExceeded,
                    &format!("more than {limit} entries match; narrow the search"),
                ));
                return;
            }
            out.push(entry_msg(id, &node, &selection, false));
            sent += 1;
        }
        out.push(done(LdapResultCode::Success, ""));
    }

    // ---- compare (RFC 4511 §4.10) ----

    async fn compare(&self, id: i32, req: LdapCompareRequest, out: &mut Vec<LdapMsg>) {
        let reply = |code, text: &str| LdapMsg {
            msgid: id,
            op: LdapOp::CompareResult(result(code, text)),
            ctrl: vec![],
        };
        if !self.may_read() {
            out.push(reply(
                LdapResultCode::InsufficentAccessRights,
                "bind with your mail address and password to read the directory",
            ));
            return;
        }
        let Ok(dn) = Dn::parse(&req.dn) else {
            out.push(reply(LdapResultCode::InvalidDNSyntax, "not a DN"));
            return;
        };
        if canonical(&req.atype).is_none() {
            out.push(reply(
                LdapResultCode::UndefinedAttributeType,
                "unknown attribute type",
            ));
            return;
        }
        let Ok(value) = String::from_utf8(req.val) else {
            out.push(reply(
                LdapResultCode::InvalidAttributeSyntax,
                "the value is not UTF-8",
            ));
            return;
        };
        let entries = match crate::entries(&*self.ctx.store).await {
            Ok(entries) => entries,
            Err(_) => {
                out.push(reply(
                    LdapResultCode::Unavailable,
                    "storage unavailable, try again",
                ));
                return;
            }
        };
        let tree = Tree::new(&self.ctx.config.base_dn, &self.ctx.config.domain, &entries);
        let Some(node) = tree.nodes().find(|n| n.dn == dn) else {
            out.push(reply(LdapResultCode::NoSuchObject, "no such entry"));
            return;
        };
        let assertion = LdapFilter::Equality(req.atype, value);
        out.push(match evaluate(&assertion, &node) {
            Truth::True => reply(LdapResultCode::CompareTrue, ""),
            _ => reply(LdapResultCode::CompareFalse, ""),
        });
    }

    // ---- extended operations (RFC 4511 §4.12) ----

    fn extended(&self, id: i32, req: &LdapExtendedRequest) -> LdapMsg {
        let (res, value) = match req.name.as_str() {
            // RFC 4532 §2: "dn:" and the bound DN, or empty when anonymous.
            OID_WHOAMI => {
                let authz = match &self.bound {
                    Bound::Mailbox { dn, .. } => format!("dn:{dn}"),
                    _ => String::new(),
                };
                (
                    result(LdapResultCode::Success, ""),
                    Some(authz.into_bytes()),
                )
            }
            OID_STARTTLS if self.tls => (
                // RFC 4511 §4.14.2: TLS is already established.
                result(LdapResultCode::OperationsError, "TLS is already in use"),
                None,
            ),
            OID_STARTTLS if self.ctx.tls.is_none() => (
                result(
                    LdapResultCode::Unavailable,
                    "StartTLS is not offered: the server has no certificate",
                ),
                None,
            ),
            OID_STARTTLS => (result(LdapResultCode::Success, ""), None),
            _ => (
                result(LdapResultCode::ProtocolError, "unknown extended operation"),
                None,
            ),
        };
        LdapMsg {
            msgid: id,
            op: LdapOp::ExtendedResponse(LdapExtendedResponse {
                res,
                // RFC 4511 §4.14.2: StartTLS answers with its own OID.
                name: (req.name == OID_STARTTLS).then(|| OID_STARTTLS.to_string()),
                value,
            }),
            ctrl: vec![],
        }
    }
}

enum BindError {
    /// Wrong name or password, or a mailbox that may not log in; the reason is for the log.
    Refused(&'static str),
    Unavailable,
}

fn result(code: LdapResultCode, text: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: text.to_string(),
        referral: vec![],
    }
}

fn read_only(id: i32, op: fn(LdapResult) -> LdapOp) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: op(result(
            LdapResultCode::UnwillingToPerform,
            "the directory is read-only",
        )),
        ctrl: vec![],
    }
}

/// RFC 4511 §4.4.1 Notice of Disconnection.
fn notice(code: LdapResultCode, text: &str) -> LdapMsg {
    ldap3_proto::DisconnectionNotice::gen_response(code, text)
}

/// Which attributes a search asked for (RFC 4511 §4.5.1.8).
struct Selection {
    all: bool,
    names: HashSet<&'static str>,
    /// "+" was asked for: the root DSE's attributes, which are operational (RFC 4512 §5.1).
    operational: bool,
    types_only: bool,
}

impl Selection {
    fn new(attrs: &[String], types_only: bool) -> Selection {
        let mut all = attrs.is_empty();
        let mut operational = false;
        let mut names = HashSet::new();
        for a in attrs {
            match a.trim() {
                "*" => all = true,
                "+" => operational = true,
                // "1.1": no attributes (unless others are named too).
                "1.1" => {}
                other => {
                    if let Some(name) = canonical(other) {
                        names.insert(name);
                    }
                }
            }
        }
        Selection {
            all,
            names,
            operational,
            types_only,
        }
    }

    fn wants(&self, name: &str, root_dse: bool) -> bool {
        self.all || self.names.contains(name) || (root_dse && self.operational)
    }
}

fn entry_msg(id: i32, node: &Node, selection: &Selection, root_dse: bool) -> LdapMsg {
    let attributes = node
        .attrs
        .iter()
        .filter(|(name, _)| selection.wants(name, root_dse))
        .map(|(name, values)| LdapPartialAttribute {
            atype: name.to_string(),
            vals: if selection.types_only {
                vec![]
            } else {
                values.iter().map(|v| v.as_bytes().to_vec()).collect()
            },
        })
        .collect();
    LdapMsg {
        msgid: id,
        op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
            dn: node.dn_text.clone(),
            attributes,
        }),
        ctrl: vec![],
    }
}
