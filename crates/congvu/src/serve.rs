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
pub struct Bound {
    pub smtp: Option<std::net::SocketAddr>,
    pub imap: Option<std::net::SocketAddr>,
    pub imaps: Option<std::net::SocketAddr>,
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
    let pipeline = Arc::new(Pipeline::standard());
    let tls = tls::server_config(&loaded.path(&c.tls.cert), &loaded.path(&c.tls.key))?;

    let smtp_listener = bind("smtp", c.listen.smtp.clone()).await?;
    let imap_listener = bind("imap", c.listen.imap.clone()).await?;
    let imaps_listener = bind("imaps", c.listen.imaps.clone()).await?;

    let bound = Bound {
        smtp: smtp_listener.as_ref().and_then(|l| l.local_addr().ok()),
        imap: imap_listener.as_ref().and_then(|l| l.local_addr().ok()),
        imaps: imaps_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };

    let mut servers = tokio::task::JoinSet::new();
    if let Some(listener) = smtp_listener {
        let ctx = Arc::new(congvu_smtp::SmtpContext {
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
            },
        });
        servers.spawn(congvu_smtp::serve(listener, ctx, shutdown.clone()));
    }
    let imap_ctx = Arc::new(congvu_imap::ImapContext {
        store: store.clone(),
        blobs: blobs.clone(),
        pipeline: pipeline.clone(),
        tls: Some(tls.clone()),
        config: congvu_imap::ImapConfig {
            hostname: c.server.hostname.clone(),
            max_literal: c.imap.max_literal,
            idle_timeout: config::parse_duration(&c.imap.idle_timeout)?,
            allow_plaintext_auth_on_loopback: c.imap.allow_plaintext_auth_on_loopback,
        },
    });
    if let Some(listener) = imap_listener {
        servers.spawn(congvu_imap::serve(
            listener,
            imap_ctx.clone(),
            congvu_imap::TlsMode::StartTls,
            shutdown.clone(),
        ));
    }
    if let Some(listener) = imaps_listener {
        servers.spawn(congvu_imap::serve(
            listener,
            imap_ctx.clone(),
            congvu_imap::TlsMode::Implicit,
            shutdown.clone(),
        ));
    }
    for (name, addr) in [
        ("smtp", bound.smtp),
        ("imap", bound.imap),
        ("imaps", bound.imaps),
    ] {
        if let Some(addr) = addr {
            tracing::info!(service = name, %addr, "listening");
        }
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
    tracing::info!("all listeners drained; exiting");
    result
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
