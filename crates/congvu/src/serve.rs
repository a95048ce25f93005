//! `congvu serve`: the only place where the parts are wired together (STYLE.md habit 9).
//!
//! Order: configuration → storage → pipeline → TLS → listeners (all bound before any serves,
//! so a taken port fails start-up instead of half-starting) → wait for SIGTERM/SIGINT →
//! cancel → each server drains its sessions → exit 0.

use crate::config::{self, Loaded};
use crate::{storage, tls};
use anyhow::{Context, Result};
use congvu_pipeline::Pipeline;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What `serve` bound, for the demo to print.
#[derive(Debug, Default)]
pub struct Bound {
    /// (service key, address), in the order of `[listen]`.
    pub listeners: Vec<(&'static str, std::net::SocketAddr)>,
}

impl Bound {
    pub fn get(&self, key: &str) -> Option<std::net::SocketAddr> {
        self.listeners
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, a)| *a)
    }
}

/// Binds every listener and runs until `shutdown` is cancelled; `ready` gets the bound
/// addresses once listening.
pub async fn run(
    loaded: Loaded,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<Bound>>,
) -> Result<()> {
    let c = &loaded.config;
    let (store, blobs) = storage::open(&loaded).await?;
    // The spam score reads what users taught from the store (R-POL-5).
    let pipeline = Arc::new(Pipeline::from_policy_with_bayes(
        &c.pipeline_policy(),
        Arc::new(crate::spam::StoreBayes(store.clone())),
    ));
    let tls = tls::server_config(&loaded.path(&c.tls.cert), &loaded.path(&c.tls.key))?;

    // Bind everything first: a taken port fails start-up before anything serves.
    let mut listeners = Vec::new();
    for (key, addr) in config::listeners(&c.listen) {
        if let Some(listener) = bind(key, addr.clone()).await? {
            listeners.push((key, listener));
        }
    }
    let mut bound = Bound::default();
    for (key, listener) in &listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(service = *key, %addr, "listening");
            bound.listeners.push((key, addr));
        }
    }

    // Password ages for the one login check every protocol shares (R-POL-2).
    // ... and the failed-login backoff and new-network alerts of `[security]` (R-POL-9).
    let security = c.security.policy();
    let login_policy = congvu_store::login::LoginPolicy {
        user_password_max_age: c.policy.user_max_age_secs(),
        admin_password_max_age: c.policy.admin_max_age_secs(),
        security,
    };

    // One SMTP context for MX and submission: the per-login sending counters are shared.
    let smtp = Arc::new(congvu_smtp::SmtpContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: pipeline.clone(),
        tls: Some(tls.clone()),
        config: congvu_smtp::SmtpConfig {
            hostname: c.server.hostname.clone(),
            hosted_domains: c.server.domains.clone(),
            max_message_size: c.smtp.max_message_size,
            max_recipients: c.smtp.max_recipients,
            max_errors: c.smtp.max_errors,
            idle_timeout: config::parse_duration(&c.smtp.idle_timeout)?,
            submission: congvu_smtp::SubmissionConfig {
                max_messages_per_hour: c.submission.max_messages_per_hour,
                max_recipients_per_message: c.submission.max_recipients_per_message,
                security,
            },
            login_policy,
            now: storage::now,
            government_domains: c.policy.government_domains.clone(),
        },
        limits: Default::default(),
    });
    let imap = Arc::new(congvu_imap::ImapContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: pipeline.clone(),
        tls: Some(tls.clone()),
        config: congvu_imap::ImapConfig {
            hostname: c.server.hostname.clone(),
            max_literal: c.imap.max_literal,
            idle_timeout: config::parse_duration(&c.imap.idle_timeout)?,
            allow_plaintext_auth_on_loopback: c.imap.allow_plaintext_auth_on_loopback,
            quota_bytes: c.imap.quota_bytes,
            login_policy,
            now: storage::now,
        },
    });
    // One lock table for 110 and 995: a mailbox is locked against two POP3 sessions at once.
    let pop3 = Arc::new(congvu_pop3::Pop3Context {
        store: store.clone(),
        blobs: blobs.clone(),
        tls: Some(tls.clone()),
        config: congvu_pop3::Pop3Config {
            hostname: c.server.hostname.clone(),
            idle_timeout: config::parse_duration(&c.pop3.idle_timeout)?,
            allow_plaintext_auth_on_loopback: c.pop3.allow_plaintext_auth_on_loopback,
            login_policy,
            now: storage::now,
        },
        locks: congvu_pop3::MailboxLocks::default(),
    });

    let managesieve = Arc::new(congvu_managesieve::ManageSieveContext {
        store: store.clone(),
        tls: Some(tls.clone()),
        config: congvu_managesieve::ManageSieveConfig {
            hostname: c.server.hostname.clone(),
            idle_timeout: config::parse_duration(&c.imap.idle_timeout)?,
            allow_plaintext_auth_on_loopback: c.imap.allow_plaintext_auth_on_loopback,
            government_domains: c.policy.government_domains.clone(),
            login_policy,
            now: storage::now,
        },
    });

    let outbound = Arc::new(congvu_smtp::outbound::OutboundContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: pipeline.clone(),
        config: outbound_config(&loaded)?,
    });
    // Password-expiry warnings (R-POL-2), delivered locally through the outbound context.
    let expiry_warnings = tokio::spawn(congvu_smtp::notices::run_expiry_warnings(
        outbound.clone(),
        congvu_smtp::notices::ExpiryWarnings {
            policy: login_policy,
            domain: c.server.domains.first().cloned().unwrap_or_default(),
            interval: config::parse_duration(&c.policy.expiry_warning_interval)?,
            now: storage::now,
        },
        shutdown.clone(),
    ));
    // Notices of security events (R-POL-9) to the user and the operators, delivered locally.
    let security_notices = tokio::spawn(congvu_smtp::notices::run_security_notices(
        outbound.clone(),
        congvu_smtp::notices::SecurityNotices {
            domains: c.server.domains.clone(),
            interval: config::parse_duration(&c.security.notice_interval)?,
            now: storage::now,
        },
        shutdown.clone(),
    ));
    let queue_worker = tokio::spawn(congvu_smtp::queue::run_queue(outbound, shutdown.clone()));
    // Revoked mailboxes are purged once [policy] revoked_retention has run out (R-ACC-5).
    let purge_sweep = tokio::spawn(congvu_web::retention::run_sweep(
        crate::cli::ops::shared_ops(&loaded, store.clone()),
        blobs.clone(),
        config::parse_duration(&c.policy.purge_interval)?,
        shutdown.clone(),
    ));

    // The JSON API and the public directory page on [listen] http.
    let web = congvu_web::router(
        crate::cli::ops::shared_ops(&loaded, store.clone()),
        congvu_web::WebConfig {
            public_directory: c.directory.public,
            login_security: security,
            metrics_token: Some(c.security.metrics_token.clone()).filter(|t| !t.is_empty()),
            ..Default::default()
        },
    );

    // The read-only directory for address books on [listen] ldap (R-ACC-4).
    let domain = c.server.domains.first().cloned().unwrap_or_default();
    let ldap = Arc::new(congvu_directory::ldap::LdapContext {
        store: store.clone(),
        tls: Some(tls.clone()),
        config: congvu_directory::ldap::LdapConfig {
            base_dn: c.directory.ldap_base(&domain),
            domain,
            anonymous: c.directory.ldap_anonymous,
            size_limit: congvu_directory::ldap::DEFAULT_SIZE_LIMIT,
            idle_timeout: congvu_directory::ldap::DEFAULT_IDLE_TIMEOUT,
            login_policy,
        },
        now: storage::now,
    });

    let mut servers = tokio::task::JoinSet::new();
    for (key, listener) in listeners {
        let stop = shutdown.clone();
        match key {
            "smtp" => servers.spawn(congvu_smtp::serve(listener, smtp.clone(), stop)),
            "submission" => servers.spawn(congvu_smtp::serve_submission(
                listener,
                smtp.clone(),
                false,
                stop,
            )),
            "submissions" => servers.spawn(congvu_smtp::serve_submission(
                listener,
                smtp.clone(),
                true,
                stop,
            )),
            "imap" => servers.spawn(congvu_imap::serve(
                listener,
                imap.clone(),
                congvu_imap::TlsMode::StartTls,
                stop,
            )),
            "imaps" => servers.spawn(congvu_imap::serve(
                listener,
                imap.clone(),
                congvu_imap::TlsMode::Implicit,
                stop,
            )),
            "pop3" => servers.spawn(congvu_pop3::serve(
                listener,
                pop3.clone(),
                congvu_pop3::TlsMode::Stls,
                stop,
            )),
            "pop3s" => servers.spawn(congvu_pop3::serve(
                listener,
                pop3.clone(),
                congvu_pop3::TlsMode::Implicit,
                stop,
            )),
            "http" => servers.spawn(congvu_web::serve(listener, web.clone(), stop)),
            "ldap" => servers.spawn(congvu_directory::ldap::serve(listener, ldap.clone(), stop)),
            "ldaps" => servers.spawn(congvu_directory::ldap::serve_tls(
                listener,
                ldap.clone(),
                stop,
            )),
            "managesieve" => servers.spawn(congvu_managesieve::serve(
                listener,
                managesieve.clone(),
                stop,
            )),
            // config::validate refuses the listeners this build does not have.
            other => anyhow::bail!("[listen] {other}: no server for this service"),
        };
    }
    if let Some(ready) = ready {
        let _ = ready.send(bound);
    }

    let mut result = Ok(());
    while let Some(joined) = servers.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a listener failed; shutting down");
                shutdown.cancel();
                result = Err(anyhow::Error::new(e).context("listener failed"));
            }
            Err(e) => {
                shutdown.cancel();
                result = Err(anyhow::anyhow!("a server task panicked: {e}"));
            }
        }
    }
    shutdown.cancel();
    if let Err(e) = queue_worker.await {
        tracing::error!(error = %e, "the queue worker panicked");
    }
    if let Err(e) = purge_sweep.await {
        tracing::error!(error = %e, "the purge sweep panicked");
    }
    if let Err(e) = expiry_warnings.await {
        tracing::error!(error = %e, "the password expiry warning task panicked");
    }
    if let Err(e) = security_notices.await {
        tracing::error!(error = %e, "the security notice task panicked");
    }
    tracing::info!("all listeners drained; exiting");
    result
}

/// `[outbound]` and `[queue]` as the queue worker wants them, with the DKIM keys of
/// `DATA_DIR/dkim/` (made by `congvu dkim generate`).
fn outbound_config(loaded: &Loaded) -> Result<congvu_smtp::outbound::OutboundConfig> {
    let c = &loaded.config;
    let o = &c.outbound;
    let q = &c.queue;
    let dkim = congvu_smtp::outbound::load_dkim_keys(&loaded.data_dir().join("dkim"))
        .map_err(|e| anyhow::anyhow!("loading DKIM keys: {e}"))?
        .into_iter()
        .map(Arc::new)
        .collect();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(congvu_smtp::outbound::OutboundConfig {
        hostname: c.server.hostname.clone(),
        dns: o.dns.parse().ok(),
        smtp_port: o.smtp_port,
        retry_schedule: q
            .retry_schedule
            .iter()
            .map(|d| config::parse_duration(d))
            .collect::<Result<_>>()?,
        max_age: config::parse_duration(&q.max_age)?,
        delay_warning_after: config::parse_duration(&q.delay_warning_after)?,
        per_domain_concurrency: o.per_domain_concurrency,
        poll_interval: config::parse_duration(&q.poll_interval)?,
        relay: non_empty(&o.relay_host).map(|host| congvu_smtp::outbound::RelayConfig {
            host,
            port: o.relay_port,
            username: non_empty(&o.relay_username),
            password: non_empty(&o.relay_password),
            implicit_tls: o.relay_implicit_tls,
        }),
        dkim,
        dane: o.dane,
        mta_sts: o.mta_sts,
        mta_sts_ca_file: non_empty(&o.mta_sts_ca_file)
            .map(|f| loaded.path(std::path::Path::new(&f))),
        ..Default::default()
    })
}

async fn bind(key: &'static str, addr: String) -> Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(addr.as_str())
        .await
        .with_context(|| format!("[listen] {key}: cannot listen on {addr}"))?;
    Ok(Some(listener))
}

/// Cancels `token` on SIGTERM or SIGINT.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        token.cancel();
    });
}
