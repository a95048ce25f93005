//! Password-expiry warnings by mail (R-POL-2): 14, 7 and 1 days before a password expires,
//! the mailbox gets one notice per threshold from `postmaster@<first domain>`, in Vietnamese
//! with an English line.
//!
//! It lives here, beside the bounces of `queue::bounce`, because it is the same kind of thing:
//! mail the server writes itself and puts into a local mailbox through
//! [`deliver_locally`] (the pipeline, then the store), so a notice is filed, searched and
//! pushed like any other message. The binary only starts [`run_expiry_warnings`].
//!
//! What it keeps true:
//! - The warning rule is `congvu_core::lifecycle::password_state`'s: a notice goes out only
//!   while the password is `ExpiresSoon` (the window is 14 days, or half the validity for
//!   short test policies), for the most urgent threshold reached (a server that was down for a
//!   week sends the 7-day notice, not the 14-day one as well).
//! - At most one notice per (password, threshold): the store records each after it was
//!   delivered, keyed by when the password was set, so a new password starts over. A crash
//!   between delivery and record can repeat a notice; none is lost.
//! - Only active mailboxes are warned, and never about a reset password (it must be changed
//!   at first use anyway). The clock is a parameter.
//!
//! Security notices (R-POL-9) go the same way: [`run_security_notices`] mails each event the
//! login check or submission recorded (`security.bruteforce`, `security.new_network`,
//! `security.send_anomaly`) to the mailbox concerned and to the operators (every operator
//! account and `postmaster@` of each hosted domain that is a mailbox), in Vietnamese with
//! English, then marks the event notified. A crash in between can repeat a notice; none is
//! lost.

use std::sync::Arc;
use std::time::Duration;

use congvu_core::lifecycle::{PasswordState, password_state};
use congvu_store::login::LoginPolicy;
use congvu_store::{Account, AccountKind, AccountState, SecurityEvent, StoreError};
use tokio_util::sync::CancellationToken;

use crate::outbound::OutboundContext;
use crate::queue::bounce::deliver_locally;

/// Days before expiry at which a notice is mailed, most urgent first.
pub const WARNING_DAYS: [u32; 3] = [1, 7, 14];
const DAY: i64 = 86_400;
/// Vietnam's time zone (UTC+7, no daylight saving), for the dates in the notice.
const VIETNAM_OFFSET: i32 = 7 * 3600;

/// What the warning task needs besides the outbound context.
#[derive(Debug, Clone)]
pub struct ExpiryWarnings {
    pub policy: LoginPolicy,
    /// The notice comes from `postmaster@` this domain.
    pub domain: String,
    /// How often to look (`[policy] expiry_warning_interval`); also once at start.
    pub interval: Duration,
    pub now: fn() -> i64,
}

/// A notice that is due: the threshold reached and when the password expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWarning {
    pub days: u32,
    pub expires_at: i64,
}

/// The notice due for a password set at `changed_at` with `max_age` seconds of validity, if
/// any: the smallest threshold the time left has reached, while `password_state` says the
/// password expires soon.
pub fn due_warning(
    changed_at: i64,
    now: i64,
    max_age: i64,
    must_change: bool,
) -> Option<DueWarning> {
    let PasswordState::ExpiresSoon(_) = password_state(changed_at, now, max_age, must_change)
    else {
        return None;
    };
    let expires_at = changed_at.saturating_add(max_age);
    let left = expires_at - now;
    WARNING_DAYS
        .into_iter()
        .find(|days| left <= i64::from(*days) * DAY)
        .map(|days| DueWarning { days, expires_at })
}

/// Runs until `shutdown`: looks once at start, then every `interval`.
pub async fn run_expiry_warnings(
    ctx: Arc<OutboundContext>,
    settings: ExpiryWarnings,
    shutdown: CancellationToken,
) {
    let interval = settings.interval.max(Duration::from_secs(1));
    loop {
        match send_due_warnings(&ctx, &settings).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "password expiry warnings mailed"),
            Err(error) => tracing::warn!(%error, "password expiry warnings: store unavailable"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass over every mailbox; returns how many notices were delivered.
pub async fn send_due_warnings(
    ctx: &OutboundContext,
    settings: &ExpiryWarnings,
) -> Result<usize, StoreError> {
    let now = (settings.now)();
    let mut sent = 0;
    for account in ctx.store.list_accounts().await? {
        if account.state != AccountState::Active {
            continue;
        }
        let Some(details) = ctx.store.account_details(account.id).await? else {
            continue;
        };
        let changed_at = if details.password_changed_at > 0 {
            details.password_changed_at
        } else {
            account.created_at
        };
        let max_age = settings.policy.max_age(account.kind);
        let Some(due) = due_warning(changed_at, now, max_age, details.must_change_password) else {
            continue;
        };
        if ctx
            .store
            .expiry_warning_sent(account.id, changed_at, due.days)
            .await?
        {
            continue;
        }
        let raw = warning_message(
            &account,
            &settings.domain,
            &ctx.config.hostname,
            due,
            changed_at,
            now,
        );
        deliver_locally(ctx, account.id, &account.address, raw, now).await?;
        ctx.store
            .record_expiry_warning(account.id, changed_at, due.days, now)
            .await?;
        sent += 1;
    }
    Ok(sent)
}

/// RFC 2047 encoded-word (UTF-8, base64) for a header with Vietnamese text.
fn encoded_word(text: &str) -> String {
    use base64::Engine;
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    )
}

fn vietnam_time(at: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(VIETNAM_OFFSET);
    match (chrono::DateTime::from_timestamp(at, 0), offset) {
        (Some(t), Some(offset)) => t
            .with_timezone(&offset)
            .format("%H:%M ngày %d/%m/%Y")
            .to_string(),
        _ => at.to_string(),
    }
}

/// The notice as an RFC 5322 message (UTF-8 body, RFC 6532 allows it locally).
pub fn warning_message(
    account: &Account,
    domain: &str,
    hostname: &str,
    due: DueWarning,
    changed_at: i64,
    now: i64,
) -> Vec<u8> {
    let date = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.to_rfc2822())
        .unwrap_or_default();
    let when = vietnam_time(due.expires_at);
    let days = due.days;
    let subject = encoded_word(&format!(
        "Mật khẩu hộp thư sắp hết hạn ({days} ngày) / Your password expires soon"
    ));
    let address = &account.address;
    let body = format!(
        "Kính gửi {name},\r\n\
         \r\n\
         Mật khẩu của hộp thư {address} sẽ hết hạn trong {days} ngày nữa, lúc {when} (giờ Việt Nam).\r\n\
         Sau thời điểm đó, chương trình thư (Outlook, Thunderbird, điện thoại) sẽ không đăng nhập được.\r\n\
         Vui lòng đổi mật khẩu trên webmail, hoặc liên hệ cán bộ CNTT của đơn vị để được hỗ trợ.\r\n\
         \r\n\
         English: the password of {address} expires in {days} day(s), at {when} (Vietnam time); \
         change it in webmail or ask your unit IT contact.\r\n\
         \r\n\
         -- \r\n\
         Hệ thống thư điện tử công vụ ({hostname})\r\n",
        name = if account.display_name.is_empty() {
            address.as_str()
        } else {
            account.display_name.as_str()
        },
    );
    format!(
        "From: {from} <postmaster@{domain}>\r\n\
         To: <{address}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <password-expiry.{id}.{changed_at}.{days}@{hostname}>\r\n\
         Auto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}",
        from = encoded_word("Quản trị hệ thống thư"),
        id = account.id,
    )
    .into_bytes()
}

/// What the security-notice task needs besides the outbound context.
#[derive(Debug, Clone)]
pub struct SecurityNotices {
    /// Hosted domains: notices come from `postmaster@` the first; `postmaster@` each one is
    /// told when it is a mailbox.
    pub domains: Vec<String>,
    /// How often to look (`[security] notice_interval`).
    pub interval: Duration,
    pub now: fn() -> i64,
}

/// Events mailed per pass; the rest wait for the next one.
const NOTICE_BATCH: usize = 100;

/// Runs until `shutdown`: mails the notices of new security events every `interval`.
pub async fn run_security_notices(
    ctx: Arc<OutboundContext>,
    settings: SecurityNotices,
    shutdown: CancellationToken,
) {
    let interval = settings.interval.max(Duration::from_secs(1));
    loop {
        match send_security_notices(&ctx, &settings).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "security notices mailed"),
            Err(error) => tracing::warn!(%error, "security notices: store unavailable"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The operators who hear about every event: operator accounts and the postmasters.
async fn operators(ctx: &OutboundContext, domains: &[String]) -> Result<Vec<Account>, StoreError> {
    let mut out: Vec<Account> = Vec::new();
    for account in ctx.store.list_accounts().await? {
        if account.kind == AccountKind::Operator && account.state == AccountState::Active {
            out.push(account);
        }
    }
    for domain in domains {
        if let Some(account) = ctx
            .store
            .account_by_address(&format!("postmaster@{domain}"))
            .await?
            && !out.iter().any(|a| a.id == account.id)
        {
            out.push(account);
        }
    }
    Ok(out)
}

/// One pass: every pending event to its mailbox and the operators; returns notices mailed.
pub async fn send_security_notices(
    ctx: &OutboundContext,
    settings: &SecurityNotices,
) -> Result<usize, StoreError> {
    let events = ctx.store.pending_security_events(NOTICE_BATCH).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let now = (settings.now)();
    let operators = operators(ctx, &settings.domains).await?;
    let from_domain = settings.domains.first().map_or("localhost", String::as_str);
    let mut sent = 0;
    for event in events {
        let mut to: Vec<(Account, bool)> = Vec::new();
        if let Some(id) = event.event.account
            && let Some(account) = ctx.store.account_by_id(id).await?
        {
            to.push((account, false));
        }
        for op in &operators {
            if !to.iter().any(|(a, _)| a.id == op.id) {
                to.push((op.clone(), true));
            }
        }
        for (account, as_operator) in &to {
            let raw = security_message(
                &event,
                account,
                *as_operator,
                from_domain,
                &ctx.config.hostname,
                now,
            );
            deliver_locally(ctx, account.id, &account.address, raw, now).await?;
            sent += 1;
        }
        ctx.store
            .mark_security_event_notified(event.id, now)
            .await?;
    }
    Ok(sent)
}

/// The Vietnamese and English sentences of an event kind.
fn security_text(event: &SecurityEvent) -> (&'static str, String, String) {
    let e = &event.event;
    let (address, ip) = (&e.address, &e.source_ip);
    match e.kind.as_str() {
        "security.new_network" => (
            "Đăng nhập từ mạng mới / Login from a new network",
            format!(
                "Hộp thư {address} vừa được đăng nhập từ địa chỉ {ip}, thuộc một mạng chưa từng dùng trước đây.\r\n\
                 Nếu không phải bạn, hãy đổi mật khẩu ngay và báo cho cán bộ CNTT của đơn vị."
            ),
            format!(
                "The mailbox {address} was just logged in to from {ip}, a network it never used before. \
                 If this was not you, change the password now and tell your unit IT contact."
            ),
        ),
        "security.bruteforce" => (
            "Nhiều lần đăng nhập sai / Many failed logins",
            format!(
                "Có nhiều lần đăng nhập sai vào {address} từ địa chỉ {ip}. Hệ thống đã tạm thời bắt nguồn này chờ.\r\n\
                 Nếu không phải bạn, có thể ai đó đang dò mật khẩu: hãy dùng mật khẩu mạnh và báo cho cán bộ CNTT."
            ),
            format!(
                "Many failed logins to {address} came from {ip}; that source now has to wait. \
                 If this was not you, someone may be guessing the password."
            ),
        ),
        "security.send_anomaly" => (
            "Gửi thư bất thường / Unusual sending",
            format!(
                "Hộp thư {address} vừa gửi số lượng thư vượt xa mức thường ngày.\r\n\
                 Thư gửi ra ngoài của hộp thư có thể đang được giữ lại cho đến khi quản trị viên cho phép."
            ),
            format!(
                "The mailbox {address} just sent far more mail than it usually does. Its mail to \
                 other systems may be held until the operator releases it."
            ),
        ),
        _ => (
            "Sự kiện an ninh / Security event",
            format!("Sự kiện an ninh liên quan đến {address} (địa chỉ {ip})."),
            format!("A security event concerning {address} (from {ip})."),
        ),
    }
}

/// The notice as an RFC 5322 message; the operator's copy carries the technical detail.
pub fn security_message(
    event: &SecurityEvent,
    to: &Account,
    as_operator: bool,
    domain: &str,
    hostname: &str,
    now: i64,
) -> Vec<u8> {
    let date = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.to_rfc2822())
        .unwrap_or_default();
    let (title, vi, en) = security_text(event);
    let subject = encoded_word(&format!("Cảnh báo an ninh: {title}"));
    let when = vietnam_time(event.event.at);
    let detail = if as_operator {
        format!(
            "\r\nChi tiết cho quản trị viên / Operator detail:\r\n  {}\r\n  {}\r\n  \
             congvu audit list; congvu queue list\r\n",
            event.event.kind, event.event.detail
        )
    } else {
        String::new()
    };
    let body = format!(
        "Thời điểm: {when} (giờ Việt Nam)\r\n\
         \r\n\
         {vi}\r\n\
         \r\n\
         English: {en}\r\n\
         {detail}\
         \r\n\
         -- \r\n\
         Hệ thống thư điện tử công vụ ({hostname})\r\n"
    );
    format!(
        "From: {from} <postmaster@{domain}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <security.{id}.{account}@{hostname}>\r\n\
         Auto-Submitted: auto-generated\r\n\
         X-Congvu-Security-Event: {kind}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}",
        from = encoded_word("Quản trị hệ thống thư"),
        to = to.address,
        id = event.id,
        account = to.id,
        kind = event.event.kind,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    #[test]
    fn thresholds_follow_the_warning_rule() {
        let max = 180 * DAY;
        let at = |left: i64| due_warning(T0, T0 + max - left, max, false).map(|d| d.days);
        assert_eq!(at(15 * DAY), None);
        assert_eq!(at(14 * DAY), Some(14));
        assert_eq!(at(8 * DAY), Some(14));
        assert_eq!(at(7 * DAY), Some(7));
        assert_eq!(at(2 * DAY), Some(7));
        assert_eq!(at(DAY), Some(1));
        assert_eq!(at(1), Some(1));
        assert_eq!(at(0), None, "expired: no warning, the login says so");
        assert_eq!(
            due_warning(T0, T0 + max - DAY, max, true),
            None,
            "reset password"
        );
        assert_eq!(
            due_warning(T0, T0 + 400 * DAY, 0, false),
            None,
            "never expires"
        );
        // A 60-second test policy: the window is the last 30 seconds, the 1-day threshold.
        assert_eq!(due_warning(T0, T0 + 29, 60, false), None);
        assert_eq!(
            due_warning(T0, T0 + 30, 60, false),
            Some(DueWarning {
                days: 1,
                expires_at: T0 + 60
            })
        );
    }

    #[test]
    fn security_notice_is_bilingual_and_parses() {
        let account = Account {
            id: 3,
            address: "annv@tinh.gov.vn".into(),
            display_name: String::new(),
            password_hash: String::new(),
            kind: congvu_store::AccountKind::Person,
            state: AccountState::Active,
            created_at: T0,
        };
        let event = SecurityEvent {
            id: 9,
            event: congvu_store::NewSecurityEvent {
                at: T0,
                kind: "security.new_network".into(),
                account: Some(3),
                address: "annv@tinh.gov.vn".into(),
                source_ip: "203.0.113.7".into(),
                detail: "imap: login from network 203.0.113.0/24".into(),
            },
            notified_at: None,
        };
        let user = String::from_utf8(security_message(
            &event,
            &account,
            false,
            "tinh.gov.vn",
            "mx",
            T0,
        ))
        .expect("utf-8");
        assert!(user.contains("X-Congvu-Security-Event: security.new_network\r\n"));
        assert!(user.contains("mạng chưa từng dùng"));
        assert!(user.contains(
            "English: The mailbox annv@tinh.gov.vn was just logged in to from 203.0.113.7"
        ));
        assert!(
            !user.contains("Operator detail"),
            "the user's copy has no technical detail"
        );
        let op = String::from_utf8(security_message(
            &event,
            &account,
            true,
            "tinh.gov.vn",
            "mx",
            T0,
        ))
        .expect("utf-8");
        assert!(op.contains("imap: login from network 203.0.113.0/24"));
        let parsed = mail_parser::MessageParser::default()
            .parse(op.as_bytes())
            .expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("Cảnh báo an ninh: Đăng nhập từ mạng mới / Login from a new network")
        );
    }

    #[test]
    fn notice_is_a_well_formed_message() {
        let account = Account {
            id: 7,
            address: "annv@tinh.gov.vn".into(),
            display_name: "Nguyễn Văn An".into(),
            password_hash: String::new(),
            kind: congvu_store::AccountKind::Person,
            state: AccountState::Active,
            created_at: T0,
        };
        let due = DueWarning {
            days: 7,
            expires_at: T0 + 7 * DAY,
        };
        let raw = warning_message(&account, "tinh.gov.vn", "mail.tinh.gov.vn", due, T0, T0);
        let text = String::from_utf8(raw).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("header and body");
        assert!(head.is_ascii(), "headers are ASCII (RFC 2047 words)");
        assert!(head.contains("<postmaster@tinh.gov.vn>"));
        assert!(head.contains("Message-ID: <password-expiry.7.1800000000.7@mail.tinh.gov.vn>"));
        assert!(body.contains("Kính gửi Nguyễn Văn An"));
        assert!(body.contains("hết hạn trong 7 ngày"));
        assert!(body.contains("English: the password of annv@tinh.gov.vn expires in 7 day(s)"));
        let parsed = mail_parser::MessageParser::default()
            .parse(text.as_bytes())
            .expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("Mật khẩu hộp thư sắp hết hạn (7 ngày) / Your password expires soon")
        );
    }
}
