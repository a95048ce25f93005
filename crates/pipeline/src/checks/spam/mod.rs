//! R-POL-5: the spam score of mail from other systems. Rules (`rules.rs`: headers, links,
//! shape, Vietnamese and English phrases, this server's `Authentication-Results`) and a Bayes
//! classifier taught by the users (`bayes.rs`, `tokens.rs`) add up to a score:
//! below `threshold` the message is delivered with `X-Spam-Status: No`; at or above it, to the
//! recipient's Junk folder with `X-Spam-Status: Yes` and `X-Spam-Flag: YES`; at or above
//! `reject_threshold` it is refused at DATA with 550 5.7.1 so the sender learns it.
//!
//! Our own users' mail (submission, APPEND, webmail) is never scored.
//!
//! The Bayes counts live in the store, which this crate does not depend on: the binary gives
//! the check a [`BayesSource`]. Counts are per mail domain, with the recipient mailbox's own
//! teaching added with a weight once it taught enough (`[spam] bayes_user_*`). A message to
//! several recipients is classified with the first recipient's domain, and with a mailbox's
//! own counts only when it has a single recipient: one verdict serves the whole transaction.

pub mod bayes;
pub mod dnsbl;
pub mod phrases;
pub mod rules;
pub mod tokens;

use crate::policy::SpamPolicy;
use crate::{Check, MessageView, Outcome, Source};
use async_trait::async_trait;
use congvu_core::Reply;
use congvu_wire::mime::MessageIndex;
use rules::Hit;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// What one scope (a domain, or one mailbox) was taught.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taught {
    pub spam_messages: u64,
    pub ham_messages: u64,
    /// token hash → (spam messages with it, ham messages with it); tokens never taught absent.
    pub tokens: HashMap<i64, (u64, u64)>,
}

/// Where the Bayes counts come from (the store, in the running server).
#[async_trait]
pub trait BayesSource: Send + Sync {
    /// The counts of `tokens` in the mail domain `domain`, and in the mailbox `mailbox`'s own
    /// teaching when one is given and known.
    async fn taught(
        &self,
        domain: &str,
        mailbox: Option<&str>,
        tokens: &[i64],
    ) -> Result<(Taught, Option<Taught>), String>;

    /// The spam and ham messages the mail domain `domain` was taught, when the source can tell
    /// cheaply: while they are below `bayes_min_trained` the check does not tokenise the message
    /// at all (tokenising was a quarter of the pipeline's CPU per message). `None`: unknown,
    /// tokenise and ask [`BayesSource::taught`].
    async fn domain_totals(&self, _domain: &str) -> Result<Option<(u64, u64)>, String> {
        Ok(None)
    }
}

/// The Bayes rule names and scores by spam probability, highest band first (SpamAssassin's
/// BAYES_* bands; stronger, since the users taught this classifier themselves).
const BAYES_BANDS: [(f64, &str, f64); 8] = [
    (0.999, "BAYES_999", 5.5),
    (0.99, "BAYES_99", 5.0),
    (0.95, "BAYES_95", 3.5),
    (0.80, "BAYES_80", 2.0),
    (0.20, "BAYES_50", 0.0),
    (0.05, "BAYES_20", -0.5),
    (0.01, "BAYES_05", -1.0),
    (0.0, "BAYES_00", -2.0),
];

/// The Bayes rule a spam probability falls into.
pub fn bayes_hit(probability: f64) -> Hit {
    let (_, name, score) = BAYES_BANDS
        .iter()
        .copied()
        .find(|(floor, _, _)| probability >= *floor)
        .unwrap_or(BAYES_BANDS[BAYES_BANDS.len() - 1]);
    Hit { name, score }
}

/// The corpus and per-token counts the classifier uses: the domain's, plus the mailbox's
/// weighted when it taught enough. `None` while the domain has not been taught enough.
pub fn combine_scopes(
    policy: &SpamPolicy,
    domain: &Taught,
    mailbox: Option<&Taught>,
    tokens: &[i64],
) -> Option<(bayes::Corpus, Vec<(f64, f64)>)> {
    if domain.spam_messages < policy.bayes_min_trained
        || domain.ham_messages < policy.bayes_min_trained
    {
        return None;
    }
    let mailbox = mailbox
        .filter(|m| m.spam_messages + m.ham_messages >= policy.bayes_user_min_trained.max(1));
    let w = if mailbox.is_some() {
        policy.bayes_user_weight.max(0.0)
    } else {
        0.0
    };
    let user = |f: fn(&Taught) -> u64| mailbox.map_or(0.0, |m| f(m) as f64 * w);
    let corpus = bayes::Corpus {
        spam_messages: domain.spam_messages as f64 + user(|m| m.spam_messages),
        ham_messages: domain.ham_messages as f64 + user(|m| m.ham_messages),
    };
    let counts = tokens
        .iter()
        .map(|t| {
            let (ds, dh) = domain.tokens.get(t).copied().unwrap_or((0, 0));
            let (us, uh) = mailbox
                .and_then(|m| m.tokens.get(t).copied())
                .unwrap_or((0, 0));
            (ds as f64 + us as f64 * w, dh as f64 + uh as f64 * w)
        })
        .collect();
    Some((corpus, counts))
}

/// The score's verdict and the header lines that say so.
pub fn outcome(policy: &SpamPolicy, hits: &[Hit]) -> Outcome {
    // `+ 0.0`: an empty f64 sum is -0.0, which would print as "-0.0".
    let score: f64 = hits.iter().map(|h| h.score).sum::<f64>() + 0.0;
    // One decimal, as SpamAssassin writes it; a sum like 4.999999 must not print as 5.0 and pass.
    let score = (score * 10.0).round() / 10.0;
    let tests = if hits.is_empty() {
        "none".to_string()
    } else {
        hits.iter()
            .map(|h| format!("{}={}", h.name, trim_score(h.score)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let spam = score >= policy.threshold;
    if score >= policy.reject_threshold {
        return Outcome::Reject(Reply::new(
            550,
            "5.7.1",
            format!(
                "Thư bị từ chối vì bị đánh giá là thư rác (điểm {score:.1}, ngưỡng từ chối {:.1}). \
                 The message was refused as spam (score {score:.1}, limit {:.1}).",
                policy.reject_threshold, policy.reject_threshold
            ),
        ));
    }
    let mut headers = vec![
        format!("X-Spam-Score: {score:.1}\r\n"),
        format!(
            "X-Spam-Status: {}, score={score:.1} required={:.1}, tests={tests}\r\n",
            if spam { "Yes" } else { "No" },
            policy.threshold
        ),
    ];
    if spam {
        headers.insert(0, "X-Spam-Flag: YES\r\n".to_string());
        Outcome::Junk(headers)
    } else {
        Outcome::AddHeaders(headers)
    }
}

fn trim_score(score: f64) -> String {
    let s = format!("{score:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

pub struct Spam {
    policy: SpamPolicy,
    bayes: Option<Arc<dyn BayesSource>>,
    /// The resolver for `[spam] dnsbl`, built only when lists are configured.
    dnsbl: Option<Result<mail_auth::MessageAuthenticator, String>>,
    /// Domains seen taught enough: their totals are not asked again (counts only grow, but for
    /// a message moved back; falling under the minimum again only means the classifier speaks
    /// a little early). Only our own domains receive MX mail, so the set stays small.
    trained_domains: Mutex<HashSet<String>>,
}

impl Spam {
    pub fn new(policy: SpamPolicy, bayes: Option<Arc<dyn BayesSource>>) -> Self {
        let dnsbl = (!policy.dnsbl.is_empty())
            .then(|| crate::checks::sender_auth::build_authenticator(&policy.dns));
        if let Some(Err(e)) = &dnsbl {
            tracing::error!(error = %e, "spam: no DNS resolver, the DNS block lists are not consulted");
        }
        Spam {
            policy,
            bayes,
            dnsbl,
            trained_domains: Mutex::new(HashSet::new()),
        }
    }

    /// The block-list rule: `dnsbl_score` for each list naming the connecting address.
    async fn dnsbl(&self, ctx: &MessageView<'_>) -> Option<Hit> {
        let auth = self.dnsbl.as_ref()?.as_ref().ok()?;
        let ip = ctx.remote_ip?;
        let listed = dnsbl::listed_in(auth, ip, &self.policy.dnsbl).await;
        if listed.is_empty() {
            return None;
        }
        tracing::info!(%ip, ?listed, "spam: sender listed in DNS block lists");
        Some(Hit {
            name: "RCVD_IN_DNSBL",
            score: self.policy.dnsbl_score * listed.len() as f64,
        })
    }

    /// Whether `domain` may have been taught enough for the classifier to speak (`Some(true)`
    /// also when the source cannot tell); `None` when the store failed (scored by rules only).
    async fn is_trained(&self, source: &dyn BayesSource, domain: &str) -> Option<bool> {
        let known = |d: &str| {
            self.trained_domains
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(d)
        };
        if known(domain) {
            return Some(true);
        }
        let min = self.policy.bayes_min_trained;
        match source.domain_totals(domain).await {
            Ok(Some((spam, ham))) if spam < min || ham < min => Some(false),
            Ok(Some(_)) => {
                self.trained_domains
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(domain.to_string());
                Some(true)
            }
            Ok(None) => Some(true),
            Err(error) => {
                tracing::warn!(%error, "spam: Bayes counts unavailable, scoring by rules only");
                None
            }
        }
    }

    /// The Bayes rule for this message, if the classifier may speak.
    async fn bayes(&self, ctx: &MessageView<'_>, index: &MessageIndex) -> Option<Hit> {
        let source = self.bayes.as_ref().filter(|_| self.policy.bayes)?;
        let first = ctx.rcpt_to.first()?.to_ascii_lowercase();
        let domain = first.rsplit_once('@')?.1.to_string();
        let mailbox = (ctx.rcpt_to.len() == 1).then_some(first.as_str());
        if !self.is_trained(source.as_ref(), &domain).await? {
            return None;
        }
        let tokens = tokens::message_tokens(index);
        let (domain_counts, mailbox_counts) = match source.taught(&domain, mailbox, &tokens).await {
            Ok(counts) => counts,
            Err(error) => {
                // Without the counts the rules still score; a store hiccup must not bounce mail.
                tracing::warn!(%error, "spam: Bayes counts unavailable, scoring by rules only");
                return None;
            }
        };
        let (corpus, counts) = combine_scopes(
            &self.policy,
            &domain_counts,
            mailbox_counts.as_ref(),
            &tokens,
        )?;
        let probability = bayes::classify(corpus, counts);
        tracing::debug!(probability, domain, "spam: Bayes");
        Some(bayes_hit(probability))
    }
}

#[async_trait]
impl Check for Spam {
    fn name(&self) -> &'static str {
        "spam"
    }

    async fn on_data(&self, ctx: &MessageView<'_>) -> Outcome {
        self.on_data_after(ctx, &[]).await
    }

    async fn on_data_after(&self, ctx: &MessageView<'_>, added: &[String]) -> Outcome {
        if !self.policy.enabled || ctx.source != Source::Mx {
            return Outcome::Pass;
        }
        // The rules read the decoded message the other checks share (for the links in its
        // HTML); phrase matching over a long text is CPU work: off the runtime.
        let evaluated = match ctx.decoded().await {
            Ok(decoded) => {
                let (raw, index, added) = (ctx.shared_raw(), ctx.index.clone(), added.to_vec());
                tokio::task::spawn_blocking(move || {
                    rules::evaluate(&rules::Input {
                        raw: &raw,
                        index: &index,
                        html: &decoded.html_bodies,
                        added: &added,
                    })
                })
                .await
            }
            Err(e) => Err(e),
        };
        let mut hits = match evaluated {
            Ok(hits) => hits,
            Err(e) => {
                tracing::error!(error = %e, "spam rules failed");
                return Outcome::Reject(Reply::new(
                    451,
                    "4.3.0",
                    "Lỗi tạm thời khi kiểm tra thư, xin gửi lại sau. \
                     Temporary failure while checking the message; please try again later.",
                ));
            }
        };
        if let Some(hit) = self.dnsbl(ctx).await {
            hits.push(hit);
        }
        if let Some(hit) = self.bayes(ctx, ctx.index).await {
            hits.push(hit);
        }
        let outcome = outcome(&self.policy, &hits);
        if !matches!(outcome, Outcome::AddHeaders(_)) {
            tracing::info!(
                score = hits.iter().map(|h| h.score).sum::<f64>(),
                tests = ?hits.iter().map(|h| h.name).collect::<Vec<_>>(),
                mail_from = ctx.mail_from,
                remote_ip = ?ctx.remote_ip,
                junk = matches!(outcome, Outcome::Junk(_)),
                "spam: message scored as spam"
            );
        }
        outcome
    }
}

#[cfg(test)]
mod tests;
