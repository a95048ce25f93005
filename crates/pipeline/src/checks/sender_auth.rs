//! Sender authentication of mail from other systems: SPF (RFC 7208) on the envelope, DKIM
//! (RFC 6376) signatures, DMARC (RFC 7489) alignment and policy, ARC (RFC 8617) chains, all
//! with mail-auth through one resolver (`[outbound] dns`, or the system's) and one set of
//! answer caches shared by every message of the process.
//!
//! Keeps true:
//! - Only `Source::Mx` is checked; our own users' mail is authenticated by login instead.
//! - Every delivered MX message gets one `Authentication-Results` header (RFC 8601) whose
//!   authserv-id is our host name.
//! - A DNS answer we could not get (SERVFAIL, REFUSED, timeout) never becomes a guess: when the
//!   verdict depends on it the message is deferred with `451 4.4.3` (RFC 7208 §8.6, RFC 7489
//!   §6.6.2) and the sender's server tries again.
//! - A domain with no SPF, DKIM or DMARC records (NXDOMAIN, no TXT) is `none`, and delivered.
//! - DMARC `p=reject` failures are refused with `550 5.7.1` at DATA, `p=quarantine` failures go
//!   to Junk (both configurable in `[sender_auth]`); `p=none` only records the result.
//! - An `Authentication-Results` field that came with an MX message and carries our
//!   authserv-id is forged (RFC 8601 §5: the receiver MUST remove or rename it): the check names
//!   it through [`Check::is_forged_field`] and delivery removes it before adding ours, whether or
//!   not `[sender_auth]` is enabled. Fields of other authserv-ids stay (§5 lets a trusted
//!   external service's results pass; readers trust only their own id).

mod cache;
mod header;

pub use cache::{DnsCaches, TtlCache};
pub use header::{MethodResult, authentication_results, authserv_id, pvalue};

use crate::fields::Field;
use crate::policy::{DmarcAction, SenderAuthPolicy};
use crate::{Check, MessageView, Outcome, Source};
use async_trait::async_trait;
use congvu_core::Reply;
use mail_auth::dmarc::Policy as DmarcPolicy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig};
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DmarcResult, MessageAuthenticator, Parameters, SpfOutput, SpfResult,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Builds the resolver sender authentication uses: `dns` (`address:port`) when given,
/// otherwise the system's (`/etc/resolv.conf`).
pub fn build_authenticator(dns: &str) -> Result<MessageAuthenticator, String> {
    let provider = TokioRuntimeProvider::default();
    let builder = if dns.is_empty() {
        TokioResolver::builder(provider).map_err(|e| format!("system resolver: {e}"))?
    } else {
        let server: SocketAddr = dns
            .parse()
            .map_err(|_| format!("`{dns}` is not an address:port"))?;
        let mut ns = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut ns.connections {
            connection.port = server.port();
        }
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![ns]),
            provider,
        );
        builder.options_mut().attempts = 2;
        builder
    };
    let resolver = builder.build().map_err(|e| e.to_string())?;
    Ok(MessageAuthenticator(resolver))
}

/// What the DMARC evaluation (or, without DMARC, SPF) leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Deliver,
    Junk,
    /// `550 5.7.1`: DMARC failed and the domain asks for rejection.
    Reject {
        domain: String,
    },
    /// `451 4.4.3`: a DNS answer the verdict depends on could not be had.
    Defer {
        domain: String,
    },
}

/// The results [`decide`] looks at, in our own terms so the rule can be tested without DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    pub spf: SpfResult,
    /// The domain SPF checked (MAIL FROM's, or HELO's for a null sender).
    pub spf_domain: String,
    pub dmarc: DmarcStatus,
    pub dmarc_policy: DmarcPolicy,
    /// The RFC 5322.From domain.
    pub dmarc_domain: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcStatus {
    Pass,
    Fail,
    TempError,
    PermError,
    None,
}

impl From<&DmarcResult> for DmarcStatus {
    fn from(r: &DmarcResult) -> Self {
        match r {
            DmarcResult::Pass => DmarcStatus::Pass,
            DmarcResult::Fail(_) => DmarcStatus::Fail,
            DmarcResult::TempError(_) => DmarcStatus::TempError,
            DmarcResult::PermError(_) => DmarcStatus::PermError,
            DmarcResult::None => DmarcStatus::None,
        }
    }
}

/// The rule, top to bottom:
/// 1. DMARC could not be evaluated for a DNS failure → defer (RFC 7489 §6.6.2 step 5 / §6.7).
/// 2. SPF temperror and DMARC did not pass on DKIM → defer (RFC 7208 §8.6: 451 4.4.3).
/// 3. DMARC fail: the domain's policy, through the configured action (§6.7).
/// 4. Everything else (pass, none, neutral, softfail, fail without DMARC, permerror) is
///    delivered with its results recorded: SPF alone does not refuse mail here, because
///    forwarding breaks SPF and DMARC is the domain owner's stated wish.
pub fn decide(f: &Findings, policy: &SenderAuthPolicy) -> Decision {
    if f.dmarc == DmarcStatus::TempError {
        return Decision::Defer {
            domain: f.dmarc_domain.clone(),
        };
    }
    if f.spf == SpfResult::TempError && f.dmarc != DmarcStatus::Pass {
        return Decision::Defer {
            domain: f.spf_domain.clone(),
        };
    }
    if f.dmarc == DmarcStatus::Fail {
        let action = match f.dmarc_policy {
            DmarcPolicy::Reject => policy.dmarc_reject_action,
            DmarcPolicy::Quarantine => policy.dmarc_quarantine_action,
            DmarcPolicy::None | DmarcPolicy::Unspecified => DmarcAction::Deliver,
        };
        return match action {
            DmarcAction::Reject => Decision::Reject {
                domain: f.dmarc_domain.clone(),
            },
            DmarcAction::Junk => Decision::Junk,
            DmarcAction::Deliver => Decision::Deliver,
        };
    }
    Decision::Deliver
}

/// The reply for a DMARC `p=reject` failure (Vietnamese, then English).
pub fn reject_reply(domain: &str) -> Reply {
    let domain = crate::checks::display_name(domain);
    Reply::new(
        550,
        "5.7.1",
        format!(
            "Thư bị từ chối: tên miền {domain} công bố chính sách DMARC p=reject và thư không \
             vượt qua kiểm tra SPF/DKIM của tên miền này. Message refused: {domain} publishes \
             the DMARC policy p=reject and this message failed its SPF and DKIM checks (RFC 7489)."
        ),
    )
}

/// The reply when DNS could not answer (Vietnamese, then English).
pub fn defer_reply(domain: &str) -> Reply {
    let domain = crate::checks::display_name(domain);
    Reply::new(
        451,
        "4.4.3",
        format!(
            "Lỗi DNS tạm thời khi xác thực người gửi (tên miền {domain}), xin gửi lại sau. \
             Temporary DNS failure while authenticating the sender ({domain}); please try again later."
        ),
    )
}

/// The check: one resolver and one set of caches for the life of the pipeline.
pub struct SenderAuth {
    policy: SenderAuthPolicy,
    /// `Err` when the resolver could not be built (no usable system configuration): every
    /// MX message is then deferred rather than delivered unchecked.
    authenticator: Result<MessageAuthenticator, String>,
    caches: DnsCaches,
}

impl SenderAuth {
    pub fn new(policy: SenderAuthPolicy) -> Self {
        let authenticator = build_authenticator(&policy.dns);
        if let Err(e) = &authenticator {
            tracing::error!(error = %e, "sender authentication: no DNS resolver; inbound mail will be deferred");
        }
        let caches = DnsCaches::new(policy.cache_entries);
        SenderAuth {
            policy,
            authenticator,
            caches,
        }
    }

    /// The answer caches (for tests and diagnostics).
    pub fn caches(&self) -> &DnsCaches {
        &self.caches
    }

    /// Runs SPF, DKIM, ARC and DMARC for one message and returns the verdict and the
    /// `Authentication-Results` header.
    pub async fn evaluate(
        &self,
        auth: &MessageAuthenticator,
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
        raw: &[u8],
    ) -> (Decision, String) {
        let c = &self.caches;
        let with_caches = |p| {
            Parameters::new(p)
                .with_txt_cache(&c.txt)
                .with_mx_cache(&c.mx)
                .with_ipv4_cache(&c.ipv4)
                .with_ipv6_cache(&c.ipv6)
                .with_ptr_cache(&c.ptr)
        };
        let host = self.policy.authserv_id.as_str();
        // RFC 7208 §2.4: MAIL FROM is the identity; for a null reverse-path it is
        // postmaster@HELO.
        let spf_params = if mail_from.is_empty() {
            SpfParameters::verify_ehlo(ip, helo, host)
        } else {
            SpfParameters::verify_mail_from(ip, helo, host, mail_from)
        };
        let spf: SpfOutput = auth
            .verify_spf(
                Parameters::new(spf_params)
                    .with_txt_cache(&c.txt)
                    .with_mx_cache(&c.mx)
                    .with_ipv4_cache(&c.ipv4)
                    .with_ipv6_cache(&c.ipv6)
                    .with_ptr_cache(&c.ptr),
            )
            .await;
        let mut results = vec![header::spf_method(&spf, mail_from, helo)];
        let mail_from_domain = match mail_from.rsplit_once('@') {
            Some((_, d)) => d,
            None => helo,
        };

        let (dmarc_status, dmarc_policy, dmarc_domain) = match AuthenticatedMessage::parse(raw) {
            Some(message) => {
                let dkim = auth.verify_dkim(with_caches(&message)).await;
                let arc = auth.verify_arc(with_caches(&message)).await;
                let dmarc = auth
                    .verify_dmarc(
                        Parameters::new(DmarcParameters::new(
                            &message,
                            &dkim,
                            mail_from_domain,
                            &spf,
                        ))
                        .with_txt_cache(&c.txt)
                        .with_mx_cache(&c.mx)
                        .with_ipv4_cache(&c.ipv4)
                        .with_ipv6_cache(&c.ipv6)
                        .with_ptr_cache(&c.ptr),
                    )
                    .await;
                results.extend(header::dkim_methods(&dkim));
                results.push(header::dmarc_method(&dmarc));
                results.push(header::arc_method(&arc));
                (
                    DmarcStatus::from(&dmarc.result()),
                    dmarc.policy(),
                    dmarc.domain().to_string(),
                )
            }
            // No header section mail-auth can read: nothing is signed, no From to align.
            None => (DmarcStatus::None, DmarcPolicy::None, String::new()),
        };
        let findings = Findings {
            spf: spf.result(),
            spf_domain: spf.domain().to_string(),
            dmarc: dmarc_status,
            dmarc_policy,
            dmarc_domain,
        };
        let decision = decide(&findings, &self.policy);
        tracing::debug!(?findings, ?decision, "sender authentication");
        (
            decision,
            header::authentication_results(&self.policy.authserv_id, &results),
        )
    }
}

#[async_trait]
impl Check for SenderAuth {
    fn name(&self) -> &'static str {
        "sender-auth"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        if ctx.source != Source::Mx || !self.policy.enabled {
            return Outcome::Pass;
        }
        // Without the peer's address there is nothing to check SPF against (only in-process
        // callers build such a context; the SMTP server always knows its peer).
        let Some(ip) = ctx.remote_ip else {
            return Outcome::Pass;
        };
        let ip = ip.to_canonical();
        let helo = ctx.helo.unwrap_or("");
        let auth = match &self.authenticator {
            Ok(auth) => auth,
            Err(_) => return Outcome::Reject(defer_reply(&self.policy.dns)),
        };
        let limit = Duration::from_secs(self.policy.timeout_seconds.max(1));
        let evaluated =
            tokio::time::timeout(limit, self.evaluate(auth, ip, helo, ctx.mail_from, ctx.raw))
                .await;
        let (decision, header) = match evaluated {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(%ip, mail_from = ctx.mail_from, "sender authentication timed out");
                let domain = ctx.mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
                return Outcome::Reject(defer_reply(domain));
            }
        };
        match decision {
            Decision::Deliver => Outcome::AddHeaders(vec![header]),
            Decision::Junk => Outcome::Junk(vec![header]),
            Decision::Reject { domain } => Outcome::Reject(reject_reply(&domain)),
            Decision::Defer { domain } => Outcome::Reject(defer_reply(&domain)),
        }
    }

    fn is_forged_field(&self, source: Source, field: &Field<'_>) -> bool {
        source == Source::Mx
            && field.name.eq_ignore_ascii_case("Authentication-Results")
            && is_ours(&field.value, &self.policy.authserv_id)
    }
}

/// True when the `Authentication-Results` value names `authserv_id` as its author (RFC 8601
/// §2.5: compared without regard to case, as host names are).
fn is_ours(value: &str, authserv_id: &str) -> bool {
    header::authserv_id(value).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageContext;

    fn findings(spf: SpfResult, dmarc: DmarcStatus, policy: DmarcPolicy) -> Findings {
        Findings {
            spf,
            spf_domain: "envelope.test".into(),
            dmarc,
            dmarc_policy: policy,
            dmarc_domain: "from.test".into(),
        }
    }

    #[test]
    fn dmarc_policy_decides_failures() {
        let p = SenderAuthPolicy::default();
        let reject = findings(SpfResult::Fail, DmarcStatus::Fail, DmarcPolicy::Reject);
        assert_eq!(
            decide(&reject, &p),
            Decision::Reject {
                domain: "from.test".into()
            }
        );
        let quarantine = findings(SpfResult::Fail, DmarcStatus::Fail, DmarcPolicy::Quarantine);
        assert_eq!(decide(&quarantine, &p), Decision::Junk);
        let none = findings(SpfResult::Fail, DmarcStatus::Fail, DmarcPolicy::None);
        assert_eq!(decide(&none, &p), Decision::Deliver);
        let relaxed = SenderAuthPolicy {
            dmarc_reject_action: DmarcAction::Junk,
            ..SenderAuthPolicy::default()
        };
        assert_eq!(decide(&reject, &relaxed), Decision::Junk);
    }

    #[test]
    fn passes_and_absent_records_are_delivered() {
        let p = SenderAuthPolicy::default();
        for (spf, dmarc) in [
            (SpfResult::Pass, DmarcStatus::Pass),
            (SpfResult::None, DmarcStatus::None),
            (SpfResult::Fail, DmarcStatus::None),
            (SpfResult::SoftFail, DmarcStatus::PermError),
            (SpfResult::TempError, DmarcStatus::Pass),
        ] {
            assert_eq!(
                decide(&findings(spf, dmarc, DmarcPolicy::Reject), &p),
                Decision::Deliver,
                "{spf:?} {dmarc:?}"
            );
        }
    }

    #[test]
    fn dns_failures_defer_instead_of_guessing() {
        let p = SenderAuthPolicy::default();
        assert_eq!(
            decide(
                &findings(SpfResult::Pass, DmarcStatus::TempError, DmarcPolicy::None),
                &p
            ),
            Decision::Defer {
                domain: "from.test".into()
            }
        );
        assert_eq!(
            decide(
                &findings(SpfResult::TempError, DmarcStatus::None, DmarcPolicy::None),
                &p
            ),
            Decision::Defer {
                domain: "envelope.test".into()
            }
        );
    }

    #[test]
    fn replies_name_the_domain_in_both_languages() {
        let r = reject_reply("bad.test");
        assert_eq!((r.code, r.enhanced), (550, "5.7.1"));
        assert!(r.text.contains("Thư bị từ chối") && r.text.contains("Message refused"));
        assert!(r.text.contains("bad.test") && r.text.contains("p=reject"));
        let d = defer_reply("broken.test\r\n250 ok");
        assert_eq!((d.code, d.enhanced), (451, "4.4.3"));
        assert!(d.text.contains("xin gửi lại sau") && d.text.contains("try again later"));
        assert!(
            !d.text.contains('\n'),
            "peer text cannot start a reply line"
        );
    }

    #[tokio::test]
    async fn other_sources_and_disabled_policy_are_not_checked() {
        let raw = b"From: a@b.test\r\n\r\nhi\r\n";
        let index = congvu_wire::mime::parse_message(raw);
        let rcpt = vec!["x@example.gov.vn".to_string()];
        let ctx = |source| MessageContext {
            source,
            remote_ip: Some("192.0.2.1".parse().unwrap()),
            helo: Some("b.test"),
            mail_from: "a@b.test",
            rcpt_to: &rcpt,
            authenticated: None,
            raw,
            index: &index,
        };
        // An unreachable DNS server: any lookup would end in a deferral, not Pass.
        let policy = SenderAuthPolicy {
            dns: "127.0.0.1:9".into(),
            ..SenderAuthPolicy::default()
        };
        let check = SenderAuth::new(policy.clone());
        let submission = ctx(Source::Submission);
        assert_eq!(
            check.on_data(&MessageView::new(&submission)).await,
            Outcome::Pass
        );
        let off = SenderAuth::new(SenderAuthPolicy {
            enabled: false,
            ..policy
        });
        let mx = ctx(Source::Mx);
        assert_eq!(off.on_data(&MessageView::new(&mx)).await, Outcome::Pass);
    }

    #[test]
    fn forged_results_with_our_authserv_id_are_named_for_removal() {
        let check = SenderAuth::new(SenderAuthPolicy {
            authserv_id: "mail.bacgiang.gov.vn".into(),
            dns: "127.0.0.1:9".into(),
            ..SenderAuthPolicy::default()
        });
        let raw = b"Return-Path: <a@b.test>\r\n\
            Authentication-Results: MAIL.BacGiang.gov.vn; spf=pass; dmarc=pass\r\n\
            Authentication-Results: (forged) \"mail.bacgiang.gov.vn\";\r\n\tdkim=pass\r\n\
            Authentication-Results: relay.example.net; spf=pass\r\n\
            Authentication-Results: mail.bacgiang.gov.vn.evil.test; spf=pass\r\n\
            Subject: hi\r\n\r\nAuthentication-Results: mail.bacgiang.gov.vn; body\r\n";
        let pipeline = crate::Pipeline::new(vec![Box::new(check)]);
        assert_eq!(pipeline.remove_forged_fields(Source::Submission, raw), None);
        let cleaned = pipeline.remove_forged_fields(Source::Mx, raw).unwrap();
        assert_eq!(
            String::from_utf8(cleaned).unwrap(),
            "Return-Path: <a@b.test>\r\n\
             Authentication-Results: relay.example.net; spf=pass\r\n\
             Authentication-Results: mail.bacgiang.gov.vn.evil.test; spf=pass\r\n\
             Subject: hi\r\n\r\nAuthentication-Results: mail.bacgiang.gov.vn; body\r\n"
        );
    }
}
