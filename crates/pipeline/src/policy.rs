//! The province's policy settings for the pipeline stages (R-POL-3, R-POL-4, R-POL-7), as the
//! operator writes them in `congvu.toml`. Every field has the regulation's value as its default,
//! so an empty section means "enforce the rules as written".

use serde::{Deserialize, Serialize};

/// What to do with a message a rule does not outright forbid but restricts
/// (R-POL-3 "encrypted archives are restricted (policy: reject, quarantine, or tag)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse it with a sentence saying why.
    Reject,
    /// Keep it away from the recipient for the operator.
    Quarantine,
    /// Deliver it with an `X-Congvu-Policy` header naming the rule.
    Tag,
}

/// `[attachments]`: executables and archives (R-POL-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentPolicy {
    /// File name extensions refused whatever the content (lowercase, without the dot).
    pub blocked_extensions: Vec<String>,
    /// Password-protected (or otherwise unreadable) archives arriving from other systems.
    pub encrypted_inbound: Action,
    /// Password-protected archives sent by our own users (submission, webmail, APPEND).
    pub encrypted_submission: Action,
    /// Archives nested deeper than this are refused as a bomb.
    pub max_depth: u32,
    /// Entries in all archives of one attachment, counted together.
    pub max_entries: u64,
    /// Bytes unpacked from one attachment, all layers together.
    pub max_unpacked_bytes: u64,
    /// Unpacked bytes per packed byte, checked once more than [`RATIO_FLOOR`] bytes are unpacked.
    pub max_ratio: u64,
}

/// Below this many unpacked bytes a high compression ratio is harmless (a page of spaces
/// compresses a thousandfold), so the ratio limit only applies above it.
pub const RATIO_FLOOR: u64 = 16 << 20;

impl Default for AttachmentPolicy {
    fn default() -> Self {
        AttachmentPolicy {
            blocked_extensions: [
                "exe", "com", "dll", "net", "bat", "cmd", "scr", "pif", "vbs", "js", "jar", "msi",
                "ps1",
            ]
            .map(String::from)
            .to_vec(),
            encrypted_inbound: Action::Quarantine,
            encrypted_submission: Action::Reject,
            max_depth: 4,
            max_entries: 10_000,
            max_unpacked_bytes: 256 << 20,
            max_ratio: 200,
        }
    }
}

/// `[antivirus]`: clamd (R-POL-4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AntivirusPolicy {
    /// `host:port` for TCP or an absolute path for a unix socket; empty disables scanning.
    pub clamd: String,
    /// The whole scan of one message (connect, send, verdict) must finish within this.
    pub timeout_seconds: u64,
    /// Deliver unscanned when clamd cannot answer (never the default: R-POL-4 says every attachment).
    pub fail_open: bool,
    /// Bytes of one attachment sent to clamd; keep it below clamd's `StreamMaxLength` (25 MiB by default).
    pub max_stream_bytes: u64,
}

impl Default for AntivirusPolicy {
    fn default() -> Self {
        AntivirusPolicy {
            clamd: String::new(),
            timeout_seconds: 30,
            fail_open: false,
            max_stream_bytes: 24 << 20,
        }
    }
}

/// `[marks]`: state-secret classification marks (R-POL-7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarksPolicy {
    pub enabled: bool,
    /// A marked message arriving from another system.
    pub inbound: Action,
    /// A marked message sent by our own users.
    pub submission: Action,
}

impl Default for MarksPolicy {
    fn default() -> Self {
        MarksPolicy {
            enabled: true,
            inbound: Action::Quarantine,
            submission: Action::Reject,
        }
    }
}

/// What a DMARC failure leads to (RFC 7489 §6.7: the receiver applies the domain's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcAction {
    /// Refuse at DATA with `550 5.7.1` and a sentence naming the domain and its policy.
    Reject,
    /// Deliver into the recipient's Junk folder.
    Junk,
    /// Deliver normally; the `Authentication-Results` header still says `dmarc=fail`.
    Deliver,
}

/// `[sender_auth]`: SPF, DKIM, DMARC and ARC verification of mail from other systems
/// (RFC 7208, 6376, 7489, 8617). The DNS server is `[outbound] dns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderAuthPolicy {
    pub enabled: bool,
    /// A message failing DMARC whose domain publishes `p=reject`.
    pub dmarc_reject_action: DmarcAction,
    /// A message failing DMARC whose domain publishes `p=quarantine`.
    pub dmarc_quarantine_action: DmarcAction,
    /// Parsed DNS answers (SPF, DKIM keys, DMARC records, addresses) kept per record type.
    pub cache_entries: usize,
    /// The whole evaluation of one message (all DNS lookups) must finish within this;
    /// otherwise `451 4.4.3`, try again later.
    pub timeout_seconds: u64,
    /// `[outbound] dns`, filled in by the configuration loader: `address:port` or empty for
    /// the system's resolver.
    #[serde(skip)]
    pub dns: String,
    /// `[server] hostname`, filled in by the configuration loader: the authserv-id of the
    /// `Authentication-Results` header (RFC 8601 §2.5).
    #[serde(skip)]
    pub authserv_id: String,
}

impl Default for SenderAuthPolicy {
    fn default() -> Self {
        SenderAuthPolicy {
            enabled: true,
            dmarc_reject_action: DmarcAction::Reject,
            dmarc_quarantine_action: DmarcAction::Junk,
            cache_entries: 4096,
            timeout_seconds: 30,
            dns: String::new(),
            authserv_id: "localhost".into(),
        }
    }
}

/// `[spam]`: the spam score of mail from other systems (R-POL-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpamPolicy {
    pub enabled: bool,
    /// At or above this score a message is filed into Junk with `X-Spam-Flag: YES`.
    pub threshold: f64,
    /// At or above this score it is refused at DATA (550 5.7.1).
    pub reject_threshold: f64,
    /// Use what users taught by moving mail into and out of Junk.
    pub bayes: bool,
    /// The classifier speaks only once the domain was taught this many spam and this many
    /// ham messages; before that its guesses are noise.
    pub bayes_min_trained: u64,
    /// A mailbox's own teaching counts once it taught this many messages (spam and ham together)...
    pub bayes_user_min_trained: u64,
    /// ...with this weight, added to the domain's counts (which already hold it once).
    pub bayes_user_weight: f64,
    /// DNS block list zones (RFC 5782) to ask about the connecting address; empty: none.
    pub dnsbl: Vec<String>,
    /// Added for each list that names the address.
    pub dnsbl_score: f64,
    /// `[outbound] dns`, filled in by the configuration loader (the resolver for the lists).
    #[serde(skip)]
    pub dns: String,
}

impl Default for SpamPolicy {
    fn default() -> Self {
        SpamPolicy {
            enabled: true,
            threshold: 5.0,
            reject_threshold: 15.0,
            bayes: true,
            bayes_min_trained: 20,
            bayes_user_min_trained: 10,
            bayes_user_weight: 2.0,
            dnsbl: Vec::new(),
            dnsbl_score: 3.0,
            dns: String::new(),
        }
    }
}

// The scores are checked to be finite when the configuration is loaded, so equality is total.
impl Eq for SpamPolicy {}

/// Everything [`crate::Pipeline::from_policy`] needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub attachments: AttachmentPolicy,
    pub antivirus: AntivirusPolicy,
    pub marks: MarksPolicy,
    pub sender_auth: SenderAuthPolicy,
    pub spam: SpamPolicy,
}
