//! The outbound queue worker: claims due recipients, delivers them one transaction per
//! (message, domain) over sessions kept open per destination host, records each outcome,
//! and tells senders about failures and delays.
//!
//! Implementation notes — what this keeps true:
//! - Nothing is lost on a crash: entries live in the store (`Store::enqueue` is durable) and
//!   a claim is only a lease (`LEASE`); an attempt interrupted by a crash or shutdown is
//!   simply claimed again when the lease runs out. The price is that a message may be sent
//!   twice after a crash mid-DATA, which RFC 5321 §6.1 accepts over losing it.
//! - At most `per_domain_concurrency` deliveries to one recipient domain at a time; idle
//!   sessions kept for reuse (`SESSION_IDLE`) are closed with QUIT once they are older.
//! - Each recipient ends delivered or failed exactly once; a failed one yields one RFC 3464
//!   notice to the sender (never for a null sender), a late one at most one "delayed"
//!   notice. A message whose recipients are all finished leaves the queue.
//! - Time comes from the caller-free `now()` below only; schedule rules are pure functions
//!   in `schedule.rs`.

pub mod bounce;
pub mod dsn;
pub mod schedule;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use congvu_store::{
    AttemptOutcome, QueueAttempt, QueueEntry, QueueRecipient, QueueRecipientId, QueueStatus,
    StoreError,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::outbound::dane::{DaneLookup, DaneResolver, dane_connector};
use crate::outbound::mta_sts::{Mode, MtaSts};
use crate::outbound::{
    Attempt, HostTls, OutboundContext, RecipientOutcome, Route, RouteError, RouteHost, SessionPool,
    build_resolver, deliver_to_domain, resolve_route, sign_message, tls_connectors,
};
use dsn::{DsnAction, DsnInput, DsnRecipient, status_of};

/// How long a claim keeps other workers away; longer than any attempt should take.
const LEASE: Duration = Duration::from_secs(15 * 60);
/// Recipients claimed per round.
const CLAIM_BATCH: usize = 200;
/// Recipients waiting or being delivered at once; no more are claimed beyond this, so a
/// backlog stays in the store (where other nodes can take it) rather than in memory.
const MAX_IN_FLIGHT: usize = 2000;
/// How long an SMTP session stays open after its last transaction, waiting for the next
/// message to the same host (Postfix's `smtp_connection_cache_time_limit` is 2 s).
const SESSION_IDLE: Duration = Duration::from_secs(3);
/// Idle sessions kept per destination address and TLS policy.
const SESSIONS_PER_HOST: usize = 16;
/// How long shutdown waits for attempts in flight before leaving them to their lease.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Shared by the deliveries of one worker.
struct Worker {
    ctx: Arc<OutboundContext>,
    resolver: Option<hickory_resolver::TokioResolver>,
    opportunistic_tls: Arc<tokio_rustls::TlsConnector>,
    verified_tls: Option<Arc<tokio_rustls::TlsConnector>>,
    /// DANE lookups (RFC 7672), when enabled and a trusted resolver is known.
    dane: Option<DaneResolver>,
    /// MTA-STS policies (RFC 8461), when enabled.
    mta_sts: Option<MtaSts>,
    domains: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Recipients claimed by this worker and not finished yet. A recipient still waiting for
    /// its domain's slot when its lease runs out is claimed again by the next round; this set
    /// keeps it from being attempted twice by the same worker.
    in_flight: std::sync::Mutex<HashSet<QueueRecipientId>>,
    /// SMTP sessions kept open between messages to the same host.
    sessions: SessionPool,
    /// One connector per distinct DANE record set (by host, port and records), so that
    /// sessions verified under the same records can be told apart from others and reused.
    dane_connectors: std::sync::Mutex<HashMap<String, Arc<tokio_rustls::TlsConnector>>>,
}

impl Worker {
    fn domain_slot(&self, domain: &str) -> Arc<Semaphore> {
        let mut domains = self
            .domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        domains
            .entry(domain.to_string())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.ctx.config.per_domain_concurrency.max(1),
                ))
            })
            .clone()
    }

    /// The connector for these TLSA records of `host`:`port`, the same one as long as the
    /// records stay the same (a changed record set gets a new connector, and so new sessions).
    fn dane_connector(
        &self,
        host: &str,
        port: u16,
        records: Vec<crate::outbound::dane::Tlsa>,
    ) -> Arc<tokio_rustls::TlsConnector> {
        let key = format!("{host}:{port}:{records:?}");
        let mut cache = self
            .dane_connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > 10_000 {
            // Bounded: a fresh set costs only new connections.
            cache.clear();
        }
        cache
            .entry(key)
            .or_insert_with(|| Arc::new(dane_connector(records)))
            .clone()
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<QueueRecipientId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the recipients not already in flight, and marks them so.
    fn take_new(&self, recipients: Vec<QueueRecipient>) -> Vec<QueueRecipient> {
        let mut in_flight = self.in_flight();
        recipients
            .into_iter()
            .filter(|r| in_flight.insert(r.id))
            .collect()
    }

    fn done(&self, recipients: &[QueueRecipient]) {
        let mut in_flight = self.in_flight();
        for r in recipients {
            in_flight.remove(&r.id);
        }
    }
}

/// Runs the queue until `shutdown` is cancelled. Call once per process (several processes on
/// one database are safe: claims are leases).
pub async fn run_queue(ctx: Arc<OutboundContext>, shutdown: CancellationToken) {
    let resolver = match (&ctx.config.relay, build_resolver(ctx.config.dns)) {
        (Some(_), _) => None,
        (None, Ok(resolver)) => Some(resolver),
        (None, Err(error)) => {
            // Without DNS nothing can be routed; keep the queue intact and say why.
            tracing::error!(%error, "outbound: cannot build the DNS resolver; queue not running");
            return;
        }
    };
    let (opportunistic_tls, verified_tls) = tls_connectors();
    // A relay takes everything with its own verified TLS: DANE and MTA-STS concern MX hosts.
    let direct = ctx.config.relay.is_none();
    let dane = (direct && ctx.config.dane)
        .then(|| DaneResolver::for_config(ctx.config.dns))
        .flatten();
    let mta_sts = match (&resolver, direct && ctx.config.mta_sts) {
        (Some(resolver), true) => match MtaSts::new(
            resolver.clone(),
            ctx.config.mta_sts_ca_file.as_deref(),
            ctx.config.mta_sts_port,
        ) {
            Ok(m) => Some(m),
            Err(error) => {
                // Queueing without policies would silently weaken security; say it loudly but
                // keep delivering (opportunistically) rather than stop all mail.
                tracing::error!(%error, "outbound: MTA-STS disabled");
                None
            }
        },
        _ => None,
    };
    let worker = Arc::new(Worker {
        ctx,
        resolver,
        opportunistic_tls,
        verified_tls,
        dane,
        mta_sts,
        domains: std::sync::Mutex::new(HashMap::new()),
        in_flight: std::sync::Mutex::new(HashSet::new()),
        sessions: SessionPool::new(SESSION_IDLE, SESSIONS_PER_HOST),
        dane_connectors: std::sync::Mutex::new(HashMap::new()),
    });
    let tracker = TaskTracker::new();
    loop {
        let room = MAX_IN_FLIGHT.saturating_sub(worker.in_flight().len());
        let claimed = if room == 0 {
            Vec::new()
        } else {
            match worker
                .ctx
                .store
                .claim_due(now(), room.min(CLAIM_BATCH), LEASE)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "outbound: cannot claim queue entries");
                    Vec::new()
                }
            }
        };
        let busy = !claimed.is_empty();
        // One read of the holds per round, not one per claimed message.
        let holds = if busy {
            held_logins(&worker.ctx).await
        } else {
            Some(HashSet::new())
        };
        for entry in claimed {
            if parked_for_hold(&worker.ctx, &entry, &holds).await {
                continue;
            }
            for (domain, recipients) in by_domain(&entry.recipients) {
                let recipients = worker.take_new(recipients);
                if recipients.is_empty() {
                    continue;
                }
                let worker = worker.clone();
                let entry = entry.clone();
                tracker.spawn(async move {
                    let slot = worker.domain_slot(&domain);
                    // The semaphore is never closed, so acquiring only waits.
                    if let Ok(_permit) = slot.acquire_owned().await {
                        attempt_delivery(&worker, &entry, &domain, &recipients).await;
                    }
                    worker.done(&recipients);
                });
            }
        }
        worker.sessions.close_idle(false).await;
        let pause = if busy {
            Duration::from_millis(50)
        } else {
            // Wake up in time to close idle sessions, not a whole poll interval later.
            worker.ctx.config.poll_interval.min(SESSION_IDLE)
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("outbound: attempts still running at shutdown; their leases will expire");
    }
    worker.sessions.close_idle(true).await;
}

/// The logins whose outbound mail is held (R-POL-9), lowercased as the store keeps them;
/// `None` when they could not be read (then nothing claimed this round is sent).
async fn held_logins(ctx: &OutboundContext) -> Option<HashSet<String>> {
    match ctx.store.outbound_holds().await {
        Ok(holds) => Some(holds.into_iter().map(|h| h.address).collect()),
        Err(error) => {
            // Their leases run out and they are claimed again later.
            tracing::warn!(%error, "outbound: cannot read outbound holds");
            None
        }
    }
}

/// Parks a claimed message whose sender login is held after a sending anomaly (R-POL-9):
/// submission parks what it queues for a held login, this catches a hold set in between.
/// True when the message was parked (or the holds could not be read: not sent this time).
async fn parked_for_hold(
    ctx: &OutboundContext,
    entry: &QueueEntry,
    holds: &Option<HashSet<String>>,
) -> bool {
    let Some(login) = entry.submitted_by.as_deref() else {
        return false;
    };
    let Some(holds) = holds else {
        return true;
    };
    if !holds.contains(&login.to_lowercase()) {
        return false;
    }
    if let Err(error) = ctx.store.hold_queued(entry.id, login, now()).await {
        tracing::warn!(%error, queue_id = entry.id, "outbound: could not park a held message");
    } else {
        tracing::info!(
            queue_id = entry.id,
            login,
            "outbound: message held for the operator"
        );
    }
    true
}

/// Recipients grouped by domain, in first-seen order.
fn by_domain(recipients: &[QueueRecipient]) -> Vec<(String, Vec<QueueRecipient>)> {
    let mut groups: Vec<(String, Vec<QueueRecipient>)> = Vec::new();
    for r in recipients {
        match groups.iter_mut().find(|(d, _)| *d == r.domain) {
            Some((_, list)) => list.push(r.clone()),
            None => groups.push((r.domain.clone(), vec![r.clone()])),
        }
    }
    groups
}

fn sender_domain(mail_from: &str) -> Option<&str> {
    mail_from.rsplit_once('@').map(|(_, d)| d)
}

/// One attempt for the recipients of one domain, then bookkeeping and notices.
async fn attempt_delivery(
    worker: &Worker,
    entry: &QueueEntry,
    domain: &str,
    recipients: &[QueueRecipient],
) {
    let ctx = &worker.ctx;
    let config = &ctx.config;
    let addresses: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
    let outcome = match ctx.blobs.get(&entry.blob).await {
        Err(error) => {
            let reply = format!("451 4.3.0 message body unavailable: {error}");
            vec![RecipientOutcome::Temporary { reply }; recipients.len()]
        }
        Ok(raw) => {
            let signed = sender_domain(&entry.mail_from)
                .and_then(|d| sign_message(config.dkim.iter().map(|k| k.as_ref()), d, &raw));
            let message: &[u8] = signed.as_deref().unwrap_or(&raw);
            match route_for(worker, domain).await {
                Err(RouteError::Permanent { status, reason }) => {
                    vec![
                        RecipientOutcome::Permanent {
                            reply: format!("550 {status} {reason}")
                        };
                        recipients.len()
                    ]
                }
                Err(RouteError::Temporary { status, reason }) => {
                    vec![
                        RecipientOutcome::Temporary {
                            reply: format!("451 {status} {reason}")
                        };
                        recipients.len()
                    ]
                }
                Ok(route) => {
                    let host_tls = host_tls(worker, domain, &route).await;
                    let attempt = Attempt {
                        helo: &config.hostname,
                        mail_from: &entry.mail_from,
                        recipients: &addresses,
                        message,
                        timeout: config.command_timeout,
                        relay: config.relay.as_ref(),
                        opportunistic_tls: &worker.opportunistic_tls,
                        verified_tls: worker.verified_tls.as_deref(),
                        host_tls: &host_tls,
                        sessions: Some(&worker.sessions),
                    };
                    let result = deliver_to_domain(&route, &attempt).await;
                    return finish(worker, entry, recipients, result.host, result.recipients).await;
                }
            }
        }
    };
    finish(worker, entry, recipients, None, outcome).await;
}

/// The TLS requirement of each host of `route`: DANE where the host has secure TLSA records,
/// else the domain's MTA-STS policy in enforce mode, else opportunistic (RFC 8461 §2: DANE
/// takes precedence). In MTA-STS `testing` mode mismatches are only logged (§5.2).
async fn host_tls(worker: &Worker, domain: &str, route: &Route) -> Vec<HostTls> {
    if worker.ctx.config.relay.is_some() {
        return Vec::new();
    }
    let policy = match &worker.mta_sts {
        Some(m) => m.policy(domain).await,
        None => None,
    };
    let mut out = Vec::with_capacity(route.hosts.len());
    for host in &route.hosts {
        let port = host
            .addrs
            .first()
            .map(|a| a.port())
            .unwrap_or(worker.ctx.config.smtp_port);
        let dane = match &worker.dane {
            Some(resolver) => resolver.lookup(&host.name, port).await,
            None => DaneLookup::NotApplicable,
        };
        let tls = match dane {
            DaneLookup::Records(records) => HostTls::Required {
                connector: worker.dane_connector(&host.name, port, records),
                why: "DANE".into(),
            },
            DaneLookup::Failed(reason) => HostTls::Refused {
                reply: format!("451 4.7.5 DANE: {reason}"),
            },
            DaneLookup::NotApplicable => match (&policy, &worker.mta_sts) {
                (Some(p), Some(m)) if p.mode == Mode::Enforce => {
                    if p.allows(&host.name) {
                        HostTls::Required {
                            connector: m.verified.clone(),
                            why: "MTA-STS".into(),
                        }
                    } else {
                        HostTls::Refused {
                            reply: format!(
                                "451 4.7.5 MTA-STS: MX host {} is not in the policy of {domain}",
                                host.name
                            ),
                        }
                    }
                }
                (Some(p), Some(m)) if p.mode == Mode::Testing => {
                    if !p.allows(&host.name) {
                        tracing::warn!(%domain, host = %host.name, "outbound: MTA-STS testing: MX host not in the policy (delivering anyway)");
                    }
                    HostTls::Audited {
                        connector: m.audited.clone(),
                    }
                }
                _ => HostTls::Opportunistic,
            },
        };
        out.push(tls);
    }
    out
}

async fn route_for(worker: &Worker, domain: &str) -> Result<Route, RouteError> {
    let config = &worker.ctx.config;
    if let Some(relay) = &config.relay {
        let addrs = tokio::net::lookup_host((relay.host.as_str(), relay.port))
            .await
            .map_err(|e| RouteError::Temporary {
                status: "4.4.3",
                reason: format!("relay {}: {e}", relay.host),
            })?
            .collect();
        return Ok(Route {
            hosts: vec![RouteHost {
                name: relay.host.clone(),
                addrs,
            }],
        });
    }
    match &worker.resolver {
        Some(resolver) => resolve_route(resolver, domain, config.smtp_port).await,
        None => Err(RouteError::Temporary {
            status: "4.4.3",
            reason: "no DNS resolver".into(),
        }),
    }
}

/// Records every recipient's outcome, sends the notices it calls for, and drops the message
/// from the queue once nothing is pending.
async fn finish(
    worker: &Worker,
    entry: &QueueEntry,
    recipients: &[QueueRecipient],
    host: Option<String>,
    outcomes: Vec<RecipientOutcome>,
) {
    let ctx = &worker.ctx;
    let config = &ctx.config;
    let at = now();
    if outcomes
        .iter()
        .all(|o| matches!(o, RecipientOutcome::Delivered { .. }))
    {
        // Every recipient of this attempt is delivered: when no other recipient of the
        // message is pending (checked by the store in the same step, so recipients of other
        // domains handled at the same time or by another worker are seen), one durable write
        // (the delete) instead of an attempt record per recipient and then the delete. The
        // outcome stays in the log; a crash before the delete resends, as a crash before the
        // record would.
        let mine: Vec<QueueRecipientId> = recipients.iter().map(|r| r.id).collect();
        match ctx.store.delete_queued_if_finished(entry.id, &mine).await {
            Ok(true) => {
                // One line per recipient, which also says the message left the queue.
                for (recipient, outcome) in recipients.iter().zip(&outcomes) {
                    tracing::info!(
                        queue_id = entry.id,
                        rcpt = %recipient.address,
                        host = host.as_deref().unwrap_or("-"),
                        outcome = ?outcome,
                        "outbound: delivered; message finished, removed from the queue"
                    );
                }
                return;
            }
            // Others still pending (or the message is gone): record each attempt below.
            Ok(false) => {}
            Err(error) => {
                // Fall through to recording each attempt, so nothing is sent twice.
                tracing::warn!(%error, queue_id = entry.id, "outbound: cannot remove finished message");
            }
        }
    }
    let expired = schedule::is_expired(entry.created_at, at, config.max_age);
    let retry_until =
        entry.created_at + i64::try_from(config.max_age.as_secs()).unwrap_or(i64::MAX / 2);
    let mut failed = Vec::new();
    let mut delayed = Vec::new();
    for (recipient, outcome) in recipients.iter().zip(outcomes) {
        let (record, reply) = match outcome {
            RecipientOutcome::Delivered { reply } => (AttemptOutcome::Delivered, reply),
            RecipientOutcome::Permanent { reply } => {
                failed.push(dsn_line(recipient, &reply, "5.0.0", host.as_deref()));
                (
                    AttemptOutcome::Failed {
                        error: reply.clone(),
                    },
                    reply,
                )
            }
            RecipientOutcome::Temporary { reply } if expired => {
                let mut line = dsn_line(recipient, &reply, "4.4.7", host.as_deref());
                // RFC 3463 X.4.7: delivery time expired; the last error stays in Diagnostic-Code.
                line.status = "4.4.7".into();
                failed.push(line);
                let error = format!(
                    "expired after {}s in the queue; last error: {reply}",
                    config.max_age.as_secs()
                );
                (AttemptOutcome::Failed { error }, reply)
            }
            RecipientOutcome::Temporary { reply } => {
                let warn = !entry.mail_from.is_empty()
                    && schedule::needs_delay_warning(
                        entry.created_at,
                        at,
                        config.delay_warning_after,
                        recipient.delay_warned,
                    );
                if warn {
                    delayed.push(dsn_line(recipient, &reply, "4.0.0", host.as_deref()));
                }
                let next =
                    at + schedule::retry_delay(&config.retry_schedule, recipient.attempts + 1);
                (
                    AttemptOutcome::Retry {
                        error: reply.clone(),
                        next_attempt_at: next,
                        delay_warned: warn,
                    },
                    reply,
                )
            }
        };
        tracing::info!(
            queue_id = entry.id,
            rcpt = %recipient.address,
            host = host.as_deref().unwrap_or("-"),
            outcome = ?record,
            "outbound: attempt"
        );
        let attempt = QueueAttempt {
            recipient: recipient.id,
            at,
            outcome: record,
            remote_host: host.clone(),
            remote_response: Some(reply),
        };
        if let Err(error) = ctx.store.record_attempt(attempt).await {
            tracing::warn!(%error, queue_id = entry.id, "outbound: cannot record attempt");
        }
    }
    // The original goes into notices only; most attempts need none.
    let needs_original = !entry.mail_from.is_empty() && (!failed.is_empty() || !delayed.is_empty());
    let raw = if needs_original {
        ctx.blobs.get(&entry.blob).await.ok()
    } else {
        None
    };
    let original: &[u8] = raw.as_deref().map(|v| v.as_slice()).unwrap_or(b"");
    for (action, lines) in [(DsnAction::Failed, failed), (DsnAction::Delayed, delayed)] {
        // RFC 5321 §4.5.5: never a notice about a message with the null sender.
        if lines.is_empty() || entry.mail_from.is_empty() {
            continue;
        }
        let token = format!("{}.{}.{}", entry.id, at, rand::random::<u32>());
        let input = DsnInput {
            action,
            reporting_mta: &config.hostname,
            to: &entry.mail_from,
            arrival_date: entry.created_at,
            last_attempt: at,
            retry_until: Some(retry_until),
            recipients: &lines,
            original,
            token: &token,
        };
        if let Err(error) = bounce::send_notice(ctx, &input).await {
            tracing::warn!(%error, queue_id = entry.id, "outbound: cannot send a delivery notice");
        }
    }
    remove_if_finished(ctx, entry.id).await;
}

fn dsn_line(
    recipient: &QueueRecipient,
    reply: &str,
    fallback: &str,
    host: Option<&str>,
) -> DsnRecipient {
    DsnRecipient {
        address: recipient.address.clone(),
        status: status_of(reply, fallback),
        remote_mta: host.map(str::to_string),
        diagnostic: reply.to_string(),
    }
}

async fn remove_if_finished(ctx: &OutboundContext, id: congvu_store::QueueId) {
    match ctx.store.queue_entry(id).await {
        Ok(Some(entry))
            if entry
                .recipients
                .iter()
                .all(|r| r.status != QueueStatus::Pending) =>
        {
            match ctx.store.delete_queued(id).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {
                    tracing::info!(
                        queue_id = id,
                        "outbound: message finished, removed from the queue"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, queue_id = id, "outbound: cannot remove finished message")
                }
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, queue_id = id, "outbound: cannot read queue entry"),
    }
}
