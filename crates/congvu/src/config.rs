//! `congvu.toml`: the configuration file, its environment overrides and its validation.
//!
//! Every key can be overridden by `CONGVU_<SECTION>_<KEY>` (DESIGN.md "operator's interface").
//! The override is applied to the TOML tree before it is deserialised, typed after the key's
//! default value, so `CONGVU_SMTP_MAX_RECIPIENTS=50` is an integer and a list is comma-separated.
//! Invariant: a configuration error names the key (or variable) and says how to fix it.

use anyhow::{Context, Result, anyhow, bail};
use congvu_pipeline::policy::SpamPolicy;
use congvu_pipeline::policy::{AntivirusPolicy, AttachmentPolicy, MarksPolicy, SenderAuthPolicy};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub storage: StorageSection,
    pub tls: TlsSection,
    pub listen: ListenSection,
    pub smtp: SmtpSection,
    pub imap: ImapSection,
    pub submission: SubmissionSection,
    pub pop3: Pop3Section,
    /// R-POL-3: executables and archives (see congvu_pipeline::policy).
    pub attachments: AttachmentPolicy,
    /// R-POL-4: clamd.
    pub antivirus: AntivirusPolicy,
    /// R-POL-7: state-secret marks.
    pub marks: MarksPolicy,
    /// SPF, DKIM, DMARC and ARC of inbound mail (DNS through `[outbound] dns`).
    pub sender_auth: SenderAuthPolicy,
    /// R-POL-5: the spam score (rules and what users taught by moving mail to Junk).
    pub spam: SpamPolicy,
    pub naming: NamingSection,
    pub policy: PolicySection,
    pub outbound: OutboundSection,
    pub queue: QueueSection,
    pub log: LogSection,
    /// R-ACC-4: the directory's public page and its LDAP server.
    pub directory: DirectorySection,
    /// R-POL-9: failed-login backoff, new-network alerts, sending anomalies; R-OPS-5 metrics.
    pub security: SecuritySection,
}

/// `[security]`: abnormal use of a mailbox (R-POL-9). Defaults are
/// `congvu_core::security::SecurityPolicy::RECOMMENDED`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Make sources of failed logins wait (every service: IMAP, POP3, SMTP AUTH,
    /// ManageSieve, LDAP, the web).
    pub login_backoff: bool,
    /// Failures of one login from one IP address before it must wait.
    pub login_failures_per_account: u32,
    /// Failures from one IP address, any login.
    pub login_failures_per_ip: u32,
    /// Failures of one login from anywhere before networks it never used must wait.
    pub login_failures_per_account_all_ips: u32,
    /// A count is forgotten after this long without a failure.
    pub login_failure_window: String,
    /// The first wait; doubled with each further failure up to `login_backoff_max`.
    pub login_backoff_base: String,
    pub login_backoff_max: String,
    /// Mail the user and the operator after a login from a network never used before.
    pub new_network_alerts: bool,
    /// Treat loopback logins like any other network (for tests; off in production).
    pub alert_loopback: bool,
    /// Watch hourly sending per mailbox.
    pub send_anomaly_alerts: bool,
    /// An hour above this many times the mailbox's average hour ...
    pub send_anomaly_factor: u32,
    /// ... and above this many messages is an anomaly.
    pub send_anomaly_floor: u32,
    /// How much history the average covers.
    pub send_history_days: u32,
    /// After an anomaly, hold the mailbox's further remote mail until
    /// `congvu queue release --address` (R-POL-9: "the account can be locked at once").
    pub hold_outbound_on_anomaly: bool,
    /// How often the server mails the notices of new security events.
    pub notice_interval: String,
    /// A bearer token that may read `GET /metrics` on `[listen] http` from any address;
    /// empty: only loopback clients may.
    pub metrics_token: String,
}

impl Default for SecuritySection {
    fn default() -> Self {
        let p = congvu_core::security::SecurityPolicy::RECOMMENDED;
        SecuritySection {
            login_backoff: p.login_backoff,
            login_failures_per_account: p.login_failures_per_account,
            login_failures_per_ip: p.login_failures_per_ip,
            login_failures_per_account_all_ips: p.login_failures_per_account_all_ips,
            login_failure_window: "15m".into(),
            login_backoff_base: "30s".into(),
            login_backoff_max: "15m".into(),
            new_network_alerts: p.new_network_alerts,
            alert_loopback: p.alert_loopback,
            send_anomaly_alerts: p.send_anomaly_alerts,
            send_anomaly_factor: p.send_anomaly_factor,
            send_anomaly_floor: p.send_anomaly_floor,
            send_history_days: p.send_history_days,
            hold_outbound_on_anomaly: p.hold_outbound_on_anomaly,
            notice_interval: "10s".into(),
            metrics_token: String::new(),
        }
    }
}

impl SecuritySection {
    /// The policy the login check and submission apply (durations validated at load time).
    pub fn policy(&self) -> congvu_core::security::SecurityPolicy {
        congvu_core::security::SecurityPolicy {
            login_backoff: self.login_backoff,
            login_failures_per_account: self.login_failures_per_account,
            login_failures_per_ip: self.login_failures_per_ip,
            login_failures_per_account_all_ips: self.login_failures_per_account_all_ips,
            login_failure_window: duration_secs(&self.login_failure_window),
            login_backoff_base: duration_secs(&self.login_backoff_base),
            login_backoff_max: duration_secs(&self.login_backoff_max),
            new_network_alerts: self.new_network_alerts,
            alert_loopback: self.alert_loopback,
            send_anomaly_alerts: self.send_anomaly_alerts,
            send_anomaly_factor: self.send_anomaly_factor,
            send_anomaly_floor: self.send_anomaly_floor,
            send_history_days: self.send_history_days,
            hold_outbound_on_anomaly: self.hold_outbound_on_anomaly,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// The host name this server announces in SMTP greetings and Received headers.
    pub hostname: String,
    /// The mail domains hosted here, e.g. ["bacgiang.gov.vn"].
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Directory of the embedded store (SQLite database and message blobs), relative to the
    /// configuration file.
    pub data_dir: PathBuf,
    /// Empty for embedded storage. (A PostgreSQL URL for scale-out comes with its backend.)
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain and private key, relative to the configuration file.
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenSection {
    pub smtp: String,
    pub submission: String,
    pub submissions: String,
    pub imap: String,
    pub imaps: String,
    pub pop3: String,
    pub pop3s: String,
    pub managesieve: String,
    pub http: String,
    pub https: String,
    pub ldap: String,
    /// LDAP over TLS from the first byte (636): what address books call "use SSL".
    pub ldaps: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    /// Largest message accepted, in bytes (advertised with SIZE).
    pub max_message_size: u64,
    /// Most recipients per message.
    pub max_recipients: usize,
    /// Protocol errors tolerated per session before it is closed.
    pub max_errors: usize,
    /// Idle time before a session is closed (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub idle_timeout: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapSection {
    /// Largest literal (APPEND) accepted, in bytes; advertised as APPENDLIMIT.
    pub max_literal: u64,
    /// Idle time of an authenticated session before it is closed (RFC 9051 §5.4: at least 30 minutes).
    pub idle_timeout: String,
    /// Allow LOGIN without TLS from 127.0.0.1/::1 (local tools, tests); never from elsewhere.
    pub allow_plaintext_auth_on_loopback: bool,
    /// Storage quota per mailbox in bytes (RFC 9208 STORAGE); 0 means none.
    pub quota_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSection {
    /// DNS server (address:port) for MX lookups; empty uses the system's resolver.
    pub dns: String,
    /// Port of remote MX hosts (25; tests and gateways change it).
    pub smtp_port: u16,
    /// Connections at once to one recipient domain. Default 20, Postfix's
    /// `default_destination_concurrency_limit`: with 4, bench/smtp-relay showed the queue
    /// trailing a 20-session submission load by 6-9 s (a province sends most of its mail to one
    /// gateway or ministry domain); with 20 it keeps up. Lower it for a fragile receiver.
    pub per_domain_concurrency: usize,
    /// Smarthost that takes all outbound mail (empty: deliver to MX hosts directly).
    pub relay_host: String,
    pub relay_port: u16,
    pub relay_username: String,
    pub relay_password: String,
    /// TLS from the first byte to the relay (port 465); otherwise STARTTLS.
    pub relay_implicit_tls: bool,
    /// DANE (RFC 7672): trust the AD bit of `dns` (which must be a local validating resolver).
    pub dane: bool,
    /// MTA-STS (RFC 8461): honour recipient domains' published TLS policies.
    pub mta_sts: bool,
    /// Extra CA certificates (PEM) trusted for MTA-STS besides the system roots; empty: none.
    pub mta_sts_ca_file: String,
}

impl Default for OutboundSection {
    fn default() -> Self {
        OutboundSection {
            dns: String::new(),
            smtp_port: 25,
            per_domain_concurrency: 20,
            relay_host: String::new(),
            relay_port: 587,
            relay_username: String::new(),
            relay_password: String::new(),
            relay_implicit_tls: false,
            dane: true,
            mta_sts: true,
            mta_sts_ca_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSection {
    /// Waits after each failed attempt; the last one repeats.
    pub retry_schedule: Vec<String>,
    /// Undelivered this long after queueing: bounced (RFC 5321 §4.5.4.1).
    pub max_age: String,
    /// A "delayed" notice is sent once after this.
    pub delay_warning_after: String,
    /// How often an idle worker looks for due entries.
    pub poll_interval: String,
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            retry_schedule: ["5m", "10m", "30m", "1h", "2h", "4h"]
                .map(String::from)
                .to_vec(),
            max_age: "5d".into(),
            delay_warning_after: "4h".into(),
            poll_interval: "2s".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubmissionSection {
    /// Messages one login may send in any sliding hour (R-POL-9: sudden mass sending).
    pub max_messages_per_hour: u32,
    /// Recipients of one submitted message.
    pub max_recipients_per_message: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3Section {
    /// Idle time before a session is closed (RFC 1939 §3: at least 10 minutes).
    pub idle_timeout: String,
    /// Allow passwords without TLS from 127.0.0.1/::1; never from elsewhere.
    pub allow_plaintext_auth_on_loopback: bool,
}

impl Default for SubmissionSection {
    fn default() -> Self {
        SubmissionSection {
            max_messages_per_hour: 200,
            max_recipients_per_message: 100,
        }
    }
}

impl Default for Pop3Section {
    fn default() -> Self {
        Pop3Section {
            idle_timeout: "10m".into(),
            allow_plaintext_auth_on_loopback: true,
        }
    }
}

/// How addresses are made from Vietnamese names (R-ACC-3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamingSection {
    /// "bacgiang" (initials of the whole name) or "angiang" (kind prefix: so…, ban…, hoi…).
    pub style: String,
}

impl Default for NamingSection {
    fn default() -> Self {
        NamingSection {
            style: "bacgiang".into(),
        }
    }
}

impl NamingSection {
    /// The validated style (`validate` refused anything else at load time).
    pub fn naming_style(&self) -> congvu_core::naming::NamingStyle {
        congvu_core::naming::NamingStyle::from_token(&self.style)
            .unwrap_or(congvu_core::naming::NamingStyle::BacGiang)
    }
}

/// The security policy's numbers (R-POL-1, R-POL-2, R-ACC-5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    /// Users must change their password after this long (6 months).
    pub user_password_max_age: String,
    /// Administrators (operators) after this long (3 months).
    pub admin_password_max_age: String,
    /// How long a revoked mailbox's content is kept before it may be purged (1 year).
    pub revoked_retention: String,
    /// How many earlier passwords may not be used again.
    pub password_history: u32,
    /// How often `serve` looks for passwords 14, 7 or 1 days from expiry and mails a warning.
    pub expiry_warning_interval: String,
    /// How often `serve` purges revoked mailboxes whose retention has run out.
    pub purge_interval: String,
    /// Where mail may be forwarded automatically (R-POL-6): these domains and their
    /// subdomains. Sieve `redirect` elsewhere is refused when the script is uploaded.
    pub government_domains: Vec<String>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection {
            user_password_max_age: "180d".into(),
            admin_password_max_age: "90d".into(),
            revoked_retention: "365d".into(),
            password_history: 5,
            expiry_warning_interval: "1h".into(),
            purge_interval: "1h".into(),
            government_domains: vec!["gov.vn".into()],
        }
    }
}

impl PolicySection {
    /// `[policy] user_password_max_age` in seconds (validated at load time).
    pub fn user_max_age_secs(&self) -> i64 {
        duration_secs(&self.user_password_max_age)
    }
    pub fn admin_max_age_secs(&self) -> i64 {
        duration_secs(&self.admin_password_max_age)
    }
    pub fn revoked_retention_secs(&self) -> i64 {
        duration_secs(&self.revoked_retention)
    }
}

fn duration_secs(text: &str) -> i64 {
    parse_duration(text)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `[directory]`: who may see the province's directory (R-ACC-4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorySection {
    /// Serve `/directory` on `[listen] http` to anyone: units and their addresses only.
    pub public: bool,
    /// Let LDAP clients search without a bind. Off by default: the directory lists staff, so
    /// address books bind with a mailbox's address and password.
    pub ldap_anonymous: bool,
    /// The LDAP naming context; empty derives it from the first of `[server] domains`
    /// (bacgiang.gov.vn → dc=bacgiang,dc=gov,dc=vn).
    pub ldap_base_dn: String,
}

impl DirectorySection {
    /// `ldap_base_dn`, or the one derived from `domain`.
    pub fn ldap_base(&self, domain: &str) -> String {
        if self.ldap_base_dn.trim().is_empty() {
            congvu_directory::ldap::dn::base_for_domain(domain)
        } else {
            self.ldap_base_dn.trim().to_string()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// error, warn, info, debug or trace (RUST_LOG overrides it).
    pub level: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            hostname: "localhost".into(),
            domains: vec![],
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: "data".into(),
            url: String::new(),
        }
    }
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            cert: "tls/cert.pem".into(),
            key: "tls/key.pem".into(),
        }
    }
}

impl Default for ListenSection {
    fn default() -> Self {
        ListenSection {
            smtp: "0.0.0.0:25".into(),
            submission: "0.0.0.0:587".into(),
            submissions: "0.0.0.0:465".into(),
            imap: "0.0.0.0:143".into(),
            imaps: "0.0.0.0:993".into(),
            pop3: "0.0.0.0:110".into(),
            pop3s: "0.0.0.0:995".into(),
            managesieve: String::new(),
            http: String::new(),
            https: String::new(),
            ldap: String::new(),
            ldaps: String::new(),
        }
    }
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            max_message_size: 50 << 20,
            max_recipients: 1000,
            max_errors: 10,
            idle_timeout: "5m".into(),
        }
    }
}

impl Default for ImapSection {
    fn default() -> Self {
        ImapSection {
            max_literal: 64 << 20,
            idle_timeout: "30m".into(),
            allow_plaintext_auth_on_loopback: true,
            quota_bytes: 0,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
        }
    }
}

/// A loaded configuration with paths made absolute.
impl Config {
    /// The settings of the pipeline's policy stages.
    pub fn pipeline_policy(&self) -> congvu_pipeline::Policy {
        congvu_pipeline::Policy {
            attachments: self.attachments.clone(),
            antivirus: self.antivirus.clone(),
            marks: self.marks.clone(),
            sender_auth: SenderAuthPolicy {
                dns: self.outbound.dns.clone(),
                authserv_id: self.server.hostname.clone(),
                ..self.sender_auth.clone()
            },
            spam: SpamPolicy {
                dns: self.outbound.dns.clone(),
                ..self.spam.clone()
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Directory of the configuration file; relative paths are resolved against it.
    pub base_dir: PathBuf,
}

impl Loaded {
    pub fn path(&self, relative: &Path) -> PathBuf {
        if relative.is_absolute() {
            relative.to_path_buf()
        } else {
            self.base_dir.join(relative)
        }
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path(&self.config.storage.data_dir)
    }
}

/// Errors the operator must fix in the configuration: exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn config_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ConfigError(msg.into()))
}

/// Reads the file, applies `CONGVU_*` variables from `env`, deserialises and validates.
pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| config_error(format!("cannot read {}: {e}", path.display())))?;
    let mut tree: toml::Table = text
        .parse()
        .map_err(|e| config_error(format!("{} is not valid TOML: {e}", path.display())))?;
    apply_env_overrides(&mut tree, env)?;
    // Deserialise from the overridden tree rendered as text, so a type error carries a span
    // that names the section and key.
    let rendered = toml::to_string(&tree).context("rendering the configuration")?;
    let config: Config = toml::from_str(&rendered).map_err(|e| {
        config_error(format!(
            "{}: {}",
            path.display(),
            describe_error(&rendered, &e)
        ))
    })?;
    validate(&config)?;
    let base_dir = path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded { config, base_dir })
}

/// "[imap] max_literal: invalid type: …" from a deserialisation error and the text it read.
fn describe_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return error.message().to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.rsplit('\n').next().unwrap_or_default();
    let key = line.split('=').next().unwrap_or_default().trim();
    let section = before
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .unwrap_or_default();
    match (section.is_empty(), key.is_empty()) {
        (false, false) => format!("[{section}] {key}: {}", error.message()),
        (false, true) => format!("[{section}]: {}", error.message()),
        _ => error.message().to_string(),
    }
}

/// `CONGVU_LISTEN_SMTP=127.0.0.1:2525` sets `[listen] smtp`. The section is the first word after
/// `CONGVU_`; the key is the rest, lowercased. The value is typed after the default's type.
fn apply_env_overrides(
    tree: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<()> {
    let defaults = toml::Table::try_from(Config::default()).context("serialising defaults")?;
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("CONGVU_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        // A section name may itself hold `_` (`[sender_auth]`): the longest one that exists wins.
        let (section, key) = rest
            .match_indices('_')
            .map(|(i, _)| (&rest[..i], &rest[i + 1..]))
            .rfind(|(s, _)| defaults.contains_key(&s.to_ascii_lowercase()))
            .unwrap_or((section, key));
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        // Variables of other tools share the prefix (CONGVU_BIN, CONGVU_PEERS_DIR): only a name
        // whose section exists is ours, and then an unknown key is a typo worth an error.
        if !defaults.contains_key(&section) {
            continue;
        }
        let default = defaults
            .get(&section)
            .and_then(|s| s.as_table())
            .and_then(|s| s.get(&key))
            .ok_or_else(|| {
                config_error(format!(
                    "{name}: there is no key `{key}` in section [{section}]"
                ))
            })?;
        let typed = match default {
            toml::Value::Integer(_) => {
                toml::Value::Integer(value.trim().parse().map_err(|_| {
                    config_error(format!("{name}: `{value}` is not a whole number"))
                })?)
            }
            toml::Value::Float(_) => toml::Value::Float(
                value
                    .trim()
                    .parse()
                    .map_err(|_| config_error(format!("{name}: `{value}` is not a number")))?,
            ),
            toml::Value::Boolean(_) => toml::Value::Boolean(match value.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => bail!(config_error(format!(
                    "{name}: `{value}` is not true or false"
                ))),
            }),
            toml::Value::Array(_) => toml::Value::Array(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            ),
            _ => toml::Value::String(value),
        };
        let table = tree
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| config_error(format!("[{section}] in the file is not a table")))?;
        table.insert(key, typed);
    }
    Ok(())
}

fn validate(config: &Config) -> Result<()> {
    validate_outbound(config)?;
    if config.server.domains.is_empty() {
        bail!(config_error(
            "[server] domains is empty: list the mail domains hosted here, e.g. domains = [\"bacgiang.gov.vn\"]"
        ));
    }
    for domain in &config.server.domains {
        congvu_core::Address::parse(&format!("postmaster@{domain}")).map_err(|e| {
            config_error(format!(
                "[server] domains: `{domain}` is not a domain name ({e})"
            ))
        })?;
    }
    if !config.storage.url.is_empty() {
        bail!(config_error(
            "[storage] url: only embedded storage is available in this build; leave url empty and set data_dir"
        ));
    }
    let l = &config.listen;
    for (key, value) in listeners(l) {
        if !value.is_empty() {
            value.parse::<std::net::SocketAddr>().map_err(|_| {
                config_error(format!(
                    "[listen] {key} = \"{value}\" is not an address:port such as 127.0.0.1:2525"
                ))
            })?;
        }
    }
    // Listeners whose servers are not part of this build: refuse rather than silently ignore.
    for (key, value) in [("https", &l.https)] {
        if !value.is_empty() {
            bail!(config_error(format!(
                "[listen] {key}: this service is not available in this build yet; leave it empty"
            )));
        }
    }
    let base = &config.directory.ldap_base_dn;
    if congvu_directory::ldap::dn::Dn::parse(base).is_err() {
        bail!(config_error(format!(
            "[directory] ldap_base_dn = \"{base}\" is not a DN such as \"dc=bacgiang,dc=gov,dc=vn\" (leave it empty to derive it from the domain)"
        )));
    }
    parse_duration(&config.smtp.idle_timeout)
        .map_err(|e| config_error(format!("[smtp] idle_timeout: {e}")))?;
    parse_duration(&config.imap.idle_timeout)
        .map_err(|e| config_error(format!("[imap] idle_timeout: {e}")))?;
    parse_duration(&config.pop3.idle_timeout)
        .map_err(|e| config_error(format!("[pop3] idle_timeout: {e}")))?;
    if congvu_core::naming::NamingStyle::from_token(&config.naming.style).is_none() {
        bail!(config_error(format!(
            "[naming] style = \"{}\": use \"bacgiang\" or \"angiang\"",
            config.naming.style
        )));
    }
    for (key, value) in [
        (
            "user_password_max_age",
            &config.policy.user_password_max_age,
        ),
        (
            "admin_password_max_age",
            &config.policy.admin_password_max_age,
        ),
        ("revoked_retention", &config.policy.revoked_retention),
        (
            "expiry_warning_interval",
            &config.policy.expiry_warning_interval,
        ),
        ("purge_interval", &config.policy.purge_interval),
    ] {
        parse_duration(value).map_err(|e| config_error(format!("[policy] {key}: {e}")))?;
    }
    validate_policy_stages(config)?;
    let sec = &config.security;
    for (key, value) in [
        ("login_failure_window", &sec.login_failure_window),
        ("login_backoff_base", &sec.login_backoff_base),
        ("login_backoff_max", &sec.login_backoff_max),
        ("notice_interval", &sec.notice_interval),
    ] {
        parse_duration(value).map_err(|e| config_error(format!("[security] {key}: {e}")))?;
    }
    if sec.send_history_days == 0 {
        bail!(config_error(
            "[security] send_history_days must be at least 1"
        ));
    }
    if config.smtp.max_recipients == 0 {
        bail!(config_error("[smtp] max_recipients must be at least 1"));
    }
    Ok(())
}

/// `[attachments]`, `[antivirus]` and `[marks]`.
fn validate_outbound(config: &Config) -> Result<()> {
    let o = &config.outbound;
    if !o.dns.is_empty() {
        o.dns.parse::<std::net::SocketAddr>().map_err(|_| {
            config_error(format!(
                "[outbound] dns = \"{}\" is not an address:port such as 127.0.0.1:53",
                o.dns
            ))
        })?;
    }
    if o.per_domain_concurrency == 0 {
        bail!(config_error(
            "[outbound] per_domain_concurrency must be at least 1"
        ));
    }
    let q = &config.queue;
    if q.retry_schedule.is_empty() {
        bail!(config_error(
            "[queue] retry_schedule is empty: give at least one duration, e.g. [\"5m\"]"
        ));
    }
    for d in &q.retry_schedule {
        parse_duration(d).map_err(|e| config_error(format!("[queue] retry_schedule: {e}")))?;
    }
    for (key, value) in [
        ("max_age", &q.max_age),
        ("delay_warning_after", &q.delay_warning_after),
        ("poll_interval", &q.poll_interval),
    ] {
        parse_duration(value).map_err(|e| config_error(format!("[queue] {key}: {e}")))?;
    }
    Ok(())
}

fn validate_policy_stages(config: &Config) -> Result<()> {
    let a = &config.attachments;
    for (key, value) in [
        ("max_depth", u64::from(a.max_depth)),
        ("max_entries", a.max_entries),
        ("max_unpacked_bytes", a.max_unpacked_bytes),
        ("max_ratio", a.max_ratio),
    ] {
        if value == 0 {
            bail!(config_error(format!(
                "[attachments] {key} must be at least 1"
            )));
        }
    }
    if let Some(bad) = a
        .blocked_extensions
        .iter()
        .find(|e| e.trim_start_matches('.').is_empty() || e.contains(['/', '\\', ' ']))
    {
        bail!(config_error(format!(
            "[attachments] blocked_extensions: `{bad}` is not a file extension such as \"exe\""
        )));
    }
    let clamd = &config.antivirus.clamd;
    if !clamd.is_empty()
        && !clamd.starts_with('/')
        && !clamd
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    {
        bail!(config_error(format!(
            "[antivirus] clamd = \"{clamd}\" is neither host:port (127.0.0.1:3310) nor a socket path (/run/clamav/clamd.ctl)"
        )));
    }
    if config.antivirus.timeout_seconds == 0 {
        bail!(config_error(
            "[antivirus] timeout_seconds must be at least 1"
        ));
    }
    for (key, value) in [
        ("cache_entries", config.sender_auth.cache_entries as u64),
        ("timeout_seconds", config.sender_auth.timeout_seconds),
    ] {
        if value == 0 {
            bail!(config_error(format!(
                "[sender_auth] {key} must be at least 1"
            )));
        }
    }
    validate_spam(&config.spam)
}

/// `[spam]`: finite scores, the refusal above the Junk threshold.
fn validate_spam(spam: &SpamPolicy) -> Result<()> {
    for (key, value) in [
        ("threshold", spam.threshold),
        ("reject_threshold", spam.reject_threshold),
        ("bayes_user_weight", spam.bayes_user_weight),
        ("dnsbl_score", spam.dnsbl_score),
    ] {
        if !value.is_finite() {
            bail!(config_error(format!("[spam] {key} must be a number")));
        }
    }
    if spam.reject_threshold <= spam.threshold {
        bail!(config_error(format!(
            "[spam] reject_threshold ({}) must be above threshold ({}): mail between them goes to Junk",
            spam.reject_threshold, spam.threshold
        )));
    }
    if spam.bayes_user_weight < 0.0 {
        bail!(config_error("[spam] bayes_user_weight must be 0 or more"));
    }
    Ok(())
}

pub fn listeners(l: &ListenSection) -> [(&'static str, &String); 12] {
    [
        ("smtp", &l.smtp),
        ("submission", &l.submission),
        ("submissions", &l.submissions),
        ("imap", &l.imap),
        ("imaps", &l.imaps),
        ("pop3", &l.pop3),
        ("pop3s", &l.pop3s),
        ("managesieve", &l.managesieve),
        ("http", &l.http),
        ("https", &l.https),
        ("ldap", &l.ldap),
        ("ldaps", &l.ldaps),
    ]
}

/// Durations are written `90s`, `15m`, `4h`, `180d` (DESIGN.md).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a duration such as 90s, 15m, 4h or 180d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => bail!("`{text}` is not a duration such as 90s, 15m, 4h or 180d"),
    };
    Ok(Duration::from_secs(secs))
}

/// The commented configuration file `congvu init` writes.
pub fn sample(domain: &str, hostname: &str) -> String {
    format!(
        r#"# congvu — Hệ thống thư điện tử công vụ. Configuration written by `congvu init`.
# Every key can be overridden by an environment variable CONGVU_<SECTION>_<KEY>,
# e.g. CONGVU_LISTEN_SMTP=127.0.0.1:2525. Durations are written 90s, 15m, 4h, 180d.

[server]
# Name announced in SMTP greetings and Received headers.
hostname = "{hostname}"
# Mail domains hosted here.
domains = ["{domain}"]

[storage]
# Embedded storage: SQLite metadata and content-addressed message files, relative to this file.
data_dir = "data"
url = ""

[tls]
# PEM certificate chain and key (self-signed by `congvu init`; replace with the province's certificate).
cert = "tls/cert.pem"
key = "tls/key.pem"

[listen]
# address:port for each service; an empty value disables it.
smtp = "0.0.0.0:25"
submission = "0.0.0.0:587"
submissions = "0.0.0.0:465"
imap = "0.0.0.0:143"
imaps = "0.0.0.0:993"
pop3 = "0.0.0.0:110"
pop3s = "0.0.0.0:995"
# The JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and the public directory page.
# Plain HTTP: keep it on loopback or behind a TLS reverse proxy.
http = ""
# ManageSieve (RFC 5804) for mail filters and vacation replies, e.g. "0.0.0.0:4190".
managesieve = ""
# Not yet available in this build: https.
https = ""
# The read-only LDAP directory for address books (Thunderbird, Outlook), e.g. "0.0.0.0:389".
# It offers StartTLS with the certificate above; a password bind from another machine must use
# StartTLS or ldaps first (RFC 4513).
ldap = ""
# LDAP over TLS from the first byte ("use SSL" in address books), e.g. "0.0.0.0:636".
ldaps = ""

[smtp]
# Largest message accepted, in bytes (50 MiB).
max_message_size = 52428800
max_recipients = 1000
# Protocol errors tolerated per session before it is closed.
max_errors = 10
idle_timeout = "5m"

[imap]
# Largest APPEND accepted, in bytes (64 MiB); advertised as APPENDLIMIT.
max_literal = 67108864
idle_timeout = "30m"
# LOGIN without TLS is allowed only from 127.0.0.1/::1.
allow_plaintext_auth_on_loopback = true
# Storage quota per mailbox in bytes (0 = none); APPEND over it gets NO [OVERQUOTA].
quota_bytes = 0

[submission]
# Messages one login may send in any sliding hour, and recipients per message.
max_messages_per_hour = 200
max_recipients_per_message = 100

[pop3]
idle_timeout = "10m"
# USER/PASS without TLS is allowed only from 127.0.0.1/::1.
allow_plaintext_auth_on_loopback = true

[naming]
# How addresses are made from Vietnamese names (R-ACC-3): "bacgiang" writes the initials of
# the whole name (Sở Thông tin và Truyền thông → stttt); "angiang" prefixes the kind (sotttt).
style = "bacgiang"

[policy]
# Passwords expire (R-POL-2): users after 6 months, administrators after 3.
user_password_max_age = "180d"
admin_password_max_age = "90d"
# A revoked mailbox's content is kept this long before it may be purged (R-ACC-5).
revoked_retention = "365d"
# Earlier passwords that may not be used again (R-POL-1).
password_history = 5
# How often the server looks for passwords 14, 7 or 1 days from expiry and mails a warning.
expiry_warning_interval = "1h"
# How often the server purges revoked mailboxes whose retention has run out.
purge_interval = "1h"
# Automatic forwarding (Sieve redirect) only to these domains and their subdomains (R-POL-6).
government_domains = ["gov.vn"]

[security]
# R-POL-9. Failed logins (every service): after 5 failures of one login from one address
# (30 from one address for any login, 20 of one login from anywhere) within 15 minutes, the
# source waits 30s, doubling up to 15m. Guesses from elsewhere never hold back the networks
# a mailbox already logs in from.
login_backoff = true
login_failures_per_account = 5
login_failures_per_ip = 30
login_failures_per_account_all_ips = 20
login_failure_window = "15m"
login_backoff_base = "30s"
login_backoff_max = "15m"
# Mail the user and the operator after a login from a network (/24, /48) never used before.
new_network_alerts = true
# An hour with more than 10 x the mailbox's average hour and more than 100 messages is an
# anomaly: the user and the operator are told and, with the hold, further remote mail waits
# in the queue until `congvu queue release --address <login>`.
send_anomaly_alerts = true
send_anomaly_factor = 10
send_anomaly_floor = 100
send_history_days = 30
hold_outbound_on_anomaly = true
# GET /metrics (Prometheus) on [listen] http answers loopback clients, and others that send
# "Authorization: Bearer <metrics_token>" when a token is set here.
metrics_token = ""

[attachments]
# R-POL-3. Executables are refused by these extensions and, whatever the name, by content
# (PE/MZ, ELF, Mach-O, #! scripts), also inside zip, 7z, rar, tar and gz archives.
blocked_extensions = ["exe", "com", "dll", "net", "bat", "cmd", "scr", "pif", "vbs", "js", "jar", "msi", "ps1"]
# Password-protected archives: "reject", "quarantine" or "tag" (X-Congvu-Policy header).
encrypted_inbound = "quarantine"
encrypted_submission = "reject"
# Archive bomb limits, per attachment: nesting depth, entries, unpacked bytes, unpacked:packed.
max_depth = 4
max_entries = 10000
max_unpacked_bytes = 268435456
max_ratio = 200

[antivirus]
# R-POL-4. clamd's INSTREAM endpoint: "127.0.0.1:3310" or "/run/clamav/clamd.ctl"; empty = off.
clamd = ""
# Unreachable or slower than this: 451 4.7.1, try again later (never delivered unscanned)...
timeout_seconds = 30
# ...unless this is true.
fail_open = false
# Bytes of one attachment sent to clamd; keep below clamd's StreamMaxLength (25 MiB).
max_stream_bytes = 25165824

[marks]
# R-POL-7. "MẬT", "TỐI MẬT", "TUYỆT MẬT" stamps in the subject, text or documents.
enabled = true
# "reject", "quarantine" or "tag".
inbound = "quarantine"
submission = "reject"

[sender_auth]
# SPF, DKIM, DMARC and ARC of mail from other systems, looked up through [outbound] dns; every
# delivered message gets an Authentication-Results header. DNS failures: 451 4.4.3, try later.
enabled = true
# DMARC failures by the domain's published policy: "reject" (550 5.7.1), "junk" or "deliver".
dmarc_reject_action = "reject"
dmarc_quarantine_action = "junk"
# Parsed DNS answers kept (per record type) until their TTL runs out.
cache_entries = 4096
# All lookups for one message; slower answers give 451 4.4.3.
timeout_seconds = 30

[spam]
# R-POL-5. Mail from other systems gets a score from rules (headers, links, Vietnamese and English
# spam phrases, the Authentication-Results above) and from what users taught by moving mail into
# Junk (spam) and out of it ($NotJunk too: not spam). Every message gets X-Spam-Score/-Status.
enabled = true
# At or above: delivered to Junk. At or above reject_threshold: refused at DATA (550 5.7.1).
threshold = 5.0
reject_threshold = 15.0
# The learning part; it counts once the domain was taught this many spam and this many ham.
bayes = true
bayes_min_trained = 20
# A mailbox's own teaching is added, with this weight, once it taught this many messages.
bayes_user_min_trained = 10
bayes_user_weight = 2.0
# DNS block lists (RFC 5782) asked about the connecting address through [outbound] dns, e.g.
# ["zen.spamhaus.org"] (mind each list's terms of use); each listing adds dnsbl_score.
dnsbl = []
dnsbl_score = 3.0

[outbound]
# DNS server for MX lookups (address:port); empty uses the system resolver.
dns = ""
# Port of remote MX hosts.
smtp_port = 25
# Connections at once to one recipient domain (Postfix's default_destination_concurrency_limit is also 20).
per_domain_concurrency = 20
# Smarthost for provinces that send through a gateway; empty delivers to MX hosts directly.
relay_host = ""
relay_port = 587
relay_username = ""
relay_password = ""
relay_implicit_tls = false
# DANE (RFC 7672): MX hosts with DNSSEC-signed TLSA records get mandatory, verified TLS. The AD
# bit is trusted only from `dns` above (or a loopback system resolver): use a LOCAL VALIDATING
# resolver (unbound, knot-resolver); a remote one could be spoofed.
dane = true
# MTA-STS (RFC 8461): honour the TLS policies domains publish at https://mta-sts.<domain>/.
mta_sts = true
# Extra CA certificates (PEM) trusted for MTA-STS besides the system's; empty for none.
mta_sts_ca_file = ""

[queue]
# Waits after each failed attempt (the last repeats); bounce after max_age.
retry_schedule = ["5m", "10m", "30m", "1h", "2h", "4h"]
max_age = "5d"
delay_warning_after = "4h"
poll_interval = "2s"

[log]
# error, warn, info, debug or trace; RUST_LOG overrides it.
level = "info"

[directory]
# Publish the units and their addresses at http://[listen] http/directory (R-ACC-4).
public = false
# LDAP ([listen] ldap): searches without a bind? false = address books must bind with a
# mailbox's address (or mail=ADDRESS,ou=people,BASE) and its password.
ldap_anonymous = false
# The naming context clients use as search base; empty = from the first domain
# (bacgiang.gov.vn → "dc=bacgiang,dc=gov,dc=vn").
ldap_base_dn = ""
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Loaded> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("congvu.toml");
        std::fs::write(&path, text).unwrap();
        load(
            &path,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn sample_loads_and_env_overrides_apply() {
        let loaded = load_text(
            &sample("bacgiang.gov.vn", "mail.bacgiang.gov.vn"),
            &[
                ("CONGVU_LISTEN_SMTP", "127.0.0.1:2525"),
                ("CONGVU_LISTEN_IMAPS", ""),
                ("CONGVU_SMTP_MAX_RECIPIENTS", "5"),
                ("CONGVU_SERVER_DOMAINS", "a.gov.vn, b.gov.vn"),
                ("CONGVU_IMAP_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK", "false"),
                ("PATH", "/usr/bin"),
                ("CONGVU_BIN", "/tmp/congvu"),
            ],
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.listen.smtp, "127.0.0.1:2525");
        assert_eq!(c.listen.imaps, "");
        assert_eq!(c.smtp.max_recipients, 5);
        assert_eq!(c.server.domains, vec!["a.gov.vn", "b.gov.vn"]);
        assert!(!c.imap.allow_plaintext_auth_on_loopback);
        assert_eq!(c.naming.style, "bacgiang");
        assert_eq!(c.policy.user_max_age_secs(), 180 * 86400);
        assert_eq!(c.policy.admin_max_age_secs(), 90 * 86400);
        assert_eq!(c.policy.revoked_retention_secs(), 365 * 86400);
        assert_eq!(c.policy.password_history, 5);
    }

    #[test]
    fn spam_section_defaults_overrides_and_checks() {
        let text = sample("bacgiang.gov.vn", "h");
        let c = load_text(&text, &[]).unwrap().config;
        assert_eq!(c.pipeline_policy().spam, SpamPolicy::default());
        let c = load_text(
            &text,
            &[
                ("CONGVU_SPAM_THRESHOLD", "6.5"),
                ("CONGVU_SPAM_BAYES_MIN_TRAINED", "5"),
            ],
        )
        .unwrap()
        .config;
        assert_eq!((c.spam.threshold, c.spam.bayes_min_trained), (6.5, 5));
        let err = load_text(&text, &[("CONGVU_SPAM_REJECT_THRESHOLD", "4")]).unwrap_err();
        assert!(err.to_string().contains("[spam] reject_threshold"), "{err}");
        let err = load_text(&text, &[("CONGVU_SPAM_THRESHOLD", "nhiều")]).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
    }

    #[test]
    fn naming_and_policy_are_checked() {
        let text = sample("bacgiang.gov.vn", "h");
        let loaded = load_text(
            &text,
            &[
                ("CONGVU_NAMING_STYLE", "angiang"),
                ("CONGVU_POLICY_USER_PASSWORD_MAX_AGE", "2s"),
            ],
        )
        .unwrap();
        assert_eq!(
            loaded.config.naming.naming_style(),
            congvu_core::naming::NamingStyle::AnGiang
        );
        assert_eq!(loaded.config.policy.user_max_age_secs(), 2);
        let err = load_text(&text, &[("CONGVU_NAMING_STYLE", "hanoi")]).unwrap_err();
        assert!(err.to_string().contains("[naming] style"), "{err}");
        let err = load_text(&text, &[("CONGVU_POLICY_REVOKED_RETENTION", "1 nam")]).unwrap_err();
        assert!(
            err.to_string().contains("[policy] revoked_retention"),
            "{err}"
        );
        // A file without the sections gets the regulation's defaults.
        let bare = load_text("[server]\ndomains = [\"a.gov.vn\"]\n", &[]).unwrap();
        assert_eq!(bare.config.policy.admin_max_age_secs(), 90 * 86400);
    }

    #[test]
    fn errors_name_the_key() {
        let text = sample("bacgiang.gov.vn", "h");
        let err = load_text(&text, &[("CONGVU_SMTP_MAX_RECIPIENTS", "many")]).unwrap_err();
        assert!(
            err.to_string().contains("CONGVU_SMTP_MAX_RECIPIENTS"),
            "{err}"
        );
        let err = load_text(&text, &[("CONGVU_LISTEN_NOPE", "x")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("no key `nope` in section [listen]"),
            "{err}"
        );
        let err = load_text(&text, &[("CONGVU_LISTEN_SMTP", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("[listen] smtp"), "{err}");
        let err = load_text(
            &text.replace("max_literal = 67108864", "max_literal = \"vo-han\""),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("[imap] max_literal"), "{err}");
        let err = load_text(
            &text.replace("level = \"info\"", "level = \"info\"\nfoo = 1"),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("foo"), "{err}");
        assert!(err.downcast_ref::<ConfigError>().is_some());
    }

    #[test]
    fn policy_stage_sections() {
        let text = sample("bacgiang.gov.vn", "h");
        let loaded = load_text(
            &text,
            &[
                ("CONGVU_ANTIVIRUS_CLAMD", "127.0.0.1:3310"),
                ("CONGVU_ATTACHMENTS_ENCRYPTED_INBOUND", "reject"),
            ],
        )
        .unwrap();
        let policy = loaded.config.pipeline_policy();
        assert_eq!(policy.antivirus.clamd, "127.0.0.1:3310");
        assert_eq!(
            policy.attachments.encrypted_inbound,
            congvu_pipeline::policy::Action::Reject
        );
        assert_eq!(policy.marks, MarksPolicy::default());
        assert_eq!(policy.attachments.blocked_extensions.len(), 13);
        let err = load_text(&text, &[("CONGVU_ANTIVIRUS_CLAMD", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("[antivirus] clamd"), "{err}");
        let err = load_text(&text, &[("CONGVU_MARKS_INBOUND", "drop")]).unwrap_err();
        assert!(err.to_string().contains("[marks]"), "{err}");
    }

    #[test]
    fn sender_auth_section_takes_outbound_dns_and_hostname() {
        let text = sample("bacgiang.gov.vn", "mail.bacgiang.gov.vn");
        let loaded = load_text(
            &text,
            &[
                ("CONGVU_OUTBOUND_DNS", "127.0.0.1:5353"),
                ("CONGVU_SENDER_AUTH_DMARC_REJECT_ACTION", "junk"),
                ("CONGVU_SENDER_AUTH_ENABLED", "false"),
            ],
        )
        .unwrap();
        let auth = loaded.config.pipeline_policy().sender_auth;
        assert_eq!(auth.dns, "127.0.0.1:5353");
        assert_eq!(auth.authserv_id, "mail.bacgiang.gov.vn");
        assert!(!auth.enabled);
        assert_eq!(
            auth.dmarc_reject_action,
            congvu_pipeline::policy::DmarcAction::Junk
        );
        let err = load_text(&text, &[("CONGVU_SENDER_AUTH_TIMEOUT_SECONDS", "0")]).unwrap_err();
        assert!(
            err.to_string().contains("[sender_auth] timeout_seconds"),
            "{err}"
        );
        let err = load_text(&text, &[("CONGVU_SENDER_AUTH_DNS", "1.1.1.1:53")]).unwrap_err();
        assert!(err.to_string().contains("no key `dns`"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("180d").unwrap(),
            Duration::from_secs(180 * 86400)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 years").is_err());
    }
}
